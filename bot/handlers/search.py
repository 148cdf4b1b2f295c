"""Free-text questions in a private chat: the best article, two more as buttons, or an
honest "I don't know this yet" with Contacts."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackContext, MessageHandler, filters

from bot.handlers import help as help_path
from bot.handlers.articles import send_article
from bot.i18n import gettext_for
from bot.services import services
from bot.storage import SEARCH_ANSWERED, SEARCH_UNANSWERED
from bot.ui import home_row, main_menu_keyboard, section_of, user_locale
from knowledge.answer import answer
from knowledge.crisis import crisis_phrases
from knowledge.langdetect import detect_locale
from knowledge.risk import RiskAssessment, assess
from knowledge.search import GREETING, SearchResult

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
    """Answer *text* (a question) with the best article, or decline honestly.

    A message that signals danger gets the emergency contacts first, and only them, then
    the offer of a caseworker (``crisis``); one that signals serious harm (``high``: a
    passport taken, no food or shelter, stranded...) gets its answer and then the help
    path opens at once (bot/handlers/help.py)."""
    risk = assess(text)
    await _answer(update, context, text, risk)
    if risk.level == "high":
        locale = await user_locale(update, context)
        await help_path.open_from_text(update, context, locale)


async def _answer(update: Update, context: Context, text: str, risk: RiskAssessment) -> None:
    message = update.effective_message
    assert message is not None
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    svc = services(context)
    result = answer(svc.searcher, text[:MAX_QUERY_CHARS], risk=risk)
    if result.emergency:
        # Danger first. After self-harm or violence, only the numbers: a guess at another
        # article could bury them. After being held or forced to work, the article on what
        # to do about it too (knowledge/answer.py). Then the offer of a caseworker (the
        # help path), whatever the person decides.
        emergency = await send_emergency(update, context, locale)
        best = result.best
        if best is not None and best.article_id != emergency:
            article = svc.kb.articles[best.article_id]
            await send_article(
                update, context, article, locale, section_of(article.topic), as_new=True
            )
        await help_path.offer_caseworker(update, context, locale)
        return
    if len(text) > MAX_QUERY_CHARS:
        await message.reply_text(
            html.escape(_("Your message is long, so I read only its beginning."))
        )
        text = text[:MAX_QUERY_CHARS]
    best = result.best
    if result.out_of_scope == GREETING:
        await message.reply_text(
            html.escape(_("Hello! Choose a topic with the buttons, or type your question.")),
            reply_markup=main_menu_keyboard(locale),
        )
        return
    if best is None:
        # Anonymous: why nothing answered, the nearest topic and the language, never the
        # text itself (`python -m bot stats` shows where content is missing).
        await svc.storage.count(SEARCH_UNANSWERED, unanswered_bucket(result, text))
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


def unanswered_bucket(result: SearchResult, text: str) -> str:
    """The anonymous counter key of a question nothing answered:
    ``"<reason>:<nearest topic or ->:<language or ->"``. *reason* is the out-of-scope
    subject that matched (``weather``...), ``low_score`` (no article was confident enough:
    a content gap near the topic of the best guess) or ``no_match`` (nothing matched at all,
    or too short); the language is the one detected (:func:`detect_locale`). Nothing of the
    text itself is kept."""
    reason = result.out_of_scope or ("low_score" if result.hits else "no_match")
    nearest = result.hits[0].topic if result.hits and not result.out_of_scope else "-"
    return f"{reason}:{nearest}:{detect_locale(text) or '-'}"


async def send_emergency(update: Update, context: Context, locale: str) -> str:
    """Send the emergency contacts at once (a message signalled danger), with Contacts;
    returns the id of the article sent."""
    _ = gettext_for(locale)
    kb = services(context).kb
    article = kb.get(crisis_phrases().emergency_article) or kb.by_topic("emergency_crisis")[0]
    message = update.effective_message
    assert message is not None
    lead = _(
        "You are not alone. If you are in danger now, call the emergency number. "
        "Here are the numbers:"
    )
    await message.reply_text("<b>" + html.escape(lead) + "</b>")
    await send_article(update, context, article, locale, section_of(article.topic), as_new=True)
    return article.id


HANDLERS = [
    MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, question),
]
