"""What Telegram would accept: checks of the Bot API calls a test recorded.

:func:`check_call` applies Telegram's documented limits and its HTML parser (the Bot API
stand-in's, :func:`tests.botapi_stub.format_text`) to one recorded call, so that a test can
say "every reply was valid" without knowing which handler made it.
"""

from __future__ import annotations

from typing import Any

from bot.transport import Call
from tests.botapi_stub import ApiError, format_text

#: Telegram's limits (characters after entity parsing; bytes for callback data).
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
CALLBACK_DATA_BYTES = 64
INLINE_RESULTS_LIMIT = 50

#: Methods that send or edit a text message.
TEXT_METHODS = ("sendMessage", "editMessageText")
#: Methods that put something in a chat (a reply a person sees).
REPLY_METHODS = (*TEXT_METHODS, "sendDocument", "sendPhoto", "editMessageReplyMarkup")


def _formatted(text: Any, parse_mode: Any, limit: int, what: str) -> str:
    if not isinstance(text, str):
        raise AssertionError(f"{what}: not a string: {text!r}")
    try:
        plain, _entities = format_text(text, parse_mode if parse_mode else None)
    except ApiError as exc:
        raise AssertionError(f"{what}: Telegram would refuse it: {exc.description}") from None
    if len(plain) > limit:
        raise AssertionError(f"{what}: {len(plain)} characters, more than {limit}")
    return plain


def _check_markup(markup: Any, what: str) -> None:
    if markup is None:
        return
    assert isinstance(markup, dict), f"{what}: reply_markup is not an object"
    for row in markup.get("inline_keyboard", []):
        for button in row:
            assert button.get("text"), f"{what}: a button without text"
            data = button.get("callback_data")
            if data is not None:
                size = len(str(data).encode("utf-8"))
                assert 1 <= size <= CALLBACK_DATA_BYTES, f"{what}: callback_data {data!r}"


def check_call(call: Call) -> None:
    """Raise AssertionError if Telegram would refuse *call* (text, caption, markup, inline
    results); other methods pass."""
    params = call.params
    what = call.method
    if call.method in TEXT_METHODS:
        _formatted(params.get("text"), params.get("parse_mode"), TEXT_LIMIT, what)
    if call.method in ("sendDocument", "sendPhoto") and params.get("caption"):
        _formatted(params["caption"], params.get("parse_mode"), CAPTION_LIMIT, what)
    if call.method == "answerCallbackQuery" and params.get("text") is not None:
        assert len(str(params["text"])) <= CALLBACK_ANSWER_LIMIT, f"{what}: text too long"
    if call.method == "answerInlineQuery":
        results = params.get("results")
        assert isinstance(results, list) and len(results) <= INLINE_RESULTS_LIMIT
        ids = [str(r.get("id")) for r in results]
        assert len(set(ids)) == len(ids), f"{what}: duplicate result ids"
        assert all(1 <= len(i.encode()) <= 64 for i in ids), f"{what}: bad result id"
        for result in results:
            content = result.get("input_message_content") or {}
            if "message_text" in content:
                _formatted(content["message_text"], content.get("parse_mode"), TEXT_LIMIT, what)
            _check_markup(result.get("reply_markup"), what)
    _check_markup(params.get("reply_markup"), what)


def check_calls(calls: list[Call]) -> None:
    """:func:`check_call` for each of *calls*."""
    for call in calls:
        check_call(call)


def chats_written(calls: list[Call]) -> set[Any]:
    """The chat ids that *calls* put something into."""
    return {c.params.get("chat_id") for c in calls if c.method in REPLY_METHODS} - {None}
