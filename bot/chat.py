"""``python -m bot chat``: the real application in a terminal, offline.

Type text to send a message; type a button's number to press it; ``/quit`` to leave.
Nothing reaches Telegram: Bot API calls are answered in-process.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import time
from typing import Any

from telegram import Update

from bot.app import build_application, close_services, open_services
from bot.settings import Settings
from bot.transport import Call, RecordingRequest

_TAG_RE = re.compile(r"<[^>]+>")
_LINK_RE = re.compile(r'<a href="([^"]*)">(.*?)</a>')

USER: dict[str, Any] = {"id": 1, "is_bot": False, "first_name": "You"}
CHAT: dict[str, Any] = {"id": 1, "type": "private", "first_name": "You"}


def to_plain(text: str) -> str:
    """Telegram HTML to terminal text: links as "text (address)", other tags dropped."""
    text = _LINK_RE.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    return html.unescape(_TAG_RE.sub("", text))


class Terminal:
    """Prints the bot's messages and remembers the buttons of the last one."""

    def __init__(self) -> None:
        self.buttons: list[tuple[str, dict[str, Any]]] = []  # (callback data, message)

    def on_call(self, call: Call) -> None:
        """Show one Bot API call the way a phone would."""
        if call.method == "answerCallbackQuery" and call.params.get("text"):
            print(f"  ({call.params['text']})")
            return
        if call.method in ("sendDocument", "sendPhoto"):  # /leaflet: say what came
            for file_name, content, _mime in call.files.values():
                print(f"\n[{file_name}, {len(content):,} bytes]")
            print(to_plain(str(call.params.get("caption", ""))))
            return
        if call.method not in ("sendMessage", "editMessageText"):
            return
        print()
        print(to_plain(str(call.params.get("text", ""))))
        markup = call.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        if rows:
            self.buttons = []
            message = call.result if isinstance(call.result, dict) else {}
            for row in rows:
                labels = []
                for button in row:
                    if "callback_data" in button:
                        self.buttons.append((button["callback_data"], message))
                        labels.append(f"[{len(self.buttons)}] {button['text']}")
                    elif "url" in button:
                        labels.append(f"[link] {button['text']}: {button['url']}")
                    else:  # e.g. Share: Telegram opens a chat picker; nothing to do here
                        labels.append(f"({button['text']})")
                print("   ".join(labels))
        print()


async def chat(settings: Settings) -> int:
    """Run the offline terminal conversation until ``/quit`` or end of input."""
    terminal = Terminal()
    app = build_application(settings, request=RecordingRequest(on_call=terminal.on_call))
    ids = itertools.count(1)
    print("Safar is offline: no BOT_TOKEN is set, so nothing is sent to Telegram.")
    print("Type a message, or a button's number to press it. /quit to leave.")
    async with app:
        await open_services(app)
        try:
            line: str | None = "/start"
            while line is not None:
                if line.strip() == "/quit":
                    break
                if line.strip():
                    await app.process_update(Update.de_json(_update(line, terminal, ids), app.bot))
                try:
                    line = await asyncio.to_thread(input, "> ")
                except EOFError:
                    line = None
        finally:
            await close_services(app)
    return 0


def _update(line: str, terminal: Terminal, ids: itertools.count[int]) -> dict[str, Any]:
    number = int(line) if line.strip().isdigit() else 0
    update_id = next(ids)
    if 1 <= number <= len(terminal.buttons):
        data, message = terminal.buttons[number - 1]
        return {
            "update_id": update_id,
            "callback_query": {
                "id": str(update_id),
                "from": USER,
                "chat_instance": "1",
                "data": data,
                "message": message,
            },
        }
    message = {
        "message_id": 10_000 + update_id,
        "date": int(time.time()),
        "chat": CHAT,
        "from": USER,
        "text": line,
    }
    if line.startswith("/"):
        command = line.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": update_id, "message": message}
