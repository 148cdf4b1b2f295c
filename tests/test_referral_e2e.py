"""End to end: the real ``python -m bot run`` process delivers referral cards through the
Bot API stand-in, survives SIGKILL without losing or silently repeating a card, rides out
429 and 500, and lets no stranger see or change a case.

The cases are written the way the help path writes them (:func:`bot.cases.open_case`, same
database file and key), from the test process while the bot runs: the bot's worker finds
them in the outbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import cases
from bot.cases import NewCase, open_case
from bot.crypto import Cipher
from bot.i18n import gettext_for
from bot.storage import Storage
from tests.botapi_stub import BotAPIStub, Call
from tests.conftest import START_TIMEOUT, seed_caches
from tests.test_e2e import ROOT, TEST_DATA_KEY

ORG_CHAT = -1001000000111
FALLBACK_CHAT = -1001000000222
CASEWORKER = 7301
STRANGER = 7399
PERSON = 7310

ENV = {
    "SAFAR_ORG_CHATS": json.dumps({"kz-legal": ORG_CHAT, "iom-kz": FALLBACK_CHAT}),
    "SAFAR_CASEWORKERS": json.dumps({"kz-legal": [CASEWORKER], "iom-kz": [7302]}),
    "SAFAR_FALLBACK_ORG": "iom-kz",
}


class BotProcess:
    """The real bot, started and stopped (or killed) by the test."""

    def __init__(self, stub: BotAPIStub, db: Path, env: dict[str, str] | None = None) -> None:
        self.stub = stub
        self.db = db
        self.env = ENV if env is None else env
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {
            **os.environ,
            **self.env,
            "BOT_TOKEN": self.stub.token,
            "SAFAR_DATA_KEY": TEST_DATA_KEY,
            "SAFAR_BOT_API_URL": self.stub.root,
            "SAFAR_DB": str(self.db),
        }
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        # Ready once it polls for updates.
        await self.stub.wait_for("getUpdates", timeout=START_TIMEOUT, since=self.stub.mark())

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self) -> str:
        """SIGINT, wait, and return what it logged."""
        if self.proc is None or self.proc.returncode is not None:
            return ""
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        assert self.proc.stderr is not None
        return (await self.proc.stderr.read()).decode()


@pytest.fixture
async def stub() -> AsyncIterator[BotAPIStub]:
    async with BotAPIStub() as running:
        yield running


@pytest.fixture
async def bot(stub: BotAPIStub, tmp_path: Path, caches: Path) -> AsyncIterator[BotProcess]:
    seed_caches(caches, tmp_path)
    process = BotProcess(stub, tmp_path / "referrals.db")
    yield process
    await process.stop()


def a_case() -> NewCase:
    return NewCase(
        telegram_id=PERSON,
        chat_id=PERSON,
        locale="ky",
        organisation_id="kz-legal",
        urgency="crisis",
        needs={"legal": ["passport=held"], "economic": ["food_money=none"]},
        answers={"country": "KZ", "food_money": "none"},
        country="KZ",
        city="Алматы",
        contact={"telegram": str(PERSON)},
        consent_version="consent-v1",
        consent_scope=("case",),
        risk_level="crisis",
    )


async def write_case(db: Path) -> int:
    """Write a case the way the help path does (the bot's worker picks it up)."""
    async with await Storage.open(db) as storage:
        return await open_case(storage, Cipher(TEST_DATA_KEY), a_case(), _now())


async def read(db: Path, case_id: int) -> tuple[str | None, list[Any], list[Any]]:
    """(state, events, outbox rows) of the case, read from the file."""
    async with await Storage.open(db) as storage:
        case = await cases.load_case(storage, Cipher(TEST_DATA_KEY), case_id)
        return (
            case.state if case else None,
            await cases.events(storage, case_id),
            await cases.outbox_rows(storage, case_id),
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _to(chat_id: int, method: str = "sendMessage"):  # type: ignore[no-untyped-def]
    def match(call: Call) -> bool:
        return call.method == method and call.params.get("chat_id") == chat_id

    return match


async def until(check: Any, what: str, timeout: float = 30.0) -> None:
    """Wait until *check()* (a function or coroutine function) is true; fail after
    *timeout* seconds, saying *what* was awaited (a deadline, not a fixed sleep: a loaded
    machine is slower, not wrong)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def outbox_is(db: Path, case_id: int, row: tuple[str, str, str, int]) -> bool:
    return (await read(db, case_id))[2] == [row]


def accepted_sends(stub: BotAPIStub, chat_id: int) -> int:
    return sum(
        1
        for call, answer in zip(stub.calls, stub.responses, strict=True)
        if call.method == "sendMessage"
        and call.params.get("chat_id") == chat_id
        and answer is not None
        and answer[0] == 200
    )


async def test_a_kill_before_the_card_is_sent_delivers_it_once_after_restart(
    stub: BotAPIStub, bot: BotProcess
) -> None:
    await bot.start()
    # Telegram will not answer this card (it fails, late): the process dies meanwhile.
    stub.fail_next("sendMessage", 500, delay=60, chat_id=ORG_CHAT)
    mark = stub.mark()
    case_id = await write_case(bot.db)
    await stub.wait_for(_to(ORG_CHAT), timeout=20, since=mark)
    await bot.kill()
    assert (await read(bot.db, case_id))[2] == [("case", "kz-legal", "sending", 0)]
    stub.clear_faults()

    mark = stub.mark()
    await bot.start()
    await stub.wait_for(_to(ORG_CHAT), timeout=20, since=mark)
    sent = ("case", "kz-legal", "sent", 1)
    await until(lambda: outbox_is(bot.db, case_id, sent), "the card recorded as sent")
    await asyncio.sleep(3)  # time for a second card, if there were one
    [card] = stub.sent_messages(ORG_CHAT)
    _ = gettext_for("ru")
    assert _("Referral no. {id}").format(id=case_id) in card["text"]
    assert accepted_sends(stub, ORG_CHAT) == 1
    _state, history, outbox = await read(bot.db, case_id)
    assert outbox == [("case", "kz-legal", "sent", 1)]
    assert [e[1] for e in history] == ["opened", "delivered"]
    log = await bot.stop()
    assert "Traceback" not in log and "Алматы" not in log


async def test_a_kill_after_telegram_took_the_card_repeats_it_as_the_same_case(
    stub: BotAPIStub, bot: BotProcess
) -> None:
    """The one window left: Telegram stores the card, the process dies before recording it.
    The card comes again, marked as a possible repeat, and both copies act on one case."""
    await bot.start()
    stub.delay_next("sendMessage", 2, chat_id=ORG_CHAT)  # stored, answered 2 s late
    mark = stub.mark()
    case_id = await write_case(bot.db)
    await stub.wait_for(_to(ORG_CHAT), timeout=20, since=mark)
    await bot.kill()
    await asyncio.sleep(2.5)  # the stand-in stores the first card after its delay
    await bot.start()
    await until(lambda: len(stub.sent_messages(ORG_CHAT)) >= 2, "the card sent again")
    first, second = stub.sent_messages(ORG_CHAT)
    _ = gettext_for("ru")
    number = _("Referral no. {id}").format(id=case_id)
    assert number in first["text"] and number in second["text"]
    assert "🔁" in second["text"] and "🔁" not in first["text"]
    buttons = [b["callback_data"] for row in first["reply_markup"]["inline_keyboard"] for b in row]
    assert f"cw:a:{case_id}" in buttons
    # Accept on the first copy claims the one case; the second copy's Accept is refused.
    caseworker = stub.make_user(CASEWORKER, "Caseworker")
    mark = stub.mark()
    stub.push_callback(f"cw:a:{case_id}", chat_id=ORG_CHAT, message_id=first["message_id"],
                       user=caseworker)  # fmt: skip
    await stub.wait_for(_to(PERSON), timeout=20, since=mark)
    mark = stub.mark()
    stub.push_callback(f"cw:a:{case_id}", chat_id=ORG_CHAT, message_id=second["message_id"],
                       user=caseworker)  # fmt: skip
    answer = await stub.wait_for("answerCallbackQuery", timeout=10, since=mark)
    assert answer.params["text"] == _("You have already taken this referral.")
    assert accepted_sends(stub, PERSON) == 1


async def test_429_then_500_delay_the_card_but_neither_lose_nor_repeat_it(
    stub: BotAPIStub, bot: BotProcess
) -> None:
    await bot.start()
    stub.fail_next("sendMessage", 429, retry_after=2, chat_id=ORG_CHAT)
    # A 500 is retried at once by the transport (bot.retry, 3 tries): three make the
    # outbox back off.
    stub.fail_next("sendMessage", 500, chat_id=ORG_CHAT, times=3)
    mark = stub.mark()
    started = time.monotonic()
    case_id = await write_case(bot.db)
    first = await stub.wait_for(_to(ORG_CHAT), timeout=20, since=mark)
    for _try in range(150):
        if stub.sent_messages(ORG_CHAT):
            break
        await asyncio.sleep(0.2)
    delivered = time.monotonic()
    await asyncio.sleep(3)
    attempts = [
        (call, answer)
        for call, answer in zip(stub.calls[mark:], stub.responses[mark:], strict=True)
        if _to(ORG_CHAT)(call)
    ]
    assert [answer[0] if answer else None for _call, answer in attempts] == [
        429, 500, 500, 500, 200
    ]  # fmt: skip
    assert len(stub.sent_messages(ORG_CHAT)) == 1
    assert attempts[-1][0].at - first.at >= 2 + 4  # retry_after, then the back-off (5 s)
    assert delivered - started < 30
    _state, history, outbox = await read(bot.db, case_id)
    assert outbox == [("case", "kz-legal", "sent", 2)]  # the 429 is not an attempt
    assert [e[1] for e in history] == ["opened", "delivered"]


async def test_a_stranger_sees_nothing_and_changes_nothing(
    stub: BotAPIStub, bot: BotProcess
) -> None:
    await bot.start()
    mark = stub.mark()
    case_id = await write_case(bot.db)
    await stub.wait_for(_to(ORG_CHAT), timeout=20, since=mark)
    sent = ("case", "kz-legal", "sent", 1)
    await until(lambda: outbox_is(bot.db, case_id, sent), "the card recorded as sent")
    before = await read(bot.db, case_id)
    card = stub.sent_messages(ORG_CHAT)[0]["message_id"]
    stranger = stub.make_user(STRANGER, "Stranger", username="stranger")
    _ = gettext_for("ru")
    # 1. /cases in a private chat.
    mark = stub.mark()
    stub.push_text("/cases", chat_id=STRANGER, user=stranger)
    reply = await stub.wait_for(_to(STRANGER), timeout=10, since=mark)
    assert reply.params["text"] == _("This command is for caseworkers of partner organisations.")
    # 2. A forged Accept under that reply (data Telegram never showed them).
    mark = stub.mark()
    stub.push_callback(f"cw:a:{case_id}", chat_id=STRANGER, user=stranger, strict=False)
    answer = await stub.wait_for("answerCallbackQuery", timeout=10, since=mark)
    assert answer.params["text"] == _("This button is not available.")
    # 3. The real Accept button of the card, pressed by a member of the group who is no
    #    caseworker, and /cases in the group.
    mark = stub.mark()
    stub.push_callback(button_text=_("✅ Accept"), chat_id=ORG_CHAT, user=stranger)
    answer = await stub.wait_for("answerCallbackQuery", timeout=10, since=mark)
    assert answer.params["text"] == _("This button is not available.")
    stub.push_text("/cases", chat_id=ORG_CHAT, user=stranger)
    await stub.wait_for(_to(ORG_CHAT), timeout=10, since=mark)
    await asyncio.sleep(1)
    said = [c.params for c in stub.calls[mark:] if c.method != "getUpdates"]
    assert not [p for p in said if "editMessageText" in str(p)]
    assert all(str(case_id) not in str(p.get("text", "")) for p in said)
    assert not [c for c in stub.calls if _to(PERSON)(c)]
    assert await read(bot.db, case_id) == before
    # The caseworker can: Accept, and the person is told in Kyrgyz.
    mark = stub.mark()
    stub.push_callback(button_text=_("✅ Accept"), chat_id=ORG_CHAT, message_id=card,
                       user=stub.make_user(CASEWORKER, "Caseworker"))  # fmt: skip
    await stub.wait_for(_to(PERSON), timeout=20, since=mark)
    ky = gettext_for("ky")
    [told] = stub.sent_messages(PERSON)
    assert told["text"] == ky(
        "Good news: a caseworker has taken your request (no. {id}). They will contact "
        "you soon. You can withdraw it at any time with /delete."
    ).format(id=case_id)
    state, history, _outbox = await read(bot.db, case_id)
    assert state == cases.ACCEPTED and history[-1][1:] == ("accepted", "caseworker", CASEWORKER)


# --------------------------------------------------------------------------------------
# The whole path, as the issue tells it: a person in Kazakhstan writes in Kyrgyz that
# their passport was taken and they have no money.

KZ_NGO = -1001000000333  # kz-iom-partner-ngos
KG_NGO = -1001000000444  # kg-crisis-centres: reachable, but not where this person is
IOM = -1001000000555  # iom-central-asia, the directory's fallback
KZ_CASEWORKER = 7401
SAYS = "паспортумду кожоюн алып койду, акчам жок"  # "the boss took my passport, I have no money"
TYPED_CITY = "Талгар районундагы айыл"  # typed, not a button: free text


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b for row in rows for b in row if "callback_data" in b]


async def _message_with(
    stub: BotAPIStub, chat_id: int, prefix: str, timeout: float = 15
) -> dict[str, Any]:
    """Wait until the bot's latest message in the chat has a button whose data starts so."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = stub.sent_messages(chat_id)
        if messages and any(b["callback_data"].startswith(prefix) for b in _buttons(messages[-1])):
            return messages[-1]
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no message with a {prefix!r} button in chat {chat_id}")


async def _screen(
    stub: BotAPIStub, chat_id: int, user: dict[str, Any], answers: dict[str, str]
) -> dict[str, Any]:
    """Answer the screening by buttons (``answers``; a city in ``answers["city_typed"]`` is
    typed), skipping the rest; return the consent screen."""
    from dialogs.screening import COUNTRY_QUESTION, QUESTIONS, city_question

    order = ["country", "city", *(q.key for q in QUESTIONS)]
    by_key = {q.key: q for q in (COUNTRY_QUESTION, *QUESTIONS)}
    message = await _message_with(stub, chat_id, "dq:screening:0:")
    for _step in range(20):
        skip = next((b["callback_data"] for b in _buttons(message)
                     if b["callback_data"].startswith("ds:screening:")), None)  # fmt: skip
        if skip is None:
            break
        version = int(skip.split(":")[2])
        key = order[version]
        mark = stub.mark()
        if key == "city" and "city_typed" in answers:
            stub.push_text(answers["city_typed"], chat_id=chat_id, user=user)
        elif key in answers:
            question = city_question(answers["country"]) if key == "city" else by_key[key]
            index = [c.value for c in question.choices].index(answers[key])
            stub.push_callback(f"dq:screening:{version}:{index}", chat_id=chat_id,
                               message_id=message["message_id"], user=user)  # fmt: skip
        else:
            stub.push_callback(skip, chat_id=chat_id, message_id=message["message_id"], user=user)
        await stub.wait_for(
            lambda c: (
                c.method in ("sendMessage", "editMessageText")
                and c.params.get("chat_id") == chat_id
            ),
            timeout=15,
            since=mark,
        )
        await asyncio.sleep(0.2)
        message = stub.bot_message(chat_id)
        if any(b["callback_data"].startswith("hc:") for b in _buttons(message)):
            return message
    return await _message_with(stub, chat_id, "hc:")


@pytest.fixture
async def full_bot(stub: BotAPIStub, tmp_path: Path, caches: Path) -> AsyncIterator[BotProcess]:
    seed_caches(caches, tmp_path)
    env = {
        "SAFAR_ORG_CHATS": json.dumps(
            {"kz-iom-partner-ngos": KZ_NGO, "kg-crisis-centres": KG_NGO, "iom-central-asia": IOM}
        ),
        "SAFAR_CASEWORKERS": json.dumps(
            {"kz-iom-partner-ngos": [KZ_CASEWORKER], "iom-central-asia": [7402]}
        ),
    }
    process = BotProcess(stub, tmp_path / "full.db", env)
    yield process
    await process.stop()


async def test_a_person_in_kazakhstan_writes_in_kyrgyz_and_a_caseworker_takes_the_case(
    stub: BotAPIStub, full_bot: BotProcess, kb: Any
) -> None:
    from dialogs.consent import NO, YES

    await full_bot.start()
    ky = gettext_for("ky")
    person = stub.make_user(7410, "Айбек", last_name="Токтосунов", username="aibek_kg_test",
                            language_code="ky")  # fmt: skip
    mark = stub.mark()
    stub.push_text(SAYS, chat_id=7410, user=person)
    # At once: what to do and whom to turn to (the passport article), then the screening.
    first = await stub.wait_for(_to(7410), timeout=20, since=mark)
    titles = [a.locales["ky"].title for a in kb.by_topic("passport_confiscated")]
    assert any(html_title in first.params["text"] for html_title in titles)
    consent = await _screen(
        stub, 7410, person,
        {"country": "KZ", "city_typed": TYPED_CITY, "money": "no", "coercion": "passport"},
    )  # fmt: skip
    assert "/delete" in consent["text"]
    yes = next(b for b in _buttons(consent) if b["text"] == ky(YES))
    assert yes["callback_data"] == "hc:y:kz-iom-partner-ngos"
    assert not stub.sent_messages(KZ_NGO)  # nothing before the explicit yes

    mark = stub.mark()
    stub.push_callback(yes["callback_data"], chat_id=7410, message_id=consent["message_id"],
                       user=person)  # fmt: skip
    await stub.wait_for(_to(KZ_NGO), timeout=20, since=mark)
    await until(lambda: stub.sent_messages(KZ_NGO), "the card stored by Telegram")
    [card] = stub.sent_messages(KZ_NGO)
    ru = gettext_for("ru")
    text = card["text"]
    assert ru("🟠 Urgent") in text or ru("🔴 Crisis") in text
    for need in ("Legal help", "Forced labour or trafficking", "Money, food, work"):
        assert ru(need) in text
    assert "coercion=passport" not in text and "money=no" not in text
    assert ru("🛂 Someone keeps my passport") in text
    assert "Казахстан" in text and TYPED_CITY in text and "Кыргызча" in text
    assert "@aibek_kg_test" in text
    assert not stub.sent_messages(KG_NGO) and not stub.sent_messages(IOM)
    case_id = int(_buttons(card)[0]["callback_data"].split(":")[2])

    # A caseworker accepts; the person is told, in Kyrgyz.
    mark = stub.mark()
    stub.push_callback(button_text=ru("✅ Accept"), chat_id=KZ_NGO, message_id=card["message_id"],
                       user=stub.make_user(KZ_CASEWORKER, "Caseworker"))  # fmt: skip
    await stub.wait_for(
        lambda c: _to(7410)(c) and "/delete" in str(c.params.get("text")), timeout=20, since=mark
    )
    told = stub.sent_messages(7410)[-1]["text"]
    assert told == ky(
        "Good news: a caseworker has taken your request (no. {id}). They will contact "
        "you soon. You can withdraw it at any time with /delete."
    ).format(id=case_id)
    edited = stub.bot_message(KZ_NGO, card["message_id"])
    assert ru("Status: taken by a caseworker.") in edited["text"]

    # /delete: the person withdraws; the card loses their details and the NGO is told.
    mark = stub.mark()
    stub.push_text("/delete", chat_id=7410, user=person)
    confirm = await _message_with(stub, 7410, "del:yes")
    stub.push_callback("del:yes", chat_id=7410, message_id=confirm["message_id"], user=person)
    await stub.wait_for(
        lambda c: _to(KZ_NGO)(c) and "reply_markup" not in c.params, timeout=20, since=mark
    )
    await until(lambda: len(stub.sent_messages(KZ_NGO)) >= 2, "the withdrawal notice")
    stripped, notice = stub.sent_messages(KZ_NGO)
    assert "@aibek_kg_test" not in stripped["text"] and TYPED_CITY not in stripped["text"]
    assert not _buttons(stripped)
    assert notice["text"] == ru("Referral no. {id} was withdrawn by the person.").format(id=case_id)

    # The same with consent refused: nothing reaches any organisation.
    other = stub.make_user(7411, "Нурлан", username="nurlan_kg_test", language_code="ky")
    stub.push_text(SAYS, chat_id=7411, user=other)
    consent = await _screen(
        stub, 7411, other, {"country": "KZ", "city": "almaty", "money": "no",
                            "coercion": "passport"},
    )  # fmt: skip
    no = next(b for b in _buttons(consent) if b["text"] == ky(NO))
    mark = stub.mark()
    stub.push_callback(no["callback_data"], chat_id=7411, message_id=consent["message_id"],
                       user=other)  # fmt: skip
    await stub.wait_for(
        lambda c: (
            c.method in ("sendMessage", "editMessageText")
            and c.params.get("chat_id") == 7411
            and "hc:" not in json.dumps(c.params.get("reply_markup") or {})
        ),
        timeout=15,
        since=mark,
    )
    await asyncio.sleep(6)  # longer than the worker's idle poll
    assert len(stub.sent_messages(KZ_NGO)) == 2  # still only the first person's card + notice
    assert not stub.sent_messages(KG_NGO) and not stub.sent_messages(IOM)
    async with await Storage.open(full_bot.db) as storage:
        async with storage.conn.execute("SELECT COUNT(*) FROM cases") as cur:
            assert (await cur.fetchone()) == (1,)
        async with storage.conn.execute("SELECT COUNT(*) FROM consents") as cur:
            assert (await cur.fetchone()) == (1,)

    # The database file (and the log) hold no readable name, username, typed text or
    # message.
    log = await full_bot.stop()
    assert "Traceback" not in log
    raw = b"".join(
        p.read_bytes() for p in full_bot.db.parent.iterdir() if p.name.startswith("full.db")
    )
    for secret in ("Айбек", "Токтосунов", "aibek_kg_test", "Нурлан", "nurlan_kg_test",
                   TYPED_CITY, SAYS, "паспорт"):  # fmt: skip
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in raw, secret
        assert secret not in log, secret
