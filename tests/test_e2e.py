"""End to end: the real ``python -m bot run`` process polls the Bot API stand-in over HTTP
on 127.0.0.1, and a person goes /start -> language -> menu -> article -> free-text question,
in two locales."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import LOCALE_NAMES, gettext_for, locale_from_language_code
from knowledge.loader import KnowledgeBase
from tests.botapi_stub import BotAPIStub, Call
from tests.conftest import FIRST_START_TIMEOUT, TEST_DATA_KEY

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def stub() -> AsyncIterator[BotAPIStub]:
    async with BotAPIStub() as running:
        yield running


@pytest.fixture
async def bot_process(
    stub: BotAPIStub, tmp_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {
        **os.environ,
        "BOT_TOKEN": stub.token,
        "SAFAR_DATA_KEY": TEST_DATA_KEY,
        "SAFAR_BOT_API_URL": stub.root,
        "SAFAR_DB": str(tmp_path / "e2e.db"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        # A first start: the search index and language model are built (in child
        # processes) before the bot polls.
        await stub.wait_for("getUpdates", timeout=FIRST_START_TIMEOUT)
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def _sent_to(chat_id: int, method: str = "sendMessage"):  # type: ignore[no-untyped-def]
    def match(call: Call) -> bool:
        return call.method == method and call.params.get("chat_id") == chat_id

    return match


async def _walk(
    stub: BotAPIStub,
    kb: KnowledgeBase,
    user_id: int,
    phone_language: str,
    locale: str,
    question: str,
    expected_topic: str,
) -> None:
    """One person's path through the bot, checking each screen's language."""
    _ = gettext_for(locale)
    user = stub.make_user(user_id, "Test", language_code=phone_language)
    mark = stub.mark()
    stub.push_text("/start", chat_id=user_id, user=user)
    await stub.wait_for(_sent_to(user_id), timeout=20, since=mark)

    mark = stub.mark()
    preselected = locale_from_language_code(phone_language) == locale
    label = ("✅ " if preselected else "") + LOCALE_NAMES[locale]
    stub.push_callback(button_text=label, chat_id=user_id, user=user)
    call = await stub.wait_for(_sent_to(user_id, "editMessageText"), timeout=10, since=mark)
    assert _("Main menu") in call.params["text"]

    mark = stub.mark()
    stub.push_callback(button_text=_("⛔ Entry ban"), chat_id=user_id, user=user)
    call = await stub.wait_for(_sent_to(user_id, "editMessageText"), timeout=10, since=mark)
    assert _("Entry ban") in call.params["text"]

    mark = stub.mark()
    stub.push_callback(button_text=_("How to check for a ban"), chat_id=user_id, user=user)
    await stub.wait_for(_sent_to(user_id, "editMessageText"), timeout=10, since=mark)

    article = kb.by_topic("ban_check")[0]
    mark = stub.mark()
    stub.push_callback(button_text="📄 " + article.locales[locale].title, chat_id=user_id,
                       user=user)  # fmt: skip
    call = await stub.wait_for(_sent_to(user_id, "editMessageText"), timeout=10, since=mark)
    assert article.locales[locale].title in call.params["text"]
    assert _("Sources:") in call.params["text"]

    mark = stub.mark()
    stub.push_text(question, chat_id=user_id, user=user)
    call = await stub.wait_for(_sent_to(user_id), timeout=10, since=mark)
    shown = [a for a in kb.articles.values() if a.locales[locale].title in call.params["text"]]
    assert shown and shown[0].topic == expected_topic


async def test_real_process_serves_two_people_in_two_locales(
    stub: BotAPIStub, bot_process: asyncio.subprocess.Process, kb: KnowledgeBase
) -> None:
    await _walk(stub, kb, 7101, "ru", "tg",
                "корфармо маоши маро намедиҳад, се моҳ аст", "labour_rights_wages")  # fmt: skip
    await _walk(stub, kb, 7102, "uz", "uz",
                "Rossiyaga kirish taqiqi bormi, qanday tekshiraman?", "ban_check")  # fmt: skip
    # The command menu was published in each Telegram language.
    assert {c.params.get("language_code") for c in stub.calls if c.method == "setMyCommands"} == {
        "ky", "tg", "ru", "uz"
    }  # fmt: skip
    bot_process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(bot_process.wait(), 15) == 0
    assert bot_process.stderr is not None
    log = (await bot_process.stderr.read()).decode()
    assert stub.token not in log
    assert "Traceback" not in log


async def test_a_rejected_token_stops_with_one_line_and_never_prints_it(
    stub: BotAPIStub, tmp_path: Path
) -> None:
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"  # not the stub's token: 401
    env = {
        **os.environ,
        "BOT_TOKEN": token,
        "SAFAR_DATA_KEY": TEST_DATA_KEY,
        "SAFAR_BOT_API_URL": stub.root,
        "SAFAR_DB": str(tmp_path / "x.db"),
        "SAFAR_LOG_LEVEL": "DEBUG",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    log = (out + err).decode()
    assert token not in log and token.split(":")[1] not in log
    assert "safar: the Bot API rejected BOT_TOKEN" in log


async def test_real_process_shares_answers_inline_by_deep_link_and_in_groups(
    stub: BotAPIStub, bot_process: asyncio.subprocess.Process, kb: KnowledgeBase
) -> None:
    from bot import deeplinks
    from bot.deeplinks import Link

    # Inline mode, two locales.
    for query, locale in (("tg паспорт гирифтанд", "tg"), ("uz pasportimni olib qo‘yishdi", "uz")):
        mark = stub.mark()
        stub.push_update(stub.make_inline_query_update(query, user=stub.make_user(7201)))
        call = await stub.wait_for("answerInlineQuery", timeout=20, since=mark)
        results = call.params["results"]
        assert results and all(r["id"].endswith(f":{locale}") for r in results)
        assert "?start=a_" in results[0]["input_message_content"]["message_text"]
    # A deep link into an article, in a third locale.
    article = kb.articles["ru-ban-check-online"]
    payload = deeplinks.encode(Link("article", "ky", article.id))
    mark = stub.mark()
    stub.push_text(f"/start {payload}", chat_id=7202, user=stub.make_user(7202))
    call = await stub.wait_for(_sent_to(7202), timeout=10, since=mark)
    assert article.locales["ky"].title in call.params["text"]
    # A group: silence for chatter, an invitation for a mention.
    group = -100777
    mark = stub.mark()
    stub.push_text("салам баарына", chat_id=group, user=stub.make_user(7203))
    mention = f"@{stub.bot_user['username']}"
    stub.push_text(
        f"{mention} подскажи", chat_id=group, user=stub.make_user(7203),
        entities=[{"type": "mention", "offset": 0, "length": len(mention)}],
    )  # fmt: skip
    call = await stub.wait_for(_sent_to(group), timeout=10, since=mark)
    assert len(stub.calls_to("sendMessage", since=mark)) == 1
    assert call.params["reply_markup"]


async def test_an_unreachable_bot_api_is_reported_not_silent(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port on loopback where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    env = {
        **os.environ,
        "BOT_TOKEN": token,
        "SAFAR_DATA_KEY": TEST_DATA_KEY,
        "SAFAR_BOT_API_URL": f"http://127.0.0.1:{port}",
        "SAFAR_DB": str(tmp_path / "x.db"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    seen = b""
    try:
        async with asyncio.timeout(30):
            while b"cannot reach the Bot API" not in seen:
                seen += await proc.stderr.readline()
    finally:
        proc.kill()
        await proc.wait()
    assert token.encode() not in seen
