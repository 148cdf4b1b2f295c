"""Subscriptions and broadcasts: the handlers (in-process Harness) and the sending worker
against the Bot API stand-in on 127.0.0.1 (429s, blocked users, a kill halfway)."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot

from bot.app import build_application, close_services, open_services
from bot.broadcast import BROADCASTER_KEY, Broadcaster, Pacer, wait_until_done
from bot.handlers.subscriptions import BroadcastFormatError, parse_broadcast
from bot.i18n import gettext_for
from bot.services import Services
from bot.settings import Settings
from bot.storage import Storage
from knowledge.loader import KnowledgeBase
from knowledge.schema import LOCALES
from knowledge.search import Searcher
from tests.botapi_stub import BotAPIStub
from tests.conftest import Harness, buttons, texts

ADMIN = 42
TEXTS = {loc: f"[{loc}] Закон изменён: <важно> & проверьте патент" for loc in LOCALES}


def broadcast_command(countries: str = "RU,KZ") -> str:
    """A well-formed /broadcast message with a two-line Russian block."""
    blocks = [f"{loc}: {text}" for loc, text in TEXTS.items()]
    blocks[2] += "\nВторая строка."
    return f"/broadcast\ncountries: {countries}\n" + "\n".join(blocks)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of *times* in any half-open window [t, t + window)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(ordered):
        while ordered[start] <= t - window:
            start += 1
        best = max(best, end - start + 1)
    return best


class ScaledClock:
    """The broadcaster's clock running *scale* times faster than real time (Unix-like
    seconds), so that 2,000 paced sends take seconds of wall time."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._real0 = time.monotonic()
        self._base = time.time()

    def now(self) -> float:
        return self.of(time.monotonic())

    def of(self, monotonic: float) -> float:
        """This clock's reading at the real :func:`time.monotonic` instant *monotonic*."""
        return self._base + (monotonic - self._real0) * self.scale

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0) / self.scale)


def as_admin(harness: Harness) -> None:
    """Make user ADMIN an administrator of the harness's bot."""
    svc = harness.app.bot_data["safar"]
    assert isinstance(svc, Services)
    svc.settings = svc.settings.model_copy(update={"admins": frozenset({ADMIN})})


def storage_of(harness: Harness) -> Storage:
    svc = harness.app.bot_data["safar"]
    assert isinstance(svc, Services)
    return svc.storage


# ---------------------------------------------------------------- settings and parsing


def test_admins_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """SAFAR_ADMINS: comma-separated ids, empty by default, one line when wrong."""
    from bot.settings import SettingsError, load_settings

    monkeypatch.delenv("SAFAR_ADMINS", raising=False)
    assert load_settings().admins == frozenset()
    monkeypatch.setenv("SAFAR_ADMINS", " 12, 345 ")
    assert load_settings().admins == {12, 345}
    monkeypatch.setenv("SAFAR_ADMINS", "12;x")
    with pytest.raises(SettingsError, match=r"^SAFAR_ADMINS: .*commas$"):
        load_settings()


def test_parse_broadcast() -> None:
    """Five locale blocks (multi-line, uz vs uz_Cyrl), countries first; errors say why."""
    countries, texts = parse_broadcast(broadcast_command("ru, kz"))
    assert countries == ["RU", "KZ"]
    assert texts["ru"] == TEXTS["ru"] + "\nВторая строка."
    assert texts["uz"] == TEXTS["uz"] and texts["uz_Cyrl"] == TEXTS["uz_Cyrl"]
    for bad in (
        "/broadcast\nru: x",
        "/broadcast\ncountries: FR\n" + "\n".join(f"{loc}: x" for loc in LOCALES),
        "/broadcast\ncountries: RU\nky: x\nru: y",
        "/broadcast\ncountries: RU\n" + "\n".join(f"{loc}: x" for loc in [*LOCALES, "ru"]),
        "/broadcast\ncountries: RU\n" + "\n".join(f"{loc}: {'<' * 1100}" for loc in LOCALES),
    ):
        with pytest.raises(BroadcastFormatError):
            parse_broadcast(bad)


# ---------------------------------------------------------------- handlers (Harness)


async def test_subscribe_toggles(harness: Harness) -> None:
    """/subscribe lists five countries; a press subscribes, a second press unsubscribes."""
    calls = await harness.say("/subscribe")
    data = [d for _, d in buttons(calls)]
    assert data[:5] == ["sub:RU", "sub:KZ", "sub:KG", "sub:TJ", "sub:UZ"]
    storage = storage_of(harness)

    calls = await harness.press("sub:KZ")
    assert await storage.subscriptions(5001) == {"KZ"}
    answer = next(c for c in calls if c.method == "answerCallbackQuery")
    assert "Казахстан" in answer.params["text"] or "Kazakhstan" in answer.params["text"]
    assert any(label.startswith("✅ ") and d == "sub:KZ" for label, d in buttons(calls))

    await harness.press("sub:RU")
    assert await storage.subscriptions(5001) == {"KZ", "RU"}
    calls = await harness.press("sub:KZ")
    assert await storage.subscriptions(5001) == {"RU"}
    assert not any(label.startswith("✅ ") and d == "sub:KZ" for label, d in buttons(calls))

    calls = await harness.press("sub:FR")  # forged or stale data
    assert await storage.subscriptions(5001) == {"RU"}

    calls = await harness.say("/unsubscribe")
    assert await storage.subscriptions(5001) == set()
    assert "/subscribe" in texts(calls)[0]


async def test_broadcast_from_non_admin_is_an_unknown_command(harness: Harness) -> None:
    """A non-admin's /broadcast changes nothing and gets the unknown-command reply."""
    storage = storage_of(harness)
    await storage.toggle_subscription(5001, "RU")
    calls = await harness.say(broadcast_command(), user_id=5001)
    _ = gettext_for("ru")
    assert texts(calls) == [html.escape(_("I don't know this command. Here is the menu."))]
    assert await storage.unfinished_broadcasts() == []
    assert await storage.broadcast(1) is None


async def test_admin_broadcast_enqueues_per_locale(harness: Harness) -> None:
    """The admin's /broadcast stores the five texts and one row per subscriber, in the
    subscriber's locale (default ru), once even with two matching countries."""
    as_admin(harness)
    storage = storage_of(harness)
    people = {101: "ky", 102: "tg", 103: "uz_Cyrl", 104: None, 105: "uz"}
    for uid, locale in people.items():
        if locale:
            await storage.set_locale(uid, locale)
        await storage.toggle_subscription(uid, "RU")
    await storage.toggle_subscription(101, "KZ")  # two matching countries: one message
    await storage.toggle_subscription(105, "RU")  # unsubscribed again
    await storage.toggle_subscription(106, "KG")  # another country only

    calls = await harness.say("/broadcast\ncountries: RU\nru: only one", user_id=ADMIN)
    assert await storage.broadcast(1) is None and len(texts(calls)) == 1

    calls = await harness.say(broadcast_command("RU,KZ"), user_id=ADMIN)
    assert "1" in texts(calls)[0] and "4" in texts(calls)[0]
    found = await storage.broadcast(1)
    assert found is not None and found.admin_id == ADMIN and found.countries == ("KZ", "RU")
    assert found.texts["tg"] == TEXTS["tg"]
    async with storage._conn.execute(
        "SELECT telegram_id, locale, state FROM broadcast_outbox ORDER BY telegram_id"
    ) as cur:
        rows = [tuple(r) for r in await cur.fetchall()]
    assert rows == [
        (101, "ky", "pending"),
        (102, "tg", "pending"),
        (103, "uz_Cyrl", "pending"),
        (104, "ru", "pending"),
    ]
    assert await storage.outbox_counts(1) == {
        "pending": 4, "sending": 0, "sent": 0, "blocked": 0, "failed": 0
    }  # fmt: skip


# ---------------------------------------------------------------- the sender


@pytest.fixture
async def stub() -> AsyncIterator[BotAPIStub]:
    async with BotAPIStub() as running:
        yield running


async def _populate(storage: Storage, n: int, first_id: int = 800_000) -> dict[int, str]:
    """*n* subscribers (RU, every third also KZ) with locales in turn; returns id -> locale."""
    people: dict[int, str] = {}
    for i in range(n):
        uid = first_id + i
        locale = LOCALES[i % len(LOCALES)]
        await storage.set_locale(uid, locale)
        await storage.toggle_subscription(uid, "RU")
        if i % 3 == 0:
            await storage.toggle_subscription(uid, "KZ")
        people[uid] = locale
    return people


def _deliveries(stub: BotAPIStub) -> Counter[int]:
    """Messages the stub accepted (200), per chat."""
    got: Counter[int] = Counter()
    for call, response in zip(stub.calls, stub.responses, strict=True):
        if call.method == "sendMessage" and response is not None and response[0] == 200:
            got[int(call.params["chat_id"])] += 1
    return got


def _check_texts(
    stub: BotAPIStub, people: dict[int, str], expected: dict[str, str] = TEXTS
) -> None:
    """Everyone was sent the text of their own locale, escaped for HTML."""
    for call in stub.calls:
        uid = call.params.get("chat_id")
        if call.method == "sendMessage" and uid in people:
            assert call.params["text"] == html.escape(expected[people[uid]])
            assert call.params["parse_mode"] == "HTML"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # PTB's RetryAfter int form
async def test_two_thousand_subscribers_with_429_403_and_a_kill(
    stub: BotAPIStub, tmp_path: Path
) -> None:
    """2,000 subscribers, 50 of whom blocked the bot; 429s at the start and twice on the
    way; the sender is killed with one send in flight, then a new one resumes on the same
    database. The clock runs 10 times faster than real time (limits are the real ones)."""
    db = tmp_path / "broadcast.db"
    clock = ScaledClock(scale=10)
    storage = await Storage.open(db)
    people = await _populate(storage, 2000)
    blocked = set(list(people)[7::40])  # 50 people
    for uid in blocked:
        stub.block(uid)
    broadcast_id, total = await storage.create_broadcast(ADMIN, ["RU", "KZ"], TEXTS, "ru")
    assert total == 2000

    began = time.monotonic()
    stub.fail_next("sendMessage", 429, times=2, retry_after=1)

    async def inject_429s() -> None:
        for at, times, after in ((400, 2, 1), (1500, 1, 2)):
            while sum(_deliveries(stub).values()) < at:
                await asyncio.sleep(0.005)
            stub.fail_next("sendMessage", 429, times=times, retry_after=after)

    injector = asyncio.create_task(inject_429s())
    async with Bot(stub.token, base_url=stub.url) as bot:
        first = Broadcaster(storage, bot, clock=clock, record=True)
        await first.start()
        while sum(_deliveries(stub).values()) < 1000:
            await asyncio.sleep(0.005)
        # the next send stays in flight (answered 0.3 s late) when the sender is killed
        stub.delay_next("sendMessage", 0.3)
        mark = stub.mark()
        in_flight = await stub.wait_for("sendMessage", timeout=5, since=mark)
        await first.kill()
        await storage.close()
        await asyncio.sleep(0.4)  # the stand-in delivers it anyway: its answer is lost

    async with Bot(stub.token, base_url=stub.url) as bot:
        storage = await Storage.open(db)
        second = Broadcaster(storage, bot, clock=clock, record=True)
        await second.start()
        await asyncio.wait_for(wait_until_done(storage, clock), timeout=60)
        await second.stop()
    injector.cancel()
    wall = time.monotonic() - began

    got = _deliveries(stub)
    wanted = set(people) - blocked
    twice = {uid for uid in wanted if got[uid] > 1}
    assert {uid for uid in wanted if got[uid] == 0} == set()  # nobody skipped
    assert twice <= {in_flight.params["chat_id"]}  # at most the one in flight
    assert all(got[uid] <= 2 for uid in wanted)
    assert all(got[uid] == 0 for uid in blocked)
    _check_texts(stub, people)

    counts = await storage.outbox_counts(broadcast_id)
    assert counts == {"pending": 0, "sending": 0, "sent": 1950, "blocked": 50, "failed": 0}
    for uid in list(blocked)[:5]:
        assert await storage.subscriptions(uid) == set()
    assert await storage.subscriptions(next(iter(wanted))) != set()

    # pacing, in the sender's clock and as the stand-in saw it (arrival times, scaled)
    sends = [c for c in stub.calls if c.method == "sendMessage"]
    statuses = Counter(r[0] for c, r in zip(stub.calls, stub.responses, strict=True)
                       if c.method == "sendMessage" and r)  # fmt: skip
    assert statuses[429] == 5 and statuses[403] == 50
    assert first.pacer.log is not None and second.pacer.log is not None
    own = max_in_window([t for t, _ in first.pacer.log + second.pacer.log])
    seen = max_in_window([clock.of(c.at) for c in sends])
    assert own <= 30 and seen <= 30
    # after a 429 the message is tried again only after retry_after (sender's clock)
    for i, (call, response) in enumerate(zip(stub.calls, stub.responses, strict=True)):
        if call.method == "sendMessage" and response and response[0] == 429:
            retry = response[1]["parameters"]["retry_after"]
            again = next(c for c in stub.calls[i + 1 :] if c.params == call.params)
            assert clock.of(again.at) - clock.of(call.at) >= retry - 0.05
    # the administrator heard: resumed progress, then the final counts
    reports = [c.params["text"] for c in sends if c.params["chat_id"] == ADMIN]
    assert len(reports) >= 2  # progress on resuming, and the end
    assert sorted(map(int, re.findall(r"\d+", reports[-1]))) == [0, broadcast_id, 50, 1950]
    await storage.close()

    duration = clock.of(sends[-1].at) - clock.of(sends[0].at)
    print(
        f"\n2000 subscribers: {len(sends)} sendMessage requests ({statuses[200]} ok, "
        f"{statuses[429]} 429, {statuses[403]} 403); max {own} per second (sender clock), "
        f"{seen} as the stand-in saw it; duplicates {len(twice)} (in flight at the kill); "
        f"{duration:.1f} s in the sender's clock, {wall:.1f} s wall"
    )


async def test_real_rate_through_the_application(
    stub: BotAPIStub, tmp_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    """The real application (AIORateLimiter, worker started in post_init) at the real
    limits: the admin's /broadcast reaches 120 subscribers, no second over 30 sends."""
    db = tmp_path / "real.db"
    storage = await Storage.open(db)
    people = await _populate(storage, 120, first_id=900_000)
    blocked = {900_003, 900_050}
    for uid in blocked:
        stub.block(uid)
    await storage.close()
    settings = Settings(  # type: ignore[call-arg]
        BOT_TOKEN=stub.token, SAFAR_BOT_API_URL=stub.root, SAFAR_DB=db, SAFAR_ADMINS=str(ADMIN)
    )
    app = build_application(settings, kb=kb, searcher=searcher)
    await app.initialize()
    await open_services(app)
    assert isinstance(app.bot_data[BROADCASTER_KEY], Broadcaster)
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        admin = stub.make_user(ADMIN, "Admin", language_code="ru")
        mark = stub.mark()
        stub.push_text(broadcast_command(), chat_id=ADMIN, user=admin)
        began = time.monotonic()

        def final(call: Any) -> bool:
            return (
                call.method == "sendMessage"
                and call.params.get("chat_id") == ADMIN
                and "118" in call.params["text"]
            )

        await stub.wait_for(final, timeout=30, since=mark)
        elapsed = time.monotonic() - began
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await close_services(app)
    got = _deliveries(stub)
    assert all(got[uid] == 1 for uid in set(people) - blocked)
    assert all(got[uid] == 0 for uid in blocked)
    _check_texts(stub, people, parse_broadcast(broadcast_command())[1])
    sends = [c.at for c in stub.calls if c.method == "sendMessage"]
    assert max_in_window(sends) <= 30
    assert elapsed >= 3.5  # 121 sends at under 30 a second
    print(f"\n120 subscribers at the real rate: max {max_in_window(sends)}/s, {elapsed:.1f} s")


async def test_pacer_limits_per_chat_and_pause() -> None:
    """One chat gets at most one send a second; a pause holds every send."""
    clock = ScaledClock(scale=50)
    pacer = Pacer(clock, per_second=30, record=True)
    for _ in range(3):
        await pacer.acquire(1)
    pacer.pause(2.0)
    await pacer.acquire(2)
    assert pacer.log is not None
    times = [t for t, _ in pacer.log]
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 1.0
    assert times[3] - times[2] >= 2.0
