"""Caseworkers: the buttons on a case card (``cw:<action>:<case id>``) and ``/cases``.

Only allow-listed people act, and only where they are allowed: a caseworker of an
organisation (``SAFAR_CASEWORKERS``) may act on a case delivered to that organisation, from
the organisation's chat (``SAFAR_ORG_CHATS``) or their private chat with the bot. Anyone
else (a stranger, a forged button, a caseworker of another organisation, any other chat)
gets one neutral line that reveals nothing, and nothing changes: not the case, not its
history, not even the ``users`` table (the locale is not looked up in storage for them).

| data          | action                                                 |
|---------------|--------------------------------------------------------|
| ``cw:a:<id>`` | Accept: claim the case (the first Accept wins)         |
| ``cw:c:<id>`` | Contacted                                              |
| ``cw:u:<id>`` | Cannot reach                                           |
| ``cw:x:<id>`` | Closed                                                 |
| ``cw:v:<id>`` | show the card here (from the ``/cases`` list)           |
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import CallbackContext, CallbackQueryHandler, CommandHandler

from bot import cases
from bot import clock as bot_clock
from bot.delivery import (
    ACCEPT,
    ACTION_STATES,
    NEED_LABELS,
    URGENCY_LABELS,
    VIEW,
    org_locale,
    render_card,
)
from bot.i18n import N_, gettext_for
from bot.services import services
from bot.settings import Settings
from bot.ui import cached_locale, user_locale

log = logging.getLogger(__name__)

Context = CallbackContext[Any, Any, Any, Any]

_DATA = re.compile(r"^cw:([acuxv]):(\d{1,12})$")

_REFUSALS = {
    "taken": N_("Referral no. {id} is already taken by another caseworker."),
    "same": N_("You have already taken this referral."),
    "not_claimed": N_("Accept the referral first."),
    "not_yours": N_("Another caseworker has this referral."),
    "withdrawn": N_("This referral was withdrawn."),
    "closed": N_("This referral is closed."),
}


def caseworker_orgs(settings: Settings, user_id: int) -> set[str]:
    """The organisations whose caseworker list holds *user_id*."""
    return {org for org, people in settings.caseworkers.items() if user_id in people}


async def _authorised_org(context: Context, case_id: int, user_id: int, chat_id: int) -> str | None:
    """The organisation on whose behalf *user_id* may act on the case in *chat_id*, or None.

    They must be a caseworker of an organisation the case was delivered to, acting in that
    organisation's chat or in their own private chat with the bot.
    """
    settings = services(context).settings
    mine = caseworker_orgs(settings, user_id)
    if not mine:
        return None
    for org in await cases.case_organisations(services(context).storage, case_id):
        if org in mine and chat_id in (settings.org_chats.get(org), user_id):
            return org
    return None


async def on_button(update: Update, context: Context) -> None:
    """A card button: check who and where, then claim, change the status or show the card."""
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    if query is None or user is None:
        return
    found = _DATA.match(query.data or "")
    org = None
    if found and chat is not None:
        org = await _authorised_org(context, int(found.group(2)), user.id, chat.id)
    if found is None or org is None:
        log.info("a case button was refused (not an allow-listed caseworker here)")
        _ = gettext_for(cached_locale(update, context))
        await _answer(query, _("This button is not available."))
        return
    action, case_id = found.group(1), int(found.group(2))
    svc = services(context)
    _ = gettext_for(await user_locale(update, context))
    now = bot_clock.now()
    if action == VIEW:
        case = await cases.load_case(svc.storage, svc.cipher, case_id)
        assert case is not None  # it has a delivery row
        text, markup = render_card(case, org_locale(svc.settings, org), org)
        await _answer(query)
        if query.message is not None:
            await context.bot.send_message(query.message.chat.id, text, reply_markup=markup)
        return
    if action == ACCEPT:
        result = await cases.claim(svc.storage, case_id, org, user.id, now)
        done = _("You have taken referral no. {id}.").format(id=case_id)
    else:
        result = await cases.set_status(svc.storage, case_id, user.id, ACTION_STATES[action], now)
        done = _("Saved.")
    if not result.ok:
        refusal = _REFUSALS.get(result.reason, N_("This button is not available."))
        await _answer(query, _(refusal).format(id=case_id), alert=True)
    else:
        log.info("referral %d: %s by a caseworker of %s", case_id, result.state, org)
        await _answer(query, done)
    await _refresh_here(update, context, case_id, org)
    if result.ok and chat is not None and chat.id != svc.settings.org_chats.get(org):
        await cases.queue_refresh(svc.storage, case_id, org)  # the card in the org's chat


async def _refresh_here(update: Update, context: Context, case_id: int, org: str) -> None:
    """Show the case's current state on the message whose button was pressed."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    svc = services(context)
    case = await cases.load_case(svc.storage, svc.cipher, case_id)
    if case is None:
        return
    text, markup = render_card(case, org_locale(svc.settings, org), org)
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            log.info("a case card could not be updated (%s)", exc.message)


async def _answer(query: Any, text: str | None = None, alert: bool = False) -> None:
    try:
        await query.answer(text, show_alert=alert)
    except Exception as exc:  # too old to answer: the card still updates
        log.info("callback query not answered: %s", type(exc).__name__)


async def list_cases(update: Update, context: Context) -> None:
    """``/cases``: a caseworker's open cases (theirs and unclaimed ones of their
    organisations) with a button to show each card; anyone else sees one neutral line."""
    user = update.effective_user
    chat = update.effective_chat
    message = update.effective_message
    if user is None or chat is None or message is None:
        return
    svc = services(context)
    orgs = caseworker_orgs(svc.settings, user.id)
    org_chats = {svc.settings.org_chats.get(org) for org in orgs}
    if not orgs or not (chat.type == "private" or chat.id in org_chats):
        log.info("/cases was refused (not an allow-listed caseworker here)")
        _ = gettext_for(cached_locale(update, context))
        await message.reply_text(
            html.escape(_("This command is for caseworkers of partner organisations."))
        )
        return
    if chat.type != "private":  # in an organisation's chat: only that organisation's cases
        orgs = {org for org in orgs if svc.settings.org_chats.get(org) == chat.id}
    _ = gettext_for(await user_locale(update, context))
    found = await cases.active_cases(svc.storage, svc.cipher, orgs, user.id)
    if not found:
        await message.reply_text(html.escape(_("You have no open referrals.")))
        return
    lines = [html.escape(_("Open referrals:"))]
    rows = []
    for case in found:
        needs = ", ".join(_(NEED_LABELS.get(n, n)) for n in case.needs) or "—"
        mine = case.claimed_by is not None
        status = _("taken by you") if mine else _("waiting for a caseworker")
        number = _("Referral no. {id}").format(id=case.id)
        line = f"{number} · {_(URGENCY_LABELS.get(case.urgency, case.urgency))} · {needs}"
        lines.append("• " + html.escape(f"{line} — {status}"))
        rows.append(
            [
                InlineKeyboardButton(
                    _("📄 Referral no. {id}").format(id=case.id),
                    callback_data=f"cw:{VIEW}:{case.id}",
                )
            ]
        )
    await message.reply_text("\n".join(lines), reply_markup=InlineKeyboardMarkup(rows))


HANDLERS = [
    CallbackQueryHandler(on_button, pattern=r"^cw:"),
    CommandHandler("cases", list_cases),
]
