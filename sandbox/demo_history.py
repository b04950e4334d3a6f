"""The demo bot's history: chats with their feedback, daily sales, and leads with their visits.

What visitors did before the sandbox started, drawn from the demo's random source so that
one seed gives one history.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

from sandbox.demo_content import (
    CONVERSATIONS,
    DAY_MS,
    FEEDBACK_COMMENTS,
    HANDOVER,
    HISTORY_DAYS,
    LEAD_PAGES,
    LEAD_TAGS,
    LEADS,
    NAMES,
    RATING_POOL,
    ROLES,
)
from sandbox.store import BotState, SandboxStore, iso_ms


def wspath(rng: random.Random) -> str:
    """A session's socket path: one word without dots, as the ``say`` frame needs."""
    return f"ws{rng.getrandbits(48):012x}"


def seed_sessions(
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


def seed_sales(bot: BotState, rng: random.Random, now: int) -> None:
    """Orders, revenue and visits for every day of the history, busier at weekends."""
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


def seed_leads(store: SandboxStore, bot: BotState, rng: random.Random, now: int) -> None:
    """Every lead company, with one to eight visits in the last month and one to three key people."""
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
