"""Referral cases: consent, case, its history and its outbox, kept in SQLite (migration 5).

A person who consents to a referral gets one *case*: :func:`open_case` writes the consent
(time, version of the text shown, scope), the case, its first event and the outbox row that
delivers it, in ONE transaction, so a crash leaves either all of them or none. The delivery
worker (:mod:`bot.delivery`) drains the outbox; caseworkers change the state
(:func:`claim`, :func:`set_status`); every change is a row in ``case_events`` (who, when).

What is readable in the database file: ids, the organisation id, urgency, need codes, the
country (ISO code), the ISO week, states, times and caseworkers' Telegram ids. Everything
about the person (screening answers, reasons, contact, city, Telegram ids, the level of the
free-text danger detection) is one Fernet token in ``cases.sealed`` (:mod:`bot.crypto`),
and the person is found again only through a keyed hash (:meth:`Cipher.pseudonym`).

Case states: ``open`` (not yet claimed) → ``accepted`` (a caseworker claimed it) →
``contacted`` / ``unreachable`` / ``closed``; ``withdrawn`` when the person deleted their
data. Urgency (``routine`` < ``priority`` < ``urgent`` < ``crisis``) and needs describe what
the person needs, never who they are: no character or risk label exists here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.crypto import Cipher, DecryptionError
from bot.storage import Storage

#: Urgency levels, least urgent first.
URGENCIES: tuple[str, ...] = ("routine", "priority", "urgent", "crisis")
#: Urgencies that are escalated to the fallback organisation when nobody claims them.
ESCALATED_URGENCIES: frozenset[str] = frozenset({"urgent", "crisis"})
#: Need codes a case may carry.
NEEDS: tuple[str, ...] = (
    "legal",
    "psychological",
    "economic",
    "medical",
    "shelter",
    "return",
    "trafficking",
)
#: Consent scope code that allows an unclaimed urgent case to go to the fallback
#: organisation (the consent text must name it). ``"org:<id>"`` allows one organisation.
SCOPE_FALLBACK = "fallback"

OPEN = "open"
ACCEPTED = "accepted"
CONTACTED = "contacted"
UNREACHABLE = "unreachable"
CLOSED = "closed"
WITHDRAWN = "withdrawn"
#: States a caseworker still works on (``/cases`` lists them).
ACTIVE_STATES: tuple[str, ...] = (OPEN, ACCEPTED, CONTACTED, UNREACHABLE)
#: States a caseworker may set after claiming a case.
CASEWORKER_STATES: tuple[str, ...] = (CONTACTED, UNREACHABLE, CLOSED)

#: Outbox kinds. ``case``: deliver the case to organisation ``target`` (card or webhook);
#: ``taken``: tell the person (target ``person``) that a caseworker took it; ``withdrawn``:
#: tell organisation ``target`` the case was withdrawn; ``refresh``: bring organisation
#: ``target``'s card up to date (e.g. another organisation claimed the case).
KIND_CASE = "case"
KIND_TAKEN = "taken"
KIND_WITHDRAWN = "withdrawn"
KIND_REFRESH = "refresh"
PERSON = "person"

#: Outbox row states: ``pending`` (due at ``next_try_at``), ``sending`` (claimed; a request
#: may be in flight), ``sent``, ``failed`` (permanent error), ``cancelled`` (no longer needed).
OUTBOX_STATES: tuple[str, ...] = ("pending", "sending", "sent", "failed", "cancelled")


#: Called (without arguments) after a transaction that queued a delivery job: the running
#: delivery worker registers its ``wake`` here, so the help path needs no reference to it.
_job_listeners: list[Callable[[], None]] = []


def add_job_listener(callback: Callable[[], None]) -> None:
    """Call *callback* after every write that queues a delivery job."""
    _job_listeners.append(callback)


def remove_job_listener(callback: Callable[[], None]) -> None:
    """Stop calling *callback* (no error if it was not registered)."""
    if callback in _job_listeners:
        _job_listeners.remove(callback)


def _jobs_queued() -> None:
    for callback in list(_job_listeners):
        callback()


class CaseError(ValueError):
    """A case was given values outside the allowed codes."""


@dataclass(frozen=True)
class NewCase:
    """Everything the help path knows when the person has consented.

    Attributes:
        telegram_id: the person's Telegram user id.
        chat_id: their private chat with the bot (where they are told of progress).
        locale: their interface locale (``ky``, ``tg``, ``ru``, ``uz``, ``uz_Cyrl``).
        organisation_id: the directory id of the organisation they consented to.
        urgency: one of :data:`URGENCIES`.
        needs: need code (:data:`NEEDS`) -> the reasons, short ``"key=value"`` codes of the
            answers that caused it (shown to the caseworker).
        answers: the screening answers (question id -> choice, number or ``None``).
        country: ISO 3166-1 alpha-2 code of where they are now, or ``None``.
        city: the city they gave, or ``None`` (personal: stored encrypted).
        contact: the consented contact, ``{"telegram": "<id or @username>"}`` and
            ``"phone"`` only if they shared it with Telegram's button.
        consent_version: version of the consent text shown.
        consent_scope: what they agreed to (codes; see :data:`SCOPE_FALLBACK`).
        risk_level: level of the free-text danger detection (``none`` ... ``crisis``);
            stored encrypted, never shown to an organisation.
    """

    telegram_id: int
    chat_id: int
    locale: str
    organisation_id: str
    urgency: str
    needs: dict[str, list[str]]
    answers: dict[str, str | int | None]
    country: str | None
    city: str | None
    contact: dict[str, str]
    consent_version: str
    consent_scope: tuple[str, ...]
    risk_level: str


@dataclass(frozen=True)
class Case:
    """A case as the worker and caseworkers see it (personal fields decrypted).

    After withdrawal or anonymisation the personal fields are empty (``telegram_id`` and
    ``chat_id`` ``None``, ``needs`` with codes only, no contact).
    """

    id: int
    organisation_id: str
    locale: str
    urgency: str
    needs: dict[str, list[str]]
    country: str | None
    city: str | None
    contact: dict[str, str]
    state: str
    claimed_by: int | None
    claimed_org: str | None
    created_at: str
    updated_at: str
    escalated_at: str | None
    consent_version: str
    consent_scope: tuple[str, ...]
    consent_given_at: str
    telegram_id: int | None = None
    chat_id: int | None = None
    answers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboxItem:
    """One delivery job, as claimed by the worker.

    ``in_doubt`` is True when an earlier attempt may have reached its target (the process
    died with it in flight, or the request timed out): a card sent again says so.
    """

    id: int
    case_id: int
    kind: str
    target: str
    attempts: int
    in_doubt: bool
    chat_id: int | None
    message_id: int | None


@dataclass(frozen=True)
class Transition:
    """Outcome of a caseworker's action: ``ok`` and the case's state afterwards, or why not
    (``reason``: ``"missing"``, ``"taken"``, ``"not_claimed"``, ``"not_yours"``,
    ``"withdrawn"``, ``"closed"``, ``"same"``)."""

    ok: bool
    state: str | None
    reason: str = ""
    claimed_by: int | None = None


def _utc(now: dt.datetime) -> dt.datetime:
    if now.tzinfo is None:
        raise ValueError("times must be timezone-aware (UTC)")
    return now.astimezone(dt.UTC)


def iso(now: dt.datetime) -> str:
    """*now* (timezone-aware) as ISO 8601 UTC text to the second, e.g.
    ``2026-12-05T22:40:00+00:00``."""
    return _utc(now).isoformat(timespec="seconds")


def iso_week(day: dt.date) -> str:
    """The ISO 8601 week of *day*, e.g. ``2026-W49``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _validate(case: NewCase) -> None:
    if case.urgency not in URGENCIES:
        raise CaseError(f"unknown urgency {case.urgency!r}")
    unknown = sorted(set(case.needs) - set(NEEDS))
    if unknown:
        raise CaseError(f"unknown needs {unknown}")
    if not case.organisation_id:
        raise CaseError("no organisation")
    if case.country is not None and not (len(case.country) == 2 and case.country.isalpha()):
        raise CaseError("country must be an ISO 3166-1 alpha-2 code")


async def open_case(storage: Storage, cipher: Cipher, case: NewCase, now: dt.datetime) -> int:
    """Record the consent, the case, its ``opened`` event and its delivery outbox row in
    one transaction; return the case id (also shown on the card).

    *now* must be timezone-aware; it is stored as UTC. Personal data (answers, reasons,
    contact, city, Telegram ids, the danger level) is stored only encrypted with *cipher*.
    The worker is not woken here: call :func:`bot.delivery.wake` after it returns.

    Raises:
        CaseError: unknown urgency or need code, no organisation, or a bad country code.
        ValueError: *now* is naive.
        sqlite3.Error: the database refused the write (nothing of it is kept).
    """
    _validate(case)
    at = iso(now)
    person = cipher.pseudonym(str(case.telegram_id))
    sealed = cipher.encrypt_json(
        {
            "telegram_id": case.telegram_id,
            "chat_id": case.chat_id,
            "needs": {k: list(v) for k, v in case.needs.items()},
            "answers": case.answers,
            "city": case.city,
            "contact": dict(case.contact),
            "risk_level": case.risk_level,
        }
    )
    needs = json.dumps(sorted(case.needs))
    conn = storage.conn
    async with storage.transaction():
        cur = await conn.execute(
            "INSERT INTO consents (person, organisation_id, version, scope, given_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (person, case.organisation_id, case.consent_version, ",".join(case.consent_scope), at),
        )
        consent_id = cur.lastrowid
        cur = await conn.execute(
            "INSERT INTO cases (person, consent_id, organisation_id, locale, urgency, needs, "
            "country, week, sealed, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                person,
                consent_id,
                case.organisation_id,
                case.locale,
                case.urgency,
                needs,
                case.country.upper() if case.country else None,
                iso_week(_utc(now).date()),
                sealed,
                OPEN,
                at,
                at,
            ),
        )
        case_id = cur.lastrowid
        assert case_id is not None
        await _event(storage, case_id, at, "opened", "person", None, case.organisation_id)
        await _enqueue(storage, case_id, KIND_CASE, case.organisation_id, at)
    _jobs_queued()
    return int(case_id)


async def _event(
    storage: Storage,
    case_id: int,
    at: str,
    event: str,
    actor_kind: str,
    actor_id: int | None,
    organisation_id: str | None,
) -> None:
    await storage.conn.execute(
        "INSERT INTO case_events (case_id, at, event, actor_kind, actor_id, organisation_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (case_id, at, event, actor_kind, actor_id, organisation_id),
    )


async def _enqueue(storage: Storage, case_id: int, kind: str, target: str, at: str) -> None:
    """Queue a job (again, if one of the same kind and target exists and is finished)."""
    await storage.conn.execute(
        "INSERT INTO referral_outbox (case_id, kind, target, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (case_id, kind, target) DO UPDATE SET state = 'pending', "
        "next_try_at = 0, attempts = 0 WHERE state IN ('sent', 'failed', 'cancelled')",
        (case_id, kind, target, at),
    )


# ---------------------------------------------------------------- reading


_CASE_COLUMNS = (
    "c.id, c.organisation_id, c.locale, c.urgency, c.needs, c.country, c.sealed, c.state, "
    "c.claimed_by, c.claimed_org, c.created_at, c.updated_at, c.escalated_at, "
    "k.version, k.scope, k.given_at"
)


def _case_from_row(cipher: Cipher, row: Sequence[Any]) -> Case:
    sealed: dict[str, Any] = {}
    if row[6] is not None:
        try:
            sealed = cipher.decrypt_json(row[6])
        except DecryptionError:
            sealed = {}
    codes = [str(n) for n in json.loads(row[4])]
    reasons = sealed.get("needs") or {}
    return Case(
        id=int(row[0]),
        organisation_id=str(row[1]),
        locale=str(row[2]),
        urgency=str(row[3]),
        needs={code: [str(r) for r in reasons.get(code, [])] for code in codes},
        country=str(row[5]) if row[5] else None,
        city=sealed.get("city"),
        contact={str(k): str(v) for k, v in (sealed.get("contact") or {}).items()},
        state=str(row[7]),
        claimed_by=int(row[8]) if row[8] is not None else None,
        claimed_org=str(row[9]) if row[9] else None,
        created_at=str(row[10]),
        updated_at=str(row[11]),
        escalated_at=str(row[12]) if row[12] else None,
        consent_version=str(row[13]),
        consent_scope=tuple(s for s in str(row[14]).split(",") if s),
        consent_given_at=str(row[15]),
        telegram_id=sealed.get("telegram_id"),
        chat_id=sealed.get("chat_id"),
        answers=dict(sealed.get("answers") or {}),
    )


async def load_case(storage: Storage, cipher: Cipher, case_id: int) -> Case | None:
    """The case *case_id* with its personal fields decrypted, or ``None`` if there is none.

    A value that cannot be decrypted (another key) reads as erased, not as an error.
    """
    async with storage.conn.execute(
        f"SELECT {_CASE_COLUMNS} FROM cases AS c JOIN consents AS k ON k.id = c.consent_id "
        "WHERE c.id = ?",
        (case_id,),
    ) as cur:
        row = await cur.fetchone()
    return _case_from_row(cipher, row) if row else None


async def case_organisations(storage: Storage, case_id: int) -> list[str]:
    """The organisations the case was (or is being) delivered to, first one first."""
    async with storage.conn.execute(
        "SELECT target FROM referral_outbox WHERE case_id = ? AND kind = ? "
        "AND state != 'cancelled' ORDER BY id",
        (case_id, KIND_CASE),
    ) as cur:
        rows = await cur.fetchall()
    return [str(r[0]) for r in rows]


async def case_cards(storage: Storage, case_id: int) -> list[tuple[str, int, int]]:
    """``(organisation id, chat id, message id)`` of every card of the case in Telegram."""
    async with storage.conn.execute(
        "SELECT target, chat_id, message_id FROM referral_outbox WHERE case_id = ? AND kind = ? "
        "AND message_id IS NOT NULL ORDER BY id",
        (case_id, KIND_CASE),
    ) as cur:
        rows = await cur.fetchall()
    return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]


async def events(storage: Storage, case_id: int) -> list[tuple[str, str, str, int | None]]:
    """The case's history, oldest first: ``(at, event, actor kind, actor id)``.

    Actor kinds: ``person``, ``caseworker`` (id: their Telegram id), ``system``.
    """
    async with storage.conn.execute(
        "SELECT at, event, actor_kind, actor_id FROM case_events WHERE case_id = ? ORDER BY id",
        (case_id,),
    ) as cur:
        rows = await cur.fetchall()
    return [(str(a), str(e), str(k), int(i) if i is not None else None) for a, e, k, i in rows]


async def active_cases(
    storage: Storage, cipher: Cipher, organisations: Iterable[str], caseworker_id: int
) -> list[Case]:
    """Cases a caseworker of *organisations* still works on: those they claimed and not
    closed, and those delivered to one of *organisations* that nobody has claimed yet.
    Oldest first, at most 50."""
    orgs = sorted(set(organisations))
    if not orgs:
        return []
    marks = ",".join("?" * len(orgs))
    states = ",".join("?" * len(ACTIVE_STATES))
    async with storage.conn.execute(
        f"SELECT {_CASE_COLUMNS} FROM cases AS c JOIN consents AS k ON k.id = c.consent_id "
        f"WHERE c.state IN ({states}) AND ("
        "  (c.claimed_by = ? AND c.claimed_org IN (" + marks + ")) OR"
        "  (c.claimed_by IS NULL AND EXISTS (SELECT 1 FROM referral_outbox AS o "
        f"   WHERE o.case_id = c.id AND o.kind = ? AND o.state = 'sent' AND o.target IN ({marks})))"
        ") ORDER BY c.id LIMIT 50",
        (*ACTIVE_STATES, caseworker_id, *orgs, KIND_CASE, *orgs),
    ) as cur:
        rows = await cur.fetchall()
    return [_case_from_row(cipher, row) for row in rows]


# ---------------------------------------------------------------- caseworkers' actions


async def claim(
    storage: Storage, case_id: int, organisation_id: str, caseworker_id: int, now: dt.datetime
) -> Transition:
    """A caseworker of *organisation_id* presses Accept: the first one wins.

    The caller has checked that the caseworker is allow-listed for that organisation and
    that the case was delivered to it. In one transaction: the case becomes ``accepted``
    by them, an ``accepted`` event is logged, the person's notice is queued, and cards of
    the case in other organisations' chats are queued for a refresh (and undelivered
    ones cancelled).

    Returns:
        ``Transition(ok=True, state="accepted")`` for the winner; otherwise ``ok=False``
        with ``reason`` ``"taken"`` (someone else has it; ``claimed_by`` says who),
        ``"same"`` (this caseworker already has it), ``"withdrawn"``, ``"closed"`` or
        ``"missing"``.
    """
    at = iso(now)
    conn = storage.conn
    async with storage.transaction():
        cur = await conn.execute(
            "UPDATE cases SET state = ?, claimed_by = ?, claimed_org = ?, updated_at = ? "
            "WHERE id = ? AND state = ? AND claimed_by IS NULL",
            (ACCEPTED, caseworker_id, organisation_id, at, case_id, OPEN),
        )
        if cur.rowcount != 1:
            async with conn.execute(
                "SELECT state, claimed_by FROM cases WHERE id = ?", (case_id,)
            ) as found:
                row = await found.fetchone()
            if row is None:
                return Transition(False, None, "missing")
            state, holder = str(row[0]), row[1]
            if state == WITHDRAWN:
                return Transition(False, state, "withdrawn")
            if holder == caseworker_id:
                return Transition(False, state, "same", caseworker_id)
            if state == CLOSED and holder is None:
                return Transition(False, state, "closed")
            return Transition(False, state, "taken", holder)
        await _event(storage, case_id, at, "accepted", "caseworker", caseworker_id, organisation_id)
        await _enqueue(storage, case_id, KIND_TAKEN, PERSON, at)
        await conn.execute(
            "UPDATE referral_outbox SET state = 'cancelled' WHERE case_id = ? AND kind = ? "
            "AND target != ? AND state = 'pending'",
            (case_id, KIND_CASE, organisation_id),
        )
        async with conn.execute(
            "SELECT target FROM referral_outbox WHERE case_id = ? AND kind = ? AND target != ? "
            "AND state IN ('sent', 'sending')",
            (case_id, KIND_CASE, organisation_id),
        ) as others:
            for (target,) in await others.fetchall():
                await _enqueue(storage, case_id, KIND_REFRESH, str(target), at)
    _jobs_queued()
    return Transition(True, ACCEPTED, claimed_by=caseworker_id)


async def set_status(
    storage: Storage, case_id: int, caseworker_id: int, status: str, now: dt.datetime
) -> Transition:
    """The caseworker who claimed the case reports *status* (:data:`CASEWORKER_STATES`):
    ``contacted``, ``unreachable`` (Cannot reach) or ``closed``; logged as an event.

    Returns:
        ``ok=True`` with the new state; or ``ok=False`` with ``reason`` ``"not_claimed"``
        (accept it first), ``"not_yours"`` (another caseworker has it), ``"withdrawn"``,
        ``"closed"``, ``"same"`` (already in that state) or ``"missing"``.

    Raises:
        CaseError: *status* is not one of :data:`CASEWORKER_STATES`.
    """
    if status not in CASEWORKER_STATES:
        raise CaseError(f"unknown status {status!r}")
    at = iso(now)
    conn = storage.conn
    async with storage.transaction():
        async with conn.execute(
            "SELECT state, claimed_by, claimed_org FROM cases WHERE id = ?", (case_id,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return Transition(False, None, "missing")
        state, holder, org = str(row[0]), row[1], row[2]
        if state == WITHDRAWN:
            return Transition(False, state, "withdrawn")
        if holder is None:
            return Transition(False, state, "not_claimed")
        if holder != caseworker_id:
            return Transition(False, state, "not_yours", holder)
        if state == status:
            return Transition(False, state, "same", holder)
        if state == CLOSED:
            return Transition(False, state, "closed", holder)
        await conn.execute(
            "UPDATE cases SET state = ?, updated_at = ? WHERE id = ?", (status, at, case_id)
        )
        await _event(storage, case_id, at, status, "caseworker", caseworker_id, org)
    return Transition(True, status, claimed_by=caseworker_id)


# ---------------------------------------------------------------- privacy


async def withdraw_person(
    storage: Storage, cipher: Cipher, telegram_id: int, now: dt.datetime
) -> int:
    """``/delete``: erase the person's referral data and withdraw their consents.

    In one transaction, for every case of the person: the encrypted data is erased and the
    link to the person removed; a case still active becomes ``withdrawn`` (event logged,
    actor ``person``); a card not yet delivered is cancelled, and every organisation that
    received it is queued a ``withdrawn`` notice (which also strips the card). Their
    consents get ``withdrawn_at`` and lose the link to the person. Need codes, urgency,
    country and week stay for the anonymous counts.

    Returns:
        The number of cases withdrawn (active ones; closed ones are only erased).
    """
    at = iso(now)
    person = cipher.pseudonym(str(telegram_id))
    conn = storage.conn
    withdrawn = 0
    async with storage.transaction():
        async with conn.execute(
            "SELECT id, state FROM cases WHERE person = ? ORDER BY id", (person,)
        ) as cur:
            rows = await cur.fetchall()
        for case_id, state in rows:
            if state in ACTIVE_STATES:
                withdrawn += 1
                await _event(storage, case_id, at, WITHDRAWN, "person", None, None)
                await conn.execute(
                    "UPDATE referral_outbox SET state = 'cancelled' WHERE case_id = ? "
                    "AND state = 'pending'",
                    (case_id,),
                )
                async with conn.execute(
                    "SELECT DISTINCT target FROM referral_outbox WHERE case_id = ? AND kind = ? "
                    "AND state IN ('sent', 'sending')",
                    (case_id, KIND_CASE),
                ) as delivered:
                    for (target,) in await delivered.fetchall():
                        await _enqueue(storage, case_id, KIND_WITHDRAWN, str(target), at)
            await conn.execute(
                "UPDATE cases SET person = NULL, sealed = NULL, updated_at = ?, "
                "anonymised_at = ?, state = CASE WHEN state IN ('open', 'accepted', "
                "'contacted', 'unreachable') THEN 'withdrawn' ELSE state END WHERE id = ?",
                (at, at, case_id),
            )
        await conn.execute(
            "UPDATE consents SET withdrawn_at = COALESCE(withdrawn_at, ?), person = NULL "
            "WHERE person = ?",
            (at, person),
        )
    if withdrawn:
        _jobs_queued()
    return withdrawn


async def anonymise_finished(storage: Storage, older_than: dt.datetime, now: dt.datetime) -> int:
    """Erase the personal data of cases ``closed`` or ``unreachable`` whose last change is
    before *older_than* (both times timezone-aware); logs an ``anonymised`` event each.

    Returns:
        How many cases were anonymised.
    """
    at = iso(now)
    limit = iso(older_than)
    conn = storage.conn
    async with storage.transaction():
        async with conn.execute(
            "SELECT id FROM cases WHERE state IN (?, ?) AND updated_at < ? "
            "AND anonymised_at IS NULL",
            (CLOSED, UNREACHABLE, limit),
        ) as cur:
            ids = [int(r[0]) for r in await cur.fetchall()]
        for case_id in ids:
            await conn.execute(
                "UPDATE cases SET person = NULL, sealed = NULL, anonymised_at = ? WHERE id = ?",
                (at, case_id),
            )
            await conn.execute(
                "UPDATE consents SET person = NULL WHERE id = "
                "(SELECT consent_id FROM cases WHERE id = ?)",
                (case_id,),
            )
            await _event(storage, case_id, at, "anonymised", "system", None, None)
    return len(ids)


# ---------------------------------------------------------------- escalation


def may_escalate(scope: Iterable[str], fallback: str) -> bool:
    """Whether a consent with *scope* allows sending the case to *fallback* too."""
    codes = set(scope)
    return SCOPE_FALLBACK in codes or f"org:{fallback}" in codes


async def escalate_unclaimed(
    storage: Storage,
    fallback: str,
    created_before: dt.datetime,
    now: dt.datetime,
    own_systems: Iterable[str] = (),
) -> list[int]:
    """Queue every ``urgent`` or ``crisis`` case opened before *created_before*, still
    unclaimed, not yet escalated, not already with *fallback*, and whose consent allows it
    (:func:`may_escalate`), for delivery to the *fallback* organisation; log ``escalated``.

    Cases already delivered to one of *own_systems* (organisations whose case system took
    the case by webhook, where claims happen outside Safar) are not escalated.

    Returns:
        The ids of the cases escalated now.
    """
    at = iso(now)
    conn = storage.conn
    marks = ",".join("?" * len(ESCALATED_URGENCIES))
    systems = sorted(set(own_systems))
    system_marks = ",".join("?" * len(systems))
    done: list[int] = []
    async with storage.transaction():
        async with conn.execute(
            "SELECT c.id, k.scope FROM cases AS c JOIN consents AS k ON k.id = c.consent_id "
            f"WHERE c.state = ? AND c.claimed_by IS NULL AND c.urgency IN ({marks}) "
            "AND c.created_at < ? AND c.escalated_at IS NULL AND NOT EXISTS ("
            " SELECT 1 FROM referral_outbox AS o WHERE o.case_id = c.id AND o.kind = ? "
            f" AND (o.target = ? OR (o.state = 'sent' AND o.target IN ({system_marks})))"
            ") ORDER BY c.id",
            (
                OPEN,
                *sorted(ESCALATED_URGENCIES),
                iso(created_before),
                KIND_CASE,
                fallback,
                *systems,
            ),
        ) as cur:
            rows = await cur.fetchall()
        for case_id, scope in rows:
            if not may_escalate(str(scope).split(","), fallback):
                continue
            await conn.execute(
                "UPDATE cases SET escalated_at = ?, updated_at = ? WHERE id = ?",
                (at, at, case_id),
            )
            await _event(storage, int(case_id), at, "escalated", "system", None, fallback)
            await _enqueue(storage, int(case_id), KIND_CASE, fallback, at)
            done.append(int(case_id))
    if done:
        _jobs_queued()
    return done


async def redirect(
    storage: Storage, case_id: int, fallback: str, now: dt.datetime, scope: Iterable[str]
) -> bool:
    """Deliver an unclaimed case to *fallback* too, after its organisation could not be
    reached (a permanent error), if the consent *scope* allows it and it was not already
    there; logs ``escalated``. Returns whether a delivery was queued."""
    if not may_escalate(scope, fallback):
        return False
    at = iso(now)
    async with storage.transaction():
        async with storage.conn.execute(
            "SELECT 1 FROM referral_outbox WHERE case_id = ? AND kind = ? AND target = ?",
            (case_id, KIND_CASE, fallback),
        ) as cur:
            if await cur.fetchone() is not None:
                return False
        cur2 = await storage.conn.execute(
            "UPDATE cases SET escalated_at = ?, updated_at = ? WHERE id = ? AND state = ? "
            "AND claimed_by IS NULL",
            (at, at, case_id, OPEN),
        )
        if cur2.rowcount != 1:
            return False
        await _event(storage, case_id, at, "escalated", "system", None, fallback)
        await _enqueue(storage, case_id, KIND_CASE, fallback, at)
    _jobs_queued()
    return True


# ---------------------------------------------------------------- outbox


async def requeue_in_flight(storage: Storage) -> int:
    """At start: rows left ``sending`` by a crash go back to ``pending``, marked in doubt
    (the request may have reached Telegram; a card sent again says it may be a repeat).
    Returns how many."""
    cur = await storage.conn.execute(
        "UPDATE referral_outbox SET state = 'pending', in_doubt = 1 WHERE state = 'sending'"
    )
    return max(cur.rowcount, 0)


async def claim_job(storage: Storage, now_ts: float) -> OutboxItem | None:
    """Atomically mark the next due ``pending`` job ``sending`` and return it (oldest first;
    *now_ts*: Unix seconds, UTC)."""
    async with storage.conn.execute(
        "UPDATE referral_outbox SET state = 'sending' WHERE id = ("
        "SELECT id FROM referral_outbox WHERE state = 'pending' AND next_try_at <= ? "
        "ORDER BY next_try_at, id LIMIT 1) "
        "RETURNING id, case_id, kind, target, attempts, in_doubt, chat_id, message_id",
        (now_ts,),
    ) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    return OutboxItem(
        id=int(row[0]),
        case_id=int(row[1]),
        kind=str(row[2]),
        target=str(row[3]),
        attempts=int(row[4]),
        in_doubt=bool(row[5]),
        chat_id=int(row[6]) if row[6] is not None else None,
        message_id=int(row[7]) if row[7] is not None else None,
    )


async def next_job_due(storage: Storage) -> float | None:
    """The earliest ``next_try_at`` (Unix seconds, UTC) of a pending job, or ``None``."""
    async with storage.conn.execute(
        "SELECT MIN(next_try_at) FROM referral_outbox WHERE state = 'pending'"
    ) as cur:
        row = await cur.fetchone()
    return float(row[0]) if row and row[0] is not None else None


async def job_sent(
    storage: Storage,
    item: OutboxItem,
    now: dt.datetime,
    chat_id: int | None = None,
    message_id: int | None = None,
) -> None:
    """The target accepted the job: one statement, right after the answer, records it
    (with the card's chat and message id), and logs ``delivered`` for a case card."""
    async with storage.transaction():
        await storage.conn.execute(
            "UPDATE referral_outbox SET state = 'sent', sent_ts = ?, attempts = attempts + 1, "
            "in_doubt = 0, chat_id = COALESCE(?, chat_id), "
            "message_id = COALESCE(?, message_id) WHERE id = ?",
            (now.timestamp(), chat_id, message_id, item.id),
        )
        if item.kind == KIND_CASE:
            await _event(storage, item.case_id, iso(now), "delivered", "system", None, item.target)


async def job_retry(
    storage: Storage, item: OutboxItem, next_try_at: float, *, count: bool, in_doubt: bool
) -> None:
    """Back to ``pending`` until *next_try_at* (Unix seconds, UTC). *count*: whether this
    attempt counts (not for 429); *in_doubt*: the request may have arrived (time-out)."""
    await storage.conn.execute(
        "UPDATE referral_outbox SET state = 'pending', next_try_at = ?, "
        "attempts = attempts + ?, in_doubt = MAX(in_doubt, ?) WHERE id = ?",
        (next_try_at, 1 if count else 0, 1 if in_doubt else 0, item.id),
    )


async def job_finished(storage: Storage, item: OutboxItem, state: str, now: dt.datetime) -> None:
    """End a job as ``failed`` (permanent error; logs ``delivery_failed`` for a case card)
    or ``cancelled`` (no longer needed)."""
    async with storage.transaction():
        await storage.conn.execute(
            "UPDATE referral_outbox SET state = ?, attempts = attempts + ? WHERE id = ?",
            (state, 1 if state == "failed" else 0, item.id),
        )
        if item.kind == KIND_CASE and state == "failed":
            await _event(
                storage, item.case_id, iso(now), "delivery_failed", "system", None, item.target
            )


async def outbox_rows(storage: Storage, case_id: int) -> list[tuple[str, str, str, int]]:
    """``(kind, target, state, attempts)`` of every job of the case (tests, tools)."""
    async with storage.conn.execute(
        "SELECT kind, target, state, attempts FROM referral_outbox WHERE case_id = ? ORDER BY id",
        (case_id,),
    ) as cur:
        rows = await cur.fetchall()
    return [(str(k), str(t), str(s), int(a)) for k, t, s, a in rows]


# ---------------------------------------------------------------- export


async def export_counts(storage: Storage) -> list[dict[str, Any]]:
    """Anonymous counts for reporting: one row per (ISO week, country, urgency, need) with
    the number of cases, sorted. A case with two needs counts once under each; a case
    without needs counts under need ``"none"``; an unknown country is ``"??"``. Nothing
    about any person is read (the encrypted column is not touched)."""
    async with storage.conn.execute("SELECT week, country, urgency, needs FROM cases") as cur:
        rows = await cur.fetchall()
    counts: dict[tuple[str, str, str, str], int] = {}
    for week, country, urgency, needs in rows:
        codes = json.loads(needs) or ["none"]
        for need in codes:
            key = (str(week), str(country or "??"), str(urgency), str(need))
            counts[key] = counts.get(key, 0) + 1
    return [
        {"week": w, "country": c, "urgency": u, "need": n, "cases": counts[(w, c, u, n)]}
        for (w, c, u, n) in sorted(counts)
    ]


async def queue_refresh(storage: Storage, case_id: int, organisation_id: str) -> None:
    """Queue an update of *organisation_id*'s card of the case (e.g. after a caseworker
    acted on it from elsewhere), unless the case was never delivered there."""
    at = iso(dt.datetime.now(dt.UTC))
    async with storage.transaction():
        async with storage.conn.execute(
            "SELECT 1 FROM referral_outbox WHERE case_id = ? AND kind = ? AND target = ? "
            "AND message_id IS NOT NULL",
            (case_id, KIND_CASE, organisation_id),
        ) as cur:
            if await cur.fetchone() is None:
                return
        await _enqueue(storage, case_id, KIND_REFRESH, organisation_id, at)
    _jobs_queued()


async def export_totals(storage: Storage) -> dict[str, Any]:
    """Anonymous totals: ``{"cases": n, "by_need": {...}, "by_urgency": {...},
    "by_country": {...}, "by_week": {...}, "by_state": {...}}`` (a case with two needs
    counts once under each need; keys sorted)."""
    query = "SELECT week, country, urgency, needs, state FROM cases"
    async with storage.conn.execute(query) as cur:
        rows = list(await cur.fetchall())
    totals: dict[str, dict[str, int]] = {
        "by_need": {},
        "by_urgency": {},
        "by_country": {},
        "by_week": {},
        "by_state": {},
    }

    def add(kind: str, key: str) -> None:
        totals[kind][key] = totals[kind].get(key, 0) + 1

    for week, country, urgency, needs, state in rows:
        for need in json.loads(needs) or ["none"]:
            add("by_need", str(need))
        add("by_urgency", str(urgency))
        add("by_country", str(country or "??"))
        add("by_week", str(week))
        add("by_state", str(state))
    result: dict[str, Any] = {"cases": len(rows)}
    for kind, counts in totals.items():
        result[kind] = dict(sorted(counts.items()))
    return result
