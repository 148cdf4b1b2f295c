"""Abuse and security: flood control, size limits, hostile text shown literally, admin
actions refused to everyone else, and a real process at DEBUG that logs nothing private."""

from __future__ import annotations

import asyncio
import html
import os
import re
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import CallbackQueryHandler

from bot import guard
from bot.guard import FloodControl, Guards
from bot.i18n import gettext_for
from bot.services import Services
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher
from tests.botapi_stub import BotAPIStub
from tests.conftest import LogScan, make_harness, seed_caches, texts
from tests.telegram_rules import chats_written, check_calls

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA_KEY = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTEyMzQ="


class FakeClock:
    """Monotonic seconds that a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def flood_harness(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> AsyncIterator[tuple[Any, FakeClock]]:
    """The real Application with flood control on, on a clock the test moves."""
    clock = FakeClock()
    async with make_harness(db_path, kb, searcher, flood_control=True) as h:
        guard.install(
            h.app.bot_data,
            Guards(FloodControl(clock=clock), FloodControl(limit=guard.INLINE_LIMIT, clock=clock)),
        )
        yield h, clock


SLOW_DOWN = "You are sending messages very fast. Please wait half a minute."


async def test_a_flood_slows_one_person_down_and_nobody_else(
    flood_harness: tuple[Any, FakeClock],
) -> None:
    """50 updates in 10 s from one person: the first 15 are answered, then one kind "slow
    down" in their language, then silence until the mute ends; someone writing at the same
    time is answered every time."""
    h, clock = flood_harness
    flooder, other = 6001, 6002
    await h.press("l:ky", user_id=flooder)
    answered = notices = 0
    for i in range(49):
        clock.now += 10 / 50
        if i % 3 == 0:
            calls = await h.press("h", user_id=flooder)
        else:
            calls = await h.say(f"паспорт {i}", user_id=flooder)
        sent = texts(calls)
        if html.escape(gettext_for("ky")(SLOW_DOWN)) in sent:
            notices += 1
            assert len(sent) == 1
        elif sent:
            answered += 1
        if i % 5 == 0:  # the other person is unaffected throughout
            assert texts(await h.say("запрет на въезд", user_id=other, language_code="ru"))
    assert answered == guard.FLOOD_LIMIT - 1  # the language choice counted too
    assert notices == 1
    # Still muted: silence, and no "slow down" again.
    clock.now += guard.FLOOD_MUTE - 12
    assert await h.say("ещё", user_id=flooder) == []
    # After the mute, answered again (no second notice, even if they flood once more).
    clock.now += 12
    assert texts(await h.say("паспорт", user_id=flooder))
    for _ in range(guard.FLOOD_LIMIT + 5):
        calls = await h.say("паспорт", user_id=flooder)
        assert html.escape(gettext_for("ky")(SLOW_DOWN)) not in texts(calls)


async def test_inline_queries_have_their_own_budget_and_are_dropped_silently(
    flood_harness: tuple[Any, FakeClock],
) -> None:
    h, clock = flood_harness
    answers = 0
    for n in range(100):
        clock.now += 0.05
        calls = await h.feed(
            {
                "inline_query": {
                    "id": str(n),
                    "from": {"id": 6003, "is_bot": False, "first_name": "T"},
                    "query": "паспорт"[: 1 + n % 7],
                    "offset": "",
                }
            }
        )
        assert all(c.method == "answerInlineQuery" for c in calls)
        answers += len(calls)
    assert answers == guard.INLINE_LIMIT
    # Inline typing does not use up the person's budget for messages.
    assert texts(await h.say("паспорт", user_id=6003))


def test_flood_control_forgets_people_who_went_quiet() -> None:
    clock = FakeClock()
    flood = FloodControl(clock=clock)
    for person in range(5000):
        assert flood.check(person) == "ok"
    clock.now += guard.NOTICE_EVERY + 1
    for person in range(5000, 7000):
        flood.check(person)
    assert len(flood) < 3000


async def test_callback_data_longer_than_telegram_allows_is_refused(
    flood_harness: tuple[Any, FakeClock],
) -> None:
    h, _clock = flood_harness
    calls = await h.press("a:" + "x" * 200 + ":ban")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["text"] == gettext_for("ru")(
        "This button is out of date. Here is the menu."
    )


HOSTILE = [
    "<b>жирный</b> <i>незакрытый",
    "</a><a href='javascript:alert(1)'>нажми</a>",
    "&amp; &lt; & < > \" ' &#0; &unknown;",
    "'; DROP TABLE users; --",
    "1' OR '1'='1' UNION SELECT * FROM subscriptions --",
    "Robert'); DELETE FROM broadcast_outbox; --",
    "<script>alert('паспорт')</script>",
    "*жирный* _курсив_ `код` [ссылка](http://x) ||спойлер|| \\",
    "{id} {total} {name} %s %(name)s {0} {{}}",
    "\u202eпаспорт забрали\u202c \u200b\u200d\u2060 \ufeff",
    "<tg-spoiler>x</tg-spoiler><pre><code class='x'>y</code></pre>",
]


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_text_changes_nothing_and_every_reply_is_valid_html(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher, text: str
) -> None:
    """SQL-like and markup-breaking text, as a question, an edit, a caption, a command's
    arguments, a deep-link payload, an inline query and in a group: every reply is HTML
    that Telegram accepts, the database keeps its tables and rows, and whenever the text
    comes back, it is shown literally (escaped)."""
    async with make_harness(db_path, kb, searcher) as h:
        await h.press("l:tg")
        svc = h.app.bot_data["safar"]
        assert isinstance(svc, Services)
        await svc.storage.toggle_subscription(5001, "RU")
        calls = []
        calls += await h.say(text)
        calls += await h.say(f"/leaflet {text}")
        calls += await h.say(f"/start {text}")
        calls += await h.say(f"/link {text}")
        calls += await h.send_private(
            {
                "photo": [{"file_id": "p", "file_unique_id": "p", "width": 9, "height": 9}],
                "caption": text,
            }
        )
        calls += await h.feed(
            {
                "edited_message": {
                    "message_id": 1,
                    "date": int(time.time()),
                    "edit_date": int(time.time()),
                    "chat": {"id": 5001, "type": "private", "first_name": "T"},
                    "from": {"id": 5001, "is_bot": False, "first_name": "T"},
                    "text": text,
                }
            }
        )
        calls += await h.feed(
            {
                "inline_query": {
                    "id": "iq",
                    "from": {"id": 5001, "is_bot": False, "first_name": "T"},
                    "query": text,
                    "offset": "",
                }
            }
        )
        calls += await h.press(text[:20])
        check_calls(calls)
        assert chats_written(calls) <= {5001}
        assert await svc.storage.subscriptions(5001) == {"RU"}
        assert await svc.storage.get_locale(5001) == "tg"
    with sqlite3.connect(db_path) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"users", "subscriptions", "broadcasts", "broadcast_outbox"} <= tables
    # If the text is ever shown back, it is shown as typed (escaped), never as markup.
    raw_tags = re.findall(r"<[a-z-]+", text)
    for call in calls:
        sent = str(call.params.get("text") or call.params.get("caption") or "")
        for tag in raw_tags:
            if tag not in ("<b", "<i", "<a", "<pre", "<code", "<tg-spoiler"):
                assert tag not in sent


def _callback_prefixes(app: Any) -> set[str]:
    """A literal prefix of each callback-data pattern the application listens for."""
    prefixes = set()
    for group in app.handlers.values():
        for handler in group:
            pattern = getattr(handler, "pattern", None)
            if isinstance(handler, CallbackQueryHandler) and isinstance(pattern, re.Pattern):
                literal = re.match(r"\^?([A-Za-z0-9_:]*)", pattern.pattern)
                if literal:
                    prefixes.add(literal.group(1))
    return prefixes


async def test_admin_actions_are_refused_to_everyone_else(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    """/broadcast from a non-admin (in private, in a group, as an edit, with a forged
    @suffix) and forged callback data of every pattern the bot listens for: no broadcast,
    no message to anyone else, nothing sent to subscribers."""
    async with make_harness(db_path, kb, searcher) as h:
        svc = h.app.bot_data["safar"]
        assert isinstance(svc, Services)
        svc.settings = svc.settings.model_copy(update={"admins": frozenset({42})})
        for person in (7001, 7002, 7003):
            await svc.storage.toggle_subscription(person, "RU")
        command = "/broadcast\ncountries: RU\n" + "\n".join(
            f"{loc}: hijacked" for loc in ("ky", "tg", "ru", "uz", "uz_Cyrl")
        )
        calls = []
        calls += await h.say(command, user_id=7001)
        calls += await h.say(command.replace("/broadcast", "/broadcast@safar_bot"), user_id=7001)
        calls += await h.say(command, user_id=7001, forward_origin=None)
        group = {
            "message_id": 5,
            "date": int(time.time()),
            "chat": {"id": -100123, "type": "supergroup", "title": "G"},
            "from": {"id": 7001, "is_bot": False, "first_name": "T"},
            "text": command,
            "entities": [{"type": "bot_command", "offset": 0, "length": 10}],
        }
        calls += await h.feed({"message": group})
        prefixes = _callback_prefixes(h.app)
        assert {"h", "s:", "a:", "l:", "sub:"} <= prefixes
        for prefix in sorted(prefixes):
            for tail in ("", "1", "42", "999999:ru", "1:1:1:1", "../../etc", "ru:42:yes", "'--"):
                calls += await h.press(prefix + tail, user_id=7001)
        check_calls(calls)
        assert chats_written(calls) <= {7001, -100123}
        assert await svc.storage.unfinished_broadcasts() == []
        assert await svc.storage.broadcast(1) is None
        assert "hijacked" not in " ".join(texts(calls))


async def test_a_real_process_at_debug_logs_no_token_phone_or_message_text(
    tmp_path: Path, caches: Path
) -> None:
    """``python -m bot run`` with ``SAFAR_LOG_LEVEL=DEBUG`` against the stand-in: people send
    questions with phone numbers and names, a contact, a danger message, forged buttons,
    an inline query and a failing send; its whole log holds none of it."""
    seed_caches(caches, tmp_path)
    async with BotAPIStub() as stub:
        env = {
            **os.environ,
            "BOT_TOKEN": stub.token,
            "SAFAR_DATA_KEY": TEST_DATA_KEY,
            "SAFAR_BOT_API_URL": stub.root,
            "SAFAR_DB": str(tmp_path / "debug.db"),
            "SAFAR_LOG_LEVEL": "DEBUG",
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        scan = LogScan()
        try:
            user = stub.make_user(7301, "Гульнара", last_name="Токтосунова", username="gulnara_t")
            said = [
                "Мой номер +996 555 123 456, паспорт забрал хозяин Бакыт Асанов",
                "меня бьют и не отпускают, адрес улица Ленина 5",
                "Ish beruvchi maoshimni bermayapti, telefonim +998901234567",
            ]
            mark = stub.mark()
            stub.push_text("/start", chat_id=7301, user=user)
            await stub.wait_for("sendMessage", timeout=30, since=mark, chat_id=7301)
            for text in said:
                mark = stub.mark()
                stub.push_text(text, chat_id=7301, user=user)
                await stub.wait_for("sendMessage", timeout=10, since=mark, chat_id=7301)
            contact = stub.make_text_update("x", chat_id=7301, user=user)
            del contact["message"]["text"]
            contact["message"]["contact"] = {"phone_number": "+79161234567", "first_name": "Г"}
            stub.push_update(contact)
            stub.push_callback("a:../../etc/passwd:ban", chat_id=7301, user=user, strict=False)
            stub.fail_next("sendMessage", 500)
            mark = stub.mark()
            stub.push_text("где проверить запрет на въезд", chat_id=7301, user=user)
            stub.push_update(stub.make_inline_query_update("мой телефон +992 93 555 1234"))
            await stub.wait_for("answerInlineQuery", timeout=10, since=mark)
            await asyncio.sleep(0.5)
            for text in [*said, "где проверить запрет на въезд", user["last_name"]]:
                scan.remember(text)
            scan.sent.add("+79161234567")
            scan.sent.add(user["username"])
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 20)
        assert proc.stderr is not None
        log = (await proc.stderr.read()).decode()
    scan.lines = log.splitlines()
    assert len(scan.lines) > 5 and "DEBUG" in log  # it did log, verbosely
    assert scan.problems() == []
    assert stub.token.split(":")[1] not in log


async def test_entities_that_do_not_fit_their_text_are_refused_quietly(
    flood_harness: tuple[Any, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram counts entity offsets in UTF-16 units and never cuts a character; an update
    that does (not from Telegram as documented) is dropped before any handler."""
    h, _clock = flood_harness
    for entities in (
        [{"type": "bot_command", "offset": 0, "length": 9}],  # cuts "𐀀" in two
        [{"type": "mention", "offset": 5, "length": 90}],  # past the end
    ):
        message = {
            "message_id": 77,
            "date": int(time.time()),
            "chat": {"id": 5001, "type": "private", "first_name": "T"},
            "from": {"id": 5001, "is_bot": False, "first_name": "T"},
            "text": "/start𐀀𐀀0",
            "entities": entities,
        }
        assert await h.feed({"message": message}) == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert texts(await h.say("/start𐀀"))  # well-formed: answered
