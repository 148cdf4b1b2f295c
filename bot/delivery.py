"""Delivering referrals: a worker that drains the referral outbox (:mod:`bot.cases`).

Jobs (rows of ``referral_outbox``, written in the same transaction as the change that
caused them) and what the worker does with each:

* ``case`` → organisation: a **case card** in the organisation's Telegram chat
  (``SAFAR_ORG_CHATS``), in its working language (``SAFAR_ORG_LOCALES``, default ``ru``),
  with the buttons Accept · Contacted · Cannot reach · Closed; or, if the organisation set a
  webhook (``SAFAR_ORG_WEBHOOKS``), the same case as signed JSON (see :func:`webhook_body`).
* ``taken`` → person: "a caseworker has taken your request", in the person's locale.
* ``withdrawn`` → organisation: the card is stripped of the person's details and a notice
  says the case was withdrawn (webhook: a ``referral.withdrawn`` event).
* ``refresh`` → organisation: the card shows that another organisation took the case.

Errors: Telegram's 429 waits ``retry_after`` and tries again (not counted); 5xx, network
errors and time-outs are retried with exponential back-off (``backoff`` seconds, doubling,
at most ``max_backoff``), **without a limit**: a referral is never dropped. A permanent
refusal (400, 403: the bot is not in the chat) marks the job ``failed``, logs
``delivery_failed`` and, if the consent allows, sends the case to ``SAFAR_FALLBACK_ORG``.
Every ``maintenance_every`` seconds unclaimed urgent and crisis cases older than
``SAFAR_ESCALATE_MINUTES`` go to the fallback organisation as well, and closed cases older
than ``SAFAR_CASE_RETENTION_DAYS`` are anonymised.

Never lost, never silently duplicated. A job is claimed (``sending``) before its request
and marked ``sent`` in one short transaction as soon as the answer arrives; a restart puts
jobs left ``sending`` back, **in doubt**. The only duplicate possible is a card Telegram
accepted just before the process died (or whose answer timed out) and before the ``sent``
row was committed. The window is narrowed by: committing the result immediately, before
anything else (no other await between the answer and the commit); a long read time-out for
cards (30 s), so a slow answer is not taken for a lost one; and SQLite's WAL mode (a commit
is an append). A repeat, when it happens, shows as the same case: the card carries the same
case number, says that it was sent again after an interruption, and its buttons act on the
same case (the first Accept on either copy wins). Webhooks carry an idempotency key
(``X-Safar-Delivery``) so the receiving system can drop a repeat itself.

Logs carry case ids, organisation ids and error types, never personal data or text.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import html
import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
from babel import Locale
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TimedOut

from bot import cases
from bot import clock as bot_clock
from bot.broadcast import Clock, Pacer, retry_after_seconds
from bot.cases import Case, OutboxItem
from bot.crypto import Cipher
from bot.i18n import LOCALE_NAMES, N_, gettext_for, normalize_locale
from bot.settings import Settings, Webhook
from bot.storage import Storage
from dialogs.screening import reason_text

log = logging.getLogger(__name__)

#: bot_data key of the running :class:`Delivery` (set only when a token is configured).
DELIVERY_KEY = "safar_delivery"

#: Seconds to wait for Telegram's answer to a card before taking it for lost (long, so a
#: slow answer is not mistaken for a lost request and sent again).
CARD_READ_TIMEOUT = 30.0

#: Callback data of the card buttons: ``cw:<action>:<case id>``.
ACCEPT, CONTACTED, UNREACHABLE, CLOSE, VIEW = "a", "c", "u", "x", "v"
ACTION_STATES = {CONTACTED: cases.CONTACTED, UNREACHABLE: cases.UNREACHABLE, CLOSE: cases.CLOSED}

NEED_LABELS: dict[str, str] = {
    "legal": N_("Legal help"),
    "psychological": N_("Psychological support"),
    "economic": N_("Money, food, work"),
    "medical": N_("Medical help"),
    "shelter": N_("Shelter"),
    "return": N_("Return home"),
    "trafficking": N_("Forced labour or trafficking"),
}
URGENCY_LABELS: dict[str, str] = {
    "routine": N_("⚪ Routine"),
    "priority": N_("🟡 Priority"),
    "urgent": N_("🟠 Urgent"),
    "crisis": N_("🔴 Crisis"),
}
STATUS_LABELS: dict[str, str] = {
    cases.OPEN: N_("Status: waiting for a caseworker."),
    cases.ACCEPTED: N_("Status: taken by a caseworker."),
    cases.CONTACTED: N_("Status: the caseworker has contacted the person."),
    cases.UNREACHABLE: N_("Status: the person could not be reached."),
    cases.CLOSED: N_("Status: closed."),
    cases.WITHDRAWN: N_("Status: withdrawn by the person."),
}
TAKEN_ELSEWHERE = N_("Status: taken by another organisation.")


class BotClock:
    """The bot's clock (:func:`bot.clock.now`, which tests may move) and asyncio sleep."""

    def now(self) -> float:
        """Unix time in seconds (UTC)."""
        return bot_clock.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        """Wait *seconds* seconds."""
        await asyncio.sleep(max(seconds, 0.0))


def org_locale(settings: Settings, organisation_id: str) -> str:
    """The locale an organisation's cards are written in (``SAFAR_ORG_LOCALES``, else ru)."""
    return normalize_locale(settings.org_locales.get(organisation_id, "ru"))


def fallback_org(settings: Settings) -> str | None:
    """The organisation that gets unclaimed urgent cases and cases their organisation
    refused: ``SAFAR_FALLBACK_ORG``, else the service directory's fallback (the one the
    consent text names), else None."""
    if settings.fallback_org:
        return settings.fallback_org
    try:
        from knowledge.services import directory

        return directory().fallback
    except Exception:  # no directory, or an invalid one: no fallback
        return None


def _when(iso_text: str) -> str:
    try:
        return dt.datetime.fromisoformat(iso_text).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso_text


def country_name(code: str | None, locale: str) -> str | None:
    """The CLDR name of country *code* (ISO alpha-2) in *locale*, or the code itself."""
    if not code:
        return None
    try:
        names = Locale.parse(normalize_locale(locale)).territories
    except (ValueError, LookupError):
        return code
    return str(names.get(code.upper(), code))


def _contact_html(contact: dict[str, str], _: Callable[[str], str]) -> list[str]:
    lines: list[str] = []
    telegram = contact.get("telegram", "").strip()
    if telegram.lstrip("-").isdigit():
        link = f'<a href="tg://user?id={int(telegram)}">Telegram</a>'
        lines.append(_("Contact: {contact}").format(contact=f"{link} (id {int(telegram)})"))
    elif telegram:
        lines.append(_("Contact: {contact}").format(contact="Telegram " + html.escape(telegram)))
    if contact.get("phone"):
        lines.append(_("Phone: {phone}").format(phone=html.escape(contact["phone"])))
    return lines


def render_card(
    case: Case, locale: str, viewer_org: str, *, in_doubt: bool = False
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The case card as organisation *viewer_org* sees it, in *locale*: HTML text and the
    buttons (``None`` when nothing more can be done there).

    Shown: case number, urgency, needs with their reasons, place, language, consented
    contact, when and to which text version consent was given, and the status. Never the
    screening answers or any label of the person.
    """
    _ = gettext_for(locale)
    if case.state == cases.WITHDRAWN:
        text = _(
            "Referral no. {id} was withdrawn: the person deleted their data in Safar. "
            "Please delete any copies of their details."
        ).format(id=case.id)
        return html.escape(text), None
    lines = [
        "<b>" + html.escape(_("Referral no. {id}").format(id=case.id)) + "</b> · "
        + html.escape(_(URGENCY_LABELS.get(case.urgency, case.urgency)))
    ]  # fmt: skip
    if in_doubt:
        notice = _(
            "🔁 Sent again after an interruption. If referral no. {id} is already in this "
            "chat, this is the same case."
        ).format(id=case.id)
        lines.append("<i>" + html.escape(notice) + "</i>")
    lines.append("")
    lines.append("<b>" + html.escape(_("Needs:")) + "</b>")
    for need, reasons in case.needs.items():
        label = html.escape(_(NEED_LABELS.get(need, need)))
        why = html.escape("; ".join(reason_text(r, _) for r in reasons))
        lines.append(f"• {label}" + (f" — {why}" if why else ""))
    place = ", ".join(p for p in (country_name(case.country, locale), case.city) if p) or _(
        "not given"
    )
    lines.append(html.escape(_("Where: {place}").format(place=place)))
    language = LOCALE_NAMES.get(case.locale, case.locale)
    lines.append(html.escape(_("Language: {language}").format(language=language)))
    lines.extend(_contact_html(case.contact, _))
    consent = _("Consent given {time}, text version {version}.").format(
        time=_when(case.consent_given_at), version=case.consent_version
    )
    lines.append(html.escape(consent))
    lines.append("")
    mine = case.claimed_org in (None, viewer_org)
    status = _(STATUS_LABELS[case.state]) if mine else _(TAKEN_ELSEWHERE)
    lines.append("<b>" + html.escape(status) + "</b>")
    return "\n".join(lines), card_buttons(case, locale, viewer_org)


def card_buttons(case: Case, locale: str, viewer_org: str) -> InlineKeyboardMarkup | None:
    """Accept · Contacted · Cannot reach · Closed while the case is open; the three status
    buttons once it is taken (by *viewer_org*); none when closed, withdrawn or taken by
    another organisation."""
    _ = gettext_for(locale)
    if case.state in (cases.CLOSED, cases.WITHDRAWN):
        return None
    if case.claimed_org is not None and case.claimed_org != viewer_org:
        return None
    rows: list[list[InlineKeyboardButton]] = []
    if case.state == cases.OPEN:
        rows.append([InlineKeyboardButton(_("✅ Accept"), callback_data=f"cw:{ACCEPT}:{case.id}")])
    rows.append(
        [
            InlineKeyboardButton(_("📞 Contacted"), callback_data=f"cw:{CONTACTED}:{case.id}"),
            InlineKeyboardButton(_("🚫 Cannot reach"), callback_data=f"cw:{UNREACHABLE}:{case.id}"),
            InlineKeyboardButton(_("✔️ Closed"), callback_data=f"cw:{CLOSE}:{case.id}"),
        ]
    )
    return InlineKeyboardMarkup(rows)


def webhook_body(case: Case, event: str, *, delivery_id: str, possible_repeat: bool) -> bytes:
    """The JSON sent to an organisation's case system (UTF-8 bytes), shaped in the spirit of
    Primero/OSCaR referrals: ``event`` (``referral.created`` or ``referral.withdrawn``),
    ``delivery_id`` (idempotency key: the same for every try of one delivery) and
    ``referral`` with ``case_id``, ``created_at`` (ISO 8601 UTC), ``urgency``,
    ``services`` ([{``service``, ``reasons``}]), ``language`` (locale code), ``location``
    ({``country``: ISO alpha-2, ``city``}), ``contact`` (the consented channels only),
    ``consent`` ({``given_at``, ``version``, ``scope``}) and ``possible_repeat``. A
    withdrawal carries the case id only."""
    referral: dict[str, Any] = {"case_id": case.id}
    if event != "referral.withdrawn":
        referral |= {
            "created_at": case.created_at,
            "urgency": case.urgency,
            "services": [{"service": n, "reasons": r} for n, r in case.needs.items()],
            "language": case.locale,
            "location": {"country": case.country, "city": case.city},
            "contact": case.contact,
            "consent": {
                "given_at": case.consent_given_at,
                "version": case.consent_version,
                "scope": list(case.consent_scope),
            },
            "possible_repeat": possible_repeat,
        }
    body = {"event": event, "delivery_id": delivery_id, "referral": referral}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 under *secret* of ``<timestamp>.<body>``.

    The receiver recomputes it from the ``X-Safar-Timestamp`` header and the raw body,
    compares in constant time, and refuses old timestamps (replays).
    """
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _Retry(Exception):
    """A transient failure: try again later (``in_doubt`` if the request may have arrived;
    ``delay`` overrides the back-off, e.g. a 429's retry_after; ``count``: an attempt)."""

    def __init__(self, reason: str, *, in_doubt: bool = False, delay: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.in_doubt = in_doubt
        self.delay = delay


class _Permanent(Exception):
    """The target refused for good (bad chat, bot removed, 4xx from a webhook)."""


class Delivery:
    """Drains the referral outbox with one asyncio task; see the module docstring.

    Args:
        storage: the open database.
        cipher: decrypts the cases (the same key that sealed them).
        bot: the bot that sends (the application's).
        settings: organisation chats, webhooks, locales, fallback, time limits.
        clock: time source (default :class:`BotClock`).
        backoff: seconds before the first retry of a failed send; doubles each time.
        max_backoff: the longest wait between retries, in seconds (retries never stop).
        idle_poll: seconds between looks at the outbox when nothing is due.
        maintenance_every: seconds between escalation and anonymisation runs.
        http: the HTTP client for webhooks (default: one with a 30 s time-out).
    """

    def __init__(
        self,
        storage: Storage,
        cipher: Cipher,
        bot: Bot,
        settings: Settings,
        *,
        clock: Clock | None = None,
        backoff: float = 5.0,
        max_backoff: float = 300.0,
        idle_poll: float = 5.0,
        maintenance_every: float = 60.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._storage = storage
        self._cipher = cipher
        self._bot = bot
        self._settings = settings
        self.clock: Clock = clock or BotClock()
        self.pacer = Pacer(self.clock, per_chat_interval=3.0)  # groups: ~20 messages a minute
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._idle_poll = idle_poll
        self._maintenance_every = maintenance_every
        self._last_maintenance: float | None = None
        self._http = http
        self._own_http = http is None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    # ---------------------------------------------------------------- lifecycle

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)

    async def start(self) -> None:
        """Put jobs left in flight by a crash back (in doubt), then start the worker."""
        if self._task is not None:
            raise RuntimeError("Delivery already started")
        requeued = await cases.requeue_in_flight(self._storage)
        if requeued:
            log.info("referrals: %d delivery job(s) were in flight at the last stop", requeued)
        self._stopping = False
        cases.add_job_listener(self.wake)
        self._task = asyncio.create_task(self._run(), name="safar-referrals")

    def wake(self) -> None:
        """A job was queued: look at the outbox now."""
        self._wake.set()

    async def stop(self, timeout: float = 5.0) -> None:
        """Let a send in flight finish (at most *timeout* seconds), then stop."""
        cases.remove_job_listener(self.wake)
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            _done, pending = await asyncio.wait({task}, timeout=timeout)
            for left in pending:
                left.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._own_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.maintain()
                if not await self.deliver_one():
                    await self._idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage trouble: keep the worker alive, slow down
                log.error("referral worker: %s", type(exc).__name__, exc_info=exc)
                await self.clock.sleep(self._idle_poll)

    async def _idle(self) -> None:
        due = await cases.next_job_due(self._storage)
        delay = self._idle_poll
        if due is not None:
            delay = min(delay, max(due - self.clock.now(), 0.01))
        if self._last_maintenance is not None:
            next_run = self._last_maintenance + self._maintenance_every - self.clock.now()
            delay = min(delay, max(next_run, 0.01))
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()
        self._wake.clear()

    async def maintain(self, force: bool = False) -> None:
        """Escalate unclaimed urgent cases and anonymise old finished ones, if it is time
        (every ``maintenance_every`` seconds) or *force*."""
        now_ts = self.clock.now()
        last = self._last_maintenance
        if not force and last is not None and now_ts - last < self._maintenance_every:
            return
        self._last_maintenance = now_ts
        now = self._now()
        fallback = fallback_org(self._settings)
        if fallback:
            before = now - dt.timedelta(minutes=self._settings.escalate_minutes)
            escalated = await cases.escalate_unclaimed(
                self._storage, fallback, before, now, own_systems=self._settings.org_webhooks
            )
            for case_id in escalated:
                log.info("referral %d: not claimed in time, escalated to %s", case_id, fallback)
        horizon = now - dt.timedelta(days=self._settings.case_retention_days)
        anonymised = await cases.anonymise_finished(self._storage, horizon, now)
        if anonymised:
            log.info("referrals: %d finished case(s) anonymised", anonymised)

    async def drain(self) -> int:
        """Deliver every job due now, one after another (tests, tools); returns how many
        jobs were handled (sent, retried later, failed or cancelled)."""
        handled = 0
        while await self.deliver_one():
            handled += 1
        return handled

    # ---------------------------------------------------------------- one job

    async def deliver_one(self) -> bool:
        """Claim the next due job and handle it; False if none was due."""
        item = await cases.claim_job(self._storage, self.clock.now())
        if item is None:
            return False
        try:
            await self._handle(item)
        except _Retry as retry:
            count = retry.delay is None
            delay = retry.delay
            if delay is None:
                delay = min(self._backoff * 2 ** min(item.attempts, 20), self._max_backoff)
            log.info(
                "referral %d: %s to %s failed (%s), retry in %.0f s",
                item.case_id,
                item.kind,
                item.target,
                retry.reason,
                delay,
            )
            await cases.job_retry(
                self._storage,
                item,
                self.clock.now() + delay,
                count=count,
                in_doubt=retry.in_doubt,
            )
        except _Permanent as refused:
            log.warning(
                "referral %d: %s to %s refused for good (%s)",
                item.case_id,
                item.kind,
                item.target,
                refused,
            )
            await cases.job_finished(self._storage, item, "failed", self._now())
            if item.kind == cases.KIND_CASE:
                await self._failover(item)
        return True

    async def _handle(self, item: OutboxItem) -> None:
        case = await cases.load_case(self._storage, self._cipher, item.case_id)
        if case is None:
            await cases.job_finished(self._storage, item, "cancelled", self._now())
            return
        if item.kind == cases.KIND_CASE:
            if case.state == cases.WITHDRAWN or (
                case.claimed_org is not None and case.claimed_org != item.target
            ):
                await cases.job_finished(self._storage, item, "cancelled", self._now())
                return
            await self._deliver_case(item, case)
        elif item.kind == cases.KIND_TAKEN:
            if case.chat_id is None or case.state == cases.WITHDRAWN:
                await cases.job_finished(self._storage, item, "cancelled", self._now())
                return
            await self._tell_person(item, case)
        elif item.kind in (cases.KIND_WITHDRAWN, cases.KIND_REFRESH):
            await self._update_card(item, case)
        else:
            raise _Permanent(f"unknown job kind {item.kind}")

    async def _failover(self, item: OutboxItem) -> None:
        fallback = fallback_org(self._settings)
        case = await cases.load_case(self._storage, self._cipher, item.case_id)
        if not fallback or fallback == item.target or case is None:
            log.error("referral %d could not be delivered and has no fallback", item.case_id)
            return
        if await cases.redirect(
            self._storage, item.case_id, fallback, self._now(), case.consent_scope
        ):
            log.info("referral %d: sent to the fallback organisation instead", item.case_id)
        else:
            log.error(
                "referral %d could not be delivered (no consent for a fallback)", item.case_id
            )

    # ---------------------------------------------------------------- Telegram

    async def _deliver_case(self, item: OutboxItem, case: Case) -> None:
        webhook = self._settings.org_webhooks.get(item.target)
        if webhook is not None:
            delivery_id = f"safar-{case.id}-case-{item.target}"
            body = webhook_body(
                case, "referral.created", delivery_id=delivery_id, possible_repeat=item.in_doubt
            )
            await self._post(webhook, body, delivery_id)
            await cases.job_sent(self._storage, item, self._now())
            return
        chat_id = self._settings.org_chats.get(item.target)
        if chat_id is None:
            raise _Permanent("no chat or webhook configured for the organisation")
        text, markup = render_card(
            case, org_locale(self._settings, item.target), item.target, in_doubt=item.in_doubt
        )
        message = await self._telegram(
            chat_id,
            lambda target: self._bot.send_message(
                target,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                read_timeout=CARD_READ_TIMEOUT,
                write_timeout=CARD_READ_TIMEOUT,
            ),
        )
        # Nothing may come between Telegram's answer and this commit (see the docstring).
        await cases.job_sent(
            self._storage, item, self._now(), chat_id=message.chat_id, message_id=message.message_id
        )
        log.info("referral %d delivered to %s", case.id, item.target)

    async def _tell_person(self, item: OutboxItem, case: Case) -> None:
        assert case.chat_id is not None
        _ = gettext_for(case.locale)
        text = _(
            "Good news: a caseworker has taken your request (no. {id}). They will contact "
            "you soon. You can withdraw it at any time with /delete."
        ).format(id=case.id)
        try:
            await self._telegram(
                case.chat_id,
                lambda target: self._bot.send_message(
                    target, html.escape(text), parse_mode=ParseMode.HTML
                ),
            )
        except _Permanent:  # the person blocked the bot: nothing more to do
            await cases.job_finished(self._storage, item, "cancelled", self._now())
            return
        await cases.job_sent(self._storage, item, self._now())

    async def _update_card(self, item: OutboxItem, case: Case) -> None:
        webhook = self._settings.org_webhooks.get(item.target)
        if webhook is not None:
            if item.kind == cases.KIND_WITHDRAWN:
                delivery_id = f"safar-{case.id}-withdrawn-{item.target}"
                body = webhook_body(
                    case, "referral.withdrawn", delivery_id=delivery_id, possible_repeat=False
                )
                await self._post(webhook, body, delivery_id)
            await cases.job_sent(self._storage, item, self._now())
            return
        card = next((c for c in await cases.case_cards(self._storage, case.id)
                     if c[0] == item.target), None)  # fmt: skip
        locale = org_locale(self._settings, item.target)
        text, markup = render_card(case, locale, item.target)
        if card is not None:
            _org, chat_id, message_id = card
            # A card gone or too old to edit is no reason to stop: the notice still goes.
            with contextlib.suppress(_Permanent):
                await self._telegram(
                    chat_id,
                    lambda target: self._bot.edit_message_text(
                        text,
                        chat_id=target,
                        message_id=message_id,
                        reply_markup=markup,
                        parse_mode=ParseMode.HTML,
                    ),
                    not_modified_ok=True,
                )
        if item.kind == cases.KIND_WITHDRAWN:
            chat = card[1] if card else self._settings.org_chats.get(item.target)
            if chat is None:
                raise _Permanent("no chat configured for the organisation")
            _ = gettext_for(locale)
            notice = _("Referral no. {id} was withdrawn by the person.").format(id=case.id)
            await self._telegram(
                chat,
                lambda target: self._bot.send_message(
                    target,
                    html.escape(notice),
                    parse_mode=ParseMode.HTML,
                    reply_to_message_id=card[2] if card else None,
                    allow_sending_without_reply=True,
                ),
            )
        await cases.job_sent(self._storage, item, self._now())

    async def _telegram(
        self, chat_id: int, call: Callable[[int], Any], *, not_modified_ok: bool = False
    ) -> Any:
        """Make one Bot API call to *chat_id* under the pacer, mapping errors to retry
        (429, time-out, network, 5xx) or permanent refusal (400, 403)."""
        target = chat_id
        for _hop in range(2):
            await self.pacer.acquire(target)
            try:
                return await call(target)
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                self.pacer.pause(seconds)
                raise _Retry("429", delay=seconds) from None
            except ChatMigrated as exc:  # a group became a supergroup: follow it once
                log.warning("an organisation chat moved; update SAFAR_ORG_CHATS")
                target = int(exc.new_chat_id)
                continue
            except TimedOut:
                raise _Retry("time-out", in_doubt=True) from None
            except Forbidden:
                raise _Permanent("forbidden") from None
            except BadRequest as exc:
                if not_modified_ok and "not modified" in exc.message.lower():
                    return None
                raise _Permanent("bad request") from None
            except Exception as exc:  # NetworkError (5xx, connection), anything else
                raise _Retry(type(exc).__name__) from None
        raise _Permanent("chat moved twice")

    # ---------------------------------------------------------------- webhooks

    async def _post(self, webhook: Webhook, body: bytes, delivery_id: str) -> None:
        """POST *body* signed; 2xx is success, 408/429/5xx and network errors are retried,
        any other status is permanent."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=30.0)
        timestamp = str(int(self.clock.now()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Safar-referrals/1",
            "X-Safar-Delivery": delivery_id,
            "X-Safar-Timestamp": timestamp,
            "X-Safar-Signature": sign(webhook.secret.get_secret_value(), timestamp, body),
        }
        try:
            response = await self._http.post(webhook.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise _Retry("webhook time-out", in_doubt=True) from None
        except httpx.HTTPError as exc:
            raise _Retry(type(exc).__name__) from None
        status = response.status_code
        if 200 <= status < 300:
            return
        if status in (408, 429) or status >= 500:
            delay = None
            retry_after = response.headers.get("Retry-After", "")
            if status == 429 and retry_after.isdigit():
                delay = float(retry_after)
            raise _Retry(f"webhook {status}", delay=delay)
        raise _Permanent(f"webhook {status}")
