"""The generic dialog adapter: any dialog as Telegram messages with buttons, stored so that
a restart resumes it (driven through the real Application)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from telegram import Update

from bot.handlers.dialogs import Context, last_answers, register
from bot.i18n import gettext_for
from dialogs.engine import Action, Answer, Choice, Done, Question, State, Translator
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher
from tests.conftest import Harness, buttons, make_harness, texts

FINISHED: list[dict[str, Answer]] = []


class Trip:
    """A small dialog: a country (buttons), a date (typed), a number (skippable)."""

    name = "ztrip"
    title = "Entry ban"  # an existing msgid, so the title is translated

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        if "country" not in answers:
            return Question(
                "country", "Choose a topic:", choices=(Choice("ru", "RU"), Choice("kz", "KZ"))
            )
        if "entered" not in answers:
            return Question("entered", "When?", kind="date")
        if "days" not in answers:
            return Question("days", "How many?", kind="number", minimum=0, skippable=True)
        return Done(
            dict(answers),
            actions=(
                Action("article", "Read more", "ru-ban-check-online"),
                Action("help", "I need help"),
                Action("article", "Gone", "no-such-article"),
            ),
        )

    def render(self, result: Any, tr: Translator) -> str:
        entered = dt.date.fromisoformat(result["entered"])
        return html.escape(f"{result['country']} {tr.format_date(entered)} {result['days']}")


async def _remember(update: Update, context: Context, state: State) -> None:
    FINISHED.append(state.answer_map())


register(Trip(), on_done=_remember, menu=("ban", "Trip check"))


def _data(calls: list[Any], label: str) -> str:
    return next(data for text, data in buttons(calls) if text == label)


async def test_a_dialog_runs_from_the_menu_to_its_result_in_the_users_locale(
    harness: Harness,
) -> None:
    await harness.press("l:tg")
    calls = await harness.press("s:ban")
    assert ("Trip check", "dlg:ztrip") in buttons(calls)
    calls = await harness.press("dlg:ztrip")
    _ = gettext_for("tg")
    assert _("Entry ban") in texts(calls)[-1]
    assert ("RU", "dq:ztrip:0:0") in buttons(calls)
    assert [label for label, _d in buttons(calls)][-1] == _("✖️ Leave")
    calls = await harness.press("dq:ztrip:0:1")
    # A date that does not exist: a kind reply in Tajik and the same question again.
    calls = await harness.say("31.02.2024")
    assert _("There is no such date. Please check the day and month.") in texts(calls)[-1]
    assert "When?" in texts(calls)[-1]
    calls = await harness.say("29.02.2024")
    assert "How many?" in texts(calls)[-1]
    assert (_("🤐 Prefer not to say"), "ds:ztrip:2") in buttons(calls)
    FINISHED.clear()
    calls = await harness.press("ds:ztrip:2")
    assert texts(calls)[-1] == "kz 29 Феврал 2024 None"  # Babel's Tajik long date
    labels = [label for label, _d in buttons(calls)]
    assert labels[:2] == ["Read more", "I need help"]  # the missing article is left out
    assert ("Read more", "a:ru-ban-check-online:ban") in buttons(calls)
    assert FINISHED == [{"country": "kz", "entered": "2024-02-29", "days": None}]


async def test_back_returns_to_the_previous_question_and_old_buttons_are_stale(
    harness: Harness,
) -> None:
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:0")
    calls = await harness.press("db:ztrip:1")
    assert "Choose a topic" in texts(calls)[-1] or buttons(calls)[0][1] == "dq:ztrip:0:0"
    # A button of a question answered since (version 1 is gone) and a forged index.
    for forged in ("dq:ztrip:1:0", "dq:ztrip:0:7", "dq:other:0:0", "dq:ztrip:x", "ds:ztrip:0"):
        calls = await harness.press(forged)
        assert any(c.method == "answerCallbackQuery" for c in calls)
        assert not any("When?" in t for t in texts(calls))
    calls = await harness.press("dq:ztrip:0:0")
    assert "When?" in texts(calls)[-1]


async def test_a_restart_in_the_middle_resumes_the_dialog(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    async with make_harness(db_path, kb, searcher) as first:
        await first.press("dlg:ztrip")
        await first.press("dq:ztrip:0:0")
    async with make_harness(db_path, kb, searcher) as second:
        calls = await second.say("1/2/2024")
        assert "How many?" in texts(calls)[-1]
        calls = await second.say("12")
        assert "ru" in texts(calls)[-1] and "12" in texts(calls)[-1]


async def test_typed_text_on_a_button_question_asks_for_a_button(harness: Harness) -> None:
    await harness.press("dlg:ztrip")
    calls = await harness.say("russia")
    assert gettext_for("ru")("Please press one of the buttons.") in texts(calls)[-1]
    assert ("RU", "dq:ztrip:0:0") in buttons(calls)


async def test_an_edited_message_mid_dialog_points_to_back_and_changes_nothing(
    harness: Harness,
) -> None:
    await harness.press("l:tg")
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:0")
    calls = await harness.say("01.01.2025")
    assert "How many?" in texts(calls)[-1]
    edited = {
        "message_id": 77,
        "date": 1764460800,
        "edit_date": 1764460900,
        "chat": {"id": 5001, "type": "private", "first_name": "Test"},
        "from": {"id": 5001, "is_bot": False, "first_name": "Test", "language_code": "ru"},
        "text": "02.02.2025",
    }
    calls = await harness.feed({"edited_message": edited})
    sent = texts(calls)
    notice = gettext_for("tg")(
        "Editing a message does not change an answer. To change one, press ⬅️ Back."
    )
    assert html.escape(notice) in sent[-1] and "How many?" in sent[-1]
    calls = await harness.say("3")
    assert "01" in texts(calls)[-1] and "3" in texts(calls)[-1]
    assert FINISHED[-1]["entered"] == "2025-01-01"


async def test_danger_mid_dialog_gets_emergency_contacts_and_the_dialog_waits(
    harness: Harness,
) -> None:
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:0")
    calls = await harness.say("я хочу покончить с собой")
    assert any("112" in t or "103" in t for t in texts(calls))
    calls = await harness.say("01.01.2025")
    assert "How many?" in texts(calls)[-1]


async def test_the_menu_or_leave_ends_the_dialog_and_text_is_a_question_again(
    harness: Harness,
) -> None:
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:0")
    await harness.say("/menu")
    calls = await harness.say("как проверить запрет на въезд")
    assert "When?" not in " ".join(texts(calls))
    assert any(data.startswith("a:") for _l, data in buttons(calls)) or texts(calls)
    await harness.press("dlg:ztrip")
    calls = await harness.press("dx:ztrip")
    assert any("Main menu" in t or "Главное меню" in t for t in texts(calls))
    calls = await harness.press("dq:ztrip:0:0")
    assert not any("When?" in t for t in texts(calls))


async def test_answers_are_encrypted_at_rest_kept_when_done_and_erased_by_delete(
    harness: Harness, db_path: Path
) -> None:
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:1")
    await harness.say("17.03.2023")
    await harness.say("45")
    raw = db_path.read_bytes() + Path(str(db_path) + "-wal").read_bytes()
    assert b"2023-03-17" not in raw and b'"kz"' not in raw
    context: Any = type("C", (), {"bot_data": harness.app.bot_data})()
    found = await last_answers(context, 5001, "ztrip")
    assert found == {"country": "kz", "entered": "2023-03-17", "days": 45}
    await harness.say("/delete")
    await harness.press("del:yes")
    assert await last_answers(context, 5001, "ztrip") is None


async def test_serious_harm_typed_mid_dialog_is_not_taken_as_an_answer(harness: Harness) -> None:
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:0")
    calls = await harness.say("у меня забрали паспорт, остался без паспорта")
    assert not any("When?" in t for t in texts(calls)[:1])
    assert not any(
        gettext_for("ru")("Please write the date as day.month.year, e.g. 25.03.2024.") in t
        for t in texts(calls)
    )


async def test_starting_another_dialog_abandons_the_unfinished_one(
    harness: Harness,
) -> None:
    context: Any = type("C", (), {"bot_data": harness.app.bot_data})()
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:0")
    await harness.say("01.01.2024")
    await harness.say("3")  # finished: kept for follow-ups
    await harness.press("dlg:ztrip")
    await harness.press("dq:ztrip:0:1")  # a new run, left unfinished...
    calls = await harness.press("dlg:ztrip2")  # ...for another dialog
    assert "Choose a topic" in texts(calls)[-1] or buttons(calls)
    assert await last_answers(context, 5001, "ztrip") is None
    await harness.press("dq:ztrip2:0:0")
    await harness.say("02.02.2022")
    await harness.say("1")
    assert await last_answers(context, 5001, "ztrip2") == {
        "country": "ru",
        "entered": "2022-02-02",
        "days": 1,
    }


async def test_leave_pressed_in_a_group_changes_nothing(harness: Harness) -> None:
    await harness.press("dlg:ztrip")
    await harness.feed(
        {
            "callback_query": {
                "id": "77",
                "from": {"id": 5001, "is_bot": False, "first_name": "T"},
                "chat_instance": "9",
                "data": "dx:ztrip",
                "message": {
                    "message_id": 5,
                    "date": 0,
                    "chat": {"id": -100123, "type": "supergroup", "title": "g"},
                    "text": "…",
                },
            }
        }
    )
    calls = await harness.press("dq:ztrip:0:0")
    assert "When?" in texts(calls)[-1]


class Trip2(Trip):
    name = "ztrip2"


register(Trip2())
