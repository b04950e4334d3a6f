"""Demo data for a sandbox bot, and visitors who keep chatting while the sandbox runs.

``seed_demo`` is deterministic for one ``seed`` and one ``now_ms``, and fast enough for a
million chat users: the per-user work is a handful of random draws and string formats, and
everything that repeats (names, channels, variable objects) is shared, not rebuilt. Sharing
a variable object between chat users is safe because every handler replaces a chat user's
``variables`` and ``tags`` lists rather than editing the objects inside them.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import itertools
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from backoffice.userbot.sandbox.store import BotState, JSONDict, SandboxStore, iso_ms

DAY_MS = 86_400_000
HISTORY_DAYS = 90

# Names by language, so a chat user's name fits the language they write in.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "it": (
        ("Giulia", "Marco", "Francesca", "Luca", "Chiara", "Alessandro", "Sara", "Matteo", "Elena", "Davide"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"),
    ),
    "en": (
        ("Olivia", "James", "Emma", "Oliver", "Amelia", "Harry", "Sophie", "Jack", "Grace", "Thomas"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Walker", "Wright", "Hughes"),
    ),
    "es": (
        ("Lucia", "Hugo", "Martina", "Pablo", "Paula", "Daniel", "Carmen", "Alvaro", "Sofia", "Diego"),
        ("Garcia", "Martinez", "Lopez", "Sanchez", "Perez", "Gomez", "Fernandez", "Ruiz", "Diaz", "Moreno"),
    ),
    "de": (
        ("Mia", "Leon", "Hannah", "Felix", "Lena", "Jonas", "Laura", "Paul", "Anna", "Lukas"),
        (
            "Muller",
            "Schmidt",
            "Schneider",
            "Fischer",
            "Weber",
            "Meyer",
            "Wagner",
            "Becker",
            "Hoffmann",
            "Koch",
        ),
    ),
    "fr": (
        ("Louise", "Gabriel", "Chloe", "Arthur", "Camille", "Louis", "Manon", "Jules", "Ines", "Hugo"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"),
    ),
}
NAMES[""] = NAMES["en"]
# Weighted pools: drawing one index is uniform, the repetitions give the weights.
LANGUAGE_POOL = ("it",) * 35 + ("en",) * 30 + ("es",) * 10 + ("de",) * 8 + ("fr",) * 7 + ("",) * 10
CHANNEL_POOL = (
    ("webchat",) * 45
    + ("whatsapp",) * 25
    + ("messenger",) * 10
    + ("instagram",) * 10
    + ("telegram",) * 5
    + ("api",) * 5
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.test")
# Country code plus the first digit of a mobile number; each prefix has 9 digits after it.
PHONE_PREFIXES = ("+393", "+447", "+346", "+4915", "+336", "+3519")
TAGS = (
    ("VIP", "#d4af37"),
    ("Lead", "#1e88e5"),
    ("Customer", "#43a047"),
    ("Newsletter", "#8e24aa"),
    ("Support", "#e53935"),
    ("Wholesale", "#6d4c41"),
    ("Returning", "#00897b"),
    ("Abandoned cart", "#fb8c00"),
    ("Black Friday", "#212121"),
    ("Influencer", "#d81b60"),
    ("Beta tester", "#3949ab"),
    ("Churn risk", "#c0ca33"),
)
PLANS = ("free", "starter", "pro", "business")
CITIES = (
    "Milano",
    "Roma",
    "Torino",
    "London",
    "Manchester",
    "Madrid",
    "Barcelona",
    "Berlin",
    "Munich",
    "Paris",
    "Lyon",
    "Lisbon",
)
VARIABLE_TYPES = (("plan", "string"), ("city", "string"), ("orders", "number"), ("score", "number"))

INTERACTIONS = (
    (
        "shipping_times",
        "How long does shipping take?",
        "Orders ship within 24 hours and arrive in 2-4 working days.",
    ),
    ("shipping_cost", "How much is shipping?", "Shipping is free over 49 EUR, otherwise 4.90 EUR."),
    ("shipping_countries", "Do you ship abroad?", "We ship to every EU country, the UK and Switzerland."),
    ("order_status", "Where is my order?", "Open My orders and select the order to see its tracking link."),
    ("order_change", "Can I change my order?", "You can change an order until it ships, from My orders."),
    ("order_cancel", "How do I cancel an order?", "Open My orders, choose the order and press Cancel."),
    ("returns_policy", "What is your return policy?", "You can return any item within 30 days of delivery."),
    (
        "returns_how",
        "How do I return an item?",
        "Start a return from My orders; we email you a prepaid label.",
    ),
    (
        "refund_time",
        "When will I get my refund?",
        "Refunds reach your account within 5 working days of the return.",
    ),
    (
        "payment_methods",
        "Which payment methods do you accept?",
        "Cards, PayPal, Apple Pay, Google Pay and bank transfer.",
    ),
    (
        "payment_failed",
        "My payment failed, what now?",
        "Check the card details or try another method; no charge was made.",
    ),
    ("invoice", "Can I get an invoice?", "Add your VAT number at checkout and the invoice comes by email."),
    ("discount_code", "Where do I enter a discount code?", "Enter it in the cart, under the order summary."),
    (
        "discount_expired",
        "My discount code does not work",
        "Codes are valid once per customer and before their end date.",
    ),
    ("newsletter", "How do I subscribe to the newsletter?", "Leave your email at the bottom of any page."),
    (
        "account_create",
        "How do I create an account?",
        "Press Sign in, then Create account, and confirm your email.",
    ),
    ("password_reset", "I forgot my password", "Press Sign in, then Forgot password, and follow the email."),
    (
        "account_delete",
        "How do I delete my account?",
        "Write to privacy@example.com and we delete it within 30 days.",
    ),
    ("sizes", "How do I find my size?", "Every product page has a size guide next to the size picker."),
    ("stock", "When will an item be back in stock?", "Press Notify me on the product page to get an email."),
    ("gift_card", "Do you sell gift cards?", "Yes, from 25 to 500 EUR, delivered by email."),
    ("gift_wrap", "Can you wrap a gift?", "Choose gift wrapping at checkout for 3 EUR."),
    (
        "store_hours",
        "What are your opening hours?",
        "Customer care answers Monday to Saturday, 9:00 to 19:00.",
    ),
    ("contact_human", "Can I talk to a person?", "Of course, I am passing you to a colleague now."),
    ("warranty", "Is there a warranty?", "Every product has a two-year warranty."),
    (
        "loyalty",
        "How does the loyalty program work?",
        "You earn one point per euro; 100 points are a 5 EUR voucher.",
    ),
    ("spedizione", "Quanto costa la spedizione?", "La spedizione e gratuita sopra i 49 EUR."),
    ("reso", "Come faccio un reso?", "Apri I miei ordini e scegli Reso: ti inviamo un'etichetta prepagata."),
    ("pagamento", "Quali pagamenti accettate?", "Carte, PayPal, Apple Pay, Google Pay e bonifico."),
    ("orari", "Quando siete aperti?", "Il servizio clienti risponde dal lunedi al sabato, 9-19."),
)

CONVERSATIONS = (
    (
        ("user", "Hi, where is my order?"),
        ("bot", "I can help! What is your order number?"),
        ("user", "It's 10234"),
        ("bot", "Order 10234 shipped yesterday and arrives within 2 working days."),
    ),
    (
        ("user", "Do you ship to Switzerland?"),
        ("bot", "Yes, we ship to every EU country, the UK and Switzerland."),
        ("user", "And how much is it?"),
        ("bot", "Shipping is free over 49 EUR, otherwise 4.90 EUR."),
    ),
    (
        ("user", "I want to return a jacket"),
        ("bot", "You can return any item within 30 days of delivery."),
        ("user", "How do I get the label?"),
        ("bot", "Start a return from My orders and we email you a prepaid label."),
    ),
    (
        ("user", "My discount code does not work"),
        ("bot", "Codes are valid once per customer. Which code is it?"),
        ("user", "WELCOME10"),
        ("bot", "That code was already used on an earlier order."),
    ),
    (
        ("user", "Ciao, quanto costa la spedizione?"),
        ("bot", "La spedizione e gratuita sopra i 49 EUR."),
        ("user", "Grazie!"),
        ("bot", "Di nulla, buona giornata!"),
    ),
    (
        ("user", "Which size should I take? I'm usually an M"),
        ("bot", "Our sizes run true; M should fit you."),
        ("user", "Perfect, thanks"),
    ),
)
HANDOVER = (
    ("user", "Can I talk to a person?"),
    ("bot", "Of course, I am passing you to a colleague now."),
    ("agent", "Hi, this is customer care. How can I help?"),
    ("user", "I was charged twice for the same order"),
    ("agent", "I see it: the second charge is a pre-authorisation and disappears within 3 days."),
)
VISITOR_LINES = (
    "Hello!",
    "Is this item available in blue?",
    "How long does delivery take?",
    "Do you have a store in Milan?",
    "Can I pay with PayPal?",
    "Thanks a lot",
    "I need help with my order",
    "What is the return policy?",
)
BOT_REPLIES = (
    "Happy to help!",
    "Let me check that for you.",
    "Delivery takes 2-4 working days.",
    "You can pay with cards, PayPal, Apple Pay and Google Pay.",
    "You can return any item within 30 days.",
)
FEEDBACK_COMMENTS = {
    5: ("Super fast answer, thanks!", "Great service", "Solved in a minute", ""),
    4: ("Good, but it took a while", "Helpful", ""),
    3: ("Okay", "Had to ask twice", ""),
    2: ("The bot did not understand me", "Too slow"),
    1: ("Useless", "Nobody answered my question"),
}
RATING_POOL = (5,) * 45 + (4,) * 25 + (3,) * 12 + (2,) * 8 + (1,) * 10
LEADS = (
    ("Acme Logistics", "acme-logistics.example", "IT"),
    ("Northwind Traders", "northwind.example", "GB"),
    ("Globex Retail", "globex-retail.example", "DE"),
    ("Initech Services", "initech.example", "US"),
    ("Umbrella Pharma", "umbrella-pharma.example", "CH"),
    ("Stark Textiles", "stark-textiles.example", "IT"),
    ("Wayne Hospitality", "wayne-hospitality.example", "FR"),
    ("Hooli Media", "hooli.example", "US"),
    ("Vandelay Import", "vandelay.example", "ES"),
    ("Soylent Foods", "soylent-foods.example", "NL"),
    ("Tyrell Robotics", "tyrell.example", "DE"),
    ("Cyberdyne Systems", "cyberdyne.example", "US"),
    ("Pied Piper", "piedpiper.example", "US"),
    ("Massive Dynamic", "massive-dynamic.example", "GB"),
    ("Oscorp Energy", "oscorp-energy.example", "IT"),
)
LEAD_TAGS = ("hot", "enterprise", "follow-up", "partner", "newsletter")
LEAD_PAGES = (
    "/",
    "/pricing",
    "/products",
    "/products/jackets",
    "/cart",
    "/about",
    "/contact",
    "/blog/sizing",
)
ROLES = ("CEO", "Head of Sales", "Procurement Manager", "Marketing Director", "Operations Lead")


def seed_demo(
    store: SandboxStore, bot: BotState, *, chatusers: int = 300, seed: int = 0, now_ms: int | None = None
) -> None:
    """Fill ``bot`` with realistic demo data: chat users over the last 90 days and the rest.

    Deterministic for one ``seed`` and ``now_ms`` (default: the current second). Tags and
    variables already in the bot are reused by name; numbering continues after its chat users.
    """
    rng = random.Random(seed)
    now = int(time.time()) * 1000 if now_ms is None else now_ms
    tag_ids = seed_tags(store, bot, TAGS)
    values = {
        "plan": PLANS,
        "city": CITIES,
        "orders": tuple(str(n) for n in range(40)),
        "score": tuple(str(n) for n in range(101)),
    }
    variables = shared_variables(store, bot, [(name, kind, values[name]) for name, kind in VARIABLE_TYPES])
    with collector_paused():
        user_ids = _seed_chatusers(store, bot, rng, chatusers, now, tag_ids, variables)
    _seed_segments(store, bot, now, tag_ids)
    _seed_interactions(store, bot, rng, now)
    _seed_automated_messages(store, bot, now, tag_ids)
    _seed_sessions(store, bot, rng, now, user_ids)
    _seed_sales(bot, rng, now)
    _seed_leads(store, bot, rng, now)
    bot.last_stamp_ms = max(bot.last_stamp_ms, now)
    # The chat user indexes are rebuilt on their next use instead of here, so a large seed
    # pays for them once, when (and if) they are needed.
    bot.indexed_count = -1
    bot.order_stale = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """A million new dicts would set off the cycle collector over and over, each pass
    walking every object made so far; nothing a seed makes forms a cycle, so it can wait."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def seed_tags(store: SandboxStore, bot: BotState, tags: Sequence[tuple[str, str]]) -> list[str]:
    """The ids of these (name, colour) tags, made in the bot unless it has them by name."""
    by_name = {tag["name"].lower(): tid for tid, tag in bot.tags.items()}
    ids = []
    for name, color in tags:
        tid = by_name.get(name.lower())
        if tid is None:
            tid = store.new_id()
            bot.tags[tid] = {"id": tid, "name": name, "color": color}
        ids.append(tid)
    return ids


def shared_variables(
    store: SandboxStore, bot: BotState, spec: Sequence[tuple[str, str, Sequence[str]]]
) -> dict[str, list[JSONDict]]:
    """For each (name, type, values) variable, one shared Variable object per value a seed
    hands out; the bot's variable id and catalogue entry are reused or made."""
    known = {entry["name"] for entry in bot.bot_variables}
    shared: dict[str, list[JSONDict]] = {}
    for name, kind, values in spec:
        vid = bot.variable_ids.get(name)
        if vid is None:
            vid = store.new_id()
            bot.variable_ids[name] = vid
        if name not in known:
            bot.bot_variables.append({"name": name, "type": kind})
        shared[name] = [{"id": vid, "name": name, "value": value} for value in values]
    return shared


def _minute_prefix(minute: int) -> str:
    """``2026-11-24T09:30:`` for a minute counted from the epoch."""
    return time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(minute * 60))


def _seed_chatusers(
    store: SandboxStore,
    bot: BotState,
    rng: random.Random,
    count: int,
    now: int,
    tag_ids: list[str],
    variables: dict[str, list[JSONDict]],
) -> list[str]:
    """Create ``count`` chat users, oldest first, so ids and ``created_at`` rise together."""
    users = bot.chatusers
    rand = rng.random
    # Formatting a time is the costliest step per chat user; the minute's text is shared.
    minutes: dict[int, str] = {}
    span = HISTORY_DAYS * DAY_MS
    start = now - span
    names = {
        lang: (first, last, [n.lower() for n in first], [n.lower() for n in last])
        for lang, (first, last) in NAMES.items()
    }
    plans, cities, orders, scores = (
        variables["plan"],
        variables["city"],
        variables["orders"],
        variables["score"],
    )
    n_tags = len(tag_ids)
    first_number = len(users) + 1
    ids: list[str] = []
    new_id = store.new_id
    for i in range(count):
        number = first_number + i
        # u ** 0.7 packs more sign-ups into recent weeks, as a growing shop would see.
        created = start + int(span * ((i + rand()) / count) ** 0.7)
        prefix = minutes.get(created // 60_000)
        if prefix is None:
            prefix = minutes[created // 60_000] = _minute_prefix(created // 60_000)
        rest = created % 60_000
        created_at = f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"
        language = LANGUAGE_POOL[int(rand() * 100)]
        first_pool, last_pool, first_lower, last_lower = names[language]
        f, s = int(rand() * 10), int(rand() * 10)
        email = None
        if rand() < 0.92:
            email = f"{first_lower[f]}.{last_lower[s]}{number}@{EMAIL_DOMAINS[number & 3]}"
        phone = None
        if rand() < 0.7:
            phone = f"{PHONE_PREFIXES[number % 6]}{(number * 7919 + 1_000_003) % 1_000_000_000:09d}"
        roll = rand()
        if roll < 0.45:
            tags: list[str] = []
        else:
            first_tag = int(rand() * n_tags)
            tags = [tag_ids[first_tag]]
            if roll > 0.8:
                tags.append(tag_ids[(first_tag + 1 + int(rand() * (n_tags - 1))) % n_tags])
                if roll > 0.95:
                    tags.append(tag_ids[(first_tag + n_tags // 2) % n_tags])
                    if tags[2] == tags[1]:
                        tags.pop()
        user_variables = []
        if rand() < 0.8:
            user_variables.append(plans[int(rand() * 4)])
        if rand() < 0.6:
            user_variables.append(cities[int(rand() * 12)])
        if rand() < 0.5:
            user_variables.append(orders[int(rand() * rand() * 40)])
        if rand() < 0.4:
            user_variables.append(scores[int(rand() * 101)])
        last_seen_at = None
        if rand() < 0.85:
            seen = created + int((now - created) * rand())
            prefix = minutes.get(seen // 60_000)
            if prefix is None:
                prefix = minutes[seen // 60_000] = _minute_prefix(seen // 60_000)
            rest = seen % 60_000
            last_seen_at = f"{prefix}{rest // 1000:02d}.{rest % 1000:03d}Z"
        cid = new_id()
        users[cid] = {
            "id": cid,
            "client_ref": None,
            "name": first_pool[f],
            "surname": last_pool[s],
            "email": email,
            "phone": phone,
            "channel": CHANNEL_POOL[int(rand() * 100)],
            "language": language,
            "tags": tags,
            "variables": user_variables,
            "created_at": created_at,
            "updated_at": created_at,
            "last_seen_at": last_seen_at,
        }
        ids.append(cid)
    return ids


def _seed_segments(store: SandboxStore, bot: BotState, now: int, tag_ids: list[str]) -> None:
    week_ago = (datetime.fromtimestamp(now / 1000, tz=UTC) - timedelta(days=7)).date().isoformat()
    segments = (
        (
            "Pro and business plans",
            "any",
            [
                {"field": "variable", "op": "eq", "value": "pro", "name": "plan"},
                {"field": "variable", "op": "eq", "value": "business", "name": "plan"},
            ],
        ),
        (
            "VIP customers",
            "all",
            [
                {"field": "tag", "op": "eq", "value": tag_ids[0]},
                {"field": "tag", "op": "eq", "value": tag_ids[2]},
            ],
        ),
        (
            "Italian speakers on WhatsApp",
            "all",
            [
                {"field": "language", "op": "eq", "value": "it"},
                {"field": "channel", "op": "eq", "value": "whatsapp"},
            ],
        ),
        ("Active this week", "all", [{"field": "last_seen_at", "op": "gt", "value": week_ago}]),
        ("Frequent buyers", "all", [{"field": "variable", "op": "gt", "value": "10", "name": "orders"}]),
    )
    for name, match, filters in segments:
        sid = store.new_id()
        bot.segments[sid] = {
            "id": sid,
            "client_ref": None,
            "name": name,
            "match": match,
            "filters": filters,
            "updated_at": iso_ms(now - DAY_MS),
        }


def _seed_interactions(store: SandboxStore, bot: BotState, rng: random.Random, now: int) -> None:
    for n, (label, question, answer) in enumerate(INTERACTIONS):
        iid = store.new_id()
        bot.interactions[iid] = {
            "id": iid,
            "client_ref": None,
            "label": label,
            "question": question,
            "answer": answer,
            "language": "it" if n >= len(INTERACTIONS) - 4 else "en",
            "enabled": n % 11 != 10,
            "updated_at": iso_ms(now - rng.randrange(DAY_MS, HISTORY_DAYS * DAY_MS)),
        }


def _seed_automated_messages(store: SandboxStore, bot: BotState, now: int, tag_ids: list[str]) -> None:
    messages = (
        (
            "Welcome back, VIP",
            True,
            "returning_user",
            0,
            [{"field": "tag", "op": "eq", "value": tag_ids[0]}],
            [
                {"type": "text", "text": "Welcome back! Your VIP discount is waiting in the cart."},
                {
                    "type": "buttons",
                    "text": "Where shall we start?",
                    "buttons": [
                        {"label": "New arrivals", "value": "new_arrivals"},
                        {"label": "My orders", "value": "my_orders"},
                    ],
                },
            ],
        ),
        (
            "Cart reminder",
            True,
            "exit_intent",
            0,
            [{"field": "url", "op": "contains", "value": "/cart"}],
            [
                {"type": "text", "text": "Leaving already? Shipping is free over 49 EUR."},
                {
                    "type": "buttons",
                    "text": "Can I help you finish your order?",
                    "buttons": [
                        {"label": "Yes, please", "value": "help_checkout"},
                        {"label": "No, thanks", "value": "dismiss"},
                    ],
                },
            ],
        ),
        (
            "Pricing help",
            True,
            "time_on_page",
            30,
            [
                {"field": "url", "op": "contains", "value": "/pricing"},
                {"field": "language", "op": "eq", "value": "en"},
            ],
            [
                {"type": "text", "text": "Comparing plans? Here is what each includes."},
                {"type": "image", "url": "https://example.com/static/plans.png"},
            ],
        ),
        (
            "Benvenuto",
            False,
            "page_visit",
            5,
            [
                {"field": "language", "op": "eq", "value": "it"},
                {"field": "variable", "op": "eq", "value": "free", "name": "plan"},
            ],
            [
                {
                    "type": "buttons",
                    "text": "Ciao! Vuoi scoprire il piano Pro?",
                    "buttons": [
                        {"label": "Si", "value": "pro_info"},
                        {"label": "Piu tardi", "value": "later"},
                    ],
                }
            ],
        ),
    )
    for name, enabled, trigger, delay, conditions, answers in messages:
        mid = store.new_id()
        bot.automated_messages[mid] = {
            "id": mid,
            "client_ref": None,
            "name": name,
            "enabled": enabled,
            "trigger": trigger,
            "delay_seconds": delay,
            "conditions": conditions,
            "answers": answers,
            "updated_at": iso_ms(now - 2 * DAY_MS),
        }


def wspath(rng: random.Random) -> str:
    """A session's socket path: one word without dots, as the ``say`` frame needs."""
    return f"ws{rng.getrandbits(48):012x}"


def _seed_sessions(
    store: SandboxStore, bot: BotState, rng: random.Random, now: int, user_ids: list[str]
) -> None:
    """About 40 sessions: 6 with the bot and 4 with an agent now, the rest closed."""
    if not user_ids:
        return
    agents = [account.user_id for account in store.accounts.values()] or ["000000000000000000000001"]
    recent = user_ids[-200:]
    for n in range(40):
        user = bot.chatusers[rng.choice(recent)]
        created = int(datetime.fromisoformat(user["created_at"].replace("Z", "+00:00")).timestamp() * 1000)
        if n < 10:
            status = "bot" if n < 6 else "agent"
            started = now - rng.randrange(60_000, 20 * 60_000)
        else:
            status = "closed"
            started = now - rng.randrange(DAY_MS // 24, 30 * DAY_MS)
        started = min(max(started, created + 1000), now)
        handed_over = status == "agent" or (status == "closed" and n % 4 == 0)
        lines = [*CONVERSATIONS[n % len(CONVERSATIONS)], *(HANDOVER if handed_over else ())]
        if status == "bot":
            lines = lines[: 1 + n % 3]
        sid = store.new_id()
        at = started
        messages = []
        for sender, text in lines:
            at = min(at + rng.randrange(4_000, 60_000), now)
            messages.append({"id": store.new_id(), "from": sender, "text": text, "at": iso_ms(at)})
        bot.sessions[sid] = {
            "id": sid,
            "wspath": wspath(rng),
            "chatuser_id": user["id"],
            "channel": user["channel"],
            "status": status,
            "agent_id": agents[n % len(agents)] if handed_over else None,
            "started_at": iso_ms(started),
            "last_message_at": messages[-1]["at"],
        }
        bot.messages[sid] = messages
        if status == "closed" and rng.random() < 0.8:
            rating = rng.choice(RATING_POOL)
            fid = store.new_id()
            bot.feedback[fid] = {
                "id": fid,
                "chatuser_id": user["id"],
                "session_id": sid,
                "rating": rating,
                "comment": rng.choice(FEEDBACK_COMMENTS[rating]),
                "created_at": iso_ms(min(at + rng.randrange(30_000, 600_000), now)),
            }


def _seed_sales(bot: BotState, rng: random.Random, now: int) -> None:
    today = now // DAY_MS
    for day in range(today - HISTORY_DAYS + 1, today + 1):
        weekend = (day + 3) % 7 >= 5  # 1970-01-01 was a Thursday
        visits = int(rng.randrange(300, 900) * (1.3 if weekend else 1.0))
        orders = round(visits * rng.uniform(0.018, 0.042))
        date = datetime.fromtimestamp(day * 86_400, tz=UTC).date().isoformat()
        bot.sales_days[date] = {
            "orders": orders,
            "revenue": round(sum(rng.uniform(25, 140) for _ in range(orders)), 2),
            "visits": visits,
        }


def _seed_leads(store: SandboxStore, bot: BotState, rng: random.Random, now: int) -> None:
    first_names, surnames = NAMES["en"]
    for company, domain, country in LEADS:
        lid = store.new_id()
        visits = []
        landed = now - rng.randrange(DAY_MS, 30 * DAY_MS)
        for _ in range(rng.randrange(1, 9)):
            landed = min(landed + rng.randrange(60_000, 4 * DAY_MS), now - 60_000)
            left = landed + rng.randrange(20_000, 600_000)
            visits.append(
                {
                    "url": f"https://shop.example.com{rng.choice(LEAD_PAGES)}",
                    "landed_at": iso_ms(landed),
                    "left_at": iso_ms(min(left, now)),
                }
            )
        people = []
        for _ in range(rng.randrange(1, 4)):
            name, surname = rng.choice(first_names), rng.choice(surnames)
            people.append(
                {
                    "name": name,
                    "surname": surname,
                    "role": rng.choice(ROLES),
                    "email": f"{name.lower()}.{surname.lower()}@{domain}",
                    "phone": f"+3902{rng.randrange(10_000_000, 99_999_999)}" if rng.random() < 0.6 else None,
                }
            )
        bot.leads[lid] = {
            "id": lid,
            "company": company,
            "domain": domain,
            "country": country,
            "visits": len(visits),
            "last_visit_at": visits[-1]["landed_at"],
            "tags": rng.sample(LEAD_TAGS, rng.randrange(0, 3)),
        }
        bot.lead_visits[lid] = visits
        bot.lead_people[lid] = people


# --- live visitors ------------------------------------------------------------------------

Publish = Callable[[str, str, str, Any], Any]
MAX_LIVE_SESSIONS = 12


async def run_live_visitors(
    store: SandboxStore, publish: Publish, *, interval_s: float = 2.0, seed: int = 0
) -> None:
    """Forever: every ``interval_s`` a visitor writes in a live session, or a new one opens.

    Runs on the server's event loop, between requests, so it needs no locking.
    """
    rng = random.Random(seed)
    while True:
        await asyncio.sleep(interval_s)
        for sitekey, event, payload in visitor_step(store, rng):
            result = publish(sitekey, "chat", event, payload)
            if inspect.isawaitable(result):
                await result


def visitor_step(store: SandboxStore, rng: random.Random) -> list[tuple[str, str, JSONDict]]:
    """One tick of live visitors; returns the ``(sitekey, event, payload)`` to publish."""
    bots = [bot for _, bot in sorted(store.bots.items()) if bot.sessions]
    if not bots:
        return []
    bot = rng.choice(bots)
    live = [s for s in bot.sessions.values() if s["status"] != "closed"]
    events: list[tuple[str, str, JSONDict]] = []
    now = max(int(time.time() * 1000), bot.last_stamp_ms + 1)
    bot.last_stamp_ms = now
    if len(live) >= MAX_LIVE_SESSIONS:
        oldest = min(live, key=lambda s: s["last_message_at"])
        oldest["status"] = "closed"
        events.append((bot.sitekey, "chat.session", {"session": dict(oldest)}))
        live.remove(oldest)
    if bot.chatusers and (not live or rng.random() < 0.15):
        session = _open_session(store, bot, rng, now)
        events.append((bot.sitekey, "chat.session", {"session": dict(session)}))
        live.append(session)
    if not live:
        return events
    session = rng.choice(live)
    lines = [("user", rng.choice(VISITOR_LINES))]
    if session["status"] == "bot":
        lines.append(("bot", rng.choice(BOT_REPLIES)))
    for offset, (sender, text) in enumerate(lines):
        message = {"id": store.new_id(), "from": sender, "text": text, "at": iso_ms(now + offset)}
        bot.messages.setdefault(session["id"], []).append(message)
        session["last_message_at"] = message["at"]
        events.append((bot.sitekey, "chat.message", {"session_id": session["id"], "message": dict(message)}))
    bot.last_stamp_ms = now + len(lines) - 1
    return events


def _open_session(store: SandboxStore, bot: BotState, rng: random.Random, now: int) -> JSONDict:
    # The newest chat users are the likeliest to be on the site right now; the dict keeps
    # creation order, and reading its tail avoids sorting a million ids.
    newest = list(itertools.islice(reversed(bot.chatusers), 200))
    user = bot.chatusers[rng.choice(newest)]
    sid = store.new_id()
    session = {
        "id": sid,
        "wspath": wspath(rng),
        "chatuser_id": user["id"],
        "channel": user["channel"],
        "status": "bot",
        "agent_id": None,
        "started_at": iso_ms(now),
        "last_message_at": iso_ms(now),
    }
    bot.sessions[sid] = session
    bot.messages[sid] = []
    return session
