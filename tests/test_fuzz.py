"""Property-based fuzzing (hypothesis) of the real Application with random and malformed
Updates of every kind.

Each example is a short sequence of updates from a small crowd of people (so that state
builds up: languages chosen, dialogs half-way, buttons pressed long after they were sent),
fed through the real ``Application`` on the recording transport and one database for the
whole test. Kinds: private text (up to and past 4,096 characters; control, zero-width and
right-to-left characters; emoji; SQL and markup), commands (known ones with random
arguments, unknown ones), stickers, voice, photos with and without captions, documents,
locations, venues, contacts, dice, edited messages, channel posts, group messages,
callback queries (random data, every pattern the bot listens for with forged tails, real
buttons of earlier replies, other people's buttons, buttons of inline messages, no data),
inline queries, chosen inline results and membership changes.

Properties, for every update:

* no exception reaches the error handler and nothing is logged at ERROR;
* every Bot API call is one Telegram would accept (:mod:`tests.telegram_rules`: HTML that
  parses, at most 4,096 characters, callback data at most 64 bytes...);
* a person writing in a private chat always gets something back there (a message, an edit
  or a button answer); a channel post gets nothing (deliberate silence), and a group
  message not addressed to the bot gets nothing;
* nothing goes to anyone else's chat.

Examples: the ``ci`` profile (the default) runs 2,400 examples over the three tests with a
fixed seed, so that CI is repeatable; ``HYPOTHESIS_PROFILE=fuzz`` runs 20,000 with fresh
randomness, to search further.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot.transport import Call
from knowledge.loader import KnowledgeBase
from knowledge.schema import LOCALES
from knowledge.search import Searcher
from tests.conftest import Harness, make_harness
from tests.telegram_rules import REPLY_METHODS, check_calls

settings.register_profile(
    "ci",
    max_examples=800,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=7000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", parent=settings.get_profile("ci"), max_examples=50)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

#: The crowd: people (private chats) and the groups and channel they write in.
PEOPLE = list(range(10_000, 10_012))
GROUPS = [-100_500, -100_501]
CHANNEL = -100_900

# ------------------------------------------------------------------ running the app


class Fuzzed:
    """The Application under fuzz, on its own event loop, with errors recorded."""

    def __init__(self, harness: Harness, runner: asyncio.Runner) -> None:
        self.h = harness
        self.runner = runner
        self.errors: list[BaseException | None] = []
        self.error_logs: list[str] = []
        #: Callback data of the buttons each person was last shown (for presses).
        self.buttons: dict[int, list[str]] = {}
        self.commands = sorted(
            {c for g in harness.app.handlers.values() for h in g
             if isinstance(h, CommandHandler) for c in h.commands}
        )  # fmt: skip
        self.prefixes = sorted(_callback_prefixes(harness.app))
        self.examples = 0

    def feed(self, update: dict[str, Any]) -> list[Call]:
        before = len(self.errors), len(self.error_logs)
        calls = self.runner.run(self.h.feed(update))
        self.h.request.calls.clear()  # keep memory flat over thousands of examples
        assert self.errors[before[0] :] == [], f"the error handler got {self.errors[-1]!r}"
        assert self.error_logs[before[1] :] == [], self.error_logs[-1]
        for call in calls:
            markup = call.params.get("reply_markup")
            chat = call.params.get("chat_id")
            if isinstance(markup, dict) and chat in PEOPLE:
                self.buttons[chat] = [
                    b["callback_data"]
                    for row in markup.get("inline_keyboard", [])
                    for b in row
                    if "callback_data" in b
                ]
        return calls


class _ErrorLog(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(f"{record.name}: {record.getMessage()}")


def _callback_prefixes(app: Any) -> set[str]:
    """The literal start of each callback-data pattern the application listens for
    (alternatives of ``^(a|b:.*)$`` each count)."""
    found = set()
    for group in app.handlers.values():
        for handler in group:
            pattern = getattr(handler, "pattern", None)
            if isinstance(handler, CallbackQueryHandler) and isinstance(pattern, re.Pattern):
                body = pattern.pattern.lstrip("^")
                if body.startswith("(") and body.endswith(")$"):
                    alternatives = body[1:-2].split("|")
                else:
                    alternatives = [body]
                for alternative in alternatives:
                    literal = re.match(r"[A-Za-z0-9_:]*", alternative)
                    if literal and literal.group(0):
                        found.add(literal.group(0))
    return found


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, kb: KnowledgeBase,
           searcher: Searcher) -> Iterator[Fuzzed]:  # fmt: skip
    """One Application and database for every example of the module."""
    db: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    runner = asyncio.Runner()
    # No rate limiter: it would hold sends to ~30 a second (its own tests are elsewhere).
    manager = make_harness(db, kb, searcher, rate_limited=False)
    harness = runner.run(manager.__aenter__())
    state = Fuzzed(harness, runner)

    async def record(update: object, context: Any) -> None:
        state.errors.append(context.error)

    harness.app.add_error_handler(record)
    errors = _ErrorLog(state.error_logs)
    logging.getLogger().addHandler(errors)
    try:
        yield state
    finally:
        logging.getLogger().removeHandler(errors)
        runner.run(manager.__aexit__(None, None, None))
        runner.close()
        print(f"\nfuzz: {state.examples} examples")


# ------------------------------------------------------------------ strategies

ODD_CHARACTERS = (
    "\x00\x01\x07\x08\t\n\r\x0b\x0c\x1b\x7f\x85"  # control characters
    "\u200b\u200c\u200d\u200e\u200f\u2060\ufeff\u00ad"  # zero-width, marks, soft hyphen
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidirectional controls
    "\u0301\u0308\u20e3"  # combining marks
)
SNIPPETS = [
    "как проверить запрет на въезд", "паспорт забрали", "patent qancha turadi",
    "корфармо маоши маро намедиҳад", "кирүүгө тыюу барбы", "иш ҳақи тўланмаяпти",
    "меня бьют", "привет", "спасибо", "погода завтра", "<b>", "</i>", "&amp;", "&", "<",
    "'; DROP TABLE users; --", "{id}", "%s", "\\", "`", "*", "_", "[x](http://x)",
    "مرحبا بالعالم", "שלום", "👍🏽", "👨‍👩‍👧‍👦", "🇰🇬", "ё", "Ўзбекистон", "ҳ", "ӯ", "ң",
    "@safar_bot", "/start", "https://t.me/safar_bot?start=a_ru_x", "+996 555 12 34 56",
]  # fmt: skip

pieces = st.one_of(
    st.text(max_size=12),
    st.sampled_from(SNIPPETS),
    st.text(alphabet=ODD_CHARACTERS, min_size=1, max_size=4),
    st.text(alphabet=string.printable, max_size=12),
)
short_text = st.lists(pieces, min_size=1, max_size=6).map(" ".join)


@st.composite
def long_text(draw: st.DrawFn) -> str:
    """Text near and past Telegram's 4,096 characters (repeated pieces, then cut)."""
    piece = draw(short_text.filter(bool))
    length = draw(st.sampled_from([600, 4095, 4096, 4097, 5000, 9000]))
    return (piece * (length // max(len(piece), 1) + 1))[:length]


any_text = st.one_of(short_text, short_text, short_text, long_text())
language_codes = st.one_of(
    st.sampled_from([None, "ru", "ky", "tg", "uz", "uz-Cyrl", "en", "kk", "", "ru-RU"]),
    st.text(max_size=8),
)


def _user(uid: int, language_code: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": uid, "is_bot": False, "first_name": "Fuzz"}
    if language_code is not None:
        user["language_code"] = language_code
    return user


def _message(fuzz: Fuzzed, chat: dict[str, Any], sender: dict[str, Any] | None,
             fields: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    message = {"message_id": next(fuzz.h.ids), "date": int(time.time()), "chat": chat, **fields}
    if sender is not None:
        message["from"] = sender
    return message


def utf16_len(text: str) -> int:
    """Telegram's unit for entity offsets and lengths."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _text_fields(text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {"text": text}
    if text.startswith("/"):
        command = text.split(maxsplit=1)[0] if text.split() else text
        fields["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]
    return fields


MEDIA = {
    "sticker": {"sticker": {"file_id": "s", "file_unique_id": "s", "width": 512, "height": 512,
                            "is_animated": False, "is_video": False, "type": "regular"}},
    "voice": {"voice": {"file_id": "v", "file_unique_id": "v", "duration": 3}},
    "video_note": {"video_note": {"file_id": "n", "file_unique_id": "n", "length": 9,
                                  "duration": 2}},
    "photo": {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 90, "height": 90}]},
    "document": {"document": {"file_id": "d", "file_unique_id": "d", "file_name": "x.pdf"}},
    "location": {"location": {"latitude": 55.75, "longitude": 37.61}},
    "venue": {"venue": {"location": {"latitude": 1.0, "longitude": 2.0}, "title": "t",
                        "address": "a"}},
    "contact": {"contact": {"phone_number": "+996555000111", "first_name": "C"}},
    "dice": {"dice": {"emoji": "🎲", "value": 3}},
}  # fmt: skip


@st.composite
def private_message(draw: st.DrawFn, fuzz: Fuzzed) -> tuple[dict[str, Any], int, bool]:
    """A message (or an edit) in a person's private chat; returns (update, person, whether
    it is shaped as Telegram sends: false for entities that may not fit the text)."""
    uid = draw(st.sampled_from(PEOPLE))
    user = _user(uid, draw(language_codes))
    chat = {"id": uid, "type": "private", "first_name": "Fuzz"}
    kind = draw(st.sampled_from(["text", "text", "text", "command", "known", "media"]))
    if kind == "text":
        fields = _text_fields(draw(any_text))
    elif kind == "command":
        name = draw(st.from_regex(r"[A-Za-z0-9_]{1,40}", fullmatch=True))
        suffix = draw(st.sampled_from(["", "@safar_bot", "@other_bot"]))
        fields = _text_fields(f"/{name}{suffix} {draw(short_text)}".rstrip())
    elif kind == "known":
        name = draw(st.sampled_from(fuzz.commands))
        fields = _text_fields(f"/{name} {draw(st.one_of(short_text, st.just('')))}".rstrip())
    else:
        fields = dict(MEDIA[draw(st.sampled_from(sorted(MEDIA)))])
        if "photo" in fields or "document" in fields:
            caption = draw(st.one_of(st.none(), short_text, long_text()))
            if caption is not None:
                fields["caption"] = caption
    shaped = True
    if "text" in fields and draw(st.integers(0, 15)) == 0:  # entities that may not fit
        fields["entities"] = [
            {"type": draw(st.sampled_from(["bot_command", "mention", "bold", "url"])),
             "offset": draw(st.integers(0, 50)), "length": draw(st.integers(1, 50))}
        ]  # fmt: skip
        shaped = False
    key = "edited_message" if draw(st.integers(0, 9)) == 0 else "message"
    message = _message(fuzz, chat, user, fields)
    if key == "edited_message":
        message["edit_date"] = int(time.time())
    return {key: message}, uid, shaped


@st.composite
def button_press(draw: st.DrawFn, fuzz: Fuzzed) -> tuple[dict[str, Any], int | None]:
    """A callback query: real, stale, someone else's or forged data; from a chat message
    or an inline message; returns (update, person whose chat should hear back, or None)."""
    uid = draw(st.sampled_from(PEOPLE))
    source = draw(st.sampled_from(["own", "own", "other", "pattern", "random", "none"]))
    data: str | None
    if source in ("own", "other"):
        owner = uid if source == "own" else draw(st.sampled_from(PEOPLE))
        known = fuzz.buttons.get(owner) or ["h"]
        # A fixed-range draw (not one that depends on what was shown), so that hypothesis
        # sees the same shape of data whatever the state.
        data = known[draw(st.integers(0, 63)) % len(known)]
    elif source == "pattern":
        tail = draw(st.one_of(st.text(max_size=20), st.from_regex(r"[a-z0-9_:-]{0,30}",
                                                                 fullmatch=True)))  # fmt: skip
        data = draw(st.sampled_from(fuzz.prefixes)) + tail
    elif source == "random":
        data = draw(st.text(max_size=70))
    else:
        data = None
    query: dict[str, Any] = {
        "id": str(next(fuzz.h.ids)),
        "from": _user(uid, draw(language_codes)),
        "chat_instance": str(draw(st.integers(-(10**6), 10**6))),
    }
    if data is not None:
        query["data"] = data
    if draw(st.integers(0, 7)) == 0:
        query["inline_message_id"] = "inline-" + str(draw(st.integers(0, 99)))
        return {"callback_query": query}, None
    query["message"] = {
        "message_id": draw(st.integers(1, 2000)),
        "date": int(time.time()) - draw(st.integers(0, 10**7)),
        "chat": {"id": uid, "type": "private", "first_name": "Fuzz"},
        "text": draw(st.sampled_from(["…", "old text"])),
    }
    return {"callback_query": query}, uid


@st.composite
def other_update(draw: st.DrawFn, fuzz: Fuzzed) -> tuple[dict[str, Any], str]:
    """A group or channel message, an inline query, a chosen inline result or a membership
    change; returns (update, what is expected: "silence", "group" or "any")."""
    kind = draw(st.sampled_from(["group", "group_addressed", "channel", "inline", "chosen",
                                 "member"]))  # fmt: skip
    uid = draw(st.sampled_from(PEOPLE))
    user = _user(uid, draw(language_codes))
    if kind in ("group", "group_addressed"):
        gid = draw(st.sampled_from(GROUPS))
        chat = {"id": gid, "type": draw(st.sampled_from(["group", "supergroup"])), "title": "G"}
        text = draw(short_text)
        if kind == "group_addressed":
            text = draw(st.sampled_from(["/start ", "/help@safar_bot ", "@safar_bot "])) + text
        fields = _text_fields(text)
        if text.startswith("@safar_bot"):
            fields["entities"] = [{"type": "mention", "offset": 0, "length": 10}]
        if draw(st.booleans()) and kind == "group":
            fields = dict(MEDIA[draw(st.sampled_from(sorted(MEDIA)))])
        return {"message": _message(fuzz, chat, user, fields)}, "any"
    if kind == "channel":
        chat = {"id": CHANNEL, "type": "channel", "title": "C"}
        fields = _text_fields(draw(any_text))
        fields["sender_chat"] = chat
        key = draw(st.sampled_from(["channel_post", "edited_channel_post"]))
        message = _message(fuzz, chat, None, fields)
        if key == "edited_channel_post":
            message["edit_date"] = int(time.time())
        return {key: message}, "silence"
    if kind == "inline":
        query = draw(st.one_of(short_text, st.text(max_size=300)))
        inline = {"id": str(next(fuzz.h.ids)), "from": user, "query": query, "offset": ""}
        return {"inline_query": inline}, "any"
    if kind == "chosen":
        chosen = {"result_id": draw(st.text(max_size=64)), "from": user, "query": "x"}
        return {"chosen_inline_result": chosen}, "silence"
    status = draw(st.sampled_from(["kicked", "member"]))
    member = {
        "chat": {"id": uid, "type": "private", "first_name": "Fuzz"},
        "from": user,
        "date": int(time.time()),
        "old_chat_member": {"user": {"id": 7000000001, "is_bot": True, "first_name": "S"},
                            "status": "member"},
        "new_chat_member": {"user": {"id": 7000000001, "is_bot": True, "first_name": "S"},
                            "status": status, **({"until_date": 0} if status == "kicked"
                                                 else {})},
    }  # fmt: skip
    return {"my_chat_member": member}, "silence"


# ------------------------------------------------------------------ properties


def _replied_in(calls: list[Call], chat_id: int) -> bool:
    return any(
        (c.method in REPLY_METHODS and c.params.get("chat_id") == chat_id)
        or c.method == "answerCallbackQuery"
        for c in calls
    )


def _check_common(calls: list[Call], allowed_chats: set[int]) -> None:
    check_calls(calls)
    written = {c.params.get("chat_id") for c in calls if c.method in REPLY_METHODS}
    others = {chat for chat in written if chat in PEOPLE and chat not in allowed_chats}
    assert not others, f"a message went to someone else's chat: {others}"


@given(data=st.data())
def test_private_messages_always_get_a_valid_reply(fuzzed: Fuzzed, data: st.DataObject) -> None:
    fuzzed.examples += 1
    for _ in range(data.draw(st.integers(1, 3))):
        update, uid, shaped = data.draw(private_message(fuzzed))
        calls = fuzzed.feed(update)
        _check_common(calls, {uid})
        if shaped:  # else refused silently by bot.guard, or answered
            assert _replied_in(calls, uid), f"no reply to {update}"


@given(data=st.data())
def test_button_presses_are_answered_and_forged_data_changes_nothing_for_others(
    fuzzed: Fuzzed, data: st.DataObject
) -> None:
    fuzzed.examples += 1
    for _ in range(data.draw(st.integers(1, 3))):
        update, uid = data.draw(button_press(fuzzed))
        calls = fuzzed.feed(update)
        _check_common(calls, {uid} if uid is not None else set())
        assert any(c.method == "answerCallbackQuery" for c in calls), f"unanswered {update}"


@given(data=st.data())
def test_groups_channels_and_inline_updates_are_handled_quietly(
    fuzzed: Fuzzed, data: st.DataObject
) -> None:
    fuzzed.examples += 1
    for _ in range(data.draw(st.integers(1, 3))):
        update, expected = data.draw(other_update(fuzzed))
        calls = fuzzed.feed(update)
        _check_common(calls, set())
        if expected == "silence":
            assert [c for c in calls if c.method in REPLY_METHODS] == []


def test_every_locale_and_command_was_reachable(fuzzed: Fuzzed) -> None:
    """The fuzz knows the commands and button patterns of the application as built (so
    that new features are fuzzed without editing this file)."""
    assert {"start", "menu", "help", "broadcast"} <= set(fuzzed.commands)
    assert {"h", "s:", "a:", "l:"} <= set(fuzzed.prefixes)
    assert len(LOCALES) == 5
