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
* ``parse_mode`` HTML is parsed (Telegram's tag subset, with the standard library's
  ``HTMLParser``), so the returned text and ``entities`` are close to what Telegram stores
  and unbalanced or unknown tags give a ``can't parse entities: ...`` error; Markdown modes
  pass through as plain text; text is trimmed like Telegram trims it. Telegram's automatic
  entities (URLs, mentions, bot commands in *sent* messages) are not added;
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
from html.parser import HTMLParser
from http import HTTPStatus
from types import TracebackType
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs

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
    """One request the stub received: the canonical method name, the decoded parameters and
    when it arrived (:func:`time.monotonic`, seconds)."""

    method: str
    params: JSON
    at: float = 0.0


@dataclass
class Fault:
    """A canned answer (or a delay) for the next call of a method; see ``fail_next``.
    ``drop``: handle the call, then close the connection without answering."""

    status: int | None
    body: JSON | str | bytes | None
    delay: float = 0.0
    #: Only calls with this ``chat_id`` meet the fault (None: any call of the method).
    chat_id: int | str | None = None
    drop: bool = False


class EntityParseError(Exception):
    """Markup that Telegram rejects; the message is Telegram's, without the prefix."""


# --------------------------------------------------------------------------------------------
# Formatted text: Telegram's HTML subset, parsed with the standard library's HTMLParser,
# giving plain text and entities with UTF-16 offsets as Telegram counts them.
# --------------------------------------------------------------------------------------------

_HTML_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "a": "text_link",
}  # fmt: skip


_UNCLOSED_TAG_RE = re.compile(r"<(?![^<>]*>)")


def utf16_len(text: str) -> int:
    """Length of *text* in UTF-16 code units (Telegram's unit for entity offsets)."""
    return len(text.encode("utf-16-le")) // 2


class _HTMLToEntities(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.entities: list[JSON] = []
        self.position = 0
        self.open: list[tuple[str, int, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _HTML_ENTITY_TYPES:
            raise EntityParseError(f'Unsupported start tag "{tag}"')
        if tag == "a" and not dict(attrs).get("href"):
            raise EntityParseError('Tag "a" must have an "href" attribute')
        self.open.append((tag, self.position, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1][0] != tag:
            raise EntityParseError(f'Unmatched end tag "{tag}"')
        _, start, attrs = self.open.pop()
        if self.position > start:
            entity: JSON = {
                "type": _HTML_ENTITY_TYPES[tag],
                "offset": start,
                "length": self.position - start,
            }
            if tag == "a":
                entity["url"] = attrs["href"]
            self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)
        self.position += utf16_len(data)


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Plain text and entities of Telegram-HTML *text*.

    Raises:
        EntityParseError: an unsupported or unbalanced tag, or ``<a>`` without ``href``.
    """
    if _UNCLOSED_TAG_RE.search(text):
        raise EntityParseError("Unclosed start tag")  # a bare "<" must be sent as &lt;
    parser = _HTMLToEntities()
    parser.feed(text)
    parser.close()
    if parser.open:
        tag = parser.open[-1][0]
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{tag}"')
    return "".join(parser.parts), parser.entities


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
        mode = parse_mode.lower()
        if mode not in ("html", "markdown", "markdownv2"):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode}")
        result = []
        if mode == "html":  # Markdown modes are passed through as plain text
            try:
                text, result = parse_html(text)
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
        for name, field in form.items():
            if isinstance(field, web.FileField):
                size = len(field.file.read())
                params[name] = {
                    "filename": field.filename,
                    "content_type": field.content_type,
                    "size": size,
                }
            else:
                params[name] = decode_value(name, str(field))
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
        chat_id: int | str | None = None,
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
            chat_id: only calls to this chat fail (others pass untouched); default any.
        """
        if body is None:
            body = self.error_body(status, retry_after=retry_after)
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(Fault(status, body, delay, chat_id) for _ in range(times))

    def delay_next(
        self, method: str, seconds: float, *, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``chat_id``, if given) normally,
        but ``seconds`` late."""
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(Fault(None, None, seconds, chat_id) for _ in range(times))

    def drop_next(self, method: str, *, times: int = 1) -> None:
        """Handle the next ``times`` calls of ``method`` (a message is delivered), then drop
        the connection without an answer, as a network failure mid-reply would."""
        queue = self._faults.setdefault(method.lower(), deque())
        queue.extend(Fault(None, None, drop=True) for _ in range(times))

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
        body = copy.deepcopy(dict(update))
        update_id = body.pop("update_id", None)
        if not isinstance(update_id, int) or update_id <= self._last_update_id:
            update_id = self._last_update_id + 1
        queued: JSON = {"update_id": update_id, **body}
        self._last_update_id = update_id
        self._learn(queued)
        self._updates.append(queued)
        self._wake_pollers()
        return copy.deepcopy(queued)

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
        matches: Callable[[Call], bool]
        if isinstance(predicate, str):
            wanted = predicate.lower()
            matches = lambda call: call.method.lower() == wanted  # noqa: E731
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
        self.calls.append(Call(method, params, time.monotonic()))
        self.responses.append(None)
        self._wake_waiters()

        status: int
        body: Any
        fault = self._next_fault(name, params)
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
        if fault is not None and fault.drop and request.transport is not None:
            request.transport.close()  # the answer is lost on the way
            self.responses[index] = (0, None)
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

    def _next_fault(self, method: str, params: JSON | None = None) -> Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        chat = (params or {}).get("chat_id")
        fault = next((f for f in queue if f.chat_id is None or f.chat_id == chat), None)
        if fault is None:
            return None
        queue.remove(fault)
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
                stored = (message["chat"]["id"], message["message_id"])
                if stored not in self._messages:
                    self._store_incoming(message)
                    if (message.get("from") or {}).get("id") == self.bot_id:
                        self._bot_sent.append(stored)
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
            for known in self._chats.values():
                if str(known.get("username", "")).lower() == username:
                    return copy.deepcopy(known)
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
