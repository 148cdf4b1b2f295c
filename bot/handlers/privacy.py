"""/delete: a person erases what Safar keeps about them, after one confirmation.

Their referral cases are withdrawn (personal data erased, consent withdrawn, each
organisation that received the case told; see :func:`bot.cases.withdraw_person`)."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackContext, CallbackQueryHandler, CommandHandler, filters

from bot import cases
from bot import clock as bot_clock
from bot.i18n import gettext_for
from bot.services import services
from bot.ui import answer, home_row, show, user_locale

Context = CallbackContext[Any, Any, Any, Any]


async def ask_to_delete(update: Update, context: Context) -> None:
    """Say what will be erased and ask for a yes."""
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(_("🗑 Yes, delete"), callback_data="del:yes")],
            home_row(locale),
        ]
    )
    text = _(
        "This erases what Safar keeps about you: your language, your subscriptions, your "
        "reminders and your answers in guided checks. Safar keeps no messages. Delete?"
    )
    referral = _(
        "If you asked for a caseworker, your request is withdrawn and the organisation is told."
    )
    await show(update, html.escape(text + "\n\n" + referral), markup)


async def delete(update: Update, context: Context) -> None:
    """Erase the person's data (callback ``del:yes``) and confirm in their language."""
    user = update.effective_user
    if user is None:
        return
    locale = await user_locale(update, context)
    svc = services(context)
    # Referrals first: withdraw the cases and queue the organisations' notices (one
    # transaction), then the rest of the person's data.
    await cases.withdraw_person(svc.storage, svc.cipher, user.id, bot_clock.now())
    await svc.storage.delete_person(user.id)
    if context.user_data is not None:
        context.user_data.clear()
    _ = gettext_for(locale)
    await answer(update)
    await show(update, html.escape(_("Done: Safar no longer keeps anything about you.")))


HANDLERS = [
    CommandHandler("delete", ask_to_delete, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(delete, pattern=r"^del:yes$"),
]
