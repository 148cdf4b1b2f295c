"""Everything else: non-text messages, unknown commands, stale buttons, group chats.

Every private message gets a kind reply in the user's locale; in groups Safar speaks only
when addressed (a command or a mention) and then invites the person to a private chat, so
that nobody's question is read by the whole group.
"""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackContext, CallbackQueryHandler, MessageHandler, filters

from bot.i18n import gettext_for
from bot.ui import main_menu_keyboard, stale_button, user_locale

Context = CallbackContext[Any, Any, Any, Any]


async def not_text(update: Update, context: Context) -> None:
    """Stickers, photos, voice, files, locations, contacts...: ask for text instead."""
    message = update.effective_message
    if message is None:
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    if message.voice or message.audio or message.video_note:
        text = _("I cannot listen to voice or video messages yet.")
    elif message.contact or message.location or message.venue:
        text = _("Please do not send me your phone number or location: I do not need them.")
    else:
        text = _("I can read only text for now.")
    text += " " + _("Please type your question or use the buttons.")
    await message.reply_text(html.escape(text), reply_markup=main_menu_keyboard(locale))


async def unknown_command(update: Update, context: Context) -> None:
    """A command Safar does not know."""
    message = update.effective_message
    if message is None:
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    await message.reply_text(
        html.escape(_("I don't know this command. Here is the menu.")),
        reply_markup=main_menu_keyboard(locale),
    )


async def group_invite(update: Update, context: Context) -> None:
    """In a group, answer a command or mention with an invitation to a private chat."""
    message = update.effective_message
    if message is None:
        return
    username = context.bot.username
    if (
        message.text
        and not message.text.startswith("/")
        and f"@{username}".lower() not in (message.text.lower())
    ):
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(_("Open Safar"), url=f"https://t.me/{username}")]]
    )
    await message.reply_text(
        html.escape(
            _(
                "I answer in a private chat, so that your questions stay private. "
                "Tap the button to write to me."
            )
        ),
        reply_markup=markup,
    )


HANDLERS = [
    MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, unknown_command),
    MessageHandler(filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL, not_text),
    MessageHandler(
        filters.ChatType.GROUPS & (filters.COMMAND | filters.Entity("mention")), group_invite
    ),
    CallbackQueryHandler(stale_button),
]
