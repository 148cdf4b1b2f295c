"""The real Application driven with Update JSON: what a person sees, screen by screen."""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from bot.i18n import LOCALE_NAMES, format_date, gettext_for
from bot.render import MESSAGE_LIMIT
from knowledge.loader import KnowledgeBase
from knowledge.schema import LOCALES
from knowledge.sections import SECTIONS
from tests.conftest import Harness, buttons, make_harness, texts


def _t(locale: str, msgid: str) -> str:
    return html.escape(gettext_for(locale)(msgid))


@pytest.mark.parametrize(
    ("language_code", "expected"),
    [("ru", "ru"), ("uz", "uz"), ("ky", "ky"), ("tg", "tg"), ("en", "ru"), (None, "ru")],
)
async def test_start_offers_five_languages_preselecting_the_phone_language(
    harness: Harness, language_code: str | None, expected: str
) -> None:
    calls = await harness.say("/start", language_code=language_code)
    labels = [label for label, _ in buttons(calls)]
    assert [label.removeprefix("✅ ") for label in labels] == [LOCALE_NAMES[x] for x in LOCALES]
    assert [label for label in labels if label.startswith("✅")] == ["✅ " + LOCALE_NAMES[expected]]
    assert _t(expected, "Choose your language:") in texts(calls)[0]


@pytest.mark.parametrize("locale", LOCALES)
async def test_choosing_a_language_shows_the_menu_in_it_and_is_remembered(
    harness: Harness, locale: str
) -> None:
    await harness.say("/start")
    calls = await harness.press(f"l:{locale}")
    assert _t(locale, "Main menu") in texts(calls)[-1]
    labels = [label for label, _ in buttons(calls)]
    assert len(labels) == 9  # "I need help" on its own row, then the eight sections
    assert labels[0] == gettext_for(locale)("🆘 I need help")
    assert gettext_for(locale)("⛔ Entry ban") in labels
    # Any later message is answered in the chosen locale.
    calls = await harness.say("/menu", language_code="ru")
    assert _t(locale, "Main menu") in texts(calls)[-1]


async def test_locale_survives_a_restart(db_path: Path, kb: KnowledgeBase) -> None:
    async with make_harness(db_path, kb) as first:
        await first.say("/start", language_code="ru")
        await first.press("l:uz_Cyrl")
    async with make_harness(db_path, kb) as second:
        calls = await second.say("/menu", language_code="ru")
    assert _t("uz_Cyrl", "Main menu") in texts(calls)[-1]


@pytest.mark.parametrize("locale", ["ky", "tg", "uz"])
async def test_every_section_topic_and_article_has_back_and_home(
    harness: Harness, kb: KnowledgeBase, locale: str
) -> None:
    await harness.press(f"l:{locale}")
    home = gettext_for(locale)("🏠 Menu")
    back = gettext_for(locale)("⬅️ Back")
    for section_key, topics in SECTIONS.items():
        calls = await harness.press(f"s:{section_key}")
        section_buttons = dict(buttons(calls))
        assert section_buttons.get(home) == "h"
        topic_data = [d for d in section_buttons.values() if d.startswith("t:")]
        if len(topics) > 1:
            assert len(topic_data) == len(topics)
        for topic_key in topics:
            calls = await harness.press(f"t:{topic_key}:{section_key}")
            topic_buttons = buttons(calls)
            assert (home, "h") in topic_buttons
            article_data = [d for _, d in topic_buttons if d.startswith("a:")]
            assert len(article_data) == len(kb.by_topic(topic_key)) > 0
            calls = await harness.press(article_data[0])
            article = kb.articles[article_data[0].split(":")[1]]
            sent = texts(calls)
            assert html.escape(article.locales[locale].title) in sent[0]
            assert all(len(t) <= MESSAGE_LIMIT for t in sent)
            assert (back, f"t:{topic_key}:{section_key}") in buttons(calls)
            assert (home, "h") in buttons(calls)


async def test_legal_article_ends_with_source_and_checked_date_in_locale(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:ky")
    article = next(a for a in kb.articles.values() if a.legal)
    section_key = next(s for s, topics in SECTIONS.items() if article.topic in topics)
    sent = texts(await harness.press(f"a:{article.id}:{section_key}"))[-1]
    checked = _t("ky", "Checked on {date}").replace(
        "{date}", format_date(article.reviewed_on, "ky")
    )
    assert sent.rstrip().endswith(checked)
    assert html.escape(article.sources[0].url, quote=True) in sent


async def test_free_text_question_gets_an_article_and_two_more_buttons(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:ru")
    calls = await harness.say("как проверить есть ли запрет на въезд в россию")
    article_buttons = [d for _, d in buttons(calls) if d.startswith("a:")]
    first = texts(calls)[0]
    shown = next(a for a in kb.articles.values() if html.escape(a.locales["ru"].title) in first)
    assert shown.topic == "ban_check"
    assert 1 <= len(article_buttons) <= 2


async def test_free_text_in_uzbek_cyrillic_is_answered_in_the_users_locale(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:tg")
    calls = await harness.say("иш ҳақи тўланмаяпти, иш берувчи пул бермаяпти")
    first = texts(calls)[0]
    shown = [a for a in kb.articles.values() if html.escape(a.locales["tg"].title) in first]
    assert shown and shown[0].topic == "labour_rights_wages"


@pytest.mark.parametrize("question", ["завтра будет дождь?", "рецепт плова", "asdkjh qwe", "??"])
async def test_out_of_scope_question_is_declined_honestly_with_contacts(
    harness: Harness, question: str
) -> None:
    await harness.press("l:uz")
    calls = await harness.say(question)
    assert texts(calls) and _t("uz", "I don't know this yet.") in texts(calls)[0]
    assert (gettext_for("uz")("📞 Contacts"), "s:contacts") in buttons(calls)


NON_TEXT = {
    "sticker": {
        "sticker": {
            "file_id": "CAAC",
            "file_unique_id": "AgAD",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
    },
    "voice": {"voice": {"file_id": "AwAC", "file_unique_id": "AgAD", "duration": 3}},
    "photo": {"photo": [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 90}]},
    "location": {"location": {"latitude": 55.75, "longitude": 37.61}},
}


@pytest.mark.parametrize("kind", sorted(NON_TEXT))
async def test_non_text_messages_get_a_kind_reply_in_the_users_locale(
    harness: Harness, kind: str
) -> None:
    await harness.press("l:tg")
    calls = await harness.send_private(NON_TEXT[kind])
    assert len(texts(calls)) == 1
    assert _t("tg", "Please type your question or use the buttons.") in texts(calls)[0]


async def test_very_long_text_is_answered_and_said_to_be_cut(harness: Harness) -> None:
    await harness.press("l:ky")
    calls = await harness.say("паспорт " * 800)
    sent = texts(calls)
    assert _t("ky", "Your message is long, so I read only its beginning.") in sent[0]
    assert len(sent) >= 2
    assert all(len(t) <= MESSAGE_LIMIT for t in sent)


async def test_unknown_command_gets_the_menu(harness: Harness) -> None:
    await harness.press("l:uz_Cyrl")
    calls = await harness.say("/weather")
    assert _t("uz_Cyrl", "I don't know this command. Here is the menu.") in texts(calls)[0]


@pytest.mark.parametrize("data", ["a:no-such-article:ban", "t:ban_check:nope", "s:x", "l:fr", "x"])
async def test_forged_callback_data_shows_the_menu_and_changes_nothing(
    harness: Harness, data: str
) -> None:
    await harness.press("l:ky")
    calls = await harness.press(data)
    answer = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answer and answer[0].params["text"] == gettext_for("ky")(
        "This button is out of date. Here is the menu."
    )
    assert _t("ky", "Main menu") in texts(calls)[-1]
    # The stored locale is unchanged.
    assert _t("ky", "Main menu") in texts(await harness.say("/menu"))[-1]


async def test_edited_message_is_answered_as_a_new_question(harness: Harness) -> None:
    await harness.press("l:ru")
    calls = await harness.feed(
        {
            "edited_message": {
                "message_id": 77,
                "date": 1764460800,
                "edit_date": 1764460900,
                "chat": {"id": 5001, "type": "private", "first_name": "Test"},
                "from": {"id": 5001, "is_bot": False, "first_name": "Test"},
                "text": "работодатель не платит зарплату",
            }
        }
    )
    assert texts(calls)


async def test_group_chat_is_silent_unless_addressed(harness: Harness) -> None:
    group = {"id": -100200300, "type": "supergroup", "title": "Bazaar"}
    base = {
        "date": 1764460800,
        "chat": group,
        "from": {"id": 9, "is_bot": False, "first_name": "G"},
    }
    calls = await harness.feed({"message": {"message_id": 1, "text": "салам всем", **base}})
    assert texts(calls) == []
    calls = await harness.feed(
        {
            "message": {
                "message_id": 2,
                "text": "/start@safar_bot",
                "entities": [{"type": "bot_command", "offset": 0, "length": 16}],
                **base,
            }
        }
    )
    assert len(texts(calls)) == 1
    assert any(d.startswith("https://t.me/") for _, d in buttons(calls))


async def test_no_message_text_is_stored(harness: Harness, db_path: Path) -> None:
    secret = "мой паспорт забрал прораб Иванов"
    await harness.press("l:ru")
    await harness.say(secret)
    await harness.say("zzzz qqqq unknownword")
    raw = b"".join(p.read_bytes() for p in db_path.parent.glob("safar.db*"))
    assert "Иванов".encode() not in raw
    assert b"unknownword" not in raw


async def test_question_in_another_language_is_answered_in_the_users_and_offered_in_its_own(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:ky")
    calls = await harness.say("работодатель не платит зарплату, что делать")
    first = texts(calls)[0]
    article = next(a for a in kb.articles.values() if html.escape(a.locales["ky"].title) in first)
    offer = [(label, data) for label, data in buttons(calls) if data.endswith(":ru")]
    assert offer == [("📖 " + LOCALE_NAMES["ru"], offer[0][1])]
    calls = await harness.press(offer[0][1])
    assert html.escape(article.locales["ru"].title) in texts(calls)[-1]
    # The person's own choice is untouched.
    assert _t("ky", "Main menu") in texts(await harness.say("/menu"))[-1]


async def test_question_in_the_users_language_offers_no_other(harness: Harness) -> None:
    await harness.press("l:ru")
    calls = await harness.say("работодатель не платит зарплату, что делать")
    assert not [d for _, d in buttons(calls) if d.count(":") == 3]


# Faults found by trying to break the bot (each was a real failure before its fix).


async def test_a_button_pressed_too_late_still_shows_its_screen(harness: Harness) -> None:
    await harness.press("l:tg")
    harness.request.fail_next(
        "answerCallbackQuery", 400, "Bad Request: query is too old and response timeout expired"
    )
    calls = await harness.press("s:ban")
    assert _t("tg", "Entry ban") in texts(calls)[-1]


async def test_a_message_that_can_no_longer_be_edited_gets_the_screen_anew(
    harness: Harness,
) -> None:
    await harness.press("l:ky")
    harness.request.fail_next("editMessageText", 400, "Bad Request: message to edit not found")
    calls = await harness.press("h")
    sent = [c for c in calls if c.method == "sendMessage"]
    assert sent and _t("ky", "Main menu") in sent[-1].params["text"]


async def test_storage_failure_gets_an_apology_in_the_suggested_locale(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from bot.services import Services

    storage = harness.app.bot_data["safar"]
    assert isinstance(storage, Services)

    async def locked(*_: object) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(storage.storage, "touch_user", locked)
    calls = await harness.say("/menu", language_code="uz")
    expected = _t("uz", "Sorry, something went wrong. Please try again or open the menu.")
    assert texts(calls) == [expected]


async def test_an_invalid_stored_locale_is_ignored(harness: Harness, db_path: Path) -> None:
    import sqlite3

    await harness.say("/start", language_code="uz")
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE users SET locale = 'fr'")
    calls = await harness.say("/start", language_code="uz")
    assert ("✅ " + LOCALE_NAMES["uz"], "l:uz") in buttons(calls)


async def test_a_button_without_data_gets_the_stale_reply(harness: Harness) -> None:
    await harness.press("l:ru")
    calls = await harness.press("")
    answered = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answered[0].params["text"] == gettext_for("ru")(
        "This button is out of date. Here is the menu."
    )


async def test_inline_mode_button_press_does_not_fail(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    update = {
        "callback_query": {
            "id": "77",
            "from": {"id": 5001, "is_bot": False, "first_name": "T"},
            "chat_instance": "1",
            "inline_message_id": "AAAA",
            "data": "a:ru-ban-check-online:ban:ky",
        }
    }
    calls = await harness.feed(update)
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    assert [c.method for c in calls] == ["answerCallbackQuery"]


@pytest.mark.parametrize(
    ("text", "entities", "addressed"),
    [
        ("/start@other_bot", [("bot_command", 0, 16)], False),
        ("/help@safar_bot", [("bot_command", 0, 15)], True),
        ("/help", [("bot_command", 0, 5)], True),
        ("@safar_bot_fan hi", [("mention", 0, 14)], False),
        ("hi @safar_bot", [("mention", 3, 10)], True),
    ],
)
async def test_group_messages_are_answered_only_when_addressed_to_safar(
    harness: Harness, text: str, entities: list[tuple[str, int, int]], addressed: bool
) -> None:
    group = {"id": -100200300, "type": "supergroup", "title": "Bazaar"}
    message = {
        "message_id": 5,
        "date": 1764460800,
        "chat": group,
        "from": {"id": 9, "is_bot": False, "first_name": "G"},
        "text": text,
        "entities": [{"type": t, "offset": o, "length": n} for t, o, n in entities],
    }
    calls = await harness.feed({"message": message})
    assert bool(texts(calls)) == addressed


async def test_a_photo_with_a_question_as_caption_is_answered(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:ru")
    calls = await harness.send_private(
        {
            "photo": [{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 90, "height": 90}],
            "caption": "работодатель забрал паспорт и не отдает",
        }
    )
    first = texts(calls)[0]
    shown = [a for a in kb.articles.values() if html.escape(a.locales["ru"].title) in first]
    assert shown and shown[0].topic == "passport_confiscated"


async def test_a_greeting_gets_a_greeting_and_the_menu(harness: Harness) -> None:
    await harness.press("l:tg")
    calls = await harness.say("салом")
    expected = _t("tg", "Hello! Choose a topic with the buttons, or type your question.")
    assert texts(calls) == [expected]
    assert len(buttons(calls)) == 9


async def test_delete_erases_the_person_after_a_yes(harness: Harness, db_path: Path) -> None:
    import sqlite3

    await harness.press("l:tg", user_id=6060)
    await harness.say("/subscribe", user_id=6060)
    await harness.press("sub:RU", user_id=6060)
    calls = await harness.say("/delete", user_id=6060)
    assert (gettext_for("tg")("🗑 Yes, delete"), "del:yes") in buttons(calls)
    with sqlite3.connect(db_path) as conn:  # nothing is erased before the yes
        assert conn.execute("SELECT COUNT(*) FROM users WHERE telegram_id=6060").fetchone()[0]
    calls = await harness.press("del:yes", user_id=6060)
    assert _t("tg", "Done: Safar no longer keeps anything about you.") in texts(calls)[-1]
    with sqlite3.connect(db_path) as conn:
        for table in ("users", "subscriptions", "broadcast_outbox"):
            count = conn.execute(f"SELECT COUNT(*) FROM {table} WHERE telegram_id=6060")
            assert count.fetchone()[0] == 0, table


async def test_views_and_searches_are_counted_by_the_periodic_job(harness: Harness) -> None:
    """Anonymous counts are kept in memory and written by a repeating job (and at
    shutdown): after the job has run, the database holds them."""
    from bot.storage import ARTICLE_VIEW, COUNTS_FLUSH_SECONDS, SEARCH_ANSWERED, Storage

    await harness.press("l:ru")
    await harness.say("как проверить есть ли запрет на въезд в россию")
    assert harness.app.job_queue is not None
    (job,) = harness.app.job_queue.get_jobs_by_name("flush-usage-counts")
    assert job.trigger.interval.total_seconds() == COUNTS_FLUSH_SECONDS  # type: ignore[attr-defined]
    storage = harness.app.bot_data["safar"].storage
    assert isinstance(storage, Storage)
    async with storage.conn.execute("SELECT kind, SUM(n) FROM usage_counts GROUP BY kind") as cur:
        assert await cur.fetchall() == []
    await job.run(harness.app)
    async with storage.conn.execute("SELECT kind, SUM(n) FROM usage_counts GROUP BY kind") as cur:
        assert dict(await cur.fetchall()) == {ARTICLE_VIEW: 1, SEARCH_ANSWERED: 1}
