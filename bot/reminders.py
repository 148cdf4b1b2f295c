"""Reminders on the day an estimated entry ban ends (and some days before), in SQLite,
fired by PTB's JobQueue and scheduled again at every start-up, so a restart loses none.

A reminder row (table ``reminders``, migration 4) holds the person's Telegram id and one
encrypted payload (:class:`Payload`: when to fire, the ban's estimated end, how many days
before it, the locale); nothing else. Times: :func:`fire_time` is 09:00 in UTC+6
(:data:`bot.clock.SERVED_TZ`) on the day; the delay until then is measured with
:func:`bot.clock.now`, so ``SAFAR_CLOCK_OFFSET`` moves reminders as it moves "today"
(tests: a bot restarted with the clock past the day fires the reminder at once).
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from dataclasses import dataclass
from typing import Any

from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, CallbackContext

from bot import clock
from bot.crypto import Cipher, DecryptionError
from bot.i18n import format_date, gettext_for, ngettext_for
from bot.storage import Storage
from knowledge.schema import LOCALES

log = logging.getLogger(__name__)

#: Local time of day (in :data:`bot.clock.SERVED_TZ`) at which reminders go out.
FIRE_AT = dt.time(9, 0)

#: Seconds to wait before trying again after a failed send (not a block).
RETRY_AFTER = 600.0

#: Days-before choices offered to the person.
DAYS_BEFORE: tuple[int, ...] = (7, 30, 90)


@dataclass(frozen=True)
class Payload:
    """What a reminder needs: *fire* (aware UTC datetime), the ban's estimated *end*,
    *days* before the end (0: on the day itself) and the *locale* chosen then."""

    fire: dt.datetime
    end: dt.date
    days: int
    locale: str

    def seal(self, cipher: Cipher) -> bytes:
        """The payload encrypted for storage."""
        return cipher.encrypt_json(
            {
                "fire": self.fire.isoformat(),
                "end": self.end.isoformat(),
                "days": self.days,
                "locale": self.locale,
            }
        )

    @classmethod
    def open(cls, cipher: Cipher, token: bytes) -> Payload:
        """The payload of a stored token.

        Raises:
            DecryptionError: another key or a damaged value.
            ValueError, KeyError, TypeError: not a reminder payload.
        """
        data = cipher.decrypt_json(token)
        return cls(
            fire=dt.datetime.fromisoformat(data["fire"]),
            end=dt.date.fromisoformat(data["end"]),
            days=int(data["days"]),
            locale=str(data["locale"]),
        )


def fire_time(day: dt.date) -> dt.datetime:
    """When a reminder for *day* goes out: :data:`FIRE_AT` in UTC+6, as aware UTC."""
    return dt.datetime.combine(day, FIRE_AT, tzinfo=clock.SERVED_TZ).astimezone(dt.UTC)


def plan(end: dt.date, days_before: int, today: dt.date, locale: str) -> list[Payload]:
    """The reminders to store for a ban ending on *end*: *days_before* days before it (if
    that day is still after *today*) and on the day itself (if after *today*).

    *days_before* 0 means only on the day.
    """
    out = []
    if days_before > 0:
        before = end - dt.timedelta(days=days_before)
        if before > today:
            out.append(Payload(fire_time(before), end, days_before, locale))
    if end > today:
        out.append(Payload(fire_time(end), end, 0, locale))
    return out


def text(payload: Payload, locale: str) -> str:
    """The reminder message (HTML) in *locale*."""
    _ = gettext_for(locale)
    date = format_date(payload.end, locale)
    if payload.days > 0:
        ngettext = ngettext_for(locale)
        body = ngettext(
            "⏰ Reminder: your estimated entry ban ends on {date}, in {n} day.",
            "⏰ Reminder: your estimated entry ban ends on {date}, in {n} days.",
            payload.days,
        ).format(date=date, n=payload.days)
    else:
        body = _("⏰ Today your estimated entry ban ends ({date}).").format(date=date)
    check = _(
        "It was an estimate: check officially before you travel "
        "(the MVD online check or a written request)."
    )
    return html.escape(body, quote=False) + "\n\n" + html.escape(check, quote=False)


SafarApp = Application[Any, Any, Any, Any, Any, Any]
Context = CallbackContext[Any, Any, Any, Any]


def _job_name(reminder_id: int) -> str:
    return f"reminder:{reminder_id}"


def schedule(app: SafarApp, reminder_id: int, telegram_id: int, payload: Payload) -> None:
    """Put reminder *reminder_id* on the JobQueue (replacing a job of the same id); a time
    already past fires at once."""
    queue = app.job_queue
    if queue is None:  # PTB installed without the job-queue extra
        log.warning("no job queue: reminders cannot be scheduled")
        return
    unschedule(app, reminder_id)
    delay = max(0.0, (payload.fire - clock.now()).total_seconds())
    queue.run_once(
        _fire,
        when=delay,
        data=(reminder_id, telegram_id, payload),
        name=_job_name(reminder_id),
    )


def unschedule(app: SafarApp, reminder_id: int) -> None:
    """Remove reminder *reminder_id*'s job, if any."""
    queue = app.job_queue
    if queue is None:
        return
    for job in queue.get_jobs_by_name(_job_name(reminder_id)):
        job.schedule_removal()


async def schedule_all(app: SafarApp, storage: Storage, cipher: Cipher) -> int:
    """Schedule every reminder not yet sent (at start-up); return how many. A row that
    cannot be read (another key) is skipped and logged without its content."""
    count = 0
    for reminder_id, telegram_id, token in await storage.pending_reminders():
        try:
            payload = Payload.open(cipher, token)
        except (DecryptionError, ValueError, KeyError, TypeError):
            log.warning("reminder %d cannot be read; skipped", reminder_id)
            continue
        schedule(app, reminder_id, telegram_id, payload)
        count += 1
    return count


async def _fire(context: Context) -> None:
    """JobQueue callback: send the reminder in the person's locale and mark it sent."""
    from bot.services import services

    job = context.job
    assert job is not None
    data: tuple[int, int, Payload] = job.data  # type: ignore[assignment]
    reminder_id, telegram_id, payload = data
    storage = services(context).storage
    pending = {r[0] for r in await storage.pending_reminders(telegram_id)}
    if reminder_id not in pending:  # cancelled or erased meanwhile
        return
    stored = await storage.get_locale(telegram_id)
    locale = stored if stored in LOCALES else payload.locale
    try:
        await context.bot.send_message(telegram_id, text(payload, locale))
    except Forbidden:
        log.info("reminder %d not delivered: the person blocked the bot", reminder_id)
    except TelegramError as exc:
        log.warning("reminder %d failed (%s); trying again later", reminder_id,
                    type(exc).__name__)  # fmt: skip
        assert context.job_queue is not None
        context.job_queue.run_once(
            _fire, when=RETRY_AFTER, data=job.data, name=_job_name(reminder_id)
        )
        return
    await storage.reminder_sent(reminder_id, clock.now().timestamp())
    log.info("reminder %d sent", reminder_id)
