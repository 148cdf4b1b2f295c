"""Free-text questions in a private chat: the best article, two more as buttons, or an
honest "I don't know this yet" with Contacts."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackContext, MessageHandler, filters

from bot.handlers.articles import send_article
from bot.i18n import gettext_for
from bot.services import services
from bot.storage import SEARCH_ANSWERED, SEARCH_UNANSWERED
from bot.ui import home_row, section_of, user_locale
from knowledge.langdetect import detect_locale

Context = CallbackContext[Any, Any, Any, Any]

#: Only this many characters of a question are searched; more is noise.
MAX_QUERY_CHARS = 500


async def question(update: Update, context: Context) -> None:
    """Answer a typed question (new or edited message) from the knowledge base."""
    message = update.effective_message
    if message is None or not message.text:
        return
    await answer_question(update, context, message.text)


async def answer_question(update: Update, context: Context, text: str) -> None:
    """Answer *text* (a question) with the best article, or decline honestly."""
    message = update.effective_message
    assert message is not None
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    svc = services(context)
    if len(text) > MAX_QUERY_CHARS:
        await message.reply_text(
            html.escape(_("Your message is long, so I read only its beginning."))
        )
        text = text[:MAX_QUERY_CHARS]
    result = svc.searcher.search(text)
    best = result.best
    if best is None:
        await svc.storage.count(SEARCH_UNANSWERED, "none")
        markup = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(_("📞 Contacts"), callback_data="s:contacts")],
                home_row(locale),
            ]
        )
        reply = "\n\n".join(
            [
                html.escape(_("I don't know this yet.")),
                html.escape(
                    _(
                        "Try other words, choose a topic in the menu, or contact an "
                        "organisation that helps migrants."
                    )
                ),
            ]
        )
        await message.reply_text(reply, reply_markup=markup)
        return
    await svc.storage.count(SEARCH_ANSWERED, best.article_id)
    article = svc.kb.articles[best.article_id]
    more = [
        svc.kb.articles[h.article_id] for h in result.hits[1:3] if h.score >= svc.searcher.min_score
    ]
    detected = detect_locale(text)
    also_in = None
    if detected and detected != locale and {detected, locale} != {"uz", "uz_Cyrl"}:
        also_in = detected  # written in another language: offer the article in it too
    await send_article(
        update, context, article, locale, section_of(article.topic), more, also_in=also_in
    )


HANDLERS = [
    MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, question),
]
