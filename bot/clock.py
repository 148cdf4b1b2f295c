"""The bot's clock: the current time (UTC) and "today" for people in Central Asia.

Everything that depends on the date (dates in the future are refused, reminders fire)
asks this module, so tests can move time: set ``SAFAR_CLOCK_OFFSET`` (seconds, may be
negative; tests and demonstrations only, e.g. ``86400`` = one day ahead) before the bot
starts, or call :func:`set_offset` in-process.
"""

from __future__ import annotations

import datetime as dt
import os

#: "Today" is the date in UTC+6 (Bishkek, Almaty), the easternmost zone of the people
#: Safar serves, so a date that is already today anywhere they live is never "future".
SERVED_TZ = dt.timezone(dt.timedelta(hours=6))

_offset = dt.timedelta(seconds=float(os.environ.get("SAFAR_CLOCK_OFFSET", "0") or 0))


def set_offset(offset: dt.timedelta) -> None:
    """Move the clock by *offset* from real time (tests)."""
    global _offset
    _offset = offset


def now() -> dt.datetime:
    """The current time, timezone-aware, in UTC (moved by the offset, if any)."""
    return dt.datetime.now(dt.UTC) + _offset


def today() -> dt.date:
    """Today's date in :data:`SERVED_TZ` (UTC+6)."""
    return now().astimezone(SERVED_TZ).date()
