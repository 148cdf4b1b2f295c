"""The loopback Bot API stub works with the real PTB stack (HTTPXRequest, Updater, handlers)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dtm
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.botapi_stub import (
    DEFAULT_USER_ID,
    BotAPIStub,
    EntityParseError,
    parse_html,
)

App = Application[Any, Any, Any, Any, Any, Any]
KEYBOARD = InlineKeyboardMarkup(
    [
        [
            InlineKeyboardButton("Yes", callback_data="yes"),
            InlineKeyboardButton("No", callback_data="no"),
        ]
    ]
)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Echo a text message back."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(update.effective_message.text or "")


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer /start with an inline keyboard."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(
        "<b>Ready?</b>", parse_mode=ParseMode.HTML, reply_markup=KEYBOARD
    )


async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a button press and edit the message it came from."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    await query.edit_message_text(f"You chose {query.data}")


@pytest.fixture
async def stub() -> AsyncIterator[BotAPIStub]:
    """A running stub."""
    async with BotAPIStub() as running:
        yield running
    assert running.errors == []


@pytest.fixture
async def app(stub: BotAPIStub) -> AsyncIterator[App]:
    """A real PTB application polling the stub, with echo, /start and button handlers."""
    application = Application.builder().token(stub.token).base_url(stub.url).build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_handler(CallbackQueryHandler(pressed))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def raw_call(
    stub: BotAPIStub, method: str, *, token: str | None = None, **kwargs: Any
) -> tuple[int, Any]:
    """POST to the stub with aiohttp; ``kwargs`` go to ``session.post`` (data=, json=)."""
    url = f"{stub.url}{token or stub.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, **kwargs) as response:
        return response.status, await response.json()


async def test_echo_round_trip(app: App, stub: BotAPIStub) -> None:
    """A pushed text update reaches the handler, whose reply reaches the stub."""
    assert stub.calls[0].method == "getMe"
    assert app.bot.username == "safar_test_bot"
    mark = stub.mark()
    pushed = stub.push_text("Салам, 42")
    call = await stub.wait_for("sendMessage", timeout=3, since=mark)
    assert call.params["chat_id"] == DEFAULT_USER_ID
    assert call.params["text"] == "Салам, 42"
    sent = stub.sent_messages(DEFAULT_USER_ID)[-1]
    assert sent["message_id"] == pushed["message"]["message_id"] + 1
    assert sent["from"]["is_bot"] and sent["chat"]["type"] == "private"


async def test_command_keyboard_and_callback(app: App, stub: BotAPIStub) -> None:
    """/start gets a keyboard; pressing a button is answered and edits that message."""
    mark = stub.mark()
    stub.push_text("/start")
    sent = await stub.wait_for("sendMessage", timeout=3, since=mark)
    assert sent.params["reply_markup"] == KEYBOARD.to_dict()
    message = stub.bot_message(DEFAULT_USER_ID)
    assert message["text"] == "Ready?"
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 6}]

    update = stub.push_callback(button_text="No")
    assert update["callback_query"]["message"]["message_id"] == message["message_id"]
    answer = await stub.wait_for("answerCallbackQuery", timeout=3, since=mark)
    assert answer.params["callback_query_id"] == update["callback_query"]["id"]
    edit = await stub.wait_for("editMessageText", timeout=3, since=mark)
    assert edit.params["message_id"] == message["message_id"]
    assert stub.bot_message(DEFAULT_USER_ID)["text"] == "You chose no"
    assert "reply_markup" not in stub.bot_message(DEFAULT_USER_ID)
    with pytest.raises(ValueError):
        stub.make_callback_update("forged")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_retry_after(app: App, stub: BotAPIStub) -> None:
    """A 429 from fail_next becomes RetryAfter; the next call goes through."""
    stub.fail_next("sendMessage", 429)
    with pytest.raises(RetryAfter) as caught:
        await app.bot.send_message(DEFAULT_USER_ID, "hi")
    assert caught.value.retry_after in (1, dtm.timedelta(seconds=1))
    message = await app.bot.send_message(DEFAULT_USER_ID, "hi")
    assert message.text == "hi"
    statuses = [
        r[0]
        for c, r in zip(stub.calls, stub.responses, strict=True)
        if c.method == "sendMessage" and r is not None
    ]
    assert statuses == [429, 200]


async def test_other_faults(app: App, stub: BotAPIStub) -> None:
    """502 (nginx HTML) is a NetworkError; a blocked user gives Forbidden."""
    stub.fail_next("sendMessage", 502)
    with pytest.raises(NetworkError, match=r"Bad Gateway"):
        await app.bot.send_message(DEFAULT_USER_ID, "hi")
    stub.block(DEFAULT_USER_ID)
    with pytest.raises(Forbidden, match=r"blocked by the user"):
        await app.bot.send_message(DEFAULT_USER_ID, "hi")


async def test_edit_not_modified(app: App, stub: BotAPIStub) -> None:
    """Editing to the same text and markup is Telegram's 400 'message is not modified'."""
    bot = app.bot
    message = await bot.send_message(
        DEFAULT_USER_ID, "<i>one</i>", parse_mode=ParseMode.HTML, reply_markup=KEYBOARD
    )
    assert message.text == "one" and message.reply_markup == KEYBOARD
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<i>one</i>",
            DEFAULT_USER_ID,
            message.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=KEYBOARD,
        )
    edited = await bot.edit_message_text("one", DEFAULT_USER_ID, message.message_id)
    assert isinstance(edited, type(message)) and edited.edit_date is not None
    assert edited.reply_markup is None
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(DEFAULT_USER_ID, message.message_id)
    assert await bot.delete_message(DEFAULT_USER_ID, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("two", DEFAULT_USER_ID, message.message_id)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unclosed start tag"):
        await bot.send_message(DEFAULT_USER_ID, "1 <b", parse_mode=ParseMode.HTML)


async def test_long_poll_returns_when_update_arrives(stub: BotAPIStub) -> None:
    """getUpdates waits for an update and returns as soon as one is pushed."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    status, body = await raw_call(stub, "getUpdates", data={"timeout": "0.2"})
    assert (status, body) == (200, {"ok": True, "result": []})
    assert loop.time() - began >= 0.19

    poll = asyncio.create_task(raw_call(stub, "getUpdates", data={"timeout": "10"}))
    await asyncio.sleep(0.05)
    began = loop.time()
    update = stub.push_text("hello")
    status, body = await asyncio.wait_for(poll, 2)
    assert loop.time() - began < 1
    assert body["result"] == [update]

    # an offset above it confirms it: it is not delivered again
    status, body = await raw_call(stub, "getUpdates", data={"offset": str(update["update_id"] + 1)})
    assert body["result"] == [] and stub.pending_updates == []


async def test_request_encodings(stub: BotAPIStub) -> None:
    """Form, multipart and JSON bodies decode to the same parameters; strings stay strings."""
    markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
    expected = {"chat_id": 42, "text": "123", "reply_markup": markup}
    form = {"chat_id": "42", "text": "123", "reply_markup": json.dumps(markup)}
    multipart = aiohttp.FormData(form)
    multipart.add_field("document", b"%PDF-", filename="a.pdf", content_type="application/pdf")
    for kwargs in ({"data": form}, {"data": multipart}, {"json": expected}):
        status, body = await raw_call(stub, "sendMessage", **kwargs)
        assert status == 200 and body["result"]["text"] == "123"
        assert body["result"]["reply_markup"] == markup
        assert {k: stub.calls[-1].params[k] for k in expected} == expected
    assert stub.calls[-2].params["document"] == {
        "filename": "a.pdf",
        "content_type": "application/pdf",
        "size": 5,
    }
    ids = [c["message_id"] for c in stub.sent_messages(42)]
    assert ids == [1, 2, 3]
    assert stub.sent_messages(42)[0]["chat"]["type"] == "private"


async def test_errors_and_commands(stub: BotAPIStub) -> None:
    """Unknown method, wrong token, group chat shape, commands round trip."""
    assert await raw_call(stub, "noSuchMethod") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found: method not found"},
    )
    assert await raw_call(stub, "getMe", token="1:wrong") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    _, body = await raw_call(stub, "sendMessage", json={"chat_id": -1001234567890, "text": "x"})
    assert body["result"]["chat"]["type"] == "supergroup"
    commands = [{"command": "start", "description": "Begin"}]
    await raw_call(stub, "setMyCommands", data={"commands": json.dumps(commands)})
    assert await raw_call(stub, "getMyCommands") == (200, {"ok": True, "result": commands})
    status, body = await raw_call(
        stub, "setMyCommands", json={"commands": [{"command": "Bad!", "description": "x"}]}
    )
    assert (status, body["description"]) == (400, "Bad Request: BOT_COMMAND_INVALID")


def test_html_parser() -> None:
    """HTML gives plain text, UTF-16 entity offsets, and an error for unknown tags."""
    text, entities = parse_html('🇰🇬 <b>Bishkek</b> &amp; <a href="https://example.org/">map</a>')
    assert text == "🇰🇬 Bishkek & map"
    assert entities == [
        {"type": "bold", "offset": 5, "length": 7},
        {"type": "text_link", "offset": 15, "length": 3, "url": "https://example.org/"},
    ]
    with pytest.raises(EntityParseError, match="Unsupported start tag"):
        parse_html("to <user@mail.ru>")
    with pytest.raises(EntityParseError, match="end tag"):
        parse_html("<b>open")


async def test_fixture_updates_replay(stub: BotAPIStub) -> None:
    """The shared fixture's Updates go through the stub unchanged, with growing ids.

    The old core.telegram.org examples in it lack ``User.is_bot``, which PTB requires; those
    are left out.
    """
    path = Path("/work/shared/fixtures/telegram-updates.jsonl")
    if not path.exists():
        pytest.skip("shared fixtures not available")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    valid = []
    for line in lines:
        with contextlib.suppress(TypeError):
            Update.de_json(line["update"], None)
            valid.append(line["update"])
    assert len(valid) > 20
    pushed = [stub.push_update(update) for update in valid]
    ids = [u["update_id"] for u in pushed]
    assert ids == sorted(set(ids))
    async with Bot(stub.token, base_url=stub.url) as bot:
        updates = await bot.get_updates(timeout=0)
        assert [u.update_id for u in updates] == ids
        assert await bot.get_updates(offset=ids[-1] + 1) == ()


async def test_control_api(stub: BotAPIStub) -> None:
    """Another process can push updates and read calls over HTTP."""
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{stub.root}/_stub/text", json={"text": "/help"}) as response:
            pushed = (await response.json())["result"]
        assert pushed["message"]["entities"][0]["type"] == "bot_command"
        assert stub.pending_updates == [pushed]
        await raw_call(stub, "sendChatAction", data={"chat_id": "5550001", "action": "typing"})
        async with session.get(f"{stub.root}/_stub/calls") as response:
            calls = (await response.json())["result"]
        assert calls["calls"] == [
            {"method": "sendChatAction", "params": {"chat_id": 5550001, "action": "typing"}}
        ]
