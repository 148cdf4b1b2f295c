"""Delivering referrals to caseworkers, through the real Application on a recording
transport: the case card, retries without loss or repeat, claims, allow-lists, /cases,
escalation, webhooks, withdrawal, anonymisation and the export."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import TimedOut

from bot import cases
from bot.app import SafarApp, build_application, close_services, open_services
from bot.cases import NewCase, open_case
from bot.delivery import Delivery, render_card, sign
from bot.i18n import gettext_for
from bot.services import Services
from bot.settings import Settings
from bot.transport import OFFLINE_TOKEN, Call, RecordingRequest
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher
from tests.conftest import Harness, user

KZ_CHAT = -1001000000111
IOM_CHAT = -1001000000222
WORKER, COLLEAGUE, IOM_WORKER, STRANGER = 111, 112, 221, 666
PERSON = 987654321
PHONE = "+77015550123"
USERNAME = "@aigerim_bishkek_77"
CITY = "Шымкент"
KEY = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTEyMzQ="


class FakeClock:
    """Time that moves only when the test (or a sleep) moves it."""

    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)

    def utc(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.t, dt.UTC)


class FaultyRequest(RecordingRequest):
    """RecordingRequest that can also answer 429 with retry_after, 5xx, or time out."""

    def __init__(self) -> None:
        super().__init__()
        self.faults: list[tuple[str, int | None, dict[str, Any]]] = []

    def fail(self, method: str, status: int | None, **parameters: Any) -> None:
        """Next call of *method*: *status* (None: a time-out after it arrived)."""
        self.faults.append((method, status, parameters))

    async def do_request(self, url: str, method: str, request_data: Any = None, **kw: Any) -> Any:
        api_method = url.rsplit("/", 1)[-1]
        for index, (name, status, parameters) in enumerate(self.faults):
            if name == api_method:
                del self.faults[index]
                params = dict(request_data.parameters) if request_data else {}
                self.calls.append(Call(api_method, params, None))
                if status is None:
                    raise TimedOut("timed out")
                body: dict[str, Any] = {"ok": False, "error_code": status,
                                        "description": f"Error {status}"}  # fmt: skip
                if parameters:
                    body["parameters"] = parameters
                return status, json.dumps(body).encode()
        return await super().do_request(url, method, request_data, **kw)


@dataclass
class World:
    harness: Harness
    request: FaultyRequest
    services: Services
    delivery: Delivery
    clock: FakeClock
    settings: Settings
    ids: itertools.count[int] = dataclasses.field(default_factory=lambda: itertools.count(500))

    @property
    def app(self) -> SafarApp:
        return self.harness.app

    def sent(self, chat_id: int, method: str = "sendMessage", since: int = 0) -> list[Call]:
        return [
            c
            for c in self.request.calls[since:]
            if c.method == method and c.params.get("chat_id") == chat_id and c.result is not None
        ]

    async def open(self, **changes: Any) -> int:
        return await open_case(
            self.services.storage, self.services.cipher, new_case(**changes), self.clock.utc()
        )

    async def press(self, data: str, user_id: int, chat_id: int, message_id: int = 1) -> list[Call]:
        """A button press by *user_id* under message *message_id* of chat *chat_id*."""
        chat: dict[str, Any] = (
            {"id": chat_id, "type": "private", "first_name": "W"}
            if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "NGO"}
        )
        return await self.harness.feed(
            {
                "callback_query": {
                    "id": str(next(self.ids)),
                    "from": user(user_id, "ru"),
                    "chat_instance": "1",
                    "data": data,
                    "message": {
                        "message_id": message_id,
                        "date": int(time.time()),
                        "chat": chat,
                        "text": "…",
                    },
                }
            }
        )

    async def command(self, text: str, user_id: int, chat_id: int) -> list[Call]:
        chat: dict[str, Any] = (
            {"id": chat_id, "type": "private", "first_name": "W"}
            if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "NGO"}
        )
        message = {
            "message_id": next(self.ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user(user_id, "ru"),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        }
        return await self.harness.feed({"message": message})


def new_case(**changes: Any) -> NewCase:
    base = NewCase(
        telegram_id=PERSON,
        chat_id=PERSON,
        locale="ky",
        organisation_id="kz-legal",
        urgency="urgent",
        needs={"legal": ["passport=held"], "economic": ["food_money=none"]},
        answers={"country": "KZ", "city": CITY, "feeling": "anxious"},
        country="KZ",
        city=CITY,
        contact={"telegram": USERNAME, "phone": PHONE},
        consent_version="consent-v1",
        consent_scope=("case", "fallback"),
        risk_level="high",
    )
    return dataclasses.replace(base, **changes)


def settings_for(db: Path, **extra: Any) -> Settings:
    return Settings(  # type: ignore[call-arg]
        SAFAR_DB=db,
        SAFAR_DATA_KEY=KEY,
        SAFAR_ORG_CHATS={"kz-legal": KZ_CHAT, "iom-kz": IOM_CHAT},
        SAFAR_CASEWORKERS={"kz-legal": [WORKER, COLLEAGUE], "iom-kz": [IOM_WORKER]},
        SAFAR_ORG_LOCALES={"iom-kz": "ky"},
        SAFAR_FALLBACK_ORG="iom-kz",
        SAFAR_ESCALATE_MINUTES=30,
        SAFAR_CASE_RETENTION_DAYS=30,
        **extra,
    )


@pytest.fixture
async def world(tmp_path: Path, kb: KnowledgeBase, searcher: Searcher) -> AsyncIterator[World]:
    async with make_world(tmp_path / "d.db", kb, searcher) as made:
        yield made


class make_world:
    def __init__(self, db: Path, kb: KnowledgeBase, searcher: Searcher, **extra: Any) -> None:
        self.settings = settings_for(db, **extra)
        self.request = FaultyRequest()
        self.app = build_application(self.settings, kb=kb, request=self.request, searcher=searcher)
        self.clock = FakeClock()
        self.bot = Bot(OFFLINE_TOKEN, request=self.request)

    async def __aenter__(self) -> World:
        await self.app.initialize()
        await open_services(self.app)
        await self.bot.initialize()
        svc = self.app.bot_data["safar"]
        delivery = Delivery(svc.storage, svc.cipher, self.bot, self.settings, clock=self.clock)
        self.world = World(
            Harness(self.app, self.request), self.request, svc, delivery, self.clock, self.settings
        )
        return self.world

    async def __aexit__(self, *exc: object) -> None:
        await self.world.delivery.stop()
        await close_services(self.app)
        await self.app.shutdown()


def card_text(call: Call) -> str:
    return str(call.params["text"])


def button_data(call: Call) -> list[str]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


# ------------------------------------------------------------------ the card


async def test_the_card_reaches_the_organisations_chat_once_with_what_a_caseworker_needs(
    world: World,
) -> None:
    case_id = await world.open()
    assert await world.delivery.drain() == 1
    [card] = world.sent(KZ_CHAT)
    text = card_text(card)
    _ = gettext_for("ru")  # kz-legal has no locale set: Russian
    assert _("Referral no. {id}").format(id=case_id) in text
    assert _("🟠 Urgent") in text
    assert _("Legal help") in text and "passport=held" in text and "food_money=none" in text
    assert "Казахстан" in text and CITY in text
    assert "Кыргызча" in text
    assert USERNAME in text and PHONE in text
    assert "consent-v1" in text
    # Never the danger level or the raw answers.
    assert "high" not in text and "anxious" not in text
    assert button_data(card) == [f"cw:a:{case_id}", f"cw:c:{case_id}", f"cw:u:{case_id}",
                                 f"cw:x:{case_id}"]  # fmt: skip
    assert await world.delivery.drain() == 0  # nothing more to send
    assert len(world.sent(KZ_CHAT)) == 1
    events = [e[1] for e in await cases.events(world.services.storage, case_id)]
    assert events == ["opened", "delivered"]


async def test_the_card_is_in_the_organisations_language(world: World) -> None:
    case_id = await world.open(organisation_id="iom-kz", locale="tg")
    await world.delivery.drain()
    [card] = world.sent(IOM_CHAT)
    _ = gettext_for("ky")
    assert _("Referral no. {id}").format(id=case_id) in card_text(card)
    assert _("Legal help") in card_text(card) and _("Legal help") != "Legal help"
    assert "Тоҷикӣ" in card_text(card)


async def test_429_then_500_then_a_time_out_delay_the_card_but_never_lose_or_repeat_it(
    world: World,
) -> None:
    case_id = await world.open()
    world.request.fail("sendMessage", 429, retry_after=7)
    world.request.fail("sendMessage", 500)
    world.request.fail("sendMessage", None)  # time-out: it may have arrived
    start = world.clock.t
    for _round in range(4):
        await world.delivery.drain()
        due = await cases.next_job_due(world.services.storage)
        if due is None:
            break
        world.clock.t = max(world.clock.t, due)
    [card] = world.sent(KZ_CHAT)
    attempts = [c for c in world.request.calls if c.params.get("chat_id") == KZ_CHAT]
    assert len(attempts) == 4  # 429, 500, time-out, success
    assert world.clock.t - start >= 7 + 5 + 10  # retry_after, then back-off 5 s, 10 s
    # After the time-out the card says it may be a repeat, and it is the same case.
    _ = gettext_for("ru")
    assert _("Referral no. {id}").format(id=case_id) in card_text(card)
    assert "🔁" in card_text(card)
    rows = await cases.outbox_rows(world.services.storage, case_id)
    assert rows == [("case", "kz-legal", "sent", 3)]  # the 429 did not count


async def test_a_kill_between_writing_and_sending_delivers_once_after_restart(
    world: World,
) -> None:
    case_id = await world.open()
    # The worker claimed the job and was killed before any answer was recorded.
    item = await cases.claim_job(world.services.storage, world.clock.now())
    assert item is not None
    restarted = Delivery(
        world.services.storage, world.services.cipher, world.delivery._bot, world.settings,
        clock=world.clock,
    )  # fmt: skip
    await restarted.start()
    try:
        for _try in range(100):
            if world.sent(KZ_CHAT):
                break
            await asyncio.sleep(0.01)
    finally:
        await restarted.stop()
    [card] = world.sent(KZ_CHAT)
    assert f"cw:a:{case_id}" in button_data(card)
    assert "🔁" in card_text(card)  # in doubt: it says it may be a repeat
    assert await world.delivery.drain() == 0
    assert len(world.sent(KZ_CHAT)) == 1


# ------------------------------------------------------------------ caseworkers


async def test_first_accept_wins_the_card_updates_and_the_person_is_told(world: World) -> None:
    case_id = await world.open()
    await world.delivery.drain()
    calls = await world.press(f"cw:a:{case_id}", WORKER, KZ_CHAT)
    _ = gettext_for("ru")
    [answer] = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answer.params["text"] == _("You have taken referral no. {id}.").format(id=case_id)
    [edit] = [c for c in calls if c.method == "editMessageText"]
    assert _("Status: taken by a caseworker.") in card_text(edit)
    assert f"cw:a:{case_id}" not in button_data(edit) and f"cw:x:{case_id}" in button_data(edit)

    late = await world.press(f"cw:a:{case_id}", COLLEAGUE, KZ_CHAT)
    [refused] = [c for c in late if c.method == "answerCallbackQuery"]
    assert refused.params["text"] == _(
        "Referral no. {id} is already taken by another caseworker."
    ).format(id=case_id)

    await world.delivery.drain()
    [told] = world.sent(PERSON)
    ky = gettext_for("ky")
    assert told.params["text"] == ky(
        "Good news: a caseworker has taken your request (no. {id}). They will contact "
        "you soon. You can withdraw it at any time with /delete."
    ).format(id=case_id)
    history = await cases.events(world.services.storage, case_id)
    assert [(e[1], e[3]) for e in history] == [
        ("opened", None),
        ("delivered", None),
        ("accepted", WORKER),
    ]


async def test_status_buttons_belong_to_the_caseworker_who_claimed(world: World) -> None:
    case_id = await world.open()
    await world.delivery.drain()
    _ = gettext_for("ru")
    early = await world.press(f"cw:c:{case_id}", WORKER, KZ_CHAT)
    assert [c.params["text"] for c in early if c.method == "answerCallbackQuery"] == [
        _("Accept the referral first.")
    ]
    await world.press(f"cw:a:{case_id}", WORKER, KZ_CHAT)
    other = await world.press(f"cw:x:{case_id}", COLLEAGUE, KZ_CHAT)
    assert [c.params["text"] for c in other if c.method == "answerCallbackQuery"] == [
        _("Another caseworker has this referral.")
    ]
    await world.press(f"cw:u:{case_id}", WORKER, KZ_CHAT)
    await world.press(f"cw:c:{case_id}", WORKER, KZ_CHAT)
    closed = await world.press(f"cw:x:{case_id}", WORKER, KZ_CHAT)
    [edit] = [c for c in closed if c.method == "editMessageText"]
    assert _("Status: closed.") in card_text(edit) and not button_data(edit)
    history = [(e[1], e[3]) for e in await cases.events(world.services.storage, case_id)]
    assert history[2:] == [
        ("accepted", WORKER),
        ("unreachable", WORKER),
        ("contacted", WORKER),
        ("closed", WORKER),
    ]


async def test_a_stranger_sees_nothing_and_changes_nothing(world: World) -> None:
    case_id = await world.open()
    await world.delivery.drain()
    storage = world.services.storage

    async def snapshot() -> list[Any]:
        found = []
        for table in ("cases", "case_events", "referral_outbox", "consents", "users"):
            async with storage.conn.execute(f"SELECT * FROM {table} ORDER BY 1") as cur:
                found.append(list(await cur.fetchall()))
        return found

    before = await snapshot()
    _ = gettext_for("ru")
    calls: list[Call] = []
    for data in (f"cw:a:{case_id}", f"cw:x:{case_id}", f"cw:v:{case_id}", "cw:a:999"):
        calls += await world.press(data, STRANGER, STRANGER)  # forged, in a private chat
        calls += await world.press(data, STRANGER, KZ_CHAT)  # a member of the NGO's group
        calls += await world.press(data, IOM_WORKER, KZ_CHAT)  # another NGO's caseworker
    calls += await world.press(f"cw:a:{case_id}", WORKER, -100999)  # an unknown group
    calls += await world.command("/cases", STRANGER, STRANGER)
    calls += await world.command("/cases", STRANGER, KZ_CHAT)
    calls += await world.command("/cases", WORKER, -100999)
    assert await snapshot() == before
    assert {c.method for c in calls} == {"answerCallbackQuery", "sendMessage"}
    said = {str(c.params.get("text")) for c in calls}
    assert said == {
        _("This button is not available."),
        _("This command is for caseworkers of partner organisations."),
    }
    await world.delivery.drain()
    assert not world.sent(PERSON)


async def test_cases_lists_a_caseworkers_open_cases_and_shows_a_card(world: World) -> None:
    mine = await world.open()
    waiting = await world.open(telegram_id=5, chat_id=5)
    elsewhere = await world.open(organisation_id="iom-kz")
    await world.delivery.drain()
    await world.press(f"cw:a:{mine}", WORKER, KZ_CHAT)
    _ = gettext_for("ru")
    calls = await world.command("/cases", WORKER, WORKER)
    [listing] = [c for c in calls if c.method == "sendMessage"]
    text = card_text(listing)
    assert _("Referral no. {id}").format(id=mine) in text and _("taken by you") in text
    assert _("Referral no. {id}").format(id=waiting) in text
    assert _("waiting for a caseworker") in text
    assert _("Referral no. {id}").format(id=elsewhere) not in text
    assert button_data(listing) == [f"cw:v:{mine}", f"cw:v:{waiting}"]
    # The colleague sees the unclaimed one only.
    colleague = await world.command("/cases", COLLEAGUE, COLLEAGUE)
    assert button_data(next(c for c in colleague if c.method == "sendMessage")) == [
        f"cw:v:{waiting}"
    ]
    shown = await world.press(f"cw:v:{waiting}", WORKER, WORKER)
    [card] = [c for c in shown if c.method == "sendMessage"]
    assert f"cw:a:{waiting}" in button_data(card) and PHONE in card_text(card)
    # Acting from the private chat refreshes the card in the organisation's chat.
    await world.press(f"cw:a:{waiting}", WORKER, WORKER)
    mark = len(world.request.calls)
    await world.delivery.drain()
    [edit] = world.sent(KZ_CHAT, "editMessageText", since=mark)
    assert _("Status: taken by a caseworker.") in card_text(edit)


async def test_nobody_with_no_open_cases_gets_an_empty_list(world: World) -> None:
    calls = await world.command("/cases", IOM_WORKER, IOM_WORKER)
    _ = gettext_for("ru")
    assert [c.params["text"] for c in calls if c.method == "sendMessage"] == [
        _("You have no open referrals.")
    ]


# ------------------------------------------------------------------ escalation, failover


async def test_an_unclaimed_urgent_case_escalates_to_the_fallback_organisation(
    world: World,
) -> None:
    case_id = await world.open()
    routine = await world.open(urgency="routine")
    await world.delivery.drain()
    await world.delivery.maintain(force=True)
    assert not world.sent(IOM_CHAT)  # not yet due
    world.clock.t += 31 * 60
    await world.delivery.maintain(force=True)
    await world.delivery.drain()
    [card] = world.sent(IOM_CHAT)
    ky = gettext_for("ky")
    assert ky("Referral no. {id}").format(id=case_id) in card_text(card)
    assert routine not in [int(d.split(":")[2]) for d in button_data(card)]
    # The fallback's caseworker accepts; the first organisation's card says so.
    await world.press(f"cw:a:{case_id}", IOM_WORKER, IOM_CHAT)
    mark = len(world.request.calls)
    await world.delivery.drain()
    [refresh] = world.sent(KZ_CHAT, "editMessageText", since=mark)
    _ = gettext_for("ru")
    assert _("Status: taken by another organisation.") in card_text(refresh)
    assert not button_data(refresh)
    late = await world.press(f"cw:a:{case_id}", WORKER, KZ_CHAT)
    assert [c.params["text"] for c in late if c.method == "answerCallbackQuery"] == [
        _("Referral no. {id} is already taken by another caseworker.").format(id=case_id)
    ]
    events = [e[1] for e in await cases.events(world.services.storage, case_id)]
    assert events == ["opened", "delivered", "escalated", "delivered", "accepted"]


async def test_a_chat_that_refuses_the_card_sends_it_to_the_fallback(world: World) -> None:
    case_id = await world.open()
    world.request.fail("sendMessage", 403)
    await world.delivery.drain()
    [card] = world.sent(IOM_CHAT)
    assert f"cw:a:{case_id}" in button_data(card)
    assert [e[1] for e in await cases.events(world.services.storage, case_id)] == [
        "opened",
        "delivery_failed",
        "escalated",
        "delivered",
    ]


async def test_without_consent_for_a_fallback_nothing_goes_elsewhere(world: World) -> None:
    case_id = await world.open(consent_scope=("case",))
    world.request.fail("sendMessage", 400)
    await world.delivery.drain()
    world.clock.t += 3600
    await world.delivery.maintain(force=True)
    await world.delivery.drain()
    assert not world.sent(IOM_CHAT) and not world.sent(KZ_CHAT)
    assert await cases.outbox_rows(world.services.storage, case_id) == [
        ("case", "kz-legal", "failed", 1)
    ]


# ------------------------------------------------------------------ privacy


async def test_delete_withdraws_the_case_and_tells_the_organisation(
    world: World, tmp_path: Path
) -> None:
    case_id = await world.open()
    await world.delivery.drain()
    [card] = world.sent(KZ_CHAT)
    await world.harness.press("del:yes", user_id=PERSON)
    mark = len(world.request.calls)
    await world.delivery.drain()
    [edit] = world.sent(KZ_CHAT, "editMessageText", since=mark)
    [notice] = world.sent(KZ_CHAT, since=mark)
    _ = gettext_for("ru")
    assert PHONE not in card_text(edit) and USERNAME not in card_text(edit)
    assert not button_data(edit)
    assert edit.params["message_id"] == card.result["message_id"]
    assert notice.params["text"] == _("Referral no. {id} was withdrawn by the person.").format(
        id=case_id
    )
    gone = await cases.load_case(world.services.storage, world.services.cipher, case_id)
    assert gone is not None and gone.state == cases.WITHDRAWN and not gone.contact
    # A late Accept does nothing.
    late = await world.press(f"cw:a:{case_id}", WORKER, KZ_CHAT)
    assert [c.params["text"] for c in late if c.method == "answerCallbackQuery"] == [
        _("This referral was withdrawn.")
    ]


async def test_a_case_withdrawn_before_delivery_never_reaches_anyone(world: World) -> None:
    await world.open()
    await world.harness.press("del:yes", user_id=PERSON)
    await world.delivery.drain()
    assert not world.sent(KZ_CHAT) and not world.sent(IOM_CHAT)


async def test_closed_cases_are_anonymised_after_the_retention_days(world: World) -> None:
    case_id = await world.open()
    await world.delivery.drain()
    await world.press(f"cw:a:{case_id}", WORKER, KZ_CHAT)
    await world.press(f"cw:x:{case_id}", WORKER, KZ_CHAT)
    await world.delivery.maintain(force=True)
    kept = await cases.load_case(world.services.storage, world.services.cipher, case_id)
    assert kept is not None and kept.contact
    world.clock.t += 31 * 86400
    await world.delivery.maintain(force=True)
    gone = await cases.load_case(world.services.storage, world.services.cipher, case_id)
    assert gone is not None and not gone.contact and gone.city is None


async def test_logs_hold_no_personal_data(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # libraries as bot.logs caps them
    caplog.set_level(logging.DEBUG, logger="bot")
    case_id = await world.open()
    world.request.fail("sendMessage", 500)
    await world.delivery.drain()
    world.clock.t += 60
    await world.delivery.drain()
    await world.press(f"cw:a:{case_id}", WORKER, KZ_CHAT)
    await world.press(f"cw:a:{case_id}", STRANGER, STRANGER)
    await world.delivery.drain()
    await world.harness.press("del:yes", user_id=PERSON)
    await world.delivery.drain()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "referral" in logged  # it does log, by case id
    for secret in (PHONE, USERNAME, CITY, str(PERSON), "passport=held", str(STRANGER)):
        assert secret not in logged


# ------------------------------------------------------------------ webhooks


@pytest.fixture
async def receiver() -> AsyncIterator[dict[str, Any]]:
    """A case system on 127.0.0.1 that fails as told, then records signed deliveries."""
    state: dict[str, Any] = {"fail": [], "got": []}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        state["got"].append((dict(request.headers), body))
        if state["fail"]:
            return web.Response(status=state["fail"].pop(0))
        return web.Response(status=202)

    app = web.Application()
    app.add_routes([web.post("/referrals", handle)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/referrals"
    yield state
    await runner.cleanup()


SECRET = "shared-secret-0123456789"


async def test_a_webhook_gets_the_case_as_signed_json_retried_until_2xx(
    tmp_path: Path, kb: KnowledgeBase, searcher: Searcher, receiver: dict[str, Any]
) -> None:
    hooks = {"kz-legal": {"url": receiver["url"], "secret": SECRET}}
    async with make_world(tmp_path / "w.db", kb, searcher, SAFAR_ORG_WEBHOOKS=hooks) as w:
        case_id = await w.open()
        receiver["fail"] = [503, 500]
        for _round in range(4):
            await w.delivery.drain()
            due = await cases.next_job_due(w.services.storage)
            if due is None:
                break
            w.clock.t = max(w.clock.t, due)
        assert len(receiver["got"]) == 3
        assert not w.sent(KZ_CHAT)  # the webhook replaces the card
        ids = {headers["X-Safar-Delivery"] for headers, _body in receiver["got"]}
        assert ids == {f"safar-{case_id}-case-kz-legal"}  # one idempotency key for all tries
        headers, body = receiver["got"][-1]
        expected = (
            "sha256="
            + hmac.new(
                SECRET.encode(), headers["X-Safar-Timestamp"].encode() + b"." + body, hashlib.sha256
            ).hexdigest()
        )
        assert hmac.compare_digest(headers["X-Safar-Signature"], expected)
        assert headers["X-Safar-Signature"] == sign(SECRET, headers["X-Safar-Timestamp"], body)
        payload = json.loads(body)
        assert payload["event"] == "referral.created"
        referral = payload["referral"]
        assert referral["case_id"] == case_id and referral["urgency"] == "urgent"
        assert {"service": "legal", "reasons": ["passport=held"]} in referral["services"]
        assert referral["language"] == "ky"
        assert referral["location"] == {"country": "KZ", "city": CITY}
        assert referral["contact"] == {"telegram": USERNAME, "phone": PHONE}
        assert referral["consent"]["version"] == "consent-v1"
        assert "risk_level" not in body.decode() and "high" not in body.decode()
        assert await cases.outbox_rows(w.services.storage, case_id) == [
            ("case", "kz-legal", "sent", 3)
        ]
        # Withdrawal reaches the case system too.
        await w.harness.press("del:yes", user_id=PERSON)
        await w.delivery.drain()
        headers, body = receiver["got"][-1]
        assert json.loads(body) == {
            "event": "referral.withdrawn",
            "delivery_id": f"safar-{case_id}-withdrawn-kz-legal",
            "referral": {"case_id": case_id},
        }


async def test_a_webhook_that_refuses_for_good_fails_over_to_the_fallback(
    tmp_path: Path, kb: KnowledgeBase, searcher: Searcher, receiver: dict[str, Any]
) -> None:
    hooks = {"kz-legal": {"url": receiver["url"], "secret": SECRET}}
    async with make_world(tmp_path / "w.db", kb, searcher, SAFAR_ORG_WEBHOOKS=hooks) as w:
        case_id = await w.open()
        receiver["fail"] = [401]
        await w.delivery.drain()
        [card] = w.sent(IOM_CHAT)
        assert f"cw:a:{case_id}" in button_data(card)


def test_render_card_has_no_buttons_once_closed_or_withdrawn() -> None:
    base = cases.Case(
        id=7, organisation_id="kz-legal", locale="uz", urgency="crisis",
        needs={"shelter": ["shelter=none"]}, country="RU", city=None, contact={"telegram": "42"},
        state=cases.CLOSED, claimed_by=1, claimed_org="kz-legal", created_at="x",
        updated_at="x", escalated_at=None, consent_version="v", consent_scope=("case",),
        consent_given_at="2026-12-05T22:40:00+00:00",
    )  # fmt: skip
    text, markup = render_card(base, "ru", "kz-legal")
    assert markup is None and "tg://user?id=42" in text and "2026-12-05 22:40 UTC" in text
    assert "Россия" in text and "O‘zbekcha" in text
    text, markup = render_card(dataclasses.replace(base, state=cases.WITHDRAWN), "ru", "kz-legal")
    assert markup is None and "42" not in text.replace("no. 7", "")


# ------------------------------------------------------------------ export


async def test_export_cases_gives_anonymous_counts_as_json_and_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main
    from bot.storage import Storage

    db = tmp_path / "export.db"
    cipher = __import__("bot.crypto", fromlist=["Cipher"]).Cipher(KEY)
    now = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
    async with await Storage.open(db) as storage:
        await open_case(storage, cipher, new_case(), now)
        await open_case(storage, cipher, new_case(country="RU", needs={"shelter": []}), now)
    monkeypatch.setenv("SAFAR_DB", str(db))
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    assert await asyncio.to_thread(main, ["export-cases"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["totals"]["cases"] == 2
    assert report["totals"]["by_need"] == {"economic": 1, "legal": 1, "shelter": 1}
    assert report["totals"]["by_country"] == {"KZ": 1, "RU": 1}
    assert report["totals"]["by_week"] == {"2026-W49": 2}
    assert {"week": "2026-W49", "country": "RU", "urgency": "urgent", "need": "shelter",
            "cases": 1} in report["rows"]  # fmt: skip
    out = tmp_path / "counts.csv"
    assert (
        await asyncio.to_thread(main, ["export-cases", "--format", "csv", "--out", str(out)]) == 0
    )
    lines = out.read_text().splitlines()
    assert lines[0] == "week,country,urgency,need,cases" and len(lines) == 4
    exported = out.read_text() + json.dumps(report, ensure_ascii=False)
    for secret in (PHONE, USERNAME, CITY, str(PERSON), "passport=held"):
        assert secret not in exported


def test_the_fallback_is_the_directorys_unless_set(tmp_path: Path) -> None:
    from bot.delivery import fallback_org
    from knowledge.services import directory

    assert fallback_org(Settings(SAFAR_DB=tmp_path / "x.db")) == directory().fallback  # type: ignore[call-arg]
    assert fallback_org(settings_for(tmp_path / "x.db")) == "iom-kz"


async def test_the_cards_reasons_are_words_in_the_organisations_language(world: World) -> None:
    needs = {"legal": ["coercion=passport"], "shelter": ["money=no_shelter"]}
    await world.open(needs=needs)
    await world.delivery.drain()
    [card] = world.sent(KZ_CHAT)
    text = card_text(card)
    _ = gettext_for("ru")
    assert "coercion=passport" not in text and "money=no_shelter" not in text
    assert _("🛂 Someone keeps my passport") in text
    assert _("🏚️ I have nowhere to sleep") in text
