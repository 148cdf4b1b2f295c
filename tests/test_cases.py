"""Referral cases in storage: one transaction for consent + case + outbox, encryption at
rest, first Accept wins, withdrawal, anonymisation, escalation, anonymous export."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from bot import cases
from bot.cases import NewCase, open_case
from bot.crypto import Cipher
from bot.storage import Storage

NOW = dt.datetime(2026, 12, 5, 22, 40, tzinfo=dt.UTC)
KEY = "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTEyMzQ="

#: Personal details that must never be readable in the database file.
NAME = "Айгерим Токтогулова"
PHONE = "+77015550123"
USERNAME = "@aigerim_bishkek_77"
CITY = "Шымкент-Самал"
FREE_TEXT = "хозяин забрал паспорт и не платит"


def new_case(**changes: object) -> NewCase:
    base = NewCase(
        telegram_id=987654321,
        chat_id=987654321,
        locale="ky",
        organisation_id="kz-legal",
        urgency="urgent",
        needs={"legal": ["passport=held"], "economic": ["food_money=none", "dependents=5"]},
        answers={"country": "KZ", "city": CITY, "note": FREE_TEXT, "name": NAME, "age": 3},
        country="KZ",
        city=CITY,
        contact={"telegram": USERNAME, "phone": PHONE},
        consent_version="consent-v1",
        consent_scope=("case", "contact:telegram", "contact:phone"),
        risk_level="high",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def storage(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with await Storage.open(tmp_path / "cases.db") as opened:
        yield opened


@pytest.fixture
def cipher() -> Cipher:
    return Cipher(KEY)


async def test_open_case_writes_consent_case_event_and_outbox_together(
    storage: Storage, cipher: Cipher
) -> None:
    case_id = await open_case(storage, cipher, new_case(), NOW)
    case = await cases.load_case(storage, cipher, case_id)
    assert case is not None
    assert case.urgency == "urgent" and case.state == cases.OPEN
    assert case.needs == {
        "economic": ["food_money=none", "dependents=5"],
        "legal": ["passport=held"],
    }
    assert case.contact == {"telegram": USERNAME, "phone": PHONE}
    assert case.city == CITY and case.telegram_id == 987654321
    assert case.consent_version == "consent-v1" and case.consent_given_at.startswith(
        "2026-12-05T22:40"
    )
    assert case.consent_scope == ("case", "contact:telegram", "contact:phone")
    assert await cases.events(storage, case_id) == [
        ("2026-12-05T22:40:00+00:00", "opened", "person", None)
    ]
    assert await cases.outbox_rows(storage, case_id) == [("case", "kz-legal", "pending", 0)]


async def test_a_failed_write_keeps_nothing(
    storage: Storage, cipher: Cipher, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(cases, "_enqueue", broken)
    with pytest.raises(RuntimeError):
        await open_case(storage, cipher, new_case(), NOW)
    for table in ("consents", "cases", "case_events", "referral_outbox"):
        async with storage.conn.execute(f"SELECT COUNT(*) FROM {table}") as cur:
            assert (await cur.fetchone()) == (0,), table


async def test_bad_codes_are_refused(storage: Storage, cipher: Cipher) -> None:
    with pytest.raises(cases.CaseError):
        await open_case(storage, cipher, new_case(urgency="extreme"), NOW)
    with pytest.raises(cases.CaseError):
        await open_case(storage, cipher, new_case(needs={"extremism": []}), NOW)
    with pytest.raises(ValueError):
        await open_case(storage, cipher, new_case(), NOW.replace(tzinfo=None))


async def test_the_database_file_holds_no_readable_personal_data(tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    cipher = Cipher(KEY)
    async with await Storage.open(path) as storage:
        case_id = await open_case(storage, cipher, new_case(), NOW)
        await cases.claim(storage, case_id, "kz-legal", 4242, NOW)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("raw.db"))
    for secret in (NAME, PHONE, PHONE[1:], USERNAME, USERNAME[1:], CITY, FREE_TEXT, "987654321"):
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in raw, secret
    assert b"passport=held" not in raw and b"dependents" not in raw
    # What stays readable is what the anonymous export needs.
    assert b"urgent" in raw and b"legal" in raw and b"KZ" in raw


async def test_first_accept_wins_and_the_person_is_notified_once(
    storage: Storage, cipher: Cipher
) -> None:
    case_id = await open_case(storage, cipher, new_case(), NOW)
    first = await cases.claim(storage, case_id, "kz-legal", 111, NOW)
    second = await cases.claim(storage, case_id, "kz-legal", 222, NOW)
    again = await cases.claim(storage, case_id, "kz-legal", 111, NOW)
    assert first.ok and first.state == cases.ACCEPTED
    assert not second.ok and second.reason == "taken" and second.claimed_by == 111
    assert not again.ok and again.reason == "same"
    rows = await cases.outbox_rows(storage, case_id)
    assert rows.count(("taken", "person", "pending", 0)) == 1
    assert [e[1:] for e in await cases.events(storage, case_id)] == [
        ("opened", "person", None),
        ("accepted", "caseworker", 111),
    ]


async def test_only_the_claimer_changes_the_status_and_each_change_is_logged(
    storage: Storage, cipher: Cipher
) -> None:
    case_id = await open_case(storage, cipher, new_case(), NOW)
    assert (await cases.set_status(storage, case_id, 111, "contacted", NOW)).reason == "not_claimed"
    await cases.claim(storage, case_id, "kz-legal", 111, NOW)
    assert (await cases.set_status(storage, case_id, 222, "closed", NOW)).reason == "not_yours"
    later = NOW + dt.timedelta(hours=1)
    assert (await cases.set_status(storage, case_id, 111, "unreachable", later)).ok
    assert (await cases.set_status(storage, case_id, 111, "contacted", later)).ok
    assert (await cases.set_status(storage, case_id, 111, "closed", later)).ok
    assert (await cases.set_status(storage, case_id, 111, "contacted", later)).reason == "closed"
    history = await cases.events(storage, case_id)
    assert [e[1] for e in history] == ["opened", "accepted", "unreachable", "contacted", "closed"]
    assert history[-1] == ("2026-12-05T23:40:00+00:00", "closed", "caseworker", 111)
    with pytest.raises(cases.CaseError):
        await cases.set_status(storage, case_id, 111, "extremist", later)


async def test_active_cases_lists_mine_and_unclaimed_delivered_ones(
    storage: Storage, cipher: Cipher
) -> None:
    mine = await open_case(storage, cipher, new_case(), NOW)
    waiting = await open_case(storage, cipher, new_case(telegram_id=5), NOW)
    other_org = await open_case(storage, cipher, new_case(organisation_id="tj-help"), NOW)
    for case_id in (mine, waiting, other_org):
        item = await cases.claim_job(storage, NOW.timestamp())
        assert item is not None and item.case_id == case_id
        await cases.job_sent(storage, item, NOW, chat_id=-100, message_id=case_id)
    await cases.claim(storage, mine, "kz-legal", 111, NOW)
    listed = await cases.active_cases(storage, cipher, ["kz-legal"], 111)
    assert [c.id for c in listed] == [mine, waiting]
    await cases.set_status(storage, mine, 111, "closed", NOW)
    assert [c.id for c in await cases.active_cases(storage, cipher, ["kz-legal"], 111)] == [waiting]
    assert await cases.active_cases(storage, cipher, [], 111) == []


async def test_withdrawal_erases_data_withdraws_consent_and_queues_the_notice(
    storage: Storage, cipher: Cipher
) -> None:
    delivered = await open_case(storage, cipher, new_case(), NOW)
    item = await cases.claim_job(storage, NOW.timestamp())
    assert item is not None
    await cases.job_sent(storage, item, NOW, chat_id=-100, message_id=7)
    undelivered = await open_case(storage, cipher, new_case(), NOW)
    someone_else = await open_case(storage, cipher, new_case(telegram_id=77), NOW)

    assert await cases.withdraw_person(storage, cipher, 987654321, NOW) == 2

    for case_id in (delivered, undelivered):
        case = await cases.load_case(storage, cipher, case_id)
        assert case is not None and case.state == cases.WITHDRAWN
        assert case.contact == {} and case.city is None and case.telegram_id is None
        assert case.needs == {"economic": [], "legal": []}  # codes stay for the counts
        assert (await cases.events(storage, case_id))[-1][1:] == ("withdrawn", "person", None)
    assert await cases.outbox_rows(storage, delivered) == [
        ("case", "kz-legal", "sent", 1),
        ("withdrawn", "kz-legal", "pending", 0),
    ]
    assert await cases.outbox_rows(storage, undelivered) == [("case", "kz-legal", "cancelled", 0)]
    async with storage.conn.execute(
        "SELECT COUNT(*) FROM consents WHERE withdrawn_at IS NOT NULL AND person IS NULL"
    ) as cur:
        assert (await cur.fetchone()) == (2,)
    other = await cases.load_case(storage, cipher, someone_else)
    assert other is not None and other.state == cases.OPEN and other.contact
    # A withdrawn case cannot be claimed any more.
    assert (await cases.claim(storage, delivered, "kz-legal", 111, NOW)).reason == "withdrawn"


async def test_finished_cases_are_anonymised_after_the_retention_period(
    storage: Storage, cipher: Cipher
) -> None:
    old = await open_case(storage, cipher, new_case(), NOW)
    await cases.claim(storage, old, "kz-legal", 111, NOW)
    await cases.set_status(storage, old, 111, "closed", NOW)
    recent = await open_case(storage, cipher, new_case(), NOW + dt.timedelta(days=20))
    await cases.claim(storage, recent, "kz-legal", 111, NOW + dt.timedelta(days=20))
    await cases.set_status(storage, recent, 111, "closed", NOW + dt.timedelta(days=20))
    still_open = await open_case(storage, cipher, new_case(), NOW)

    later = NOW + dt.timedelta(days=31)
    assert await cases.anonymise_finished(storage, later - dt.timedelta(days=30), later) == 1
    gone = await cases.load_case(storage, cipher, old)
    assert gone is not None and gone.contact == {} and gone.state == cases.CLOSED
    assert (await cases.events(storage, old))[-1][1:] == ("anonymised", "system", None)
    for kept in (recent, still_open):
        case = await cases.load_case(storage, cipher, kept)
        assert case is not None and case.contact
    assert await cases.anonymise_finished(storage, later - dt.timedelta(days=30), later) == 0


async def test_unclaimed_urgent_cases_escalate_once_and_only_with_consent(
    storage: Storage, cipher: Cipher
) -> None:
    urgent = await open_case(
        storage, cipher, new_case(consent_scope=("case", cases.SCOPE_FALLBACK)), NOW
    )
    no_consent = await open_case(storage, cipher, new_case(), NOW)
    routine = await open_case(
        storage, cipher, new_case(urgency="routine", consent_scope=("fallback",)), NOW
    )
    claimed = await open_case(storage, cipher, new_case(consent_scope=("fallback",)), NOW)
    await cases.claim(storage, claimed, "kz-legal", 111, NOW)
    named = await open_case(
        storage, cipher, new_case(urgency="crisis", consent_scope=("org:iom-kz",)), NOW
    )

    later = NOW + dt.timedelta(minutes=31)
    before = later - dt.timedelta(minutes=30)
    assert await cases.escalate_unclaimed(storage, "iom-kz", before, later) == [urgent, named]
    assert await cases.escalate_unclaimed(storage, "iom-kz", before, later) == []
    assert await cases.outbox_rows(storage, urgent) == [
        ("case", "kz-legal", "pending", 0),
        ("case", "iom-kz", "pending", 0),
    ]
    assert (await cases.events(storage, urgent))[-1][1:] == ("escalated", "system", None)
    for case_id in (no_consent, routine, claimed):
        assert len(await cases.outbox_rows(storage, case_id)) in (1, 2)
        assert "escalated" not in [e[1] for e in await cases.events(storage, case_id)]
    # Not yet due: nothing.
    fresh = await open_case(storage, cipher, new_case(consent_scope=("fallback",)), later)
    assert fresh not in await cases.escalate_unclaimed(storage, "iom-kz", before, later)


async def test_a_claim_cancels_undelivered_cards_elsewhere_and_refreshes_delivered_ones(
    storage: Storage, cipher: Cipher
) -> None:
    case_id = await open_case(storage, cipher, new_case(consent_scope=("fallback",)), NOW)
    later = NOW + dt.timedelta(hours=1)
    await cases.escalate_unclaimed(storage, "iom-kz", later, later)
    item = await cases.claim_job(storage, later.timestamp())
    assert item is not None and item.target == "kz-legal"
    await cases.job_sent(storage, item, later, chat_id=-1, message_id=1)
    await cases.claim(storage, case_id, "kz-legal", 111, later)
    assert ("case", "iom-kz", "cancelled", 0) in await cases.outbox_rows(storage, case_id)


async def test_jobs_in_flight_at_a_crash_come_back_in_doubt(
    storage: Storage, cipher: Cipher
) -> None:
    case_id = await open_case(storage, cipher, new_case(), NOW)
    item = await cases.claim_job(storage, NOW.timestamp())
    assert item is not None and not item.in_doubt
    assert await cases.claim_job(storage, NOW.timestamp()) is None  # claimed: not twice
    assert await cases.requeue_in_flight(storage) == 1
    again = await cases.claim_job(storage, NOW.timestamp())
    assert again is not None and again.id == item.id and again.in_doubt
    await cases.job_retry(storage, again, NOW.timestamp() + 60, count=True, in_doubt=False)
    assert await cases.claim_job(storage, NOW.timestamp()) is None
    assert await cases.next_job_due(storage) == NOW.timestamp() + 60
    assert await cases.outbox_rows(storage, case_id) == [("case", "kz-legal", "pending", 1)]


async def test_export_counts_by_week_country_urgency_and_need(
    storage: Storage, cipher: Cipher
) -> None:
    await open_case(storage, cipher, new_case(), NOW)
    await open_case(storage, cipher, new_case(telegram_id=2), NOW)
    await open_case(
        storage,
        cipher,
        new_case(country=None, urgency="routine", needs={}),
        NOW + dt.timedelta(days=7),
    )
    assert await cases.export_counts(storage) == [
        {"week": "2026-W49", "country": "KZ", "urgency": "urgent", "need": "economic", "cases": 2},
        {"week": "2026-W49", "country": "KZ", "urgency": "urgent", "need": "legal", "cases": 2},
        {"week": "2026-W50", "country": "??", "urgency": "routine", "need": "none", "cases": 1},
    ]


async def test_a_case_taken_by_an_organisations_own_system_is_not_escalated(
    storage: Storage, cipher: Cipher
) -> None:
    case_id = await open_case(storage, cipher, new_case(consent_scope=("fallback",)), NOW)
    item = await cases.claim_job(storage, NOW.timestamp())
    assert item is not None
    await cases.job_sent(storage, item, NOW)
    later = NOW + dt.timedelta(hours=1)
    assert await cases.escalate_unclaimed(storage, "iom-kz", later, later, ["kz-legal"]) == []
    assert await cases.escalate_unclaimed(storage, "iom-kz", later, later) == [case_id]
