"""An in-process Bot API transport that records every call (for replay, chat and tests).

:class:`RecordingRequest` is a python-telegram-bot ``BaseRequest``: the real PTB stack
(serialisation, handlers, ``Defaults``, rate limiter) runs unchanged, but instead of talking
HTTP to Telegram each call is recorded as ``(method, parameters)`` and answered with
Telegram-shaped JSON.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

BOT_USER: dict[str, Any] = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "Safar",
    "username": "safar_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

#: A well-formed token for offline use; it never reaches Telegram.
OFFLINE_TOKEN = "7000000001:OFFLINE-safar-token-never-sent-anywhere"


@dataclass(frozen=True)
class Call:
    """One Bot API call the bot made: method name, decoded parameters, the answer given."""

    method: str
    params: dict[str, Any]
    result: Any = None
    #: Uploaded files by parameter name: ``(file name, content, MIME type)``.
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The call as one JSON line: ``{"method": ..., "params": {...}}``."""
        return json.dumps({"method": self.method, "params": self.params}, ensure_ascii=False)


class RecordingRequest(BaseRequest):
    """Answers Bot API calls in-process and records them in :attr:`calls`.

    *on_call*, if given, is called with every :class:`Call` as it happens.
    """

    def __init__(self, on_call: Callable[[Call], None] | None = None) -> None:
        self.calls: list[Call] = []
        self._on_call = on_call
        self._message_ids = itertools.count(1000)
        self._faults: dict[str, list[tuple[int, str, dict[str, Any] | None]]] = {}

    def fail_next(
        self,
        method: str,
        code: int,
        description: str,
        times: int = 1,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next *times* calls of *method* with Telegram's error JSON (tests);
        *parameters* are its ``ResponseParameters``, e.g. ``{"retry_after": 1}``."""
        self._faults.setdefault(method, []).extend([(code, description, parameters)] * times)

    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = dict(request_data.parameters) if request_data else {}
        files = _uploads(request_data)
        for name, (file_name, content, mime_type) in files.items():
            # Recorded as JSON-friendly facts; the bytes are in Call.files.
            params[name] = {"file_name": file_name, "mime_type": mime_type, "size": len(content)}
        if self._faults.get(api_method):
            code, description, parameters = self._faults[api_method].pop(0)
            self.calls.append(Call(api_method, params, None))
            body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
            if parameters:
                body["parameters"] = parameters
            return code, json.dumps(body).encode()
        result = self._result(api_method, params)
        if api_method != "getUpdates":
            call = Call(api_method, params, result, files)
            self.calls.append(call)
            if self._on_call:
                self._on_call(call)
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id", 0)
        chat_type = "private" if isinstance(chat_id, int) and chat_id > 0 else "supergroup"
        message: dict[str, Any] = {
            "message_id": params.get("message_id") or next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Like Telegram, a message keeps only an inline keyboard (not a reply keyboard).
            message["reply_markup"] = markup
        return message

    def _file_message(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The Message answering sendDocument or sendPhoto, with the file described."""
        message = self._message(params)
        del message["text"]
        if "caption" in params:
            message["caption"] = params["caption"]
        n = message["message_id"]
        if method == "sendPhoto":
            message["photo"] = [
                {"file_id": f"photo-{n}", "file_unique_id": f"p{n}", "width": 410, "height": 410}
            ]
        else:
            upload = params.get("document")
            document = {"file_id": f"document-{n}", "file_unique_id": f"d{n}"}
            if isinstance(upload, dict):
                document |= {"file_name": upload["file_name"], "mime_type": upload["mime_type"]}
                document["file_size"] = upload["size"]
            message["document"] = document
        return message

    def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method in ("sendDocument", "sendPhoto"):
            return self._file_message(method, params)
        if method == "getMe":
            return BOT_USER
        if method == "getUpdates":
            return []
        if method in ("sendMessage", "editMessageText", "editMessageReplyMarkup"):
            if "inline_message_id" in params:
                return True
            return self._message(params)
        if method == "getMyCommands":
            return []
        return True


def _uploads(request_data: RequestData | None) -> dict[str, tuple[str, bytes, str]]:
    """The files uploaded with a call: ``(file name, content, MIME type)`` by part name."""
    found: dict[str, tuple[str, bytes, str]] = {}
    if request_data is None or not request_data.contains_files:
        return found
    for name, part in request_data.multipart_data.items():
        file_name, content, mime_type = part
        data = content if isinstance(content, bytes) else content.read()
        found[name] = (file_name, data, mime_type)
    return found
