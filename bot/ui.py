"""Shared pieces of the interface: the user's locale, callback data, keyboards.

Callback data (at most 64 bytes, Telegram's limit):

| data              | button                                  |
|-------------------|-----------------------------------------|
| ``l:<locale>``    | choose a language                       |
| ``lang``          | open the language menu                  |
| ``h``             | home (main menu)                        |
| ``s:<section>``   | a menu section                          |
| ``t:<topic>:<s>`` | a topic's article list, opened from <s> |
| ``a:<id>:<s>``    | an article, opened from section <s>     |
| ``ask``           | "Ask a question"                        |
| ``help``          | "I need help" (bot/handlers/help.py)     |
"""

from __future__ import annotations

import html
import logging
from functools import cache, lru_cache
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import CallbackContext

from bot.i18n import LOCALE_NAMES, N_, gettext_for, locale_from_language_code, normalize_locale
from bot.services import services
from knowledge.schema import LOCALES
from knowledge.sections import SECTIONS

log = logging.getLogger(__name__)

#: Main-menu buttons: callback data and English msgid, in display order (two a row).
MAIN_MENU: tuple[tuple[str, str], ...] = (
    ("s:ban", N_("⛔ Entry ban")),
    ("s:rights", N_("⚖️ My rights")),
    ("s:before", N_("🧳 Before you go")),
    ("s:return", N_("🔄 After return")),
    ("s:urgent", N_("🆘 Urgent help")),
    ("s:contacts", N_("📞 Contacts")),
    ("ask", N_("❓ Ask a question")),
    ("lang", N_("🌐 Language")),
)

SECTION_TITLES: dict[str, str] = {
    "ban": N_("Entry ban"),
    "rights": N_("My rights"),
    "before": N_("Before you go"),
    "return": N_("After return"),
    "urgent": N_("Urgent help"),
    "contacts": N_("Contacts"),
}

TOPIC_TITLES: dict[str, str] = {
    "ban_check": N_("How to check for a ban"),
    "ban_reasons_duration": N_("Why bans are given and for how long"),
    "ban_appeal_removal": N_("Appeal or lift a ban"),
    "entry_stay_rules": N_("Entry, stay and registration"),
    "patent_work_permit": N_("Patent and work permit"),
    "eaeu_rights": N_("Rights of EAEU workers"),
    "labour_rights_wages": N_("Work contract and unpaid wages"),
    "passport_confiscated": N_("Someone took my passport"),
    "police_detention": N_("Police checks and detention"),
    "deportation_expulsion": N_("Expulsion and deportation"),
    "medical_help": N_("Medical help"),
    "trafficking_exploitation": N_("Forced labour and trafficking"),
    "safe_departure": N_("Leaving safely"),
    "return_reintegration": N_("Life after return"),
    "family_children": N_("Family and children"),
    "emergency_crisis": N_("Emergency: help now"),
    "contacts_ngo": N_("Who can help"),
}


def cached_locale(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> str:
    """The user's locale without touching storage: cached choice, else the suggestion from
    Telegram's ``language_code`` (used when storage itself has failed)."""
    if context.user_data is not None and context.user_data.get("locale") in LOCALES:
        return str(context.user_data["locale"])
    user = update.effective_user
    return locale_from_language_code(user.language_code if user else None)


async def user_locale(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> str:
    """The locale of the user behind *update*: cached, else stored, else suggested.

    Also records that the user was seen (first and last seen, UTC). A stored value that is
    not one of the served locales is ignored.
    """
    if context.user_data is not None and context.user_data.get("locale") in LOCALES:
        return str(context.user_data["locale"])
    user = update.effective_user
    if user is None:
        return normalize_locale(None)
    stored = await services(context).storage.touch_user(user.id)
    if stored not in LOCALES:
        return locale_from_language_code(user.language_code)
    if context.user_data is not None:
        context.user_data["locale"] = stored
    return str(stored)


async def answer(update: Update, text: str | None = None) -> None:
    """Answer the callback query of *update*, if any (stops the button's spinner).

    Telegram refuses answers to queries older than about 15 seconds ("query is too old"),
    e.g. after downtime; the screen is still shown, so such a refusal is ignored.
    """
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.info("callback query not answered: %s", type(exc).__name__)


@lru_cache(maxsize=4096)
def button(text: str, callback_data: str) -> InlineKeyboardButton:
    """An inline button sending *callback_data*. Shared, not built anew: buttons are
    immutable, the same ones appear on screen after screen, and building one costs about
    6 µs (a tenth of a menu screen's time in the bot)."""
    return InlineKeyboardButton(text, callback_data=callback_data)


def home_row(locale: str, back: str | None = None) -> list[InlineKeyboardButton]:
    """A row with Back (to callback data *back*, if given) and Home."""
    _ = gettext_for(locale)
    row = []
    if back:
        row.append(button(_("⬅️ Back"), back))
    row.append(button(_("🏠 Menu"), "h"))
    return row


#: The help path's button (``help``, bot/handlers/help.py), alone on the menu's first row.
HELP_BUTTON = N_("🆘 I need help")


def help_row(locale: str) -> list[InlineKeyboardButton]:
    """A row with the "I need help" button (starts the help path)."""
    return [button(gettext_for(locale)(HELP_BUTTON), "help")]


@cache
def main_menu_keyboard(locale: str) -> InlineKeyboardMarkup:
    """ "I need help" on a row of its own, then the eight main-menu buttons, two a row
    (built once per locale: a keyboard is immutable)."""
    _ = gettext_for(locale)
    buttons = [button(_(label), data) for data, label in MAIN_MENU]
    return InlineKeyboardMarkup(
        [help_row(locale), *(buttons[i : i + 2] for i in range(0, len(buttons), 2))]
    )


@cache
def language_keyboard(selected: str) -> InlineKeyboardMarkup:
    """One button per locale, each named in itself; *selected* is marked with ✅ (built
    once per *selected*: a keyboard is immutable)."""
    rows = []
    for locale in LOCALES:
        mark = "✅ " if locale == selected else ""
        rows.append([button(mark + LOCALE_NAMES[locale], f"l:{locale}")])
    return InlineKeyboardMarkup(rows)


def section_of(topic: str) -> str:
    """The first menu section that lists *topic* (for Back from a searched article)."""
    for section, topics in SECTIONS.items():
        if topic in topics:
            return section
    return "contacts"


async def show(update: Update, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Show *text* (HTML): edit the pressed message for a callback query, else reply.

    If the pressed message cannot be edited (too old, deleted), the screen is sent as a new
    message. A button under an inline-mode message (no chat message) shows nothing here.
    """
    query = update.callback_query
    if query is not None:
        if query.message is None:
            return
        try:
            await query.edit_message_text(text, reply_markup=markup)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            log.info("could not edit the pressed message (%s); sending anew", exc.message)
        await query.get_bot().send_message(query.message.chat.id, text, reply_markup=markup)
        return
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, reply_markup=markup)


def main_menu_text(locale: str) -> str:
    """The main menu's message (HTML)."""
    _ = gettext_for(locale)
    return "<b>{}</b>\n\n{}".format(
        html.escape(_("Main menu")),
        html.escape(_("Choose a topic with the buttons, or just type your question.")),
    )


async def stale_button(update: Update, context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Reply to a button whose data is unknown, forged or from an old version: the menu."""
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    await answer(update, _("This button is out of date. Here is the menu."))
    if update.callback_query is None or update.callback_query.message is None:
        return
    await show(update, main_menu_text(locale), main_menu_keyboard(locale))
