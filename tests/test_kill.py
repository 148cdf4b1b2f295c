"""SIGKILL of the real process (``python -m bot run``, through ``tests/killable_bot.py``)
at a random point of a broadcast and of a dialog, against the Bot API stand-in; a new
process on the same database finishes the work. The random point is printed (seed) so
that a failure can be replayed with ``SAFAR_KILL_SEED``."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.storage import Storage
from knowledge.schema import LOCALES
from tests.botapi_stub import BotAPIStub, Call
from tests.conftest import START_TIMEOUT, TEST_DATA_KEY, seed_caches

ROOT = Path(__file__).resolve().parent.parent
ADMIN = 42


def _seed() -> int:
    seed = int(os.environ.get("SAFAR_KILL_SEED") or random.randrange(10**6))
    print(f"\nSAFAR_KILL_SEED={seed}")
    return seed


@pytest.fixture
async def stub() -> AsyncIterator[BotAPIStub]:
    async with BotAPIStub() as running:
        yield running


async def _start(stub: BotAPIStub, db: Path) -> asyncio.subprocess.Process:
    """Start the bot and wait until it polls."""
    env = {
        **os.environ,
        "BOT_TOKEN": stub.token,
        "SAFAR_DATA_KEY": TEST_DATA_KEY,
        "SAFAR_BOT_API_URL": stub.root,
        "SAFAR_DB": str(db),
        "SAFAR_ADMINS": str(ADMIN),
    }
    mark = stub.mark()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.killable_bot",
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await stub.wait_for("getUpdates", timeout=START_TIMEOUT, since=mark)
    return proc


async def _kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def _stop(proc: asyncio.subprocess.Process) -> str:
    proc.send_signal(signal.SIGINT)
    await asyncio.wait_for(proc.wait(), 20)
    assert proc.stderr is not None
    return (await proc.stderr.read()).decode()


def _delivered(stub: BotAPIStub, chats: set[int]) -> Counter[int]:
    """Messages the stand-in accepted, per chat (of *chats*)."""
    got: Counter[int] = Counter()
    for call, response in zip(stub.calls, stub.responses, strict=True):
        chat = call.params.get("chat_id")
        if call.method == "sendMessage" and chat in chats and response and response[0] == 200:
            got[int(chat)] += 1
    return got


async def test_sigkill_during_a_broadcast_skips_nobody(
    stub: BotAPIStub, tmp_path: Path, caches: Path
) -> None:
    """90 subscribers; the process is killed after a random number of them got the message;
    the next process sends the rest. Nobody is skipped; at most the one message in flight
    at the kill is sent twice (at-least-once, one worker); the administrator hears the end."""
    rng = random.Random(_seed())
    db = tmp_path / "kill.db"
    seed_caches(caches, tmp_path)
    storage = await Storage.open(db)
    people = {}
    for i in range(90):
        uid = 810_000 + i
        await storage.set_locale(uid, LOCALES[i % len(LOCALES)])
        await storage.toggle_subscription(uid, "RU")
        people[uid] = LOCALES[i % len(LOCALES)]
    await storage.close()

    proc = await _start(stub, db)
    admin = stub.make_user(ADMIN, "Admin", language_code="ru")
    blocks = "\n".join(f"{loc}: [{loc}] новость" for loc in LOCALES)
    stub.push_text(f"/broadcast\ncountries: RU\n{blocks}", chat_id=ADMIN, user=admin)
    kill_after = rng.randint(1, 80)
    async with asyncio.timeout(40):
        while sum(_delivered(stub, set(people)).values()) < kill_after:
            await asyncio.sleep(0.005)
    await _kill(proc)
    before = sum(_delivered(stub, set(people)).values())

    proc = await _start(stub, db)

    def final(call: Call) -> bool:
        numbers = sorted(map(int, re.findall(r"\d+", str(call.params.get("text", "")))))
        return call.params.get("chat_id") == ADMIN and numbers == [0, 0, 1, 90]

    await stub.wait_for(final, timeout=40)
    log = await _stop(proc)
    got = _delivered(stub, set(people))
    twice = [uid for uid, n in got.items() if n > 1]
    print(f"killed after {before} of 90; sent twice: {len(twice)}")
    assert set(got) == set(people)  # nobody skipped
    assert len(twice) <= 1 and all(n <= 2 for n in got.values())
    for call in stub.calls:
        if call.method == "sendMessage" and call.params.get("chat_id") in people:
            assert call.params["text"] == f"[{people[call.params['chat_id']]}] новость"
    assert "Traceback" not in log


async def _press(stub: BotAPIStub, user: dict[str, object], data: str) -> Call:
    mark = stub.mark()
    stub.push_callback(data, chat_id=int(str(user["id"])), user=user, strict=False)
    return await stub.wait_for(
        lambda c: (
            c.method in ("sendMessage", "editMessageText") and c.params.get("chat_id") == user["id"]
        ),
        timeout=15,
        since=mark,
    )


def _screen(stub: BotAPIStub, chat_id: int) -> str:
    """The text of the bot's latest message in the chat."""
    return str(stub.bot_message(chat_id).get("text", ""))


@pytest.mark.parametrize("moment", ["after_answer", "while_typing"])
async def test_sigkill_during_a_dialog_resumes_it(
    stub: BotAPIStub, tmp_path: Path, caches: Path, moment: str
) -> None:
    """A person is half-way through a dialog when the process is killed (after an answer
    was saved, or while their next answer is being handled); after the restart they go on
    from the question on their screen, the answers given before the kill are kept, and
    the result comes once."""
    rng = random.Random(_seed())
    db = tmp_path / "dialog.db"
    seed_caches(caches, tmp_path)
    uid = 7401
    user = stub.make_user(uid, "Dilnoza", language_code="ru")
    proc = await _start(stub, db)
    mark = stub.mark()
    stub.push_text("/start", chat_id=uid, user=user)
    await stub.wait_for("sendMessage", timeout=15, since=mark, chat_id=uid)
    await _press(stub, user, "l:ru")
    await _press(stub, user, "dlg:zkill")
    call = await _press(stub, user, "dq:zkill:0:1")  # kz
    assert "When?" in call.params["text"]
    if moment == "while_typing":
        stub.push_text("01.02.2024", chat_id=uid, user=user)
        await asyncio.sleep(rng.uniform(0.0, 0.1))
    await _kill(proc)

    proc = await _start(stub, db)
    for _ in range(4):
        screen = _screen(stub, uid)
        if "RESULT" in screen:
            break
        answer = "01.02.2024" if "When?" in screen else "5"
        mark = stub.mark()
        stub.push_text(answer, chat_id=uid, user=user)
        await stub.wait_for("sendMessage", timeout=15, since=mark, chat_id=uid)
    log = await _stop(proc)
    results = [
        c.params["text"] for c in stub.calls
        if c.method in ("sendMessage", "editMessageText") and "RESULT" in str(c.params.get("text"))
    ]  # fmt: skip
    assert results == ["RESULT kz 2024-02-01 5"]
    assert "Traceback" not in log
