"""A loopback stand-in for the Telegram Bot API, for end-to-end tests of the real bot.

The stub is a small aiohttp server on ``127.0.0.1`` (a free port by default) that answers
``http://127.0.0.1:PORT/bot<TOKEN>/<method>`` the way Telegram does: ``{"ok": true,
"result": ...}`` with Telegram's JSON shapes, or ``{"ok": false, "error_code": ...,
"description": ...}`` with Telegram's wording. Point the real bot at it with
``ApplicationBuilder().token(stub.token).base_url(stub.url)`` (the real process: environment
``BOT_TOKEN=stub.token`` and ``SAFAR_BOT_API_URL=stub.root``, as ``bot.app`` appends ``/bot``)
and drive it from the test::

    async with BotAPIStub() as stub:
        app = Application.builder().token(stub.token).base_url(stub.url).build()
        ...  # initialize, start, updater.start_polling(poll_interval=0, timeout=1)
        stub.push_text("/start")
        call = await stub.wait_for("sendMessage", chat_id=DEFAULT_USER_ID)

What it models (enough for the bot's own flows, not the whole Bot API):

* request parameters as PTB sends them: query string, ``application/x-www-form-urlencoded``
  and ``multipart/form-data`` (non-string values JSON-encoded; uploaded files are recorded
  as ``{"filename", "content_type", "size"}``) and JSON bodies;
* ``getUpdates`` with ``offset`` (confirms and forgets older updates; negative offsets keep
  the tail), ``limit``, ``allowed_updates`` and long polling (``timeout``);
* a per-chat message store: ``sendMessage`` gives increasing ``message_id`` per chat,
  edits and deletions are checked against it (``message is not modified``, ``message to
  edit not found``, ``message can't be edited``...), callback queries carry the message as
  it currently is;
* ``parse_mode`` HTML, MarkdownV2 and Markdown are parsed like Telegram's server (a port of
  tdlib's parsers), so the returned text and ``entities`` are what Telegram would store and
  malformed markup gives the real ``can't parse entities: ...`` errors; text is trimmed like
  Telegram trims it. Telegram's automatic entities (URLs, mentions, bot commands in *sent*
  messages) are not added;
* blocked users (``block`` or a pushed ``my_chat_member`` update with status ``kicked``)
  get ``403 Forbidden: bot was blocked by the user``;
* fault injection (:meth:`BotAPIStub.fail_next`, :meth:`BotAPIStub.delay_next`) and extra
  methods (:meth:`BotAPIStub.register`).

Everything happens on the event loop that called :meth:`BotAPIStub.start`; the test-side
API is synchronous except ``start``, ``stop`` and ``wait_for``. For use from another
process there is a small HTTP control API under ``/_stub/`` (see :meth:`BotAPIStub._routes`)
and ``python tests/botapi_stub.py --port 8081`` runs the stub on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import inspect
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

JSON = dict[str, Any]
"""A JSON object as a Python dict."""

Handler = Callable[[JSON], Any]
"""A Bot API method: gets the decoded parameters, returns the ``result`` (or an awaitable of
it) or raises :class:`ApiError`."""

DEFAULT_TOKEN = "7000000001:AAStubTokenForSafarTests_0123456789ab"
"""A well-formed token (it matches ``bot.settings``' token pattern); the bot id is 7000000001."""

DEFAULT_USER_ID = 5550001
"""The user (and private chat) that the update helpers use when none is given."""

BOT_FIRST_NAME = "Safar"
BOT_USERNAME = "safar_test_bot"

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current message content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"

NGINX_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
"""What Telegram's front end really answers on a 502: HTML, not JSON."""

# Parameters that PTB sends as raw strings; everything else is JSON-decoded when it parses.
_STRING_PARAMS = frozenset(
    {
        "action", "address", "animation", "audio", "business_connection_id", "callback_query_id",
        "caption", "cover", "currency", "custom_title", "description", "document", "emoji",
        "error_message", "explanation", "first_name", "format", "foursquare_id",
        "foursquare_type", "game_short_name", "gift_id", "google_place_id", "google_place_type",
        "inline_message_id", "inline_query_id", "invite_link", "ip_address", "language_code",
        "last_name", "message_effect_id", "name", "next_offset", "parse_mode", "payload",
        "phone_number", "photo", "pre_checkout_query_id", "provider_token", "question",
        "secret_token", "shipping_query_id", "short_description", "start_parameter", "sticker",
        "sticker_set_name", "switch_pm_parameter", "switch_pm_text", "text", "text_parse_mode",
        "thumbnail", "title", "url", "vcard", "video", "video_note", "voice",
        "web_app_query_id",
    }
)  # fmt: skip

_CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note",
        "upload_video_note",
    }
)  # fmt: skip

_MESSAGE_KEYS = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_message",
    "edited_business_message",
)  # fmt: skip

_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)  # fmt: skip

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_EMOJI_URL_RE = re.compile(r"(?i)tg://emoji/?\?(?:[^#]*&)?id=([1-9]\d*)(?:&[^#]*)?(?:#.*)?")
_INT_RE = re.compile(r"^-?\d+$")


# --------------------------------------------------------------------------------------------
# Errors, records, faults
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A Bot API error answer: raise it from a method handler.

    Args:
        status: the HTTP status and ``error_code``.
        description: Telegram's ``description``, e.g. ``"Bad Request: chat not found"``.
        parameters: optional ``ResponseParameters`` (``retry_after``, ``migrate_to_chat_id``).
    """

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        """The JSON body Telegram sends for this error."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class Call(NamedTuple):
    """One request the stub received: the canonical method name and the decoded parameters."""

    method: str
    params: JSON


@dataclass
class Fault:
    """A canned answer (or a delay) for the next call of a method; see ``fail_next``."""

    status: int | None
    body: JSON | str | bytes | None
    delay: float = 0.0


class EntityParseError(Exception):
    """Markup that Telegram rejects; the message is Telegram's, without the prefix."""


# --------------------------------------------------------------------------------------------
# Formatted text: ports of tdlib's parse_html / parse_markdown_v2 / parse_markdown
# (td/telegram/MessageEntity.cpp), working on UTF-8 bytes with UTF-16 entity offsets.
# --------------------------------------------------------------------------------------------

_SPACES = frozenset(b" \t\r\n\0\v")
_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler",
        "tg-emoji", "tg-time", "span", "pre", "code", "blockquote",
    }
)  # fmt: skip
_MDV2_RESERVED = b"_*[]()~`>#+-=|{}.!\n"
_MDV2_NAMES = {
    "bold": "Bold", "italic": "Italic", "underline": "Underline",
    "strikethrough": "Strikethrough", "spoiler": "Spoiler", "code": "Code", "pre": "Pre",
    "pre_code": "PreCode", "text_link": "TextUrl", "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote", "expandable_blockquote": "ExpandableBlockQuote",
}  # fmt: skip


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram's entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _units(byte: int) -> int:
    """UTF-16 units contributed by a UTF-8 byte (0 for continuation bytes)."""
    if byte & 0xC0 == 0x80:
        return 0
    return 2 if byte >= 0xF0 else 1


def _reserved(char: int) -> EntityParseError:
    return EntityParseError(
        f"Character '{chr(char)}' is reserved and must be escaped with the preceding '\\'"
    )


def _link_user_id(url: str) -> int | None:
    """The user id of a ``tg://user?id=N`` link, else ``None``."""
    match = re.fullmatch(r"(?i)tg:(?://)?user\?id=(\d+)", url.strip())
    return int(match.group(1)) if match else None


def _checked_link(url: str) -> str | None:
    """Telegram's normalised form of a text-link URL, or ``None`` if it drops the link."""
    if not url or any(char.isspace() for char in url):
        return None
    if url.lower().startswith(("tg:", "ton:", "tonsite:")):
        return url
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        return None
    host = parts.hostname or ""
    if "." not in host and not host.startswith("["):
        return None
    if not parts.path:
        url = url.replace(parts.netloc, parts.netloc + "/", 1)
    return url


def _link_entity(offset: int, length: int, url: str) -> JSON | None:
    user_id = _link_user_id(url)
    if user_id is not None:
        user = {"id": user_id, "is_bot": False, "first_name": ""}
        return {"type": "text_mention", "offset": offset, "length": length, "user": user}
    checked = _checked_link(url)
    if checked is None:
        return None
    return {"type": "text_link", "offset": offset, "length": length, "url": checked}


def _decode_html_entity(src: bytes, pos: int) -> tuple[int, int]:
    """Decode ``&...;`` at ``pos``: (code point or 0 if not an entity, position after it)."""

    def at(i: int) -> int:
        return src[i] if i < len(src) else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == ord("#"):
        end += 1
        if at(pos + 2) == ord("x"):
            end += 1
            while at(end) and chr(at(end)) in "0123456789abcdefABCDEF":
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while ord("0") <= at(end) <= ord("9"):
                code = code * 10 + at(end) - ord("0")
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(at(end)).isascii() and chr(at(end)).isalpha():
            end += 1
        name = src[pos + 1 : end]
        code = {b"lt": 0x3C, b"gt": 0x3E, b"amp": 0x26, b"quot": 0x22}.get(name, 0)
        if not code:
            return 0, pos
    return code, end + 1 if at(end) == ord(";") else end


def _finish(out: bytearray, entities: list[JSON]) -> tuple[str, list[JSON]]:
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units"
        ) from None
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return text, entities


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Telegram's HTML parse mode: the plain text and its entities, or :class:`EntityParseError`."""
    src = text.encode("utf-8", "surrogatepass")
    n = len(src)

    def at(i: int) -> int:
        return src[i] if i < n else 0

    out = bytearray()
    entities: list[JSON] = []
    utf16 = 0
    stack: list[tuple[str, str, int, int]] = []  # tag, argument, utf16 offset, start in out
    i = -1
    while True:
        i += 1
        if i >= n:
            break
        c = src[i]
        if c == ord("&"):
            code, after = _decode_html_entity(src, i)
            if code:
                i = after - 1
                utf16 += 2 if code > 0xFFFF else 1
                out += chr(code).encode("utf-8", "surrogatepass")
                continue
        if c != ord("<"):
            utf16 += _units(c)
            out.append(c)
            continue

        begin = i
        i += 1
        if at(i) != ord("/"):  # a start tag
            while at(i) not in _SPACES and at(i) != ord(">"):
                i += 1
            if at(i) == 0:
                raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
            tag = src[begin + 1 : i].decode("utf-8", "replace").lower()
            if tag not in _HTML_TAGS:
                raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while at(i) != ord(">"):
                while at(i) != 0 and at(i) in _SPACES:
                    i += 1
                if at(i) == ord(">"):
                    break
                name_begin = i
                while at(i) not in _SPACES and at(i) not in b"=>/\"'":
                    i += 1
                attr = src[name_begin:i].decode("utf-8", "replace")
                if not attr:
                    raise EntityParseError(
                        f'Empty attribute name in the tag "{tag}" at byte offset {begin}'
                    )
                while at(i) != 0 and at(i) in _SPACES:
                    i += 1
                if at(i) != ord("="):
                    if at(i) == 0:
                        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and attr == "expandable":
                        argument = "1"
                    continue
                i += 1
                while at(i) != 0 and at(i) in _SPACES:
                    i += 1
                if at(i) == 0:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if at(i) not in b"'\"":
                    token_begin = i
                    while chr(at(i)).isascii() and (chr(at(i)).isalnum() or at(i) in b".-"):
                        i += 1
                    value = src[token_begin:i].decode("utf-8", "replace").lower()
                    if at(i) not in _SPACES and at(i) != ord(">"):
                        raise EntityParseError(
                            f"Unexpected end of name token at byte offset {token_begin}"
                        )
                else:
                    quote = at(i)
                    i += 1
                    raw = bytearray()
                    while at(i) != quote and at(i) != 0:
                        if at(i) == ord("&"):
                            code, after = _decode_html_entity(src, i)
                            if code:
                                raw += chr(code).encode("utf-8", "surrogatepass")
                                i = after
                                continue
                        raw.append(at(i))
                        i += 1
                    if at(i) == quote:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if at(i) == 0:
                    raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and attr == "href":
                    argument = value
                elif tag == "code" and attr == "class" and value.startswith("language-"):
                    argument = value[len("language-") :]
                elif tag == "span" and attr == "class" and value.startswith("tg-"):
                    argument = value[len("tg-") :]
                elif (tag == "tg-emoji" and attr == "emoji-id") or (
                    tag == "tg-time" and attr == "format"
                ):
                    argument = value
                elif tag == "blockquote" and attr == "expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise EntityParseError(
                    f'Tag "span" must have class "tg-spoiler" at byte offset {begin}'
                )
            stack.append((tag, argument, utf16, len(out)))
            continue

        # an end tag
        if not stack:
            raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
        while at(i) not in _SPACES and at(i) != ord(">"):
            i += 1
        end_tag = src[begin + 2 : i].decode("utf-8", "replace").lower()
        while at(i) != 0 and at(i) in _SPACES:
            i += 1
        if at(i) != ord(">"):
            raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, out_start = stack.pop()
        if end_tag and end_tag != tag:
            raise EntityParseError(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                f'found "</{end_tag}>"'
            )
        if utf16 <= offset:
            continue
        length = utf16 - offset
        simple = {
            "i": "italic", "em": "italic", "b": "bold", "strong": "bold",
            "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
            "u": "underline", "ins": "underline", "tg-spoiler": "spoiler", "span": "spoiler",
        }  # fmt: skip
        last = entities[-1] if entities else None
        same_span = last is not None and (last["offset"], last["length"]) == (offset, length)
        if tag in simple:
            entities.append({"type": simple[tag], "offset": offset, "length": length})
        elif tag == "tg-emoji":
            if not argument.isdigit() or int(argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            entities.append(
                {"type": "custom_emoji", "offset": offset, "length": length,
                 "custom_emoji_id": argument}
            )  # fmt: skip
        elif tag == "a":
            url = argument or out[out_start:].decode("utf-8", "replace")
            entity = _link_entity(offset, length, url)
            if entity:
                entities.append(entity)
        elif tag == "pre":
            if last and same_span and last["type"] == "code" and last.get("language"):
                last["type"] = "pre"
            else:
                entities.append({"type": "pre", "offset": offset, "length": length})
        elif tag == "code":
            if last and same_span and last["type"] == "pre" and argument:
                last["language"] = argument
            elif argument:
                entities.append(
                    {"type": "code", "offset": offset, "length": length, "language": argument}
                )
            else:
                entities.append({"type": "code", "offset": offset, "length": length})
        elif tag == "blockquote":
            kind = "expandable_blockquote" if argument else "blockquote"
            entities.append({"type": kind, "offset": offset, "length": length})
        # tg-time: no entity here (Telegram adds a date_time entity; not modelled)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    # a "language" on inline code is only meaningful for pre: Telegram drops it
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    return _finish(out, entities)


@dataclass
class _Open:
    """An entity being parsed by :func:`parse_markdown_v2`."""

    kind: str
    argument: str
    utf16: int
    byte: int
    out_start: int


def _read_url(src: bytes, i: int) -> tuple[str, int]:
    """Read a MarkdownV2 ``(url)`` body starting at ``i``; returns (url, index of ``)``)."""
    n = len(src)
    begin = i
    url = bytearray()
    while i < n and src[i] != ord(")"):
        if src[i] == ord("\\") and i + 1 < n and 0 < src[i + 1] <= 126:
            url.append(src[i + 1])
            i += 2
            continue
        url.append(src[i])
        i += 1
    if i >= n:
        raise EntityParseError(f"Can't find end of a URL at byte offset {begin}")
    return url.decode("utf-8", "replace"), i


def parse_markdown_v2(text: str) -> tuple[str, list[JSON]]:
    """Telegram's MarkdownV2 parse mode: plain text and entities, or :class:`EntityParseError`."""
    src = text.encode("utf-8", "surrogatepass")
    n = len(src)

    def at(i: int) -> int:
        return src[i] if i < n else 0

    out = bytearray()
    entities: list[JSON] = []
    utf16 = 0
    stack: list[_Open] = []
    have_quote = False
    can_start_quote = True
    i = -1
    while True:
        i += 1
        if i >= n:
            break
        c = src[i]
        if c == ord("\\") and 0 < at(i + 1) <= 126:
            i += 1
            utf16 += 1
            out.append(src[i])
            if src[i] != ord("\r"):
                can_start_quote = src[i] == ord("\n")
            continue
        reserved = _MDV2_RESERVED
        if stack and stack[-1].kind in ("code", "pre", "pre_code"):
            reserved = b"`"
        if c not in reserved:
            if _units(c):
                utf16 += _units(c)
                if c != ord("\r"):
                    can_start_quote = False
            out.append(c)
            continue

        is_end = False
        if stack:
            if have_quote and c == ord("\n") and (i + 1 == n or src[i + 1] != ord(">")):
                is_end = True
            else:
                kind = stack[-1].kind
                is_end = {
                    "bold": c == ord("*"),
                    "italic": c == ord("_") and at(i + 1) != ord("_"),
                    "code": c == ord("`"),
                    "pre": c == ord("`") and at(i + 1) == ord("`") and at(i + 2) == ord("`"),
                    "pre_code": c == ord("`") and at(i + 1) == ord("`") and at(i + 2) == ord("`"),
                    "text_link": c == ord("]"),
                    "underline": c == ord("_") and at(i + 1) == ord("_"),
                    "strikethrough": c == ord("~"),
                    "spoiler": c == ord("|") and at(i + 1) == ord("|"),
                    "custom_emoji": c == ord("]"),
                }.get(kind, False)

        if not is_end:
            argument = ""
            entity_byte = i
            kind = ""
            if c == ord("_"):
                if at(i + 1) == ord("_"):
                    kind = "underline"
                    i += 1
                else:
                    kind = "italic"
            elif c == ord("*"):
                kind = "bold"
            elif c == ord("~"):
                kind = "strikethrough"
            elif c == ord("|"):
                if at(i + 1) != ord("|"):
                    raise _reserved(c)
                i += 1
                kind = "spoiler"
            elif c == ord("["):
                kind = "text_link"
            elif c == ord("`"):
                if at(i + 1) == ord("`") and at(i + 2) == ord("`"):
                    i += 3
                    kind = "pre"
                    lang_end = i
                    while at(lang_end) not in _SPACES and at(lang_end) != ord("`"):
                        lang_end += 1
                    if i != lang_end and lang_end < n and at(lang_end) != ord("`"):
                        kind = "pre_code"
                        argument = src[i:lang_end].decode("utf-8", "replace")
                        i = lang_end
                    if at(i) in b"\r\n" and at(i) != 0:
                        if at(i + 1) in b"\r\n" and at(i + 1) != 0 and at(i) != at(i + 1):
                            i += 2
                        else:
                            i += 1
                    i -= 1
                else:
                    kind = "code"
            elif c == ord("!"):
                if at(i + 1) != ord("["):
                    raise _reserved(c)
                i += 1
                kind = "custom_emoji"
            elif c == ord("\n"):
                utf16 += 1
                out.append(c)
                can_start_quote = True
            elif c == ord(">"):
                if not can_start_quote:
                    raise _reserved(c)
                if not have_quote:
                    kind = "blockquote"
                    have_quote = True
            else:
                raise _reserved(c)
            if kind:
                stack.append(_Open(kind, argument, utf16, entity_byte, len(out)))
            continue

        # the end of an entity
        kind = stack[-1].kind
        if c == ord("\n") and kind != "blockquote":
            top = stack[-1]
            after_spoiler = top.byte == i - 2 or (top.byte == i - 3 and out[-1:] == b"\r")
            if kind != "spoiler" or not after_spoiler:
                raise EntityParseError(
                    f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {top.byte}"
                )
            stack.pop()
            if stack[-1].kind != "blockquote":
                raise EntityParseError(
                    f"Can't find end of {_MDV2_NAMES[stack[-1].kind]} entity "
                    f"at byte offset {stack[-1].byte}"
                )
            kind = "expandable_blockquote"
        top = stack[-1]
        entity: JSON | None = {"type": kind, "offset": top.utf16, "length": utf16 - top.utf16}
        skip = utf16 == top.utf16
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind in ("pre", "pre_code"):
            i += 2
            assert entity is not None
            entity["type"] = "pre"
            if kind == "pre_code":
                entity["language"] = top.argument
        elif kind == "text_link":
            if at(i + 1) != ord("("):
                url = out[top.out_start :].decode("utf-8", "replace")
            else:
                url, i = _read_url(src, i + 2)
            entity = _link_entity(top.utf16, utf16 - top.utf16, url)
        elif kind == "custom_emoji":
            if at(i + 1) != ord("("):
                raise EntityParseError("The entity must contain a tg://emoji or tg://time URL")
            url, i = _read_url(src, i + 2)
            match = _EMOJI_URL_RE.fullmatch(url)
            if match:
                assert entity is not None
                entity["custom_emoji_id"] = match.group(1)
            elif re.match(r"(?i)tg://time\?", url):
                entity = None
            else:
                raise EntityParseError("Invalid tg://emoji or tg://time URL specified")
        elif kind in ("blockquote", "expandable_blockquote"):
            have_quote = False
            out.append(c)
            can_start_quote = True
            utf16 += 1
            skip = False
            assert entity is not None
            entity["length"] = utf16 - top.utf16
        if not skip and entity is not None:
            entities.append(entity)
        stack.pop()

    if have_quote:
        kind = "blockquote"
        if stack[-1].kind == "spoiler" and stack[-1].byte == n - 2:
            stack.pop()
            kind = "expandable_blockquote"
        if stack[-1].kind == "blockquote":
            top = stack.pop()
            if utf16 != top.utf16:
                entities.append({"type": kind, "offset": top.utf16, "length": utf16 - top.utf16})
    if stack:
        raise EntityParseError(
            f"Can't find end of {_MDV2_NAMES[stack[-1].kind]} entity "
            f"at byte offset {stack[-1].byte}"
        )
    return _finish(out, entities)


def parse_markdown(text: str) -> tuple[str, list[JSON]]:
    """Telegram's legacy Markdown parse mode: plain text and entities, or an error."""
    src = text.encode("utf-8", "surrogatepass")
    n = len(src)

    def at(i: int) -> int:
        return src[i] if i < n else 0

    out = bytearray()
    entities: list[JSON] = []
    utf16 = 0
    i = -1
    while True:
        i += 1
        if i >= n:
            break
        c = src[i]
        if c == ord("\\") and at(i + 1) and at(i + 1) in b"_*`[":
            i += 1
            out.append(src[i])
            utf16 += 1
            continue
        if c not in b"_*`[":
            utf16 += _units(c)
            out.append(c)
            continue
        begin = i
        end_char = ord("]") if c == ord("[") else c
        is_pre = False
        language = ""
        i += 1
        if c == ord("`") and at(i) == ord("`") and at(i + 1) == ord("`"):
            i += 2
            is_pre = True
            lang_end = i
            while at(lang_end) not in _SPACES and at(lang_end) != ord("`"):
                lang_end += 1
            if i != lang_end and lang_end < n and at(lang_end) != ord("`"):
                language = src[i:lang_end].decode("utf-8", "replace")
                i = lang_end
            if at(i) and at(i) in b"\r\n":
                if at(i + 1) and at(i + 1) in b"\r\n" and at(i) != at(i + 1):
                    i += 2
                else:
                    i += 1
        offset = utf16
        while i < n and (
            src[i] != end_char or (is_pre and not (at(i + 1) == ord("`") and at(i + 2) == ord("`")))
        ):
            utf16 += _units(src[i])
            out.append(src[i])
            i += 1
        if i == n:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {begin}")
        if offset != utf16:
            length = utf16 - offset
            if c == ord("_"):
                entities.append({"type": "italic", "offset": offset, "length": length})
            elif c == ord("*"):
                entities.append({"type": "bold", "offset": offset, "length": length})
            elif c == ord("["):
                if at(i + 1) != ord("("):
                    url = src[begin + 1 : i].decode("utf-8", "replace")
                else:
                    i += 2
                    url_begin = i
                    while i < n and src[i] != ord(")"):
                        i += 1
                    url = src[url_begin:i].decode("utf-8", "replace")
                entity = _link_entity(offset, length, url)
                if entity:
                    entities.append(entity)
            elif is_pre:
                entity = {"type": "pre", "offset": offset, "length": length}
                if language:
                    entity["language"] = language
                entities.append(entity)
            else:
                entities.append({"type": "code", "offset": offset, "length": length})
        if is_pre:
            i += 2
    return _finish(out, entities)


def format_text(
    text: str, parse_mode: str | None = None, entities: list[JSON] | None = None
) -> tuple[str, list[JSON]]:
    """Text and entities as Telegram stores them: parsed, then trimmed.

    Raises:
        ApiError: 400 with Telegram's description for bad markup or empty text.
    """
    if entities:
        result = copy.deepcopy([e for e in entities if e.get("length", 0) > 0])
    elif parse_mode:
        parser = {
            "html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown,
        }.get(parse_mode.lower())  # fmt: skip
        if parser is None:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        try:
            text, result = parser(text)
        except EntityParseError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
    else:
        result = []
    # rtrim: drop trailing white space, cut entities to the new end
    stripped = text.rstrip()
    end = utf16_len(stripped)
    if not stripped:
        raise ApiError(400, "Bad Request: message text is empty")
    result = [e for e in result if e["offset"] < end]
    for entity in result:
        entity["length"] = min(entity["length"], end - entity["offset"])
    # ltrim: spaces and newlines before the first entity
    first = min((e["offset"] for e in result), default=end)
    lead = 0
    while lead < first and stripped[lead] in " \n":
        lead += 1
    for entity in result:
        entity["offset"] -= lead
    result.sort(key=lambda e: (e["offset"], -e["length"]))
    return stripped[lead:], result


# --------------------------------------------------------------------------------------------
# Parameter decoding
# --------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def decode_value(name: str, value: str) -> Any:
    """Decode one form or query parameter as PTB encodes it.

    PTB sends strings as they are and everything else JSON-encoded, so a value is
    JSON-decoded when it parses to a number, bool, list or object, unless ``name`` is a
    parameter that is always a string (``text``, ``caption``, ``callback_query_id``...).
    """
    if name in _STRING_PARAMS:
        return value
    try:
        decoded = json.loads(value, parse_constant=_reject_constant)
    except ValueError:
        return value
    if decoded is None or isinstance(decoded, str):
        return value
    return decoded


async def read_params(request: web.Request) -> JSON:
    """All parameters of a Bot API request: query string, then the body (form or JSON)."""
    params: JSON = {}
    for name, value in request.query.items():
        params[name] = decode_value(name, value)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON encoded request") from None
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: JSON object expected")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                size = len(value.file.read())
                params[name] = {
                    "filename": value.filename,
                    "content_type": value.content_type,
                    "size": size,
                }
            else:
                params[name] = decode_value(name, str(value))
    else:
        raw = (await request.read()).decode("utf-8", "replace")
        for name, values in parse_qs(raw).items():
            params[name] = decode_value(name, values[-1])
    return params


def _chat_id(params: JSON, name: str = "chat_id") -> int | str:
    value = params.get(name)
    if value is None or value == "":
        raise ApiError(400, f"Bad Request: {name} is empty")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ApiError(400, f"Bad Request: invalid {name} specified")
    if isinstance(value, str) and _INT_RE.match(value):
        return int(value)
    return value


def _int(params: JSON, name: str, default: int | None = None) -> int:
    value = params.get(name, default)
    if value is None or value == "":
        if default is not None:
            return default
        raise ApiError(400, f"Bad Request: {name} is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _update_kind(update: Mapping[str, Any]) -> str:
    return next((key for key in update if key != "update_id"), "")


# --------------------------------------------------------------------------------------------
# The stub
# --------------------------------------------------------------------------------------------


class BotAPIStub:
    """A fake Telegram Bot API server on loopback; see the module docstring.

    Args:
        token: the bot token the stub accepts; other tokens get ``401 Unauthorized``.
        host: the address to listen on (keep it on loopback).
        port: the port; 0 picks a free one.
        first_name: the bot's first name in ``getMe`` and in sent messages.
        username: the bot's username.

    Attributes:
        calls: every request received, in order, as :class:`Call` ``(method, params)``;
            getUpdates polls included.
        responses: ``(http_status, body)`` for each entry of :attr:`calls` (``None`` while the
            answer is pending).
        errors: exceptions raised inside the stub's own handlers (a stub bug or a bad
            registered handler); each was answered with a 500.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        first_name: str = BOT_FIRST_NAME,
        username: str = BOT_USERNAME,
    ) -> None:
        self.token = token
        self.host = host
        self.port = port
        head = token.split(":", 1)[0]
        self.bot_id = int(head) if head.isdigit() else 7000000001
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
        }
        self.calls: list[Call] = []
        self.responses: list[tuple[int, Any] | None] = []
        self.errors: list[BaseException] = []

        self._runner: web.AppRunner | None = None
        self._closing = False
        self._updates: list[JSON] = []
        self._last_update_id = 700000000
        self._allowed_updates: list[str] | None = None
        self._webhook_url = ""
        self._update_event = asyncio.Event()
        self._call_event = asyncio.Event()
        self._faults: dict[str, deque[Fault]] = {}
        self._messages: dict[tuple[int | str, int], JSON] = {}
        self._bot_sent: list[tuple[int | str, int]] = []
        self._last_message_id: dict[int | str, int] = {}
        self._inline_messages: dict[str, JSON] = {}
        self._chats: dict[int | str, JSON] = {}
        self._blocked: set[int | str] = set()
        self._callback_ids: set[str] = set()
        self._inline_query_ids: set[str] = set()
        self._query_ids = itertools.count(4382000000000000001)
        self._commands: dict[str, list[JSON]] = {}
        self._menu_buttons: dict[int | str | None, JSON] = {}
        self._texts: dict[tuple[str, str], str] = {}
        self._methods: dict[str, tuple[str, Handler]] = {}
        for name, handler in {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setMyName": self._text_setter("name"),
            "getMyName": self._text_getter("name"),
            "setMyDescription": self._text_setter("description"),
            "getMyDescription": self._text_getter("description"),
            "setMyShortDescription": self._text_setter("short_description"),
            "getMyShortDescription": self._text_getter("short_description"),
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "answerCallbackQuery": self._answer_callback_query,
            "answerInlineQuery": self._answer_inline_query,
            "sendChatAction": self._send_chat_action,
            "close": lambda params: True,
            "logOut": lambda params: True,
        }.items():
            self.register(name, handler)

    # ---------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """The ``base_url`` for PTB: ``http://127.0.0.1:PORT/bot`` (the token is appended)."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def root(self) -> str:
        """The server's root URL, ``http://127.0.0.1:PORT``; control API under ``/_stub/``."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening; :attr:`port` is the real port afterwards."""
        if self._runner is not None:
            raise RuntimeError("BotAPIStub is already running")
        self._closing = False
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.add_routes(self._routes())
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Release pending long polls and stop the server."""
        self._closing = True
        self._wake_pollers()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ---------------------------------------------------------------- test controls

    def register(self, method: str, handler: Handler) -> None:
        """Answer ``method`` (case-insensitive, as Telegram) with ``handler(params)``.

        The handler returns the ``result`` (or an awaitable of it) or raises :class:`ApiError`;
        registering a built-in name replaces the built-in behaviour.
        """
        self._methods[method.lower()] = (method, handler)

    def fail_next(
        self,
        method: str,
        status: int = 429,
        body: JSON | str | bytes | None = None,
        *,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error instead of the result.

        Args:
            method: the Bot API method, e.g. ``"sendMessage"``.
            status: the HTTP status / ``error_code``.
            body: the body to send: a dict (sent as JSON), or ``str``/``bytes`` sent verbatim.
                By default Telegram's own: 429 ``Too Many Requests: retry after N`` with
                ``parameters.retry_after``; 502 the HTML page of Telegram's nginx; others
                ``{"ok": false, "error_code": status, "description": <status phrase>}``.
            times: how many consecutive calls fail.
            retry_after: seconds for the default 429 body.
            delay: seconds to wait before answering.
        """
        if body is None:
            body = self.error_body(status, retry_after=retry_after)
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(Fault(status, body, delay) for _ in range(times))

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` normally, but ``seconds`` late."""
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(Fault(None, None, seconds) for _ in range(times))

    def clear_faults(self) -> None:
        """Forget pending faults and delays."""
        self._faults.clear()

    @staticmethod
    def error_body(status: int, *, retry_after: int = 1) -> JSON | str:
        """Telegram's body for an error status (see :meth:`fail_next`)."""
        if status == 429:
            return {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            }
        if status == 502:
            return NGINX_502
        descriptions = {
            400: "Bad Request",
            401: "Unauthorized",
            403: BLOCKED,
            404: "Not Found",
            409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
            "instance is running",
        }
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return {"ok": False, "error_code": status, "description": descriptions.get(status, phrase)}

    def block(self, chat_id: int, blocked: bool = True) -> None:
        """Make sending to ``chat_id`` fail with 403 (the user blocked the bot), or undo it."""
        if blocked:
            self._blocked.add(chat_id)
        else:
            self._blocked.discard(chat_id)

    def push_update(self, update: Mapping[str, Any]) -> JSON:
        """Queue an Update for getUpdates and return it (with its ``update_id``).

        Update ids only grow, as Telegram's do: a missing ``update_id``, or one not above the
        last (fixtures all use 10000), is replaced by the last plus one; the returned copy has
        the id used. Chats, messages, callback and inline query ids in the update become known
        to the stub, and a ``my_chat_member`` update of a private chat blocks (``kicked``) or
        unblocks the user.
        """
        update = copy.deepcopy(dict(update))
        update_id = update.pop("update_id", None)
        if not isinstance(update_id, int) or update_id <= self._last_update_id:
            update_id = self._last_update_id + 1
        update = {"update_id": update_id, **update}
        self._last_update_id = update_id
        self._learn(update)
        self._updates.append(update)
        self._wake_pollers()
        return update

    @staticmethod
    def make_user(
        user_id: int = DEFAULT_USER_ID,
        first_name: str = "Aziz",
        *,
        last_name: str | None = None,
        username: str | None = "aziz_test",
        language_code: str | None = "ru",
    ) -> JSON:
        """A human Telegram ``User`` as updates carry it."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        return user

    def make_text_update(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        user: JSON | None = None,
        entities: list[JSON] | None = None,
        reply_to_message_id: int | None = None,
        date: int | None = None,
    ) -> JSON:
        """An Update with a text message from a user (no ``update_id`` yet).

        By default the message comes from :meth:`make_user` in their private chat; a negative
        ``chat_id`` makes it a group (``-100...``: supergroup) message. A text starting with
        ``/`` gets the ``bot_command`` entity that Telegram adds (PTB's CommandHandler needs
        it). The message takes the chat's next ``message_id``.
        """
        if user is None:
            user = self.make_user(
                chat_id if chat_id is not None and chat_id > 0 else DEFAULT_USER_ID
            )
        if chat_id is None:
            chat_id = int(user["id"])
        chat = self._chat(chat_id, user)
        message: JSON = {
            "message_id": self._next_message_id(chat_id),
            "from": user,
            "chat": chat,
            "date": date if date is not None else int(time.time()),
            "text": text,
        }
        if entities is None and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"offset": 0, "length": utf16_len(command), "type": "bot_command"}]
        if entities:
            message["entities"] = entities
        if reply_to_message_id is not None:
            replied = self._messages.get((chat_id, reply_to_message_id))
            if replied is None:
                raise LookupError(f"no message {reply_to_message_id} in chat {chat_id}")
            message["reply_to_message"] = self._reply_copy(replied)
        return {"message": message}

    def push_text(self, text: str, **kwargs: Any) -> JSON:
        """Push :meth:`make_text_update` (same arguments); returns the queued update."""
        return self.push_update(self.make_text_update(text, **kwargs))

    def make_callback_update(
        self,
        data: str | None = None,
        *,
        button_text: str | None = None,
        chat_id: int | None = None,
        message_id: int | None = None,
        user: JSON | None = None,
        strict: bool = True,
    ) -> JSON:
        """An Update with a callback query: a user pressed a button of a message the bot sent.

        The message is the bot's message ``message_id`` in ``chat_id``, by default the latest
        one the bot sent (to ``chat_id``, or anywhere), as it is now (after edits). Give the
        button by ``button_text`` or its callback ``data``; with ``strict`` the data must be on
        one of the message's buttons, as only those can be pressed.

        Raises:
            LookupError: no such bot message or button.
            ValueError: neither ``data`` nor ``button_text``, or (``strict``) unknown data.
        """
        message = self.bot_message(chat_id, message_id)
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = [button for row in rows for button in row if "callback_data" in button]
        if button_text is not None:
            found = next((b for b in buttons if b.get("text") == button_text), None)
            if found is None:
                texts = [b.get("text") for b in buttons]
                raise LookupError(f"no callback button {button_text!r}; the message has {texts}")
            data = str(found["callback_data"])
        elif data is None:
            raise ValueError("give data or button_text")
        elif strict and data not in [b["callback_data"] for b in buttons]:
            raise ValueError(f"no button with callback_data {data!r} on message {message}")
        chat = message["chat"]
        if user is None:
            if chat.get("type") == "private":
                user = self.make_user(int(chat["id"]), chat.get("first_name", "Aziz"),
                                      last_name=chat.get("last_name"),
                                      username=chat.get("username"))  # fmt: skip
            else:
                user = self.make_user()
        query = {
            "id": str(next(self._query_ids)),
            "from": user,
            "message": copy.deepcopy(message),
            "chat_instance": str(-(abs(hash((self.bot_id, chat["id"]))) % 10**19)),
            "data": data,
        }
        return {"callback_query": query}

    def push_callback(self, data: str | None = None, **kwargs: Any) -> JSON:
        """Push :meth:`make_callback_update` (same arguments); returns the queued update."""
        return self.push_update(self.make_callback_update(data, **kwargs))

    def make_inline_query_update(
        self, query: str, *, user: JSON | None = None, offset: str = "", chat_type: str = "sender"
    ) -> JSON:
        """An Update with an inline query ``@bot query`` typed by a user."""
        inline = {
            "id": str(next(self._query_ids)),
            "from": user or self.make_user(),
            "query": query,
            "offset": offset,
            "chat_type": chat_type,
        }
        return {"inline_query": inline}

    def calls_to(self, method: str, *, since: int = 0) -> list[JSON]:
        """The parameters of every call of ``method`` (case-insensitive), from index ``since``."""
        wanted = method.lower()
        return [c.params for c in self.calls[since:] if c.method.lower() == wanted]

    def mark(self) -> int:
        """The current length of :attr:`calls`: pass it as ``since`` to see only later calls."""
        return len(self.calls)

    async def wait_for(
        self,
        predicate: Callable[[Call], bool] | str,
        timeout: float = 5.0,
        *,
        since: int = 0,
        **params: Any,
    ) -> Call:
        """Wait until a recorded call (index ``since`` or later) matches, and return it.

        ``predicate`` is a function of the :class:`Call` or a method name; keyword arguments
        additionally require those parameter values, e.g.
        ``await stub.wait_for("sendMessage", chat_id=42, since=mark)``.

        Raises:
            TimeoutError: nothing matched in ``timeout`` seconds (the message lists the calls).
        """
        if isinstance(predicate, str):
            wanted = predicate.lower()

            def matches(call: Call) -> bool:
                return call.method.lower() == wanted
        else:
            matches = predicate

        def test(call: Call) -> bool:
            return matches(call) and all(
                name in call.params and call.params[name] == value for name, value in params.items()
            )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        index = since
        while True:
            while index < len(self.calls):
                call = self.calls[index]
                index += 1
                if test(call):
                    return call
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [
                    (c.method, c.params) for c in self.calls[since:] if c.method != "getUpdates"
                ]
                raise TimeoutError(f"no matching call in {timeout} s; calls since {since}: {seen}")
            event = self._call_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed by a getUpdates ``offset``."""
        return copy.deepcopy(self._updates)

    def sent_messages(self, chat_id: int | str | None = None) -> list[JSON]:
        """The bot's messages that still exist, oldest first, as they are now."""
        return [
            copy.deepcopy(self._messages[key])
            for key in self._bot_sent
            if key in self._messages and (chat_id is None or key[0] == chat_id)
        ]

    def bot_message(self, chat_id: int | str | None = None, message_id: int | None = None) -> JSON:
        """One existing bot message (by default the latest, in ``chat_id`` or anywhere).

        Raises:
            LookupError: there is none.
        """
        for key in reversed(self._bot_sent):
            if key not in self._messages:
                continue
            if chat_id is not None and key[0] != chat_id:
                continue
            if message_id is not None and key[1] != message_id:
                continue
            return self._messages[key]
        raise LookupError(f"the bot has no message {message_id or ''} in chat {chat_id}")

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The command list set for a scope and language (what getMyCommands answers)."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    # ---------------------------------------------------------------- HTTP plumbing

    def _routes(self) -> list[web.RouteDef]:
        """The Bot API route and the control API.

        Control API (JSON), for a test driving the stub from another process:

        * ``POST /_stub/update`` an Update object → pushes it;
        * ``POST /_stub/text`` ``{"text", "chat_id"?}`` → :meth:`push_text`;
        * ``POST /_stub/callback`` ``{"data"?, "button_text"?, "chat_id"?, "message_id"?}``
          → :meth:`push_callback`;
        * ``POST /_stub/fail`` ``{"method", "status"?, "body"?, "times"?, "retry_after"?}``
          → :meth:`fail_next`;
        * ``GET /_stub/calls?since=N`` → ``{"calls": [{"method", "params"}], "next": M}``;
        * ``GET /_stub/messages?chat_id=N`` → the bot's current messages.
        """
        return [
            web.route("*", "/bot{token}/{method}", self._handle_api),
            web.post("/_stub/update", self._control),
            web.post("/_stub/text", self._control),
            web.post("/_stub/callback", self._control),
            web.post("/_stub/fail", self._control),
            web.get("/_stub/calls", self._control),
            web.get("/_stub/messages", self._control),
        ]

    async def _control(self, request: web.Request) -> web.Response:
        action = request.path.rsplit("/", 1)[-1]
        try:
            body: JSON = await request.json() if request.method == "POST" else {}
            result: Any
            if action == "update":
                result = self.push_update(body)
            elif action == "text":
                result = self.push_text(body.pop("text"), **body)
            elif action == "callback":
                result = self.push_callback(body.pop("data", None), **body)
            elif action == "fail":
                self.fail_next(body.pop("method"), **body)
                result = True
            elif action == "calls":
                since = int(request.query.get("since", "0"))
                calls = [{"method": c.method, "params": c.params} for c in self.calls[since:]]
                result = {"calls": calls, "next": len(self.calls)}
            else:
                chat = request.query.get("chat_id")
                result = self.sent_messages(int(chat) if chat else None)
        except (LookupError, ValueError, TypeError) as exc:
            return web.json_response({"ok": False, "description": str(exc)}, status=400)
        return web.json_response({"ok": True, "result": result})

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return self._reply(401, ApiError(401, "Unauthorized").payload())
        name = request.match_info["method"]
        try:
            params = await read_params(request)
        except ApiError as exc:
            return self._reply(exc.status, exc.payload())
        entry = self._methods.get(name.lower())
        method = entry[0] if entry else name
        index = len(self.calls)
        self.calls.append(Call(method, params))
        self.responses.append(None)
        self._wake_waiters()

        status: int
        body: Any
        fault = self._next_fault(name)
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is not None and fault.status is not None:
            status, body = fault.status, fault.body
        elif entry is None:
            status, body = 404, ApiError(404, "Not Found: method not found").payload()
        else:
            try:
                result = entry[1](params)
                if inspect.isawaitable(result):
                    result = await result
                status, body = 200, {"ok": True, "result": result}
            except ApiError as exc:
                status, body = exc.status, exc.payload()
            except Exception as exc:  # a stub bug: answer like Telegram's 500, keep the error
                self.errors.append(exc)
                status = 500
                body = ApiError(500, f"Internal Server Error: {exc!r}").payload()
        self.responses[index] = (status, body)
        self._wake_waiters()
        return self._reply(status, body)

    @staticmethod
    def _reply(status: int, body: Any) -> web.Response:
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, content_type="application/octet-stream")
        if isinstance(body, str):
            kind = "text/html" if body.lstrip().startswith("<") else "text/plain"
            return web.Response(status=status, text=body, content_type=kind)
        text = json.dumps(body, ensure_ascii=False)
        return web.Response(status=status, text=text, content_type="application/json")

    def _next_fault(self, method: str) -> Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue.popleft()
        if not queue:
            del self._faults[method.lower()]
        return fault

    def _wake_pollers(self) -> None:
        event, self._update_event = self._update_event, asyncio.Event()
        event.set()

    def _wake_waiters(self) -> None:
        event, self._call_event = self._call_event, asyncio.Event()
        event.set()

    # ---------------------------------------------------------------- bookkeeping

    def _learn(self, update: JSON) -> None:
        """Remember chats, messages and query ids that an incoming update reveals."""
        for key in _MESSAGE_KEYS:
            message = update.get(key)
            if isinstance(message, dict) and "chat" in message:
                self._store_incoming(message)
        query = update.get("callback_query")
        if isinstance(query, dict):
            self._callback_ids.add(str(query.get("id")))
            if isinstance(query.get("message"), dict) and "chat" in query["message"]:
                message = query["message"]
                key = (message["chat"]["id"], message["message_id"])
                if key not in self._messages:
                    self._store_incoming(message)
                    if (message.get("from") or {}).get("id") == self.bot_id:
                        self._bot_sent.append(key)
        inline = update.get("inline_query")
        if isinstance(inline, dict):
            self._inline_query_ids.add(str(inline.get("id")))
        member = update.get("my_chat_member")
        if isinstance(member, dict):
            chat = member.get("chat", {})
            self._chats.setdefault(chat.get("id"), chat)
            status = (member.get("new_chat_member") or {}).get("status")
            if chat.get("type") == "private":
                self.block(chat["id"], status == "kicked")

    def _store_incoming(self, message: JSON) -> None:
        chat = message["chat"]
        chat_id = chat["id"]
        self._chats[chat_id] = copy.deepcopy(chat)
        message_id = int(message["message_id"])
        self._messages[(chat_id, message_id)] = copy.deepcopy(message)
        self._last_message_id[chat_id] = max(self._last_message_id.get(chat_id, 0), message_id)

    def _next_message_id(self, chat_id: int | str) -> int:
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _chat(self, chat_id: int | str, user: JSON | None = None) -> JSON:
        """The Chat object for ``chat_id``: known from updates, or a plausible default."""
        if chat_id in self._chats:
            return copy.deepcopy(self._chats[chat_id])
        if isinstance(chat_id, str):
            username = chat_id.removeprefix("@").lower()
            for chat in self._chats.values():
                if str(chat.get("username", "")).lower() == username:
                    return copy.deepcopy(chat)
            raise ApiError(400, "Bad Request: chat not found")
        if chat_id > 0:
            chat: JSON = {"id": chat_id, "first_name": "Aziz", "type": "private"}
            if user is not None and user.get("id") == chat_id:
                chat = {"id": chat_id, "first_name": user.get("first_name", "Aziz")}
                for name in ("last_name", "username"):
                    if user.get(name):
                        chat[name] = user[name]
                chat["type"] = "private"
        elif chat_id <= -1_000_000_000_000:
            chat = {"id": chat_id, "title": "Safar test supergroup", "type": "supergroup"}
        else:
            chat = {"id": chat_id, "title": "Safar test group", "type": "group"}
        self._chats[chat_id] = chat
        return copy.deepcopy(chat)

    @staticmethod
    def _reply_copy(message: JSON) -> JSON:
        replied = copy.deepcopy(message)
        replied.pop("reply_to_message", None)
        return replied

    def _target_chat(self, params: JSON) -> tuple[int | str, JSON]:
        chat_id = _chat_id(params)
        chat = self._chat(chat_id)
        chat_id = chat["id"]
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat_id, chat

    def _edit_target(self, params: JSON) -> tuple[JSON, str | None]:
        """The stored message an edit refers to, and the inline_message_id if any."""
        inline_id = params.get("inline_message_id")
        if inline_id:
            # the content of inline messages is unknown until the bot first edits it
            inline = self._inline_messages.setdefault(str(inline_id), {})
            return inline, str(inline_id)
        chat_id = self._chat(_chat_id(params))["id"]
        if "message_id" not in params:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = self._messages.get((chat_id, _int(params, "message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if (message.get("from") or {}).get("id") != self.bot_id:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message, None

    @staticmethod
    def _check_markup(markup: Any) -> JSON | None:
        """Validate reply_markup; return it if it is an inline keyboard (what a Message keeps)."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise ApiError(400, "Bad Request: can't parse inline keyboard markup JSON object")
        for row in rows:
            for button in row:
                problem = ""
                if not isinstance(button, dict) or not button.get("text"):
                    problem = "Text must be non-empty"
                elif not any(key in button for key in _BUTTON_ACTIONS):
                    problem = "Text buttons are unallowed in the inline keyboard"
                if problem:
                    prefix = "Bad Request: can't parse inline keyboard button"
                    raise ApiError(400, f"{prefix}: {problem}")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return copy.deepcopy(markup) if rows else None

    @staticmethod
    def _formatted(params: JSON) -> tuple[str, list[JSON]]:
        text = params.get("text")
        if text is None or text == "":
            raise ApiError(400, "Bad Request: message text is empty")
        text, entities = format_text(str(text), params.get("parse_mode"), params.get("entities"))
        if len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        return text, entities

    # ---------------------------------------------------------------- Bot API methods

    def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self._webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")  # fmt: skip
        offset = _int(params, "offset", 0)
        limit = min(max(_int(params, "limit", 100), 1), 100)
        try:
            timeout = max(float(params.get("timeout") or 0), 0.0)
        except (TypeError, ValueError):
            raise ApiError(400, "Bad Request: invalid timeout specified") from None
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = list(allowed) if allowed else None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._allowed_updates is not None:
                allowed_set = set(self._allowed_updates)
                self._updates = [u for u in self._updates if _update_kind(u) in allowed_set]
            if self._updates or self._closing:
                return copy.deepcopy(self._updates[:limit])
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            event = self._update_event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _set_webhook(self, params: JSON) -> bool:
        self._webhook_url = str(params.get("url") or "")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, params: JSON) -> bool:
        self._webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self._webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook_url:
            info["max_connections"] = 40
            info["ip_address"] = "127.0.0.1"
        return info

    @staticmethod
    def _commands_key(scope: Any, language_code: Any) -> str:
        scope = scope or {"type": "default"}
        return json.dumps([scope, language_code or ""], sort_keys=True)

    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, "Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise ApiError(400, "Bad Request: too many commands specified")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command"))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description") or "")) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self.commands(params.get("scope"), str(params.get("language_code") or ""))

    def _delete_my_commands(self, params: JSON) -> bool:
        key = self._commands_key(params.get("scope"), params.get("language_code"))
        self._commands.pop(key, None)
        return True

    def _text_setter(self, field: str) -> Handler:
        def handler(params: JSON) -> bool:
            language = str(params.get("language_code") or "")
            self._texts[(field, language)] = str(params.get(field) or "")
            return True

        return handler

    def _text_getter(self, field: str) -> Handler:
        def handler(params: JSON) -> JSON:
            language = str(params.get("language_code") or "")
            value = self._texts.get((field, language), self._texts.get((field, ""), ""))
            if field == "name" and not value:
                value = self.bot_user["first_name"]
            return {field: value}

        return handler

    def _set_chat_menu_button(self, params: JSON) -> bool:
        chat_id = _chat_id(params) if params.get("chat_id") not in (None, "") else None
        button = params.get("menu_button") or {"type": "default"}
        if not isinstance(button, dict) or "type" not in button:
            raise ApiError(400, "Bad Request: can't parse menu button JSON object")
        self._menu_buttons[chat_id] = button
        return True

    def _get_chat_menu_button(self, params: JSON) -> JSON:
        chat_id = _chat_id(params) if params.get("chat_id") not in (None, "") else None
        button = self._menu_buttons.get(chat_id) or self._menu_buttons.get(None)
        return copy.deepcopy(button or {"type": "commands"})

    def _send_message(self, params: JSON) -> JSON:
        chat_id, chat = self._target_chat(params)
        text, entities = self._formatted(params)
        markup = self._check_markup(params.get("reply_markup"))
        reply: JSON | None = None
        reply_params = params.get("reply_parameters")
        if not isinstance(reply_params, dict) and params.get("reply_to_message_id") is not None:
            reply_params = {"message_id": params["reply_to_message_id"]}
        if isinstance(reply_params, dict) and reply_params.get("message_id") is not None:
            reply_chat = reply_params.get("chat_id", chat_id)
            if isinstance(reply_chat, str) and _INT_RE.match(reply_chat):
                reply_chat = int(reply_chat)
            replied = self._messages.get((reply_chat, _int(reply_params, "message_id")))
            if replied is not None:
                reply = self._reply_copy(replied)
            elif not (reply_params.get("allow_sending_without_reply")
                      or params.get("allow_sending_without_reply")):  # fmt: skip
                raise ApiError(400, "Bad Request: message to be replied not found")
        message: JSON = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": chat,
            "date": int(time.time()),
        }
        if params.get("message_thread_id") is not None and chat.get("is_forum"):
            message["message_thread_id"] = params["message_thread_id"]
        if reply is not None:
            message["reply_to_message"] = reply
        message["text"] = text
        if entities:
            message["entities"] = entities
        if isinstance(params.get("link_preview_options"), dict):
            message["link_preview_options"] = params["link_preview_options"]
        if markup is not None:
            message["reply_markup"] = markup
        key = (chat_id, message["message_id"])
        self._messages[key] = message
        self._bot_sent.append(key)
        return copy.deepcopy(message)

    def _edit_message_text(self, params: JSON) -> JSON | bool:
        message, inline_id = self._edit_target(params)
        text, entities = self._formatted(params)
        markup = self._check_markup(params.get("reply_markup"))
        current = (message.get("text"), message.get("entities", []), message.get("reply_markup"))
        if message and (text, entities, markup) == current:
            raise ApiError(400, NOT_MODIFIED)
        message["text"] = text
        self._set_optional(message, "entities", entities or None)
        self._set_optional(message, "reply_markup", markup)
        if inline_id is not None:
            return True
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, params: JSON) -> JSON | bool:
        message, inline_id = self._edit_target(params)
        markup = self._check_markup(params.get("reply_markup"))
        if message and markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        self._set_optional(message, "reply_markup", markup)
        if inline_id is not None:
            message["inline_message_id"] = inline_id
            return True
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    @staticmethod
    def _set_optional(message: JSON, key: str, value: Any) -> None:
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value

    def _delete_message(self, params: JSON) -> bool:
        chat_id = self._chat(_chat_id(params))["id"]
        if "message_id" not in params:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if self._messages.pop((chat_id, _int(params, "message_id")), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _delete_messages(self, params: JSON) -> bool:
        chat_id = self._chat(_chat_id(params))["id"]
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        for message_id in ids:
            self._messages.pop((chat_id, int(message_id)), None)
        return True

    def _answer_callback_query(self, params: JSON) -> bool:
        if str(params.get("callback_query_id")) not in self._callback_ids:
            raise ApiError(400, QUERY_TOO_OLD)
        if len(str(params.get("text") or "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _answer_inline_query(self, params: JSON) -> bool:
        if str(params.get("inline_query_id")) not in self._inline_query_ids:
            raise ApiError(400, QUERY_TOO_OLD)
        results = params.get("results")
        if not isinstance(results, list):
            raise ApiError(400, "Bad Request: can't parse inline query results JSON object")
        if len(results) > 50:
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH")
        ids = [str(r.get("id")) for r in results if isinstance(r, dict)]
        if len(ids) != len(results) or len(set(ids)) != len(ids):
            raise ApiError(400, "Bad Request: RESULT_ID_DUPLICATE")
        return True

    def _send_chat_action(self, params: JSON) -> bool:
        self._target_chat(params)
        if params.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True


# --------------------------------------------------------------------------------------------
# Stand-alone use
# --------------------------------------------------------------------------------------------


async def _serve(host: str, port: int, token: str) -> None:
    stub = BotAPIStub(token, host=host, port=port)
    async with stub:
        print(f"SAFAR_BOT_API_URL={stub.root}", flush=True)
        print(f"BOT_TOKEN={stub.token}", flush=True)
        print(f"PTB base_url: {stub.url}", flush=True)
        print(f"control API: {stub.root}/_stub/", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run the stub until interrupted: ``python tests/botapi_stub.py [--port N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.host, args.port, args.token))


if __name__ == "__main__":
    main()
