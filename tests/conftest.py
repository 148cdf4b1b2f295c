"""Shared fixtures: the real Application on an in-process recording transport; a
session-wide scan of every log line for tokens, phone numbers and people's message text."""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot import guard
from bot.app import SafarApp, build_application, close_services, open_services
from bot.logs import _CAPS
from bot.settings import Settings
from bot.transport import Call, RecordingRequest
from knowledge.index_cache import prepare_in_child
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.search import Searcher

FIXTURES = Path(__file__).with_name("fixtures")

# ------------------------------------------------------------------ the log scan

#: A bot token's shape (``digits:letters``), wherever it appears in a line.
TOKEN_RE = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
#: An international phone number: "+", then at least 9 digits with spaces, dots or dashes.
PHONE_RE = re.compile(r"\+\d(?:[\s().-]?\d){8,}")


class LogScan(logging.Handler):
    """Keeps every formatted log line (traceback included) of the session, and what people
    sent to the bot (texts, captions, phone numbers), to check that no line holds any."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []
        self.sent: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a record that cannot be formatted is a bug of its own
            self.lines.append(f"UNFORMATTABLE {record.name}: {record.msg!r}")

    def remember(self, text: object) -> None:
        """Note something a person sent; its first 24 characters must never be logged.

        Short or repetitive strings ("ok", "00000000") and single ASCII words
        ("sendMessage") are too common to tell apart from ids and words in legitimate
        lines, and are skipped."""
        if not isinstance(text, str):
            return
        key = text.strip()[:24]
        if len(key) < 8 or len(set(key)) < 5 or not any(c.isalpha() for c in key):
            return
        if key.isascii() and not any(c.isspace() for c in key):
            return
        self.sent.add(key)

    def remember_update(self, update: Any) -> None:
        """Remember the text, caption, query and phone number anywhere in *update*."""
        if isinstance(update, dict):
            for name, value in update.items():
                if name in ("text", "caption", "query"):
                    self.remember(value)
                elif name == "phone_number" and isinstance(value, str):
                    self.sent.add(value)
                else:
                    self.remember_update(value)
        elif isinstance(update, list):
            for item in update:
                self.remember_update(item)

    def problems(self) -> list[str]:
        """Log lines that hold a token, a phone number or something a person sent."""
        return [
            line
            for line in self.lines
            if TOKEN_RE.search(line)
            or PHONE_RE.search(line)
            or any(text in line for text in self.sent)
        ]


LOG_SCAN = LogScan()


@pytest.fixture(scope="session", autouse=True)
def _log_scan() -> Iterator[LogScan]:
    """Log as production does at its most verbose (``SAFAR_LOG_LEVEL=DEBUG``: Safar's own
    loggers at DEBUG, noisy libraries capped as in :mod:`bot.logs`) into :data:`LOG_SCAN`
    for the whole session; at the end, fail if any line holds a token, a phone number or
    message text."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.DEBUG)
    for name, cap in _CAPS.items():
        logging.getLogger(name).setLevel(cap)
    root.addHandler(LOG_SCAN)
    yield LOG_SCAN
    root.removeHandler(LOG_SCAN)
    root.setLevel(level)
    problems = LOG_SCAN.problems()
    assert not problems, f"{len(problems)} log line(s) hold secrets or text: {problems[:5]}"


@pytest.fixture(autouse=True)
def _keep_log_scan() -> None:
    """A test that reconfigures logging (``setup_logging``) may drop the scan's handler."""
    root = logging.getLogger()
    if LOG_SCAN not in root.handlers:
        root.addHandler(LOG_SCAN)


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


#: Seconds a real ``python -m bot run`` may take to its first getUpdates: a restart (the
#: search index and language model beside its database: :func:`seed_caches`), and a first
#: start (it builds them, in child processes: seconds when the CPUs are shared).
START_TIMEOUT = 30.0
FIRST_START_TIMEOUT = 90.0


@pytest.fixture(scope="session")
def caches(tmp_path_factory: pytest.TempPathFactory, kb: KnowledgeBase) -> Path:
    """A folder holding the built search index and language model (built once a session,
    as a bot's first start builds them)."""
    folder = tmp_path_factory.mktemp("caches")
    assert prepare_in_child(kb, folder)
    return folder


def seed_caches(caches: Path, folder: Path) -> None:
    """Put the built index and language model (*caches*) into *folder*, where a real
    process will keep its database: it then starts as a restarted bot does (a first start
    has its own tests: tests/test_e2e.py, tests/test_index_cache.py)."""
    folder.mkdir(parents=True, exist_ok=True)
    for built in caches.glob("safar-*.pickle"):
        try:
            os.link(built, folder / built.name)
        except OSError:
            shutil.copy2(built, folder / built.name)


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
        LOG_SCAN.remember_update(update)
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
            length = len(text.split()[0].encode("utf-16-le")) // 2  # Telegram counts UTF-16
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

    def __init__(
        self,
        db: Path,
        kb: KnowledgeBase,
        searcher: Searcher | None = None,
        flood_control: bool = False,
        rate_limited: bool = True,
    ) -> None:
        self.settings = Settings(SAFAR_DB=db, SAFAR_DATA_KEY=TEST_DATA_KEY)  # type: ignore[call-arg]
        self.request = RecordingRequest()
        self.app = build_application(
            self.settings, kb=kb, request=self.request, searcher=searcher, rate_limited=rate_limited
        )
        if not flood_control:  # tests press buttons faster than people: no flood limits
            unlimited = guard.FloodControl(limit=10**9)
            guard.install(self.app.bot_data, guard.Guards(unlimited, unlimited))

    async def __aenter__(self) -> Harness:
        await self.app.initialize()
        await open_services(self.app)
        return Harness(self.app, self.request)

    async def __aexit__(self, *exc: object) -> None:
        await close_services(self.app)
        await self.app.shutdown()
