"""The chat user admin: validation messages, writes through services, actions, export, cost."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.db import connection
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.test.utils import CaptureQueriesContext

from backoffice.sync.models import OutboxEntry
from chatusers.admin.chatuser_filters import languages_in_use
from chatusers.models import ChatUser, ChatUserSync, ChatUserTag, Segment, Tag, Variable
from tests.factories import BotFactory, ChatUserFactory, SegmentFactory, TagFactory
from tests.operations import run_started
from tests.pages import crumbs

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/chatusers/chatuser/"
ADD = "/admin/chatusers/chatuser/add/"


@pytest.fixture
def admin_client(client: Any) -> Any:
    client.force_login(get_user_model().objects.create_superuser("admin", "admin@example.com", "x"))
    return client


def _inline(prefix: str, rows: list[dict[str, Any]] | None = None, initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(rows or [])),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows or []):
        data.update({f"{prefix}-{i}-{key}": value for key, value in row.items()})
    return data


def _chatuser_data(bot: Any, **fields: Any) -> dict[str, Any]:
    data = {
        "bot": bot.pk,
        "name": "Ada",
        "surname": "",
        "email": "",
        "phone": "",
        "channel": "api",
        "language": "",
        "last_seen_at_0": "",
        "last_seen_at_1": "",
        **fields,
    }
    data.update(_inline("chatusertag_set"))
    data.update(_inline("variables"))
    return data


# --- validation through the forms --------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"phone": "3331234567"},
            {"phone": ["Enter a phone number in E.164 form: a + and 2 to 15 digits, e.g. +393331234567."]},
        ),
        (
            {"email": "ADA@example.COM"},
            {"email": ["Another chat user of this bot has this email (in any case)."]},
        ),
        ({"phone": "+393330000000"}, {"phone": ["Another chat user of this bot has this phone."]}),
        (
            {"language": "xx"},
            {"language": ["Select a valid choice. xx is not one of the available choices."]},
        ),
        (
            {"channel": "sms"},
            {"channel": ["Select a valid choice. sms is not one of the available choices."]},
        ),
        ({"email": "not-an-email"}, {"email": ["Enter a valid email address."]}),
    ],
)
def test_chatuser_form_shows_each_contract_error(admin_client: Any, fields: dict, errors: dict) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, email="ada@example.com", phone="+393330000000")

    response = admin_client.post(ADD, _chatuser_data(bot, **fields))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    assert ChatUser.objects.count() == 1
    assert OutboxEntry.objects.count() == 0


def test_chatuser_change_form_checks_the_email_within_the_same_bot(admin_client: Any) -> None:
    bot = BotFactory()
    ChatUserFactory(bot=bot, email="ada@example.com")
    other = ChatUserFactory(bot=bot, email="bob@example.com")

    response = admin_client.post(
        f"{CHANGELIST}{other.pk}/change/", _chatuser_data(bot, email="Ada@Example.com", name=other.name)
    )

    assert response.context["adminform"].form.errors == {
        "email": ["Another chat user of this bot has this email (in any case)."]
    }
    assert ChatUser.objects.get(pk=other.pk).email == "bob@example.com"


def test_tag_form_refuses_a_bad_colour_and_a_name_in_another_case(admin_client: Any) -> None:
    bot = BotFactory()
    TagFactory(bot=bot, name="vip")

    bad_colour = admin_client.post(
        "/admin/chatusers/tag/add/", {"bot": bot.pk, "name": "new", "color": "blue"}
    )
    duplicate = admin_client.post(
        "/admin/chatusers/tag/add/", {"bot": bot.pk, "name": "VIP", "color": "#000000"}
    )

    assert bad_colour.context["adminform"].form.errors == {
        "color": ["Enter a colour as #rrggbb, e.g. #1e88e5."]
    }
    assert duplicate.context["adminform"].form.errors == {
        "name": ["This bot already has a tag with this name (in any case)."]
    }
    assert Tag.objects.count() == 1


def test_tag_on_userbot_is_read_only_and_cannot_be_deleted(admin_client: Any) -> None:
    tag = TagFactory(name="vip", remote_id="t-1")

    page = admin_client.get(f"/admin/chatusers/tag/{tag.pk}/change/")
    delete = admin_client.get(f"/admin/chatusers/tag/{tag.pk}/delete/")

    assert page.context["adminform"].form.fields == {}
    assert delete.status_code == 403


def _segment_data(bot: Any, filters: list[dict[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = {"bot": bot.pk, "name": "S", "match": "all"}
    data.update(_inline("filters", filters))
    return data


def test_segment_form_refuses_a_bad_filter_pair(admin_client: Any) -> None:
    bot = BotFactory()

    response = admin_client.post(
        "/admin/chatusers/segment/add/",
        _segment_data(bot, [{"field": "created_at", "op": "contains", "value": "2026", "name": ""}]),
    )

    formset = response.context["inline_admin_formsets"][0].formset
    assert formset.errors == [{"op": ["The operator contains is not valid for the field created_at."]}]
    assert Segment.objects.count() == 0


def test_segment_filter_inputs_are_narrow_enough_for_one_row(admin_client: Any) -> None:
    page = admin_client.get("/admin/chatusers/segment/add/").content.decode()

    value = re.search(r'<input type="text" name="filters-0-value"[^>]*>', page)
    name = re.search(r'<input type="text" name="filters-0-name"[^>]*>', page)
    assert value is not None and name is not None
    assert 'size="20"' in value.group(0) and "vTextField" not in value.group(0)
    assert 'size="14"' in name.group(0) and "vTextField" not in name.group(0)


def test_segment_add_saves_through_the_service_and_shows_its_count(admin_client: Any) -> None:
    bot = BotFactory()
    tag = TagFactory(bot=bot, name="vip")
    tagged = ChatUserFactory(bot=bot)
    ChatUserTag.objects.create(chatuser=tagged, tag=tag)
    ChatUserFactory(bot=bot)

    response = admin_client.post(
        "/admin/chatusers/segment/add/",
        _segment_data(bot, [{"field": "tag", "op": "eq", "value": "VIP", "name": ""}]),
    )

    assert response.status_code == 302
    segment = Segment.objects.get()
    assert list(segment.filters.values_list("field", "op", "value", "tag_id")) == [
        ("tag", "eq", "vip", tag.pk)
    ]
    assert list(OutboxEntry.objects.values_list("object_type", "object_id")) == [
        ("chatusers.segment", segment.pk)
    ]
    assert LogEntry.objects.count() == 1
    page = admin_client.get(f"/admin/chatusers/segment/{segment.pk}/change/")
    assert page.context["adminform"].form.instance == segment
    assert "Chat users matching" in page.content.decode()
    assert '<span class="segment-count">1</span>' in page.content.decode()


# --- saving a chat user through the services ---------------------------------------------


def test_chatuser_add_page_creates_through_the_service(admin_client: Any) -> None:
    bot = BotFactory()
    tag = TagFactory(bot=bot, name="vip")
    data = _chatuser_data(bot, name="Ada", email="ada@example.com", phone="+393331234567", language="en")
    data.update(_inline("chatusertag_set", [{"tag": tag.pk}]))
    data.update(_inline("variables", [{"name": "age", "value": "36"}]))

    response = admin_client.post(ADD, data)

    assert response.status_code == 302
    chatuser = ChatUser.objects.get()
    assert (chatuser.name, chatuser.email, chatuser.phone, chatuser.language) == (
        "Ada",
        "ada@example.com",
        "+393331234567",
        "en",
    )
    assert list(chatuser.tags.all()) == [tag]
    assert list(chatuser.variables.values_list("name", "value")) == [("age", "36")]
    assert list(OutboxEntry.objects.values_list("object_id", flat=True)) == [chatuser.pk]
    assert sorted(LogEntry.objects.values_list("change_message", flat=True)) == [
        "Added tag vip",
        "Created",
        "Set variable age",
    ]


def test_chatuser_change_page_saves_only_what_changed(admin_client: Any) -> None:
    bot = BotFactory()
    vip, old = TagFactory(bot=bot, name="vip"), TagFactory(bot=bot, name="old")
    chatuser = ChatUserFactory(bot=bot, name="Ada", email="ada@example.com")
    link = ChatUserTag.objects.create(chatuser=chatuser, tag=vip)
    age = Variable.objects.create(chatuser=chatuser, name="age", value="36")
    city = Variable.objects.create(chatuser=chatuser, name="city", value="Roma")
    data = _chatuser_data(
        bot, name="Ada", surname="Lovelace", email="ada@example.com", channel="webchat", language="en"
    )
    data.update(
        _inline("chatusertag_set", [{"id": link.pk, "tag": old.pk, "chatuser": chatuser.pk}], initial=1)
    )
    data.update(
        _inline(
            "variables",
            [
                {"id": age.pk, "name": "age", "value": "36", "chatuser": chatuser.pk},
                {"id": city.pk, "name": "city", "value": "Roma", "chatuser": chatuser.pk, "DELETE": "on"},
            ],
            initial=2,
        )
    )

    response = admin_client.post(f"{CHANGELIST}{chatuser.pk}/change/", data)

    assert response.status_code == 302
    chatuser.refresh_from_db()
    assert (chatuser.surname, chatuser.channel, chatuser.language) == ("Lovelace", "webchat", "en")
    assert list(chatuser.tags.values_list("name", flat=True)) == ["old"]
    assert list(chatuser.variables.values_list("name", "value")) == [("age", "36")]
    assert OutboxEntry.objects.count() == 1
    assert sorted(LogEntry.objects.values_list("change_message", flat=True)) == [
        "Added tag old",
        "Changed surname, language",
        "Removed tag vip",
        "Removed variable city",
    ]


def test_chatuser_delete_page_deletes_through_the_service(admin_client: Any) -> None:
    chatuser = ChatUserFactory(remote_id="u-1")

    response = admin_client.post(f"{CHANGELIST}{chatuser.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert ChatUser.objects.count() == 0
    assert list(OutboxEntry.objects.values_list("deleted", "remote_id")) == [(True, "u-1")]
    assert list(LogEntry.objects.values_list("change_message", flat=True)) == ["Deleted"]


# --- actions -------------------------------------------------------------------------------


@pytest.fixture
def crowd() -> dict[str, Any]:
    bot = BotFactory()
    tag = TagFactory(bot=bot, name="vip")
    rossi = [ChatUserFactory(bot=bot, surname="Rossi", channel="webchat") for _ in range(3)]
    bianchi = [ChatUserFactory(bot=bot, surname="Bianchi", channel="webchat") for _ in range(2)]
    whatsapp = ChatUserFactory(bot=bot, surname="Rossi", channel="whatsapp")
    return {"bot": bot, "tag": tag, "rossi": rossi, "bianchi": bianchi, "whatsapp": whatsapp}


def _action(action: str, pks: list[int], *, across: bool = False, post: bool = False, **extra: Any) -> dict:
    data: dict[str, Any] = {
        "action": action,
        ACTION_CHECKBOX_NAME: [str(pk) for pk in pks],
        "select_across": "1" if across else "0",
        "index": "0",
    }
    if post:
        data.pop("index")
        data["post"] = "yes"
    data.update(extra)
    return data


def test_add_tag_on_the_selection_confirms_then_changes_exactly_those(admin_client: Any, crowd: dict) -> None:
    chosen = [crowd["rossi"][0].pk, crowd["bianchi"][0].pk]

    confirm = admin_client.post(CHANGELIST, _action("add_tag", chosen))
    assert ChatUserTag.objects.count() == 0  # the confirmation page changes nothing
    done = admin_client.post(
        CHANGELIST, _action("add_tag", chosen, post=True, tag=crowd["tag"].pk), follow=True
    )

    assert confirm.status_code == 200
    assert confirm.templates[0].name == "admin/chatusers/bulk_confirmation.html"
    assert "This applies to 2 chat users (the selected)." in confirm.content.decode()
    assert crumbs(confirm.content.decode()) == ["Home", "People", "Chat users", "Add a tag"]
    assert sorted(ChatUserTag.objects.values_list("chatuser_id", flat=True)) == sorted(chosen)
    assert sorted(OutboxEntry.objects.values_list("object_id", flat=True)) == sorted(chosen)
    assert [str(m) for m in done.context["messages"]] == ["Tag “vip” added to 2 chat users."]


def test_add_tag_on_all_matching_follows_the_search_and_filters(admin_client: Any, crowd: dict) -> None:
    url = f"{CHANGELIST}?q=rossi&channel__exact=webchat"
    one_on_the_page = [crowd["rossi"][0].pk]

    confirm = admin_client.post(url, _action("add_tag", one_on_the_page, across=True))
    operation = run_started(
        admin_client.post(
            url, _action("add_tag", one_on_the_page, across=True, post=True, tag=crowd["tag"].pk)
        )
    )

    assert (
        "This applies to 3 chat users (every chat user matching the current filters and search)."
        in confirm.content.decode()
    )
    assert (operation.status, operation.done, operation.total) == ("done", 3, 3)
    assert operation.result == "Tag “vip” added to 3 chat users."
    expected = sorted(c.pk for c in crowd["rossi"])
    assert sorted(ChatUserTag.objects.values_list("chatuser_id", flat=True)) == expected
    assert sorted(OutboxEntry.objects.values_list("object_id", flat=True)) == expected
    assert LogEntry.objects.count() == 3
    untouched = ChatUser.objects.exclude(pk__in=expected)
    assert sorted(untouched.values_list("sync__sync_state", flat=True)) == ["synced"] * 3


def test_remove_tag_on_all_matching(admin_client: Any, crowd: dict) -> None:
    for chatuser in [*crowd["rossi"], *crowd["bianchi"]]:
        ChatUserTag.objects.create(chatuser=chatuser, tag=crowd["tag"])
    url = f"{CHANGELIST}?q=bianchi"

    run_started(
        admin_client.post(
            url, _action("remove_tag", [crowd["bianchi"][0].pk], across=True, post=True, tag=crowd["tag"].pk)
        )
    )

    assert sorted(ChatUserTag.objects.values_list("chatuser_id", flat=True)) == sorted(
        c.pk for c in crowd["rossi"]
    )
    assert sorted(OutboxEntry.objects.values_list("object_id", flat=True)) == sorted(
        c.pk for c in crowd["bianchi"]
    )


def test_delete_on_the_selection_and_on_all_matching(admin_client: Any, crowd: dict) -> None:
    first = crowd["bianchi"][0].pk
    # All on Userbot already, so each deletion has something to send.
    ChatUserSync.objects.update(
        remote_id=Concat(Value("remote-"), Cast("chatuser_id", output_field=CharField()))
    )

    confirm = admin_client.post(CHANGELIST, _action("delete_chatusers", [first]))
    admin_client.post(CHANGELIST, _action("delete_chatusers", [first], post=True))
    assert "This applies to 1 chat user (the selected)." in confirm.content.decode()
    assert not ChatUser.objects.filter(pk=first).exists()

    run_started(
        admin_client.post(
            f"{CHANGELIST}?channel__exact=whatsapp",
            _action("delete_chatusers", [crowd["whatsapp"].pk], across=True, post=True),
        )
    )

    remaining = sorted(ChatUser.objects.values_list("pk", flat=True))
    assert remaining == sorted([*(c.pk for c in crowd["rossi"]), crowd["bianchi"][1].pk])
    assert sorted(OutboxEntry.objects.values_list("object_id", "deleted")) == sorted(
        [(first, True), (crowd["whatsapp"].pk, True)]
    )


@pytest.mark.parametrize(
    ("action", "destructive"),
    [("add_tag", False), ("remove_tag", False), ("delete_chatusers", True)],
)
def test_only_the_delete_confirmation_looks_destructive(
    admin_client: Any, crowd: dict, action: str, destructive: bool
) -> None:
    page = admin_client.post(CHANGELIST, _action(action, [crowd["whatsapp"].pk])).content.decode()

    body = re.search(r'<body class="([^"]*)"', page)
    assert body is not None
    assert ("delete-confirmation" in body.group(1).split()) is destructive
    assert ("bulk-confirmation" in body.group(1).split()) is not destructive
    assert ('class="default"' in page) is not destructive
    assert ChatUser.objects.count() == 6
    assert ChatUserTag.objects.count() == 0


def test_actions_follow_the_users_permissions(client: Any, crowd: dict) -> None:
    viewer = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_chatuser"))
    client.force_login(viewer)

    page = client.get(CHANGELIST)
    refused = client.post(CHANGELIST, _action("delete_chatusers", [crowd["whatsapp"].pk], post=True))

    choices = [name for name, _ in page.context["action_form"].fields["action"].choices if name]
    assert choices == ["export_csv"]
    assert refused.status_code == 302  # back to the list, "No action selected"
    assert ChatUser.objects.count() == 6


def test_export_writes_the_import_columns_and_defuses_formulas(admin_client: Any) -> None:
    bot = BotFactory()
    vip, new = TagFactory(bot=bot, name="vip"), TagFactory(bot=bot, name="new")
    ada = ChatUser.objects.create(
        bot=bot,
        remote_id="u-1",
        client_ref="ref-1",
        name="Ada",
        surname="Lovelace",
        email="ada@example.com",
        phone="+393331234567",
        channel="webchat",
        language="en",
    )
    ChatUserTag.objects.create(chatuser=ada, tag=vip)
    ChatUserTag.objects.create(chatuser=ada, tag=new)
    Variable.objects.create(chatuser=ada, name="age", value="36")
    evil = ChatUser.objects.create(
        bot=bot, client_ref="ref-2", name='=HYPERLINK("http://x")', surname="@SUM(A1)", channel="api"
    )
    Variable.objects.create(chatuser=evil, name="city", value="-2+3")
    Variable.objects.create(chatuser=evil, name="age", value="+1")

    response = admin_client.post(CHANGELIST, _action("export_csv", [ada.pk, evil.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    assert b"".join(response.streaming_content).decode() == (
        "id,client_ref,name,surname,email,phone,channel,language,tags,var:age,var:city\r\n"
        "u-1,ref-1,Ada,Lovelace,ada@example.com,+393331234567,webchat,en,new|vip,36,\r\n"
        ',ref-2,"\'=HYPERLINK(""http://x"")",\'@SUM(A1),,,api,,,\'+1,\'-2+3\r\n'
    )


# --- cost of the list ------------------------------------------------------------------------


def _changelist_queries(client: Any, query: str = "") -> int:
    # Cold each time: the languages in use are cached, and a warm cache would hide their query.
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{CHANGELIST}{query}")
    assert response.status_code == 200
    return len(queries)


def test_changelist_costs_the_same_queries_for_10_and_100_rows(admin_client: Any) -> None:
    bot = BotFactory()
    tags = [TagFactory(bot=bot) for _ in range(3)]
    SegmentFactory(bot=bot)
    by_bot = f"?bot__id__exact={bot.pk}"

    def add(n: int) -> None:
        for i in range(n):
            chatuser = ChatUserFactory(bot=bot, language=("it", "en", "de")[i % 3])
            ChatUserTag.objects.bulk_create([ChatUserTag(chatuser=chatuser, tag=tag) for tag in tags])
            Variable.objects.create(chatuser=chatuser, name="age", value="1")

    add(10)
    with_10, with_10_by_bot = _changelist_queries(admin_client), _changelist_queries(admin_client, by_bot)
    add(90)
    with_100, with_100_by_bot = _changelist_queries(admin_client), _changelist_queries(admin_client, by_bot)

    assert with_10 == with_100
    assert with_10_by_bot == with_100_by_bot
    assert with_10 > 5
    page = admin_client.get(CHANGELIST)
    assert len(page.context["cl"].result_list) == 100


def _language_choices(page: Any) -> list[str]:
    [spec] = [spec for spec in page.context["cl"].filter_specs if spec.title == "language"]
    return [value for value, _ in spec.lookup_choices]


def test_the_language_filter_lists_only_the_languages_in_use_of_the_filtered_bot(admin_client: Any) -> None:
    cache.clear()
    shop, other = BotFactory(), BotFactory()
    ChatUserFactory(bot=shop, language="it")
    ChatUserFactory(bot=shop, language="en")
    ChatUserFactory(bot=shop, language="")
    ChatUserFactory(bot=other, language="de")

    every_bot = admin_client.get(CHANGELIST)
    one_bot = admin_client.get(f"{CHANGELIST}?bot__id__exact={shop.pk}")
    italian = admin_client.get(f"{CHANGELIST}?bot__id__exact={shop.pk}&language__exact=it")

    assert _language_choices(every_bot) == ["de", "en", "it"]
    assert _language_choices(one_bot) == ["en", "it"]
    assert [c.language for c in italian.context["cl"].result_list] == ["it"]
    assert f"?bot__id__exact={shop.pk}&amp;language__exact=en" in one_bot.content.decode()


def test_the_languages_in_use_are_read_once_then_cached(admin_client: Any) -> None:
    cache.clear()
    bot = BotFactory()
    ChatUserFactory(bot=bot, language="it")
    admin_client.get(CHANGELIST)
    ChatUserFactory(bot=bot, language="fr")

    with CaptureQueriesContext(connection) as queries:
        cached = admin_client.get(CHANGELIST)
    cache.clear()
    fresh = admin_client.get(CHANGELIST)

    assert not any("DISTINCT" in q["sql"].upper() for q in queries.captured_queries)
    assert _language_choices(cached) == ["it"]
    assert _language_choices(fresh) == ["fr", "it"]


def test_changelist_counts_at_most_the_cap_and_never_the_whole_table(
    admin_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatusers.admin import pagination

    monkeypatch.setattr(pagination, "COUNT_CAP", 5)
    bot = BotFactory()
    for _ in range(8):
        ChatUserFactory(bot=bot, channel="api")

    with CaptureQueriesContext(connection) as queries:
        unfiltered = admin_client.get(CHANGELIST)
    # Read before the next request: a request clears the connection's query log.
    statements = [q["sql"] for q in queries.captured_queries]
    filtered = admin_client.get(f"{CHANGELIST}?channel__exact=api")

    assert unfiltered.context["cl"].result_count == 5
    assert filtered.context["cl"].result_count == 5
    assert [sql for sql in statements if "COUNT(" in sql.upper()] == []
    # One row past the cap tells "exactly 5" from "over 5" in the same query.
    assert len([sql for sql in statements if "LIMIT 6" in sql]) == 1
    assert "over 5 chat users" in unfiltered.content.decode()


def test_a_search_that_finds_one_page_searches_once_and_reads_the_page_by_key(admin_client: Any) -> None:
    bot = BotFactory()
    for name in ("Ada", "Adele", "Bob"):
        ChatUserFactory(bot=bot, name=name)

    with CaptureQueriesContext(connection) as queries:
        found = admin_client.get(f"{CHANGELIST}?q=ad")
    searches = [q["sql"] for q in queries.captured_queries if " LIKE " in q["sql"].upper()]
    with CaptureQueriesContext(connection) as queries:
        nobody = admin_client.get(f"{CHANGELIST}?q=nobody")
    searched_again = [q["sql"] for q in queries.captured_queries if " LIKE " in q["sql"].upper()]

    assert [str(c) for c in found.context["cl"].result_list] == ["Adele Rossi", "Ada Rossi"]  # newest first
    assert found.context["cl"].result_count == 2
    assert len(searches) == 1
    assert list(nobody.context["cl"].result_list) == []
    assert len(searched_again) == 1


def test_the_list_shows_each_chat_users_tags_by_name_from_one_query(admin_client: Any) -> None:
    bot = BotFactory()
    zeta = TagFactory(bot=bot, name="zeta", color="#000000")
    alpha = TagFactory(bot=bot, name="Alpha <b>", color="#ff0000")
    ada = ChatUserFactory(bot=bot, name="Ada")
    ChatUserFactory(bot=bot, name="Bob")
    ChatUserTag.objects.bulk_create([ChatUserTag(chatuser=ada, tag=tag) for tag in (zeta, alpha)])

    with CaptureQueriesContext(connection) as queries:
        page = admin_client.get(CHANGELIST)

    cells = re.findall(r'<td class="field-tag_names">(.*?)</td>', page.content.decode())
    assert cells == [
        "-",  # Bob, the newest, has none
        '<span class="tag-chip" style="--tag-color:#ff0000">Alpha &lt;b&gt;</span>'
        '<span class="tag-chip" style="--tag-color:#000000">zeta</span>',
    ]
    assert len([q for q in queries.captured_queries if "chatusers_chatusertag" in q["sql"]]) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the loose index scan is PostgreSQL's")
def test_the_loose_index_scan_finds_each_language_in_use_once() -> None:
    cache.clear()
    for language in ("it", "en", "it", "", "de", "en"):
        ChatUserFactory(language=language)

    assert languages_in_use(bot_id=None) == ["de", "en", "it"]
