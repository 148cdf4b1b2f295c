"""Faults: the Bot API failing (429, 500, 502, time-outs, a connection dropped mid-reply,
403, "message is not modified", unreachable for a moment) and storage failing (a locked
database, a full disk, a file from an older schema). After each: nothing lost, nothing
sent twice, and the person told in their language when something failed."""

from __future__ import annotations

import asyncio
import html
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Update
from telegram.request import HTTPXRequest

from bot.app import SafarApp, build_application, close_services, open_services
from bot.i18n import gettext_for
from bot.services import Services
from bot.settings import Settings
from bot.storage import MIGRATIONS, SchemaTooNewError, Storage
from bot.transport import Call
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher
from tests.botapi_stub import NOT_MODIFIED, BotAPIStub
from tests.conftest import TEST_DATA_KEY, Harness, make_harness, texts
from tests.telegram_rules import check_calls

QUESTION = "как проверить запрет на въезд в россию"
SORRY = "Sorry, something went wrong. Please try again or open the menu."


def sorry(locale: str) -> str:
    return html.escape(gettext_for(locale)(SORRY))


def answers(calls: list[Call]) -> list[str]:
    """Texts Telegram accepted (a call answered with a result), apologies left out."""
    return [
        str(c.params["text"])
        for c in calls
        if c.method in ("sendMessage", "editMessageText") and c.result is not None
    ]


def storage_of(h: Harness) -> Storage:
    svc = h.app.bot_data["safar"]
    assert isinstance(svc, Services)
    return svc.storage


# ------------------------------------------------------------------ Bot API, in-process


async def test_429_waits_retry_after_and_delivers_once(harness: Harness) -> None:
    await harness.press("l:ky")
    harness.request.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 1", parameters={"retry_after": 1}
    )
    began = time.monotonic()
    calls = await harness.say(QUESTION)
    assert time.monotonic() - began >= 1.0
    sends = [c for c in calls if c.method == "sendMessage"]
    assert [c.result is None for c in sends] == [True, False]  # refused once, then sent
    assert sends[0].params == sends[1].params
    assert sorry("ky") not in texts(calls)


@pytest.mark.parametrize(("status", "description"), [
    (500, "Internal Server Error"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
])  # fmt: skip
async def test_server_errors_are_retried_and_delivered_once(
    harness: Harness, status: int, description: str
) -> None:
    await harness.press("l:tg")
    harness.request.fail_next("sendMessage", status, description, times=2)
    calls = await harness.say(QUESTION)
    sends = [c for c in calls if c.method == "sendMessage"]
    assert len(sends) == 3 and [s.result is not None for s in sends] == [False, False, True]
    assert len(answers(calls)) == 1
    assert sorry("tg") not in texts(calls)


async def test_a_lasting_server_error_is_apologised_for_in_the_persons_language(
    harness: Harness,
) -> None:
    await harness.press("l:uz")
    harness.request.fail_next("sendMessage", 500, "Internal Server Error", times=3)
    calls = await harness.say(QUESTION)
    assert answers(calls) == [sorry("uz")]  # the apology, once; the answer never got through
    # The next message is answered normally.
    assert len(answers(await harness.say(QUESTION))) == 1


async def test_a_blocked_person_is_not_an_error_and_others_are_served(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.request.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    calls = await harness.say(QUESTION, user_id=5101)
    assert answers(calls) == []  # no apology to someone who cannot receive it
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert answers(await harness.say(QUESTION, user_id=5102))


async def test_message_not_modified_is_ignored(harness: Harness) -> None:
    await harness.press("l:ru")
    harness.request.fail_next("editMessageText", 400, NOT_MODIFIED)
    calls = await harness.press("h")
    assert [c.method for c in calls] == ["answerCallbackQuery", "editMessageText"]
    assert sorry("ru") not in texts(calls)


# ------------------------------------------------------------------ Bot API over HTTP


class HttpApp:
    """The real Application sending over HTTP to the stand-in (short read time-out), fed
    updates directly (no polling)."""

    def __init__(self, app: SafarApp, stub: BotAPIStub) -> None:
        self.app = app
        self.stub = stub
        self.ids = iter(range(1, 10**6))

    async def say(self, text: str, user_id: int, language_code: str = "ru") -> None:
        update = self.stub.make_text_update(
            text, chat_id=user_id, user=self.stub.make_user(user_id, language_code=language_code)
        )
        update["update_id"] = next(self.ids)
        await self.app.process_update(Update.de_json(update, self.app.bot))


@pytest.fixture
async def http_app(tmp_path: Path, kb: KnowledgeBase, searcher: Searcher) -> AsyncIterator[HttpApp]:
    async with BotAPIStub() as stub:
        settings = Settings(  # type: ignore[call-arg]
            BOT_TOKEN=stub.token, SAFAR_BOT_API_URL=stub.root, SAFAR_DB=tmp_path / "h.db",
            SAFAR_DATA_KEY=TEST_DATA_KEY,
        )  # fmt: skip
        request = HTTPXRequest(read_timeout=0.5, connect_timeout=0.5)
        app = build_application(settings, kb=kb, request=request, searcher=searcher)
        await app.initialize()
        await open_services(app)
        try:
            yield HttpApp(app, stub)
        finally:
            await close_services(app)
            await app.shutdown()


def _bot_texts(stub: BotAPIStub, chat_id: int) -> list[str]:
    return [m["text"] for m in stub.sent_messages(chat_id) if "text" in m]


async def test_a_502_page_from_nginx_is_retried_over_http(http_app: HttpApp) -> None:
    stub = http_app.stub
    stub.fail_next("sendMessage", 502)  # Telegram's front end: an HTML page, not JSON
    await http_app.say(QUESTION, 5201)
    assert len(_bot_texts(stub, 5201)) == 1
    assert len(stub.calls_to("sendMessage")) == 2


async def test_a_time_out_is_not_retried_and_the_person_is_told(http_app: HttpApp) -> None:
    """The answer comes too late (the request timed out, but Telegram delivered it): it
    is not sent again; the person hears that something went wrong, in their language."""
    stub = http_app.stub
    stub.delay_next("sendMessage", 1.0)
    await http_app.say(QUESTION, 5202, language_code="ky")
    await asyncio.sleep(0.7)
    delivered = _bot_texts(stub, 5202)  # the apology may arrive before the late answer
    apologies = [t for t in delivered if t == html.unescape(sorry("ky"))]
    answered = [t for t in delivered if gettext_for("ky")("Sources:") in t]
    assert len(delivered) == 2 and len(apologies) == 1 and len(answered) == 1


async def test_a_connection_dropped_mid_reply_is_not_retried(http_app: HttpApp) -> None:
    stub = http_app.stub
    stub.drop_next("sendMessage")
    await http_app.say(QUESTION, 5203, language_code="tg")
    delivered = _bot_texts(stub, 5203)
    assert len(delivered) == 2  # the answer (its reply lost), then one apology
    assert delivered[1] == html.unescape(sorry("tg"))
    assert gettext_for("tg")("Sources:") in delivered[0]


async def test_a_bot_api_unreachable_for_a_moment_delivers_once(
    tmp_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    with socket.socket() as sock:  # a free port, nothing listening yet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    stub = BotAPIStub(port=port)
    settings = Settings(  # type: ignore[call-arg]
        BOT_TOKEN=stub.token, SAFAR_BOT_API_URL=stub.root, SAFAR_DB=tmp_path / "u.db",
        SAFAR_DATA_KEY=TEST_DATA_KEY,
    )  # fmt: skip
    app = build_application(settings, kb=kb, searcher=searcher)
    await stub.start()
    await app.initialize()  # getMe
    await open_services(app)
    await stub.stop()  # the Bot API goes away...
    http = HttpApp(app, stub)
    stub2 = BotAPIStub(port=port)
    http.stub = stub2

    async def come_back() -> None:
        await asyncio.sleep(0.3)  # ...and comes back before the first retry
        await stub2.start()

    try:
        returning = asyncio.create_task(come_back())
        update = stub2.make_text_update(QUESTION, chat_id=5204, user=stub2.make_user(5204))
        update["update_id"] = 1
        await app.process_update(Update.de_json(update, app.bot))
        await returning
        assert len(_bot_texts(stub2, 5204)) == 1
        assert len(stub2.calls_to("sendMessage")) == 1
    finally:
        await close_services(app)
        await app.shutdown()
        await stub2.stop()


# ------------------------------------------------------------------ storage


async def test_a_locked_database_is_waited_for_then_apologised_for(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    """Another writer holds the database: a short lock is waited out (the language is
    saved); one longer than the busy time-out gets an apology in the person's language,
    nothing half-written, and the next try works."""
    async with make_harness(db_path, kb, searcher) as h:
        storage = storage_of(h)
        other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, other.execute, "COMMIT")
        calls = await h.press("l:ky")
        assert "Кыргызча" in calls[0].params.get("text", "")
        assert await storage.get_locale(5001) == "ky"

        await storage._conn.execute("PRAGMA busy_timeout=100")
        other.execute("BEGIN EXCLUSIVE")
        try:
            calls = await h.say("/subscribe")
            calls += await h.press("sub:KZ")
        finally:
            other.execute("COMMIT")
        assert sorry("ky") in texts(calls)
        assert await storage.subscriptions(5001) == set()
        calls = await h.press("sub:KZ")
        assert await storage.subscriptions(5001) == {"KZ"}
        check_calls(calls)
        other.close()


async def test_a_full_disk_is_apologised_for_and_loses_nothing_already_saved(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    """The database cannot grow (SQLite's max_page_count, as a full disk would): a person
    gets an apology in their language, an administrator's broadcast is not half-queued,
    and once there is room again everything works and earlier data is intact."""
    async with make_harness(db_path, kb, searcher) as h:
        svc = h.app.bot_data["safar"]
        assert isinstance(svc, Services)
        svc.settings = svc.settings.model_copy(update={"admins": frozenset({42})})
        storage = svc.storage
        await h.press("l:uz")
        for person in range(1000, 1300):  # their outbox rows will need pages of their own
            await storage.toggle_subscription(person, "RU")
        conn = storage._conn
        async with conn.execute("PRAGMA page_count") as cur:
            row = await cur.fetchone()
        assert row is not None
        await conn.execute(f"PRAGMA max_page_count={row[0]}")
        full = False
        for person in range(10_000, 40_000):  # fill what is left
            try:
                await storage.toggle_subscription(person, "KZ")
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)
                full = True
                break
        assert full
        calls = await h.say("/subscribe", user_id=6100, language_code="tg")
        calls += await h.press("sub:UZ", user_id=6100, language_code="tg")
        assert sorry("tg") in texts(calls)
        command = "/broadcast\ncountries: RU\n" + "\n".join(
            f"{loc}: test" for loc in ("ky", "tg", "ru", "uz", "uz_Cyrl")
        )
        calls = await h.say(command, user_id=42)
        assert sorry("ru") in texts(calls)
        assert await storage.unfinished_broadcasts() == []
        async with conn.execute("SELECT COUNT(*) FROM broadcast_outbox") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == 0

        await conn.execute("PRAGMA max_page_count=1073741823")
        await h.press("sub:UZ", user_id=6100, language_code="tg")
        assert await storage.subscriptions(6100) == {"UZ"}
        assert await storage.get_locale(5001) == "uz"
        calls = await h.say(command, user_id=42)
        assert await storage.unfinished_broadcasts() != []
        assert sum((await storage.outbox_counts(1)).values()) == 300
    with sqlite3.connect(db_path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS)))
async def test_a_database_from_an_older_schema_is_upgraded_keeping_its_data(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher, version: int
) -> None:
    """A file written by an older Safar (schema *version*) is upgraded on start; people's
    languages (and, from schema 2, subscriptions) are kept and the bot answers in them."""
    with sqlite3.connect(db_path) as conn:
        for number, script in enumerate(MIGRATIONS[:version], start=1):
            conn.executescript(script)
            conn.execute(f"PRAGMA user_version = {number}")
        conn.execute(
            "INSERT INTO users (telegram_id, locale, first_seen, last_seen) "
            "VALUES (5001, 'tg', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00')"
        )
        if version >= 2:
            conn.execute(
                "INSERT INTO subscriptions (telegram_id, country, created) "
                "VALUES (5001, 'KG', '2025-01-01T00:00:00+00:00')"
            )
    async with make_harness(db_path, kb, searcher) as h:
        storage = storage_of(h)
        assert await storage.schema_version() == len(MIGRATIONS)
        calls = await h.say("/menu", language_code="ru")
        assert html.escape(gettext_for("tg")("Main menu")) in texts(calls)[-1]
        if version >= 2:
            assert await storage.subscriptions(5001) == {"KG"}
        calls = await h.press("sub:RU")
        assert await storage.subscriptions(5001) >= {"RU"}


async def test_a_database_from_a_newer_safar_is_refused_and_left_untouched(
    db_path: Path, tmp_path: Path
) -> None:
    """Going back to an older Safar must not misread or damage a newer database: it stops
    with a clear message (exit code 2) and the file keeps every byte."""
    with sqlite3.connect(db_path) as conn:
        for script in MIGRATIONS:
            conn.executescript(script)
        conn.execute(
            "INSERT INTO users (telegram_id, locale, first_seen, last_seen) "
            "VALUES (5001, 'tg', '2025-01-01T00:00:00+00:00', '2025-01-01T00:00:00+00:00')"
        )
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    before = db_path.read_bytes()
    with pytest.raises(SchemaTooNewError):
        await Storage.open(db_path)
    assert db_path.read_bytes() == before

    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env["SAFAR_DB"] = str(db_path)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "export-cases"], cwd=Path(__file__).parent.parent,
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "newer" in proc.stderr and "Traceback" not in proc.stderr
    assert db_path.read_bytes() == before
