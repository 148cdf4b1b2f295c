"""The ban estimator and its reminders through the real Application (recording transport)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot import clock
from bot.i18n import format_date, gettext_for
from bot.reminders import fire_time
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher
from tests.conftest import Harness, buttons, make_harness, texts

END = dt.date(2032, 9, 30)  # two expulsions, the last on 30.09.2022: 10 years (Art. 27 p.2.1)


async def _estimate_repeated_expulsion(harness: Harness, locale: str) -> list[str]:
    await harness.press(f"l:{locale}")
    await harness.press("dlg:ban")
    await harness.press("dq:ban:0:0")  # Russia
    await harness.press("dq:ban:1:2")  # expelled or deported
    await harness.press("dq:ban:2:1")  # two times or more
    await harness.say("30/09/2022")
    calls = await harness.press("dq:ban:4:6")  # that's all
    return texts(calls)


async def test_the_ban_section_offers_the_estimate_and_the_result_is_in_tajik(
    harness: Harness,
) -> None:
    _ = gettext_for("tg")
    await harness.press("l:tg")
    calls = await harness.press("s:ban")
    assert (_("⛔ Estimate my ban"), "dlg:ban") in buttons(calls)
    calls = await harness.press("dlg:ban")
    assert _("Which country's ban do you want to estimate?") in texts(calls)[-1]
    await harness.press("dq:ban:0:0")
    await harness.press("dq:ban:1:2")
    await harness.press("dq:ban:2:1")
    calls = await harness.say("31.02.2022")  # no such date: said in Tajik, asked again
    assert _("There is no such date. Please check the day and month.") in texts(calls)[-1]
    await harness.say("30/09/2022")
    calls = await harness.press("dq:ban:4:6")
    result = texts(calls)[-1]
    assert (
        _("{law}, Art. {article}, p. {paragraph}").format(
            law=_("114-FZ"), article="27", paragraph="2.1"
        )
        in result
    )
    assert format_date(END, "tg") in result  # Babel's Tajik long date
    assert _("This is an estimate from your answers, not an official answer.") in result
    data = [d for _label, d in buttons(calls)]
    assert "rem:ban" in data and "help" in data and "a:ru-ban-appeal-court:ban" in data


async def test_a_reminder_is_stored_listed_fired_in_the_locale_and_survives_a_restart(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    _ = gettext_for("tg")
    async with make_harness(db_path, kb, searcher) as harness:
        await _estimate_repeated_expulsion(harness, "tg")
        calls = await harness.press("rem:ban")
        assert ("⏰ " not in texts(calls)[-1]) and format_date(END, "tg") in texts(calls)[-1]
        data = [d for _label, d in buttons(calls)]
        assert data[:4] == ["rem:ban:7", "rem:ban:30", "rem:ban:90", "rem:ban:0"]
        await harness.press("rem:ban:7")
        await harness.press("rem:ban")
        calls = await harness.press("rem:ban:30")  # replaces the 7-days-before choice
        before = END - dt.timedelta(days=30)
        assert format_date(before, "tg") in texts(calls)[-1]
        calls = await harness.say("/reminders")
        listed = texts(calls)[-1]
        assert listed.startswith(f"<b>{_('⏰ Your reminders')}</b>")
        assert "Your reminders" not in listed  # the heading is translated
        assert format_date(before, "tg") in listed and format_date(END, "tg") in listed
        cancel = [d for _label, d in buttons(calls) if d.startswith("remx:")]
        assert len(cancel) == 2
        assert harness.app.job_queue is not None
        assert len(harness.app.job_queue.jobs()) >= 2

    # A restart: the reminders are read back from SQLite and scheduled again.
    async with make_harness(db_path, kb, searcher) as harness:
        queue = harness.app.job_queue
        assert queue is not None
        jobs = sorted(
            (j for j in queue.jobs() if j.name and j.name.startswith("reminder:")),
            key=lambda j: j.name or "",
        )
        assert len(jobs) == 2
        before_calls = len(harness.request.calls)
        await jobs[0].run(harness.app)  # the one 30 days before
        sent = [c for c in harness.request.calls[before_calls:] if c.method == "sendMessage"]
        assert len(sent) == 1 and sent[0].params["chat_id"] == 5001
        text = str(sent[0].params["text"])
        assert format_date(END, "tg") in text and "30" in text
        assert _("It was an estimate: check officially before you travel "
                 "(the MVD online check or a written request).") in text  # fmt: skip
        # Sent once: listed no more; running the job again sends nothing.
        calls = await harness.say("/reminders", language_code="tg")
        assert len([d for _l, d in buttons(calls) if d.startswith("remx:")]) == 1
        before_calls = len(harness.request.calls)
        await jobs[0].run(harness.app)
        assert not [c for c in harness.request.calls[before_calls:] if c.method == "sendMessage"]
        # Cancel the other one.
        remx = next(d for _l, d in buttons(calls) if d.startswith("remx:"))
        calls = await harness.press(remx)
        assert _("You have no reminders.") in texts(calls)[-1]
        await jobs[1].run(harness.app)  # cancelled: nothing is sent
        assert not [c for c in harness.request.calls[before_calls:] if c.method == "sendMessage"]


async def test_reminder_without_an_estimate_or_with_a_forged_choice(harness: Harness) -> None:
    _ = gettext_for("ru")
    calls = await harness.press("rem:ban")
    assert _("There is no end date in the future to remind you of.") in texts(calls)[-1]
    await _estimate_repeated_expulsion(harness, "ru")
    calls = await harness.press("rem:ban:45")  # not an offered choice
    assert _("This button is out of date. Here is the menu.") in [
        str(c.params.get("text", "")) for c in calls if c.method == "answerCallbackQuery"
    ]
    calls = await harness.press("remx:999")
    assert any(c.method == "answerCallbackQuery" for c in calls)


async def test_delete_erases_reminders(harness: Harness) -> None:
    await _estimate_repeated_expulsion(harness, "uz")
    await harness.press("rem:ban:0")
    await harness.press("del:yes")
    calls = await harness.say("/reminders")
    assert gettext_for("ru")("You have no reminders.") in texts(calls)[-1]  # language erased too


def test_reminders_go_out_at_nine_in_central_asia() -> None:
    assert fire_time(END) == dt.datetime(2032, 9, 30, 3, 0, tzinfo=dt.UTC)
    assert clock.SERVED_TZ.utcoffset(None) == dt.timedelta(hours=6)


async def test_reminder_buttons_pressed_in_a_group_change_nothing(harness: Harness) -> None:
    await _estimate_repeated_expulsion(harness, "ru")
    for data in ("rem:ban", "rem:ban:7", "rems"):
        await harness.feed(
            {
                "callback_query": {
                    "id": data,
                    "from": {"id": 5001, "is_bot": False, "first_name": "T"},
                    "chat_instance": "9",
                    "data": data,
                    "message": {
                        "message_id": 5,
                        "date": 0,
                        "chat": {"id": -100123, "type": "supergroup", "title": "g"},
                        "text": "…",
                    },
                }
            }
        )
    calls = await harness.say("/reminders")
    assert gettext_for("ru")("You have no reminders.") in texts(calls)[-1]
