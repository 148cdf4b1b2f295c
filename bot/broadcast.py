"""Sending broadcasts: workers that drain the persistent outbox under Telegram's limits.

An administrator's broadcast is stored with one ``broadcast_outbox`` row per recipient,
enqueued in the same transaction that creates it (:meth:`bot.storage.Storage.
create_broadcast`). :class:`Broadcaster` runs ``workers`` asyncio tasks; each

1. claims the next due ``pending`` row, marking it ``sending`` (one atomic statement);
2. waits for :class:`Pacer`: at most ``per_second`` sends (default 30) in any 1-second
   window over the whole bot, evenly spaced, and at most one per chat per
   ``per_chat_interval`` seconds (default 1), all measured on the broadcaster's clock;
3. sends the text of the row's locale, escaped for HTML;
4. marks the row ``sent`` as soon as Telegram accepts it.

Errors: 429 pauses every send for ``retry_after`` seconds, then the same message is tried
again (not counted as an attempt); 403 means the person blocked the bot: the row becomes
``blocked`` and their subscriptions are deleted; 400 is permanent: ``failed``; anything
else is retried with exponential backoff (``backoff`` seconds, doubling, at most
``max_backoff``) until ``max_attempts``, then ``failed``.

Crash safety (at least once): on start, rows left in ``sending`` by a crash or kill are
put back to ``pending`` and retried. Such a message may already have reached Telegram, so a
kill can duplicate at most the one send in flight per worker, and nothing is skipped. A
clean :meth:`Broadcaster.stop` lets in-flight sends finish first.

The administrator who started a broadcast gets a message when it is queued (from the
handler), a progress message every ``progress_every`` seconds and after a restart, and a
final one with the counts sent, blocked and failed. Logs carry ids and counts, never text.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter

from bot.i18n import gettext_for, normalize_locale
from bot.storage import Broadcast, OutboxRow, Storage

log = logging.getLogger(__name__)

#: bot_data key of the running :class:`Broadcaster` (set only when a token is configured).
BROADCASTER_KEY = "safar_broadcaster"

#: Telegram's documented broadcast limit: about 30 messages a second over all chats.
PER_SECOND = 30.0
#: Telegram's limit per private chat: about one message a second (seconds between sends).
PER_CHAT_INTERVAL = 1.0


class Clock(Protocol):
    """Time for the broadcaster: ``now()`` is Unix time in seconds (UTC); ``sleep`` waits
    that many seconds of the same clock. Tests pass an accelerated clock."""

    def now(self) -> float:
        """Unix time in seconds (UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* of this clock."""
        ...


class SystemClock:
    """The real clock: :func:`time.time` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        """Unix time in seconds (UTC)."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* seconds."""
        await asyncio.sleep(max(seconds, 0.0))


class Pacer:
    """Explicit pacing of sends: at most *per_second* sends in any window of ``1 + margin``
    seconds, spaced at least ``(1 + margin) / per_second`` seconds apart, and at most one
    send per chat every *per_chat_interval* seconds; :meth:`pause` stops all sends for a
    while (429). The *margin* (seconds, default 0.1) absorbs network jitter, so that no
    1-second window *at Telegram's end* sees more than *per_second* requests (about 27 a
    second on average with the defaults).

    Times are those of *clock* (seconds). If *record* is true, :attr:`log` keeps
    ``(time, chat id)`` of every send started, so that tests can check the pacing.
    """

    def __init__(
        self,
        clock: Clock,
        per_second: float = PER_SECOND,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        record: bool = False,
        margin: float = 0.1,
    ) -> None:
        if per_second <= 0:
            raise ValueError("per_second must be positive")
        self._clock = clock
        self._limit = int(per_second) if per_second >= 1 else 1
        self._window = (1.0 if per_second >= 1 else 1.0 / per_second) + margin
        self._gap = self._window / self._limit
        self._per_chat = per_chat_interval
        self._recent: deque[float] = deque()
        self._chat_last: dict[int, float] = {}
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.log: list[tuple[float, int]] | None = [] if record else None

    def pause(self, seconds: float) -> None:
        """Hold every send for *seconds* from now (Telegram's ``retry_after``)."""
        self._paused_until = max(self._paused_until, self._clock.now() + seconds)

    def _wait(self, chat_id: int, now: float) -> float:
        """Seconds to wait before a send to *chat_id* may start at *now* (0: go)."""
        wait = self._paused_until - now
        while self._recent and self._recent[0] <= now - self._window:
            self._recent.popleft()
        if len(self._recent) >= self._limit:
            wait = max(wait, self._recent[0] + self._window - now)
        if self._recent:
            wait = max(wait, self._recent[-1] + self._gap - now)
        last = self._chat_last.get(chat_id)
        if last is not None:
            wait = max(wait, last + self._per_chat - now)
        return wait

    async def acquire(self, chat_id: int) -> None:
        """Wait until a send to *chat_id* is allowed, and count it as started now."""
        async with self._lock:
            while (wait := self._wait(chat_id, self._clock.now())) > 0:
                await self._clock.sleep(wait)
            now = self._clock.now()
            self._recent.append(now)
            self._chat_last[chat_id] = now
            if len(self._chat_last) > 10_000:  # forget chats that may receive again
                horizon = now - self._per_chat
                self._chat_last = {c: t for c, t in self._chat_last.items() if t > horizon}
            if self.log is not None:
                self.log.append((now, chat_id))


def retry_after_seconds(exc: RetryAfter) -> float:
    """Telegram's ``retry_after`` of *exc* in seconds (PTB gives an int or a timedelta)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 deprecates the int form
        value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class Broadcaster:
    """Drains the broadcast outbox with *workers* asyncio tasks; see the module docstring.

    Args:
        storage: the open database.
        bot: the bot that sends (the application's, or any ``telegram.Bot``).
        clock: time source (default: the real clock).
        per_second: at most this many sends in any 1-second window (whole bot); see
            :class:`Pacer` for the safety margin.
        per_chat_interval: seconds between two sends to the same chat, at least.
        workers: concurrent sends; a kill can duplicate at most one message per worker.
        max_attempts: tries for a message that fails with an error other than 429/403/400.
        backoff: seconds before the first retry; doubles with every attempt.
        max_backoff: the longest wait between retries, in seconds.
        progress_every: seconds between progress messages to the administrator.
        idle_poll: seconds between checks of the outbox when nothing is due (``wake``
            starts a check at once).
        record: keep :attr:`Pacer.log` of every send started (tests).
    """

    def __init__(
        self,
        storage: Storage,
        bot: Bot,
        *,
        clock: Clock | None = None,
        per_second: float = PER_SECOND,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        workers: int = 1,
        max_attempts: int = 5,
        backoff: float = 5.0,
        max_backoff: float = 600.0,
        progress_every: float = 60.0,
        idle_poll: float = 5.0,
        record: bool = False,
    ) -> None:
        self._storage = storage
        self._bot = bot
        self.clock: Clock = clock or SystemClock()
        self.pacer = Pacer(self.clock, per_second, per_chat_interval, record=record)
        self._workers = max(workers, 1)
        self._max_attempts = max(max_attempts, 1)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._progress_every = progress_every
        self._idle_poll = idle_poll
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._broadcasts: dict[int, Broadcast | None] = {}
        self._last_progress: dict[int, float] = {}

    @property
    def running(self) -> bool:
        """True while worker tasks are alive."""
        return any(not task.done() for task in self._tasks)

    async def start(self) -> None:
        """Requeue rows left ``sending`` by a crash, tell administrators of unfinished
        broadcasts that sending resumes, and start the workers."""
        if self._tasks:
            raise RuntimeError("Broadcaster already started")
        requeued = await self._storage.requeue_in_flight()
        unfinished = await self._storage.unfinished_broadcasts()
        if unfinished:
            log.info(
                "resuming %d broadcast(s); %d message(s) were in flight", len(unfinished), requeued
            )
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._worker(n), name=f"safar-broadcast-{n}")
            for n in range(self._workers)
        ]
        for broadcast_id in unfinished:
            await self._report_progress(broadcast_id)

    def wake(self) -> None:
        """A new broadcast was queued: look at the outbox now."""
        self._wake.set()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop after the sends in flight (waiting at most *timeout* real seconds), then
        cancel; a send cut off stays ``sending`` and is retried on the next start."""
        self._stopping = True
        self._wake.set()
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def kill(self) -> None:
        """Cancel the workers at once, as a crash would (tests): nothing is cleaned up."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _worker(self, number: int) -> None:
        while not self._stopping:
            try:
                row = await self._storage.claim_outbox_row(self.clock.now())
                if row is None:
                    await self._idle()
                    continue
                await self._deliver(row)
                await self._after(row.broadcast_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage trouble: keep the worker alive, slow down
                log.error("broadcast worker %d: %s", number, type(exc).__name__, exc_info=exc)
                await self.clock.sleep(self._idle_poll)

    async def _idle(self) -> None:
        due = await self._storage.next_outbox_due()
        delay = self._idle_poll
        if due is not None:
            delay = min(delay, max(due - self.clock.now(), 0.01))
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        self._wake.clear()

    async def _broadcast(self, broadcast_id: int) -> Broadcast | None:
        if broadcast_id not in self._broadcasts:
            self._broadcasts[broadcast_id] = await self._storage.broadcast(broadcast_id)
        return self._broadcasts[broadcast_id]

    async def _deliver(self, row: OutboxRow) -> None:
        """Send one claimed row and record the outcome (the row leaves ``sending``)."""
        storage = self._storage
        found = await self._broadcast(row.broadcast_id)
        text = found.texts.get(row.locale) if found else None
        if not text:
            log.warning("broadcast %d: no text for a recipient's locale", row.broadcast_id)
            await storage.mark_failed(row.broadcast_id, row.telegram_id)
            return
        while True:
            await self.pacer.acquire(row.telegram_id)
            try:
                await self._send(row.telegram_id, html.escape(text))
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                log.info("broadcast %d: 429, pausing %.1f s", row.broadcast_id, seconds)
                self.pacer.pause(seconds)
                continue
            except Forbidden:
                await storage.mark_blocked(row.broadcast_id, row.telegram_id)
            except BadRequest as exc:
                log.warning("broadcast %d: a send was refused (%s)", row.broadcast_id, exc.message)
                await storage.mark_failed(row.broadcast_id, row.telegram_id)
            except Exception as exc:
                attempt = row.attempts + 1
                log.info(
                    "broadcast %d: send failed (%s), attempt %d of %d",
                    row.broadcast_id,
                    type(exc).__name__,
                    attempt,
                    self._max_attempts,
                )
                if attempt >= self._max_attempts:
                    await storage.mark_failed(row.broadcast_id, row.telegram_id)
                else:
                    delay = min(self._backoff * 2 ** (attempt - 1), self._max_backoff)
                    await storage.mark_retry(
                        row.broadcast_id, row.telegram_id, self.clock.now() + delay
                    )
            else:
                await storage.mark_sent(row.broadcast_id, row.telegram_id, self.clock.now())
            return

    async def _send(self, chat_id: int, html_text: str) -> None:
        await self._bot.send_message(
            chat_id,
            html_text,
            parse_mode=ParseMode.HTML,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    async def _after(self, broadcast_id: int) -> None:
        """Final report if the broadcast is complete, else progress when it is time."""
        if await self._storage.finish_broadcast(broadcast_id):
            await self._report_final(broadcast_id)
            self._broadcasts.pop(broadcast_id, None)
            self._last_progress.pop(broadcast_id, None)
            return
        now = self.clock.now()
        last = self._last_progress.setdefault(broadcast_id, now)
        if now - last >= self._progress_every:
            await self._report_progress(broadcast_id)

    async def _report_progress(self, broadcast_id: int) -> None:
        self._last_progress[broadcast_id] = self.clock.now()
        counts = await self._storage.outbox_counts(broadcast_id)
        found = await self._broadcast(broadcast_id)
        if found is None:
            return
        _ = await self._admin_gettext(found.admin_id)
        text = _("Broadcast {id}: {sent} sent, {blocked} blocked, {failed} failed, {left} left.")
        left = counts["pending"] + counts["sending"]
        await self._tell_admin(found.admin_id, text.format(id=broadcast_id, left=left, **counts))

    async def _report_final(self, broadcast_id: int) -> None:
        counts = await self._storage.outbox_counts(broadcast_id)
        found = await self._broadcast(broadcast_id)
        log.info(
            "broadcast %d finished: %d sent, %d blocked, %d failed",
            broadcast_id,
            counts["sent"],
            counts["blocked"],
            counts["failed"],
        )
        if found is None:
            return
        _ = await self._admin_gettext(found.admin_id)
        text = _("Broadcast {id} finished: {sent} sent, {blocked} blocked, {failed} failed.")
        await self._tell_admin(found.admin_id, text.format(id=broadcast_id, **counts))

    async def _admin_gettext(self, admin_id: int) -> Callable[[str], str]:
        return gettext_for(normalize_locale(await self._storage.get_locale(admin_id)))

    async def _tell_admin(self, admin_id: int, text: str) -> None:
        """A report to the administrator, paced like the broadcast; failures are logged."""
        for _try in range(3):
            await self.pacer.acquire(admin_id)
            try:
                await self._send(admin_id, html.escape(text))
                return
            except RetryAfter as exc:
                self.pacer.pause(retry_after_seconds(exc))
            except Exception as exc:
                log.warning("could not report to the administrator (%s)", type(exc).__name__)
                return


async def wait_until_done(storage: Storage, clock: Clock, poll: float = 0.05) -> None:
    """Return once no broadcast is ``sending`` (tests and tools; *poll* in clock seconds)."""
    while await storage.unfinished_broadcasts():
        await clock.sleep(poll)
