"""When a text first reaches a page: over its WebSocket, and into its DOM, on the wall clock.

A script injected before the page's own runs watches every WebSocket the page opens and a
``MutationObserver`` watches the whole document; each records, for every token matching
``TOKEN_PATTERN`` it sees for the first time, ``performance.timeOrigin + performance.now()``
(milliseconds since the epoch, as Python's ``time.time() * 1000`` on the same machine).
The observer's callback runs right after the script that changed the DOM, so its time is
when the node was in the DOM, before the browser lays out and paints the frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from playwright.sync_api import Page

# Tokens the benchmark puts in messages: "LCB" and seven digits.
TOKEN_PATTERN = r"LCB\d{7}"

_WATCH = """
(() => {
  const pattern = /%(pattern)s/g;
  const seen = { socket: {}, dom: {} };
  Object.defineProperty(window, "__pageClock", { value: seen });
  const now = () => performance.timeOrigin + performance.now();
  function note(kind, text, at) {
    if (!text) return;
    const found = text.match(pattern);
    if (!found) return;
    for (const token of found) if (!(token in seen[kind])) seen[kind][token] = at;
  }
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      // Added before the page sets onmessage, so it runs first: the arrival, not the handling.
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string") note("socket", event.data, now());
      });
    }
  };
  new MutationObserver((records) => {
    const at = now();
    for (const record of records) {
      if (record.type === "characterData") note("dom", record.target.data, at);
      else for (const node of record.addedNodes) note("dom", node.textContent, at);
    }
  }).observe(document, { childList: true, subtree: true, characterData: true });
})();
"""


@dataclass
class PageTimes:
    """Per token, when it first came over a socket and when it was first in the DOM (ms)."""

    socket: dict[str, float] = field(default_factory=dict)
    dom: dict[str, float] = field(default_factory=dict)


def watch(page: Page) -> None:
    """Watch ``page`` from its next navigation on (call before ``goto``)."""
    page.add_init_script(_WATCH % {"pattern": TOKEN_PATTERN})


def read(page: Page) -> PageTimes:
    times = page.evaluate("() => window.__pageClock")
    return PageTimes(socket=times["socket"], dom=times["dom"])


def seen_in_dom(page: Page, tokens: list[str]) -> int:
    """How many of ``tokens`` are in the page's DOM record so far."""
    return int(page.evaluate("(tokens) => tokens.filter((t) => t in window.__pageClock.dom).length", tokens))


def clock_offset_ms(page: Page, samples: int = 9) -> float:
    """The page's clock minus this process's, in ms, from the quickest of ``samples`` round
    trips (the page's reading is compared with the trip's midpoint, so a slow trip, a busy
    page, would make the clocks look further apart than they are)."""
    best: tuple[float, float] | None = None
    for _ in range(samples):
        before = time.time() * 1000
        page_ms = float(page.evaluate("() => performance.timeOrigin + performance.now()"))
        after = time.time() * 1000
        if best is None or after - before < best[0]:
            best = (after - before, page_ms - (before + after) / 2)
    assert best is not None
    return best[1]
