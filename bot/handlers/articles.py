"""Showing an article (callback data ``a:<article id>:<section>``)."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackContext, CallbackQueryHandler

from bot.render import render_article
from bot.services import services
from bot.storage import ARTICLE_VIEW
from bot.ui import home_row, show, stale_button, user_locale
from knowledge.schema import Article
from knowledge.sections import SECTIONS

Context = CallbackContext[Any, Any, Any, Any]


def article_keyboard(
    article: Article,
    locale: str,
    section_key: str,
    more: list[Article] | None = None,
) -> InlineKeyboardMarkup:
    """Buttons under an article: further articles (*more*), then Back to its topic, Home."""
    rows = [
        [
            InlineKeyboardButton(
                "📄 " + other.text(locale)[0].title, callback_data=f"a:{other.id}:{section_key}"
            )
        ]
        for other in more or []
    ]
    rows.append(home_row(locale, back=f"t:{article.topic}:{section_key}"))
    return InlineKeyboardMarkup(rows)


async def send_article(
    update: Update,
    context: Context,
    article: Article,
    locale: str,
    section_key: str,
    more: list[Article] | None = None,
) -> None:
    """Show *article* in *locale*; buttons go under its last part.

    A one-part article replaces the pressed message; a longer one is sent as new messages.
    Counts one anonymous article view.
    """
    parts = render_article(article, locale)
    markup = article_keyboard(article, locale, section_key, more)
    await services(context).storage.count(ARTICLE_VIEW, article.id)
    if len(parts) == 1:
        await show(update, parts[0], markup)
        return
    chat = update.effective_chat
    assert chat is not None
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        await context.bot.send_message(chat.id, part, reply_markup=markup if last else None)


async def article(update: Update, context: Context) -> None:
    """The article named by the pressed button."""
    query = update.callback_query
    assert query is not None and query.data is not None
    parts = query.data.split(":")
    found = services(context).kb.get(parts[1]) if len(parts) == 3 else None
    if found is None or parts[2] not in SECTIONS or found.topic not in SECTIONS[parts[2]]:
        await stale_button(update, context)
        return
    locale = await user_locale(update, context)
    await query.answer()
    await send_article(update, context, found, locale, parts[2])


HANDLERS = [CallbackQueryHandler(article, pattern=r"^a:")]
