"""Shared fixtures: the real Application on an in-process recording transport."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.app import SafarApp, build_application, close_services, open_services
from bot.settings import Settings
from bot.transport import Call, RecordingRequest
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.search import Searcher

FIXTURES = Path(__file__).with_name("fixtures")

#: A fixed key for personal data at rest in tests (so that a "restart" can read it back).
TEST_DATA_KEY = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTEyMzQ="


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The real knowledge base, loaded once."""
    return load_knowledge_base()


def user(user_id: int = 5001, language_code: str | None = "ru") -> dict[str, Any]:
    """A Telegram User object for a person."""
    data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Test"}
    if language_code:
        data["language_code"] = language_code
    return data


@pytest.fixture(scope="session")
def searcher(kb: KnowledgeBase) -> Searcher:
    """The search index over the real knowledge base, built once."""
    return Searcher(kb)


@dataclass
class Harness:
    """Drives the real Application with Update JSON and records the Bot API calls."""

    app: SafarApp
    request: RecordingRequest
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def feed(self, update: dict[str, Any]) -> list[Call]:
        """Process one Update (JSON dict); return the calls the bot made for it."""
        before = len(self.request.calls)
        update.setdefault("update_id", next(self.ids))
        await self.app.process_update(Update.de_json(update, self.app.bot))
        return self.request.calls[before:]

    async def say(
        self, text: str, user_id: int = 5001, language_code: str | None = "ru", **extra: Any
    ) -> list[Call]:
        """A private text message from *user_id* (a command if it starts with '/')."""
        message: dict[str, Any] = {
            "message_id": next(self.ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Test"},
            "from": user(user_id, language_code),
            "text": text,
            **extra,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return await self.feed({"message": message})

    async def send_private(
        self, fields: dict[str, Any], user_id: int = 5001, language_code: str | None = "ru"
    ) -> list[Call]:
        """A private non-text message with *fields* (e.g. ``{"sticker": {...}}``)."""
        message = {
            "message_id": next(self.ids),
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "Test"},
            "from": user(user_id, language_code),
            **fields,
        }
        return await self.feed({"message": message})

    async def press(
        self, data: str, user_id: int = 5001, message_id: int = 1000, language_code: str = "ru"
    ) -> list[Call]:
        """Press an inline button with callback *data* under message *message_id*."""
        return await self.feed(
            {
                "callback_query": {
                    "id": str(next(self.ids)),
                    "from": user(user_id, language_code),
                    "chat_instance": "42",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": {"id": user_id, "type": "private", "first_name": "Test"},
                        "text": "…",
                    },
                }
            }
        )


def texts(calls: list[Call]) -> list[str]:
    """The texts the bot sent or edited in *calls*."""
    return [str(c.params["text"]) for c in calls if c.method in ("sendMessage", "editMessageText")]


def buttons(calls: list[Call]) -> list[tuple[str, str]]:
    """(label, callback data) of every inline button in the last message of *calls*."""
    for call in reversed(calls):
        markup = call.params.get("reply_markup")
        if call.method in ("sendMessage", "editMessageText") and markup:
            return [
                (b["text"], b.get("callback_data", b.get("url", "")))
                for row in markup["inline_keyboard"]
                for b in row
            ]
    return []


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database file for one test."""
    return tmp_path / "safar.db"


@pytest.fixture
async def harness(db_path: Path, kb: KnowledgeBase, searcher: Searcher) -> AsyncIterator[Harness]:
    """The real Application, on a recording transport and a fresh database."""
    async with make_harness(db_path, kb, searcher) as h:
        yield h


class make_harness:
    """``async with make_harness(db, kb) as h``: start; on exit, shut down cleanly."""

    def __init__(self, db: Path, kb: KnowledgeBase, searcher: Searcher | None = None) -> None:
        self.settings = Settings(SAFAR_DB=db, SAFAR_DATA_KEY=TEST_DATA_KEY)  # type: ignore[call-arg]
        self.request = RecordingRequest()
        self.app = build_application(self.settings, kb=kb, request=self.request, searcher=searcher)

    async def __aenter__(self) -> Harness:
        await self.app.initialize()
        await open_services(self.app)
        return Harness(self.app, self.request)

    async def __aexit__(self, *exc: object) -> None:
        await close_services(self.app)
        await self.app.shutdown()
