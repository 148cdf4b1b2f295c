"""The help path: "I need help" -> needs screening -> an organisation -> consent -> a case.

Ways in: the "🆘 I need help" button (callback ``help``: main menu, after a ban estimate,
under return and crisis articles); a typed message that signals danger: ``high`` opens the
screening at once, ``crisis`` first gets the emergency contacts (whatever the person
consents to; :mod:`bot.handlers.search`) and then the offer of a caseworker (``help:c``).

After the screening (dialog ``screening``, shown by the dialog adapter) the person sees
which organisation can help (routing: :func:`knowledge.services.route`) and the consent
text (:mod:`dialogs.consent`), and answers with a button:

| data              | button                                                     |
|-------------------|------------------------------------------------------------|
| ``help``          | start the help path                                        |
| ``help:c``        | start it after a crisis message (the urgency is ``crisis``)  |
| ``hc:y:<org id>`` | yes: a caseworker may write on Telegram                    |
| ``hc:p:<org id>`` | yes, and share the phone number (Telegram's contact button) |
| ``hc:n:<org id>`` | no: nothing is sent; contacts to use themselves              |

Only "yes" writes anything for an organisation: consent, case and outbox in one
transaction (:func:`bot.cases.open_case`); the delivery worker sends the card. The result
is recomputed from the stored answers of the finished screening when the button is
pressed, so a restart in between changes nothing; a button for another organisation than
the one the answers now lead to is treated as out of date.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import CallbackContext, CallbackQueryHandler, MessageHandler, filters

from bot import clock
from bot.cases import NewCase, open_case
from bot.crypto import DecryptionError
from bot.handlers.dialogs import begin, last_answers, pass_through, register, translator
from bot.i18n import N_, gettext_for
from bot.services import services
from bot.ui import answer, home_row, stale_button, user_locale
from dialogs.consent import (
    CONSENT_VERSION,
    NO,
    YES,
    YES_PHONE,
    consent_scope,
    render_already_sent,
    render_consent,
    render_declined,
    render_sent,
)
from dialogs.engine import Answer, State
from dialogs.screening import COUNTRY_CHOICES, SCREENING, ScreeningResult, city_key, screen
from knowledge.schema import LOCALES
from knowledge.services import COUNTRIES, Organisation, directory, emergency_contacts, route

log = logging.getLogger(__name__)

Context = CallbackContext[Any, Any, Any, Any]

#: The row of ``dialog_states`` (never active, so never taken for a dialog) that keeps the
#: help path's own state across a restart, encrypted: ``risk`` (the danger level of the
#: message that opened the path), ``run`` (a hash of the finished screening's stored
#: token, which names that run), ``phone_for`` (the organisation whose consent waits for
#: the phone number) and ``case`` (the case opened from run ``run``). ``/delete`` erases it
#: with the dialogs.
_PATH = "help-path"

_CONSENT_DATA = re.compile(r"^hc:([ypn]):([a-z0-9-]{2,40})$")

#: The reply-keyboard button that continues without sharing the phone number.
NO_PHONE = N_("➡️ Continue without my phone number")
SHARE_PHONE = N_("📱 Share my phone number")

#: What each emergency number is for (msgids).
NUMBER_LABELS: dict[str, str] = {
    "emergency": N_("emergency (free)"),
    "police": N_("police"),
    "ambulance": N_("ambulance"),
    "trafficking_hotline": N_("hotline on human trafficking"),
    "women_hotline": N_("helpline for women"),
}

_COUNTRY_LABELS = {c.value: c.label for c in COUNTRY_CHOICES}


def _private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def _path(context: Context, user_id: int) -> dict[str, Any]:
    """The person's stored help-path state (see :data:`_PATH`); ``{}`` if none."""
    svc = services(context)
    found = await svc.storage.dialog_state(user_id, _PATH)
    if found is None:
        return {}
    try:
        data = svc.cipher.decrypt_json(found[0])
    except (DecryptionError, ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


async def _save_path(context: Context, user_id: int, data: dict[str, Any]) -> None:
    svc = services(context)
    await svc.storage.save_dialog(user_id, _PATH, svc.cipher.encrypt_json(data), False)


async def _run(context: Context, user_id: int) -> str | None:
    """A name of the person's last finished screening run (a hash of its stored,
    encrypted token, which stays the same until the next run), or None."""
    found = await services(context).storage.dialog_state(user_id, SCREENING.name)
    if found is None or found[1]:
        return None
    return hashlib.sha256(found[0]).hexdigest()[:32]


def _risk(path: dict[str, Any]) -> str:
    risk = path.get("risk")
    return risk if isinstance(risk, str) and risk else "none"


async def known_country(context: Context, user_id: int) -> str | None:
    """The country (ISO code) the person gave in their last screening, or None."""
    found = await last_answers(context, user_id, SCREENING.name)
    country = (found or {}).get("country")
    return country if isinstance(country, str) and country in COUNTRIES else None


def emergency_lines(country: str | None, locale: str) -> str | None:
    """The emergency and hotline numbers of *country* as short lines (HTML), or None."""
    numbers = emergency_contacts(country)
    if not numbers or country is None:
        return None
    _ = gettext_for(locale)
    head = _(_COUNTRY_LABELS.get(country, country))
    lines = [f"<b>{html.escape(head)}</b>"]
    lines += [f"☎️ <b>{n.value}</b>: {html.escape(_(NUMBER_LABELS[n.label]))}" for n in numbers]
    return "\n".join(lines)


# --- ways in ---------------------------------------------------------------------------


async def start_help(update: Update, context: Context, risk: str = "none", as_new: bool = False
                     ) -> None:  # fmt: skip
    """Open the help path: remember the danger level *risk* of the message that opened it
    (``none`` from a button) and start the screening."""
    user = update.effective_user
    if user is not None:
        await _save_path(context, user.id, {"risk": risk})
    await begin(update, context, SCREENING.name, as_new=as_new)


async def on_help(update: Update, context: Context) -> None:
    """``help`` / ``help:c``: the "I need help" button (``help:c``: after a crisis)."""
    query = update.callback_query
    assert query is not None
    if not _private(update):
        await stale_button(update, context)
        return
    await answer(update)
    risk = "crisis" if query.data == "help:c" else "none"
    await start_help(update, context, risk, as_new=True)


async def offer_caseworker(update: Update, context: Context, locale: str) -> None:
    """After the emergency contacts: offer a caseworker (the path starts on a press)."""
    message = update.effective_message
    if message is None:
        return
    _ = gettext_for(locale)
    user = update.effective_user
    lines = []
    country = await known_country(context, user.id) if user else None
    numbers = emergency_lines(country, locale)
    if numbers:
        lines += [html.escape(_("Where you are:")), numbers, ""]
    lines.append(
        html.escape(
            _(
                "If you want, a caseworker from an organisation that helps migrants can "
                "contact you. First a few short questions; you can skip any."
            )
        )
    )
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(_("🆘 Yes, I want a caseworker"), callback_data="help:c")],
            home_row(locale),
        ]
    )
    await message.reply_text("\n".join(lines), reply_markup=markup)


async def open_from_text(update: Update, context: Context, locale: str) -> None:
    """A message that signals serious harm (``high``): open the help path at once."""
    message = update.effective_message
    if message is None:
        return
    _ = gettext_for(locale)
    await message.reply_text(
        html.escape(
            _(
                "What you describe is serious. An organisation that helps migrants can "
                "take it up. A few short questions first; you can skip any."
            )
        )
    )
    await start_help(update, context, "high", as_new=True)


# --- after the screening: routing and consent ------------------------------------------


def _fallback(context: Context, chosen: Organisation) -> Organisation | None:
    """The organisation an unclaimed urgent case would go to, if it is in the directory
    (so that the consent text can name it) and not the chosen one."""
    settings = services(context).settings
    fallback_id = settings.fallback_org or directory().fallback
    found = directory().get(fallback_id)
    return found if found is not None and found.id != chosen.id else None


def _assess(
    context: Context, answers: dict[str, Answer], locale: str, risk: str
) -> tuple[ScreeningResult, Organisation]:
    """The screening result (raised by the opening message's danger level *risk*) and the
    organisation the answers lead to (only organisations that can receive a referral)."""
    result = screen(answers, risk)
    settings = services(context).settings
    receivers = set(settings.org_chats) | set(settings.org_webhooks)
    country = answers.get("country")
    org = route(
        country if isinstance(country, str) and country in COUNTRIES else None,
        city_key(answers.get("city")),
        list(result.needs),
        locale,
        reachable=receivers or None,
        established=_established(answers),
    )
    return result, org


def _established(answers: dict[str, Answer]) -> set[str]:
    """What the screening answers show about whom an organisation may help: a woman
    raising children alone, or a person under 18, is ``women_children``. Citizenship is
    not asked, so it is never established."""
    found = set()
    if answers.get("household") == "woman_alone" or answers.get("age") == "under18":
        found.add("women_children")
    return found


async def on_screened(update: Update, context: Context, state: State) -> None:
    """The screening's ``on_done``: show the organisation and the consent question."""
    locale = await user_locale(update, context)
    user = update.effective_user
    path: dict[str, Any] = {}
    if user is not None:  # bind the opening danger level to this run
        old = await _path(context, user.id)
        path = {"risk": _risk(old) if not old.get("case") else "none"}
        path["run"] = await _run(context, user.id)
        await _save_path(context, user.id, path)
    _result, org = _assess(context, state.answer_map(), locale, _risk(path))
    fallback = _fallback(context, org)
    _ = gettext_for(locale)
    text = render_consent(
        org.display_name(locale),
        fallback.display_name(locale) if fallback else None,
        translator(locale),
        org.hours_in(locale),
    )
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(_(YES), callback_data=f"hc:y:{org.id}")],
            [InlineKeyboardButton(_(YES_PHONE), callback_data=f"hc:p:{org.id}")],
            [InlineKeyboardButton(_(NO), callback_data=f"hc:n:{org.id}")],
        ]
    )
    message = update.effective_message
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, text, reply_markup=markup)
    elif message is not None:  # pragma: no cover - a private chat always has one
        await message.reply_text(text, reply_markup=markup)


def _contact_lines(org: Organisation, country: str | None, locale: str) -> list[str]:
    _ = gettext_for(locale)
    lines = [f"{c.value}" for c in org.contacts if c.kind != "article"]
    hours = org.hours_in(locale)
    if hours:
        lines.append(_("Working hours: {hours}").format(hours=hours))
    for number in emergency_contacts(country):
        lines.append(f"{number.value}: {_(NUMBER_LABELS[number.label])}")
    return lines


async def on_consent(update: Update, context: Context) -> None:
    """``hc:<y|p|n>:<org id>``: the answer to the consent question.

    Once a case has been opened from the finished screening run, another press (yes, phone
    or no, also after a restart) opens nothing: the person is told the request was already
    sent (its number) and how to withdraw."""
    query = update.callback_query
    user = update.effective_user
    assert query is not None and query.data is not None
    found = _CONSENT_DATA.match(query.data)
    answers = (
        await last_answers(context, user.id, SCREENING.name)
        if found and user and _private(update)
        else None
    )
    locale = await user_locale(update, context)
    if found is None or answers is None or user is None:
        await stale_button(update, context)
        return
    path = await _path(context, user.id)
    run = await _run(context, user.id)
    same_run = run is not None and path.get("run") == run
    result, org = _assess(context, answers, locale, _risk(path) if same_run else "none")
    if org.id != found[2]:
        await stale_button(update, context)
        return
    await answer(update)
    if same_run and isinstance(path.get("case"), int):
        text = render_already_sent(org.display_name(locale), path["case"], translator(locale))
        await _edit_or_send(update, context, text, InlineKeyboardMarkup([home_row(locale)]))
        return
    choice = found[1]
    country = answers.get("country")
    iso = country if isinstance(country, str) and country in COUNTRIES else None
    if choice == "n":
        # Nothing is written for any organisation: the person gets the contacts instead.
        if path.get("phone_for"):
            await _save_path(context, user.id, {**path, "phone_for": None})
        text = render_declined(
            org.display_name(locale), _contact_lines(org, iso, locale), translator(locale)
        )
        await _edit_or_send(update, context, text, InlineKeyboardMarkup([home_row(locale)]))
        return
    if choice == "p":
        await _save_path(context, user.id, {**path, "run": run, "phone_for": org.id})
        await _ask_phone(update, context, locale)
        return
    await _open(update, context, org, answers, result, locale, phone=None)


async def _ask_phone(update: Update, context: Context, locale: str) -> None:
    """The reply keyboard with Telegram's contact button and "continue without"."""
    _ = gettext_for(locale)
    keyboard = ReplyKeyboardMarkup(
        [[KeyboardButton(_(SHARE_PHONE), request_contact=True)], [KeyboardButton(_(NO_PHONE))]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_message(
        chat.id,
        html.escape(
            _("Tap «Share my phone number» below: Telegram sends it to me. Or continue without it.")
        ),
        reply_markup=keyboard,
    )


async def _edit_or_send(
    update: Update, context: Context, text: str, markup: InlineKeyboardMarkup
) -> None:
    query = update.callback_query
    if query is not None and query.message is not None:
        try:
            await query.edit_message_text(text, reply_markup=markup)
            return
        except TelegramError:  # an old message: send anew
            log.info("consent screen could not be edited; sending anew")
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, text, reply_markup=markup)


async def _open(
    update: Update,
    context: Context,
    org: Organisation,
    answers: dict[str, Answer],
    result: ScreeningResult,
    locale: str,
    phone: str | None,
) -> None:
    """Write consent, case and outbox (one transaction) and tell the person."""
    user = update.effective_user
    chat = update.effective_chat
    assert user is not None and chat is not None
    svc = services(context)
    path = await _path(context, user.id)
    risk = _risk(path) if path.get("run") == await _run(context, user.id) else "none"
    fallback = _fallback(context, org)
    contact = {"telegram": f"@{user.username}" if user.username else str(user.id)}
    if phone:
        contact["phone"] = phone
    country = answers.get("country")
    city = answers.get("city")
    case = NewCase(
        telegram_id=user.id,
        chat_id=chat.id,
        locale=locale,
        organisation_id=org.id,
        urgency=result.urgency,
        needs=result.reason_codes(),
        answers=dict(answers),
        country=country if isinstance(country, str) and country in COUNTRIES else None,
        city=city if isinstance(city, str) else None,
        contact=contact,
        consent_version=CONSENT_VERSION,
        consent_scope=consent_scope(org.id, fallback.id if fallback else None, bool(phone)),
        risk_level=risk,
    )
    case_id = await open_case(svc.storage, svc.cipher, case, clock.now())
    run = await _run(context, user.id)
    await _save_path(context, user.id, {"risk": risk, "run": run, "case": case_id})
    log.info("referral case opened (urgency %s)", result.urgency)
    text = render_sent(org.display_name(locale), case_id, translator(locale))
    if phone is not None or update.callback_query is None:
        await context.bot.send_message(chat.id, text, reply_markup=ReplyKeyboardRemove())
        return
    await _edit_or_send(update, context, text, InlineKeyboardMarkup([home_row(locale)]))


_Pending = tuple[Organisation, dict[str, Answer], ScreeningResult, str]


async def _pending(update: Update, context: Context) -> _Pending | None:
    """The consent that waits for a phone number (stored, so it survives a restart),
    re-checked against the stored answers; None if there is none or a case was opened."""
    user = update.effective_user
    if user is None:
        return None
    path = await _path(context, user.id)
    run = await _run(context, user.id)
    org_id = path.get("phone_for")
    if not org_id or run is None or path.get("run") != run or path.get("case"):
        return None
    answers = await last_answers(context, user.id, SCREENING.name)
    if answers is None:
        return None
    locale = await user_locale(update, context)
    result, org = _assess(context, answers, locale, _risk(path))
    return (org, answers, result, locale) if org.id == org_id else None


async def on_contact(update: Update, context: Context) -> None:
    """A shared contact: the phone number for the waiting consent, if it is the person's
    own (Telegram's button); anything else is declined as before (we do not need it)."""
    message = update.effective_message
    user = update.effective_user
    assert message is not None
    pending = await _pending(update, context)
    contact = message.contact
    if pending and contact and user and contact.user_id == user.id and contact.phone_number:
        org, answers, result, locale = pending
        await _open(update, context, org, answers, result, locale, phone=contact.phone_number)
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    await message.reply_text(
        html.escape(_("Please do not send me your phone number or location: I do not need them."))
    )


async def on_no_phone(update: Update, context: Context) -> None:
    """ "Continue without my phone number": open the case with Telegram contact only."""
    pending = await _pending(update, context)
    message = update.effective_message
    if pending is None:
        if message is not None:
            locale = await user_locale(update, context)
            await message.reply_text(
                html.escape(gettext_for(locale)("This button is out of date. Here is the menu.")),
                reply_markup=ReplyKeyboardRemove(),
            )
        return
    org, answers, result, locale = pending
    await _open(update, context, org, answers, result, locale, phone=None)


register(SCREENING, on_done=on_screened)

_NO_PHONE_LABELS = sorted({gettext_for(loc)(NO_PHONE) for loc in LOCALES})
pass_through(_NO_PHONE_LABELS)

HANDLERS = [
    CallbackQueryHandler(on_help, pattern=r"^help(:c)?$"),
    CallbackQueryHandler(on_consent, pattern=r"^hc:"),
    MessageHandler(filters.ChatType.PRIVATE & filters.CONTACT, on_contact),
    MessageHandler(filters.ChatType.PRIVATE & filters.Text(_NO_PHONE_LABELS), on_no_phone),
]
