"""End to end: in the real ``python -m bot run`` process (Bot API stand-in on 127.0.0.1), a
person estimates a ban in Tajik and asks for a reminder; the bot stops; it starts again with
its clock moved past the reminder's day (``SAFAR_CLOCK_OFFSET``, bot/clock.py: the one
test-only way to move the bot's time), and the reminder still goes out, in Tajik."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
from pathlib import Path

from bot.i18n import LOCALE_NAMES, format_date, gettext_for, ngettext_for
from bot.reminders import fire_time
from tests.botapi_stub import BotAPIStub, Call
from tests.conftest import TEST_DATA_KEY, seed_caches

ROOT = Path(__file__).resolve().parent.parent
USER = 7301
END = dt.date(2032, 9, 30)  # expelled twice, the last time on 30.09.2022: 10 years


async def _start(stub: BotAPIStub, db: Path, offset: float = 0.0) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "BOT_TOKEN": stub.token,
        "SAFAR_DATA_KEY": TEST_DATA_KEY,
        "SAFAR_BOT_API_URL": stub.root,
        "SAFAR_DB": str(db),
        "SAFAR_CLOCK_OFFSET": str(offset),
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _stop(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.stderr is not None
    return (await proc.stderr.read()).decode()


def _to_user(method: str = "sendMessage"):  # type: ignore[no-untyped-def]
    def match(call: Call) -> bool:
        return call.method == method and call.params.get("chat_id") == USER

    return match


async def test_a_reminder_asked_in_tajik_fires_after_a_restart(
    tmp_path: Path, caches: Path
) -> None:
    _ = gettext_for("tg")
    db = tmp_path / "e2e.db"
    seed_caches(caches, tmp_path)
    async with BotAPIStub() as stub:
        user = stub.make_user(USER, "Aziz", language_code="tg")
        proc = await _start(stub, db)
        try:
            mark = stub.mark()
            stub.push_text("/start", chat_id=USER, user=user)
            await stub.wait_for(_to_user(), timeout=30, since=mark)

            async def press(label: str, method: str = "editMessageText") -> Call:
                mark = stub.mark()
                stub.push_callback(button_text=label, chat_id=USER, user=user)
                return await stub.wait_for(_to_user(method), timeout=10, since=mark)

            await press("✅ " + LOCALE_NAMES["tg"])
            await press(_("⛔ Entry ban"))
            await press(_("⛔ Estimate my ban"))
            await press(_("🇷🇺 Russia"))
            await press(_("🚫 I was expelled or deported"))
            call = await press(_("🔁 Two times or more"))
            assert _("Date of the (last) expulsion or deportation?") in call.params["text"]
            mark = stub.mark()
            stub.push_text("30.09.2022", chat_id=USER, user=user)
            await stub.wait_for(_to_user(), timeout=10, since=mark)
            call = await press(_("✅ That's all: show the result"))
            result = call.params["text"]
            assert (
                _("{law}, Art. {article}, p. {paragraph}").format(
                    law=_("114-FZ"), article="27", paragraph="2.1"
                )
                in result
                and format_date(END, "tg") in result
            )
            call = await press(_("⏰ Remind me when it ends"))
            days = ngettext_for("tg")("{n} day before", "{n} days before", 30).format(n=30)
            call = await press(days)
            assert format_date(END - dt.timedelta(days=30), "tg") in call.params["text"]
        finally:
            log = await _stop(proc)
        assert "Traceback" not in log

        # Restart one minute after the first reminder is due (30 days before the end).
        due = fire_time(END - dt.timedelta(days=30))
        offset = (due - dt.datetime.now(dt.UTC)).total_seconds() + 60
        mark = stub.mark()
        proc = await _start(stub, db, offset)
        try:
            call = await stub.wait_for(_to_user(), timeout=30, since=mark)
            text = call.params["text"]
            reminder = ngettext_for("tg")(
                "⏰ Reminder: your estimated entry ban ends on {date}, in {n} day.",
                "⏰ Reminder: your estimated entry ban ends on {date}, in {n} days.",
                30,
            ).format(date=format_date(END, "tg"), n=30)
            assert reminder in text
            # The reminder on the day itself is a month later: not sent now.
            await asyncio.sleep(1.0)
            assert len([c for c in stub.calls[mark:] if _to_user()(c)]) == 1
        finally:
            log = await _stop(proc)
        assert "Traceback" not in log and stub.token not in log
