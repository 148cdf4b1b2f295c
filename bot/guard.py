"""Abuse guards that run before every feature handler (handler group :data:`GROUP`).

:func:`guard` is registered with ``TypeHandler(Update, guard)`` in group :data:`GROUP`
(-100, alone: PTB runs one handler per group, lowest group first), so PTB runs it first
for every update; raising ``ApplicationHandlerStop`` there stops the update before any
other handler (the dialogs' group -1, the features' group 0) sees it. It never touches
storage, so it stays cheap when someone floods the bot, and keeps working when storage
fails.

**Flood control (per person).** Every update with a sender counts against that person:
at most :data:`FLOOD_LIMIT` updates in any :data:`FLOOD_WINDOW` seconds. The update that
goes over the limit mutes the person for :data:`FLOOD_MUTE` seconds: they get one kind
"please slow down" message in their locale (in a private chat, at most once every
:data:`NOTICE_EVERY` seconds), then silence: their updates are dropped until the mute ends.
Nobody else is affected: each person has their own window. Inline queries (Telegram sends
one per keystroke while someone types ``@bot ...``) have their own, larger budget
(:data:`INLINE_LIMIT`) and are dropped silently over it. Updates without a sender (channel
posts) are not counted. State is in memory: a restart forgets it, which is harmless.

**Input size limits.** Telegram never sends more than 64 bytes of callback data or 256
characters of inline query, nor message entities (commands, mentions) that reach past
their text or cut a character in two; such an update did not come from Telegram as
documented and is refused here (a button gets the "out of date" answer, anything else
nothing). Text (Telegram: at most 4,096 characters) and captions (1,024) of any length are
read, with each feature bounding its own work: free-text search reads the first 500
characters (and says so), danger detection is linear in the length of the text, deep-link
payloads must match ``[A-Za-z0-9_-]{1,64}``, /broadcast texts must fit one message, and
nothing a person sends is stored or logged.
"""

from __future__ import annotations

import html
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram import MessageEntity, Update
from telegram.constants import InlineQueryLimit
from telegram.ext import ApplicationHandlerStop, CallbackContext

from bot.i18n import gettext_for
from bot.ui import answer, cached_locale

log = logging.getLogger(__name__)

Context = CallbackContext[Any, Any, Any, Any]

#: The handler group of :func:`guard`: before every other group, and alone in it.
GROUP = -100

#: bot_data key of the application's :class:`FloodControl`.
FLOOD_KEY = "safar_flood"

#: Seconds over which a person's updates are counted.
FLOOD_WINDOW = 10.0
#: Updates a person may send in :data:`FLOOD_WINDOW` seconds (buttons and messages alike).
FLOOD_LIMIT = 15
#: Inline queries a person may send in :data:`FLOOD_WINDOW` seconds.
INLINE_LIMIT = 40
#: Seconds of silence after the limit is passed.
FLOOD_MUTE = 30.0
#: Seconds between two "slow down" notices to the same person, at least.
NOTICE_EVERY = 300.0

#: Telegram's limits on what a person can send (bytes of callback data, characters).
MAX_CALLBACK_BYTES = 64
MAX_INLINE_QUERY = InlineQueryLimit.MAX_QUERY_LENGTH  # 256

Verdict = Literal["ok", "warn", "drop"]


@dataclass
class _Person:
    seen: deque[float] = field(default_factory=deque)
    muted_until: float = 0.0
    noticed_at: float = float("-inf")


class FloodControl:
    """Per-key sliding-window limits with a mute; see the module docstring.

    Args:
        limit: updates allowed in *window* seconds.
        window: the window, in seconds.
        mute: seconds every update of the key is dropped after the limit is passed.
        notice_every: seconds between two ``"warn"`` verdicts for the same key, at least.
        clock: monotonic seconds (tests pass a fake).
    """

    def __init__(
        self,
        limit: int = FLOOD_LIMIT,
        window: float = FLOOD_WINDOW,
        mute: float = FLOOD_MUTE,
        notice_every: float = NOTICE_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.mute = mute
        self.notice_every = notice_every
        self.clock = clock
        self._people: dict[Any, _Person] = {}
        self._checks = 0

    def check(self, key: Any) -> Verdict:
        """Count one update of *key* now: ``"ok"`` (handle it), ``"warn"`` (the limit was
        just passed: tell the person once, then drop) or ``"drop"`` (muted: ignore it)."""
        now = self.clock()
        self._checks += 1
        if self._checks % 1000 == 0:
            self._forget(now)
        person = self._people.setdefault(key, _Person())
        if now < person.muted_until:
            return "drop"
        seen = person.seen
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        seen.append(now)
        if len(seen) <= self.limit:
            return "ok"
        seen.clear()
        person.muted_until = now + self.mute
        if now - person.noticed_at >= self.notice_every:
            person.noticed_at = now
            return "warn"
        return "drop"

    def muted(self, key: Any) -> bool:
        """True while *key* is muted."""
        person = self._people.get(key)
        return person is not None and self.clock() < person.muted_until

    def _forget(self, now: float) -> None:
        """Drop people with nothing recent to remember (keeps memory bounded)."""
        horizon = now - max(self.window, self.notice_every)
        self._people = {
            key: p
            for key, p in self._people.items()
            if p.muted_until > now or (p.seen and p.seen[-1] > horizon) or p.noticed_at > horizon
        }

    def __len__(self) -> int:
        return len(self._people)


@dataclass
class Guards:
    """The application's flood controls: one for messages and buttons, one for inline."""

    updates: FloodControl = field(default_factory=FloodControl)
    inline: FloodControl = field(default_factory=lambda: FloodControl(limit=INLINE_LIMIT))


def install(bot_data: dict[Any, Any], guards: Guards | None = None) -> Guards:
    """Put (new) :class:`Guards` into an application's ``bot_data``; return them."""
    guards = guards or Guards()
    bot_data[FLOOD_KEY] = guards
    return guards


def malformed(update: Update) -> bool:
    """True if *update* carries more than Telegram ever sends, or entities that do not fit
    their text (see the module docstring)."""
    query = update.callback_query
    data = query.data if query is not None else None
    if data is not None and len(data.encode("utf-8", "surrogatepass")) > MAX_CALLBACK_BYTES:
        return True
    inline = update.inline_query
    if inline is not None and len(inline.query) > MAX_INLINE_QUERY:
        return True
    message = update.effective_message
    if message is None:
        return False
    return not _entities_fit(message.text, message.entities) or not _entities_fit(
        message.caption, message.caption_entities
    )


def _entities_fit(text: str | None, entities: tuple[MessageEntity, ...]) -> bool:
    """True if each entity lies within *text* (offsets in UTF-16 code units, as Telegram
    counts) without cutting a character in two."""
    if not entities:
        return True
    encoded = (text or "").encode("utf-16-le", "surrogatepass")
    for entity in entities:
        start, end = entity.offset * 2, (entity.offset + entity.length) * 2
        if entity.offset < 0 or entity.length < 0 or end > len(encoded):
            return False
        try:
            encoded[start:end].decode("utf-16-le")
        except UnicodeDecodeError:
            return False
    return True


async def guard(update: object, context: Context) -> None:
    """Group -1: stop floods and oversized input before any feature handler runs.

    Raises:
        telegram.ext.ApplicationHandlerStop: the update is dropped (after a reply, if any).
    """
    if not isinstance(update, Update):
        return
    user = update.effective_user
    if user is None:  # channel posts and the like: no person to count
        return
    found = context.bot_data.get(FLOOD_KEY)
    guards = found if isinstance(found, Guards) else install(context.bot_data)
    if update.inline_query is not None:
        if guards.inline.check(user.id) != "ok" or malformed(update):
            raise ApplicationHandlerStop
        return
    verdict = guards.updates.check(user.id)
    if verdict == "ok" and not malformed(update):
        return
    private = update.effective_chat is not None and update.effective_chat.type == "private"
    _ = gettext_for(cached_locale(update, context))
    if verdict == "warn":
        log.info("update %s: flood control mutes a person for %.0f s", update.update_id,
                 guards.updates.mute)  # fmt: skip
        if private:
            await answer(update)
            text = _("You are sending messages very fast. Please wait half a minute.")
            await context.bot.send_message(user.id, html.escape(text))
    elif verdict == "ok":  # oversized or malformed
        log.info("update %s: refused, not shaped as Telegram sends", update.update_id)
        await answer(update, _("This button is out of date. Here is the menu."))
    raise ApplicationHandlerStop
