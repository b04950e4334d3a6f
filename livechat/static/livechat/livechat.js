// Live chat pages: the inbox and a chat. The page's data comes with it (json_script); news
// arrives over a WebSocket (events, the connection's state, "read again"). Text from
// Userbot is only ever put in the page as text, never as markup. A page that loses its
// socket reconnects and reads again, since news sent meanwhile is lost.
(function () {
  "use strict";

  const dataNode = document.getElementById("livechat-data");
  if (!dataNode) {
    return;
  }
  const data = JSON.parse(dataNode.textContent);
  const root = document.querySelector(".livechat");
  const statusLine = root.querySelector('[data-role="status"]');
  const STATUS_NAMES = { bot: "With the bot", agent: "With an agent", closed: "Closed" };

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([key, value]) => {
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    (children || []).forEach((child) => child && node.appendChild(child));
    return node;
  }

  function age(iso) {
    const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (seconds < 60) return "just now";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
    return Math.floor(seconds / 86400) + " d ago";
  }

  // Times as the rest of the admin writes them, in UTC, the time zone of Userbot's days.
  function utc(iso) {
    const moment = new Date(iso);
    if (isNaN(moment)) return iso;
    return moment.toISOString().slice(0, 19).replace("T", " ") + " UTC";
  }

  function setStatus(text, kind) {
    statusLine.textContent = text;
    statusLine.dataset.state = kind;
  }

  function csrfToken() {
    const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) throw new Error("the server answered " + response.status);
    return response.json();
  }

  async function post(url, fields) {
    const body = new URLSearchParams(fields);
    const response = await fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
    });
    let answer;
    try {
      answer = await response.json();
    } catch (error) {
      answer = { ok: false, error: "The server answered " + response.status + "." };
    }
    answer.status = response.status;
    return answer;
  }

  // --- the socket ----------------------------------------------------------------------

  function connect(onNews, onOpen) {
    let delay = 500;
    function open() {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + location.host + data.socket);
      socket.onopen = () => {
        delay = 500;
        setStatus("Live", "live");
        onOpen();
      };
      socket.onmessage = (event) => {
        try {
          onNews(JSON.parse(event.data));
        } catch (error) {
          console.error("A live chat message could not be shown", error);
        }
      };
      socket.onclose = (event) => {
        if (event.code === 4403) {
          setStatus("You may not watch these chats.", "refused");
          return;
        }
        setStatus("Reconnecting…", "reconnecting");
        setTimeout(open, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    open();
  }

  function onStatus(news) {
    if (news.state === "live") setStatus("Live", "live");
    else setStatus("Reconnecting to Userbot…" + (news.reason ? " (" + news.reason + ")" : ""), "reconnecting");
  }

  // --- the inbox -------------------------------------------------------------------------

  function inbox() {
    const list = root.querySelector('[data-role="inbox"]');
    const filters = root.querySelector('[data-role="filters"]');
    const params = new URLSearchParams(location.search);
    ["status", "channel"].forEach((name) => {
      if (params.get(name)) filters.elements[name].value = params.get(name);
    });
    filters.elements.mine.checked = params.get("mine") === "1";
    let bots = data.bots;
    const unread = {};
    let reloadTimer = null;

    function wanted(chat) {
      const status = filters.elements.status.value;
      const waiting = chat.status === "agent" && !chat.agent_id;
      if (status === "open" && chat.status === "closed") return false;
      if (status === "waiting" && !waiting) return false;
      if (["agent", "bot", "closed"].includes(status) && chat.status !== status) return false;
      if (filters.elements.mine.checked && chat.holder_operator_id !== data.me) return false;
      const channel = filters.elements.channel.value;
      return !channel || chat.channel === channel;
    }

    function order(a, b) {
      const rank = { agent: 0, bot: 1, closed: 2 };
      if (rank[a.status] !== rank[b.status]) return rank[a.status] - rank[b.status];
      return Date.parse(b.last_message_at) - Date.parse(a.last_message_at);
    }

    function row(bot, chat) {
      const url = bot.chat_url.replace("SESSION", encodeURIComponent(chat.id));
      const count = unread[bot.id + ":" + chat.id] || 0;
      const waiting = chat.status === "agent" && !chat.agent_id;
      const person = chat.chatuser_url
        ? el("a", { href: chat.chatuser_url, text: chat.chatuser_name })
        : el("span", { text: chat.chatuser_name });
      return el("tr", { "data-session": chat.id, className: waiting ? "livechat-waiting" : "" }, [
        el("td", {}, [el("a", { href: url, className: "livechat-open", text: "Open" })]),
        el("td", {}, [person]),
        el("td", { text: chat.channel }),
        el("td", {}, [el("span", { className: "livechat-state livechat-state-" + chat.status, text: waiting ? "Waiting for an agent" : STATUS_NAMES[chat.status] })]),
        el("td", { text: chat.holder || "" }),
        el("td", { className: "livechat-last", text: chat.last_text || "" }),
        el("td", { className: "livechat-age", title: chat.last_message_at, text: age(chat.last_message_at) }),
        el("td", {}, [count ? el("span", { className: "livechat-unread", text: String(count), "aria-label": count + " unread" }) : null]),
      ]);
    }

    function render() {
      list.replaceChildren();
      bots.forEach((bot) => {
        const section = el("div", { className: "module livechat-bot" }, [
          el("h2", {}, [el("a", { href: bot.url, className: "section", text: bot.name })]),
        ]);
        if (bot.error) section.appendChild(el("p", { className: "errornote", text: bot.error }));
        if (bot.dropped && bot.dropped.length) {
          section.appendChild(el("p", { className: "help", text: bot.dropped.length + " chat(s) Userbot sent could not be shown: " + bot.dropped.join("; ") }));
        }
        const shown = bot.chats.filter(wanted).sort(order);
        const waiting = bot.chats.filter((c) => c.status === "agent" && !c.agent_id).length;
        section.appendChild(el("p", { className: "livechat-counts", text: shown.length + " shown, " + waiting + " waiting for an agent" }));
        if (shown.length) {
          const head = el("tr", {}, ["", "Chat user", "Channel", "Status", "Held by", "Last message", "Activity", "Unread"].map((t) => el("th", { scope: "col", text: t })));
          const body = el("tbody", {}, shown.map((chat) => row(bot, chat)));
          section.appendChild(el("table", { className: "livechat-inbox" }, [el("thead", {}, [head]), body]));
        } else if (!bot.error) {
          section.appendChild(el("p", { text: "No chat matches." }));
        }
        list.appendChild(section);
      });
    }

    let reads = 0;
    function reload() {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(async () => {
        const read = ++reads;
        try {
          const fresh = (await getJson(data.inbox_url)).bots;
          if (read !== reads) return; // a later read is on its way
          fresh.forEach((bot) => {
            // A message that came as news while the read was on its way is newer than it.
            const before = bots.find((b) => b.id === bot.id);
            bot.chats.forEach((chat) => {
              const seen = before && before.chats.find((c) => c.id === chat.id);
              if (seen && seen.last_message_at > chat.last_message_at) {
                chat.last_message_at = seen.last_message_at;
                chat.last_text = seen.last_text;
              }
            });
          });
          bots = fresh;
          render();
        } catch (error) {
          setStatus("Could not read the chats again: " + error.message, "reconnecting");
        }
      }, 150);
    }

    function upsert(bot, chat) {
      if (data.chatuser && chat.chatuser_id !== data.chatuser) return;
      const index = bot.chats.findIndex((c) => c.id === chat.id);
      if (index < 0) bot.chats.push(chat);
      else bot.chats[index] = Object.assign({}, bot.chats[index], chat, { last_text: bot.chats[index].last_text });
      render();
    }

    function onNews(news) {
      const bot = bots.find((b) => b.id === news.bot);
      if (!bot) return;
      if (news.type === "status") return onStatus(news);
      if (news.type === "resync") return reload();
      if (news.type === "dropped") {
        setStatus("Userbot sent a " + news.event + " event that is not valid; it was left out and the chats are read again. (" + news.reason + ")", "warning");
        return reload();
      }
      if (news.type === "changed") {
        // An operator's act: the chat as Userbot answered it, when it changed hands.
        if (news.chat) upsert(bot, news.chat);
        return;
      }
      if (news.type === "session") {
        if (news.session.chatuser_name === undefined) return reload();
        return upsert(bot, news.session);
      }
      if (news.type === "message") {
        const chat = bot.chats.find((c) => c.id === news.session_id);
        if (!chat) return reload(); // a chat this page has not seen yet
        chat.last_message_at = news.message.at;
        chat.last_text = news.message.text.slice(0, 140);
        if (news.message.from === "user") {
          const key = bot.id + ":" + chat.id;
          unread[key] = (unread[key] || 0) + 1;
        }
        render();
      }
    }

    filters.addEventListener("change", () => {
      const query = new URLSearchParams();
      if (data.chatuser) query.set("chatuser", data.chatuser);
      query.set("status", filters.elements.status.value);
      if (filters.elements.mine.checked) query.set("mine", "1");
      if (filters.elements.channel.value) query.set("channel", filters.elements.channel.value);
      history.replaceState(null, "", "?" + query.toString());
      render();
    });
    render();
    let opened = false;
    connect(onNews, () => {
      if (opened) reload();
      opened = true;
    });
    setInterval(render, 30000); // ages ("3 min ago") move on
  }

  // --- a chat ------------------------------------------------------------------------------

  function chatPage() {
    const transcript = root.querySelector('[data-role="transcript"]');
    const head = root.querySelector('[data-role="head"]');
    const acts = root.querySelector('[data-role="acts"]');
    const errorNote = root.querySelector('[data-role="error"]');
    const form = root.querySelector('[data-role="reply"]');
    const note = root.querySelector('[data-role="reply-note"]');
    let state = data;
    const pending = [];

    function showError(text) {
      errorNote.textContent = text || "";
      errorNote.hidden = !text;
    }

    function message(m) {
      const item = el("li", { className: "livechat-message livechat-from-" + m.from, "data-message": m.id }, [
        el("span", { className: "livechat-who", text: { user: "Visitor", bot: "Bot", agent: "Agent" }[m.from] }),
        el("time", { datetime: m.at, title: m.at, text: utc(m.at) }),
        el("p", { text: m.text }),
      ]);
      if (m.cut) item.appendChild(el("p", { className: "help", text: "Cut here: " + m.cut + " more characters." }));
      return item;
    }

    function render() {
      showError(state.error);
      const chat = state.chat;
      head.replaceChildren();
      if (!chat) {
        transcript.replaceChildren();
        if (form) form.hidden = true;
        return;
      }
      const person = chat.chatuser_url ? el("a", { href: chat.chatuser_url, text: chat.chatuser_name }) : el("span", { text: chat.chatuser_name });
      const waiting = chat.status === "agent" && !chat.agent_id;
      head.append(
        el("p", {}, [person, el("span", { text: " · " + chat.channel })]),
        el("p", {}, [
          el("span", { className: "livechat-state livechat-state-" + chat.status, text: waiting ? "Waiting for an agent" : STATUS_NAMES[chat.status] }),
          el("span", { text: chat.holder ? " · held by " + chat.holder : "" }),
          el("span", { "data-role": "mine", text: state.mine ? " · you hold this chat" : "" }),
        ]),
      );
      transcript.replaceChildren(...state.messages.map(message), ...pending.map((p) => p.node));
      if (state.dropped && state.dropped.length) {
        transcript.appendChild(el("li", { className: "help", text: state.dropped.length + " message(s) could not be shown: " + state.dropped.join("; ") }));
      }
      acts.replaceChildren(
        ...state.actions.map((a) => {
          // "Sent" says something of a reply; of a takeover done, only that it was done.
          const outcome = a.kind === "reply" || a.state !== "done" ? " · " + a.state_label : "";
          const item = el("li", { "data-action": a.id, "data-state": a.state }, [
            el("time", { datetime: a.at, text: utc(a.at) + " · " }),
            el("span", { text: a.operator + " · " + a.label + outcome + (a.text ? ": " + a.text.slice(0, 200) : "") + (a.error ? " (" + a.error + ")" : "") }),
          ]);
          if (a.state === "unknown" && data.can_answer) {
            const sent = el("button", { type: "button", className: "button", text: "It was sent" });
            const notSent = el("button", { type: "button", className: "button", text: "It was not sent" });
            sent.addEventListener("click", () => settle(a.id, true));
            notSent.addEventListener("click", () => settle(a.id, false));
            item.append(" ", sent, " ", notSent);
          }
          return item;
        }),
      );
      if (form) {
        form.hidden = false;
        const closed = chat.status === "closed";
        const allowed = state.mine && !closed;
        form.querySelector("button").disabled = !allowed;
        form.elements.text.disabled = closed && !form.elements.text.value;
        if (closed) note.textContent = form.elements.text.value ? "This chat closed: your text is kept here, but it cannot be sent." : "This chat is closed.";
        else if (!state.mine) note.textContent = "Take the chat over to reply.";
        else note.textContent = "";
        root.querySelector('[data-act="take_over"]').disabled = closed || state.mine;
        root.querySelector('[data-act="hand_back"]').disabled = closed || chat.status !== "agent";
      }
    }

    let reloadTimer = null;
    let reads = 0;
    // The messages that came as news while the latest read was on its way: Userbot may have
    // answered the read before them, and the read must not take them off the page.
    let arrived = null;
    function reload() {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(async () => {
        const read = ++reads;
        arrived = [];
        try {
          const fresh = await getJson(data.chat_url);
          if (read !== reads) return; // a later read is on its way: it is the one shown
          if (fresh.chat) {
            const known = new Set(fresh.messages.map((m) => m.id));
            fresh.messages.push(...arrived.filter((m) => !known.has(m.id)));
          }
          state = fresh;
          arrived = null;
          pending.splice(0, pending.length, ...pending.filter((p) => !p.done));
          render();
        } catch (error) {
          if (read === reads) arrived = null;
          showError("Could not read the chat again: " + error.message);
        }
      }, 100);
    }

    function onNews(news) {
      if (news.type === "status") return onStatus(news);
      if (news.type === "resync") return reload();
      if (news.type === "changed" && news.session_id === data.session_id) return reload();
      if (!state.chat) return;
      if (news.type === "message" && news.session_id === state.chat.id) {
        if (!state.messages.some((m) => m.id === news.message.id)) state.messages.push(news.message);
        if (arrived) arrived.push(news.message);
        const mine = pending.findIndex((p) => p.messageId === news.message.id);
        if (mine >= 0) pending.splice(mine, 1);
        render();
        transcript.lastElementChild && transcript.lastElementChild.scrollIntoView({ block: "nearest" });
      } else if (news.type === "session" && news.session.id === state.chat.id) {
        reload();
      }
    }

    async function act(name, extra) {
      showError("");
      const answer = await post(data.urls[name], extra || {});
      if (answer.status === 409 && answer.confirm) {
        if (window.confirm(answer.confirm)) return act(name, { confirmed: "1" });
        return;
      }
      if (!answer.ok) showError(answer.error);
      reload();
    }

    async function settle(actionId, said) {
      const url = data.settle_url.replace(/\/0\/$/, "/" + actionId + "/");
      const answer = await post(url, { said: said ? "1" : "0" });
      if (!answer.ok) showError(answer.error);
      reload();
    }

    if (form) {
      root.querySelectorAll("[data-act]").forEach((button) => button.addEventListener("click", () => act(button.dataset.act)));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const text = form.elements.text.value;
        if (!text.trim()) return;
        const entry = { node: el("li", { className: "livechat-message livechat-from-agent livechat-pending" }, [el("span", { className: "livechat-who", text: "You" }), el("em", { text: " sending…" }), el("p", { text: text })]) };
        pending.push(entry);
        form.elements.text.value = "";
        render();
        const answer = await post(data.urls.reply, { text: text });
        if (answer.ok) {
          entry.messageId = answer.action.message_id;
          entry.node.querySelector("em").textContent = " sent";
          entry.done = true;
          // Userbot's chat.message usually comes before this answer: the reply is then in
          // the transcript already, and the entry would show it a second time.
          if (state.messages.some((m) => m.id === entry.messageId)) {
            pending.splice(pending.indexOf(entry), 1);
            render();
          }
        } else if (answer.action && answer.action.state === "unknown") {
          entry.node.querySelector("em").textContent = " may not have been sent: read the transcript, then say which below";
          entry.done = true;
        } else {
          pending.splice(pending.indexOf(entry), 1);
          form.elements.text.value = text; // kept, with the reason
          showError(answer.error || "The reply was not sent.");
        }
        reload();
      });
    }
    render();
    let opened = false;
    connect(onNews, () => {
      if (opened) reload();
      opened = true;
    });
  }

  if (data.kind === "inbox") inbox();
  else chatPage();
})();
