"""Everything else: non-text messages, unknown commands, stale buttons, group chats.

Every private message gets a kind reply in the user's locale; in groups Safar speaks only
when addressed (a command or a mention) and then invites the person to a private chat, so
that nobody's question is read by the whole group.
"""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, MessageEntity, Update
from telegram.ext import CallbackContext, CallbackQueryHandler, MessageHandler, filters

from bot.handlers.search import answer_question, send_emergency
from bot.i18n import gettext_for
from bot.ui import main_menu_keyboard, stale_button, user_locale
from knowledge.crisis import detect_crisis

Context = CallbackContext[Any, Any, Any, Any]


async def not_text(update: Update, context: Context) -> None:
    """Stickers, photos, voice, files, locations, contacts...: ask for text instead.

    A photo or file with a caption is answered as if the caption were a typed question.
    """
    message = update.effective_message
    if message is None:
        return
    if message.caption and not message.caption.startswith("/"):
        await answer_question(update, context, message.caption)
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


def _addressed_to(message: Message, username: str, bot_id: int) -> bool:
    """True if a group *message* is for this bot: a command with no ``@bot`` suffix or with
    ours, an exact @mention of us (in text or caption), or a reply to our message."""
    ours = "@" + username.lower()
    kinds: list[str | None] = [MessageEntity.BOT_COMMAND, MessageEntity.MENTION]
    entities = {**message.parse_entities(kinds), **message.parse_caption_entities(kinds)}
    for entity, text in entities.items():
        if entity.type == MessageEntity.MENTION and text.lower() == ours:
            return True
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            target = text.partition("@")[2]
            if not target or "@" + target.lower() == ours:
                return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


async def group_invite(update: Update, context: Context) -> None:
    """In a group, answer a command, mention or reply addressed to Safar with an invitation
    to a private chat; stay silent otherwise."""
    message = update.message
    username = context.bot.username
    if message is None or not _addressed_to(message, username, context.bot.id):
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    if detect_crisis(message.text or message.caption or ""):
        await send_emergency(update, context, locale)  # danger: numbers first, even here
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
        filters.ChatType.GROUPS
        & filters.UpdateType.MESSAGE
        & (
            filters.COMMAND
            | filters.Entity(MessageEntity.MENTION)
            | filters.CaptionEntity(MessageEntity.MENTION)
            | filters.REPLY
        ),
        group_invite,
    ),
    CallbackQueryHandler(stale_button),
]
