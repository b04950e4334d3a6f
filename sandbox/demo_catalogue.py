"""The demo bot's catalogue: segments, knowledge base interactions, automated messages.

What a person edits in the back office, as a shop would have set it up; fixed, apart from
the interactions' dates, which are drawn from the demo's random source.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sandbox.demo_content import DAY_MS, HISTORY_DAYS, INTERACTIONS
from sandbox.store import BotState, SandboxStore, iso_ms


def seed_segments(store: SandboxStore, bot: BotState, now: int, tag_ids: list[str]) -> None:
    """Five segments over what the chat users hold: plans, tags, language and channel, dates."""
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


def seed_interactions(store: SandboxStore, bot: BotState, rng: random.Random, now: int) -> None:
    """The shop's questions and answers; the last four in Italian, every eleventh disabled."""
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


def seed_automated_messages(store: SandboxStore, bot: BotState, now: int, tag_ids: list[str]) -> None:
    """One automated message per trigger, each with conditions and answers; one disabled."""
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
