"""End to end through the Bot API stand-in, the help path itself: a person in Kazakhstan
writes in Kyrgyz that their passport was taken and they have no money; they answer the
screening and consent; the case card reaches the organisation's chat; a caseworker accepts;
the person is told. Refused consent: nothing reaches any organisation.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.i18n import gettext_for
from dialogs.screening import COUNTRY_QUESTION, QUESTIONS
from tests.botapi_stub import BotAPIStub, Call
from tests.conftest import START_TIMEOUT, seed_caches
from tests.test_e2e import ROOT, TEST_DATA_KEY

ORG = "kz-iom-partner-ngos"
ORG_CHAT = -1001000000511
FALLBACK_CHAT = -1001000000522
CASEWORKER = 7501
PERSON = 7510

ENV = {
    "SAFAR_ORG_CHATS": json.dumps({ORG: ORG_CHAT, "iom-central-asia": FALLBACK_CHAT}),
    "SAFAR_CASEWORKERS": json.dumps({ORG: [CASEWORKER], "iom-central-asia": [7502]}),
    "SAFAR_FALLBACK_ORG": "iom-central-asia",
}


@pytest.fixture
async def running(tmp_path: Path, caches: Path) -> AsyncIterator[BotAPIStub]:
    seed_caches(caches, tmp_path)
    async with BotAPIStub() as stub:
        env = {
            **os.environ,
            **ENV,
            "BOT_TOKEN": stub.token,
            "SAFAR_DATA_KEY": TEST_DATA_KEY,
            "SAFAR_BOT_API_URL": stub.root,
            "SAFAR_DB": str(tmp_path / "help.db"),
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await stub.wait_for("getUpdates", timeout=START_TIMEOUT)
            yield stub
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
            assert proc.stderr is not None
            log = (await proc.stderr.read()).decode()
            assert "Traceback" not in log and "паспорт" not in log  # no message text logged


def _to_person(call: Call) -> bool:
    return call.method in ("sendMessage", "editMessageText") and call.params.get("chat_id") in (
        PERSON,
        str(PERSON),
    )


def _consent(call: Call) -> bool:
    return _to_person(call) and "hc:y:" in json.dumps(call.params.get("reply_markup", ""))


def _person(stub: BotAPIStub) -> dict[str, object]:
    return stub.make_user(PERSON, "Aibek", language_code="ky", username=None)


async def _press(stub: BotAPIStub, data: str, done: object = _to_person) -> Call:
    mark = stub.mark()
    stub.push_callback(data, chat_id=PERSON, user=_person(stub))
    return await stub.wait_for(done, timeout=15, since=mark)  # type: ignore[arg-type]


async def _screen(stub: BotAPIStub, answers: dict[str, str]) -> Call:
    """Answer the screening (skipping what *answers* lacks); return the consent message."""
    order = [COUNTRY_QUESTION, *QUESTIONS]
    version = 0
    for question in order:
        if question.key not in answers:
            data = f"ds:screening:{version}"
        else:
            index = [c.value for c in question.choices].index(answers[question.key])
            data = f"dq:screening:{version}:{index}"
        last = question is order[-1]
        call = await _press(stub, data, _consent if last else _to_person)
        version += 1
        if question.key == "country" and answers.get("country") == "KZ":
            await _press(stub, f"ds:screening:{version}")  # the city: skipped
            version += 1
    return call


async def _start(stub: BotAPIStub) -> None:
    mark = stub.mark()
    text = "Казакстандамын. Кожоюн паспортумду алып койду, акчам жок"
    stub.push_text(text, user=_person(stub))
    # The help path opens at once: the screening's first question.
    await stub.wait_for(
        lambda c: _to_person(c) and "dq:screening:0:" in json.dumps(c.params), 20, since=mark
    )


async def test_passport_taken_in_kazakhstan_reaches_the_organisation_and_is_accepted(
    running: BotAPIStub,
) -> None:
    stub = running
    await _start(stub)
    consent = await _screen(stub, {"country": "KZ", "money": "no", "coercion": "passport"})
    assert "/delete" in consent.params["text"]
    mark = stub.mark()
    stub.push_callback(f"hc:y:{ORG}", chat_id=PERSON, user=_person(stub))
    card_call = await stub.wait_for(
        lambda c: c.method == "sendMessage" and c.params.get("chat_id") == ORG_CHAT, 30, since=mark
    )
    card = stub.sent_messages(ORG_CHAT)[-1]
    buttons = [b["callback_data"] for row in card["reply_markup"]["inline_keyboard"] for b in row]
    accept = next(b for b in buttons if b.startswith("cw:a:"))
    assert card_call is not None
    mark = stub.mark()
    stub.push_callback(accept, chat_id=ORG_CHAT, message_id=card["message_id"],
                       user=stub.make_user(CASEWORKER, "Caseworker"))  # fmt: skip
    told = await stub.wait_for(
        lambda c: c.method == "sendMessage" and c.params.get("chat_id") == PERSON, 30, since=mark
    )
    # The person is told in their language that a caseworker took the case.
    assert told.params["text"] and consent.params["text"].startswith(
        gettext_for("ky")("A caseworker can help you. We suggest:")
    )
    assert not stub.sent_messages(FALLBACK_CHAT)


async def test_refused_consent_sends_nothing_to_any_organisation(running: BotAPIStub) -> None:
    stub = running
    await _start(stub)
    await _screen(stub, {"country": "KZ", "money": "no", "coercion": "passport"})
    reply = await _press(stub, f"hc:n:{ORG}")
    assert (
        gettext_for("ky")("Nothing was sent. Your answers stay with you.") in reply.params["text"]
    )
    await asyncio.sleep(3)
    assert not stub.sent_messages(ORG_CHAT) and not stub.sent_messages(FALLBACK_CHAT)
