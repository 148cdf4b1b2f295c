"""Passing answers on: inline mode, deep links, and the Share button under articles.

* Inline mode: ``@<bot> <words>`` in any chat lists matching articles as cards that read
  well when forwarded; each ends with a deep link that opens Safar on that article in that
  locale. A first word that is a locale code (``ky``, ``tg``, ``ru``, ``uz``, ``uzc``) picks
  the locale; otherwise the sender's own.
* ``/link``: the deep links of the last article read and of the menu, to pass on.
* Deep links: ``/start <payload>`` (see :mod:`bot.deeplinks`) opens an article, a topic or
  the menu in the payload's locale; a bad payload falls back to the usual start.
"""

from __future__ import annotations

import html
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Update,
)
from telegram.ext import CallbackContext, CommandHandler, InlineQueryHandler, filters

from bot import deeplinks
from bot.deeplinks import Link
from bot.i18n import gettext_for, locale_from_language_code
from bot.render import render_article
from bot.services import services
from bot.ui import user_locale
from knowledge.schema import LOCALES, Article

Context = CallbackContext[Any, Any, Any, Any]

#: Articles offered for an empty inline query, in this order (ids that exist are used).
STARTER_ARTICLES = ("emergency-numbers", "ru-ban-check-online", "who-can-help-contacts")

#: At most this many cards per inline query.
MAX_RESULTS = 5


def split_locale(query: str) -> tuple[str | None, str]:
    """``("tg", "запрет")`` for ``"tg запрет"``; ``(None, query)`` without a locale code."""
    first, _, rest = query.strip().partition(" ")
    locale = deeplinks.LOCALE_OF_CODE.get(first.lower())
    return (locale, rest.strip()) if locale else (None, query.strip())


def share_card(article: Article, locale: str, bot_username: str) -> InlineQueryResultArticle:
    """An inline-mode card: the article in *locale*, ending with its deep link."""
    _ = gettext_for(locale)
    text, _fallback = article.text(locale)
    link = deeplinks.url(bot_username, Link("article", locale, article.id))
    body = render_article(article, locale)[0]
    footer = html.escape(_("Read more and ask your own question in Safar:")) + f"\n{link}"
    return InlineQueryResultArticle(
        id=f"{article.id}:{locale}"[:64],
        title=text.title,
        description=text.body[:120],
        input_message_content=InputTextMessageContent(f"{body}\n\n{footer}"[:4096]),
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton(_("Open Safar"), url=link)]]),
    )


async def inline_query(update: Update, context: Context) -> None:
    """Answer ``@bot <words>`` with matching article cards (none if nothing matches)."""
    query = update.inline_query
    if query is None:
        return
    svc = services(context)
    named, words = split_locale(query.query)
    locale = named or (await svc.storage.get_locale(query.from_user.id))
    if locale not in LOCALES:
        locale = locale_from_language_code(query.from_user.language_code)
    articles: list[Article]
    if not words:
        articles = [a for aid in STARTER_ARTICLES if (a := svc.kb.get(aid))]
    elif (exact := svc.kb.get(words)) is not None:  # the Share button's query
        articles = [exact]
    else:
        result = svc.searcher.search(words, limit=MAX_RESULTS)
        articles = [] if result.abstained else [svc.kb.articles[h.article_id] for h in result.hits]
    cards = [share_card(a, locale, context.bot.username) for a in articles[:MAX_RESULTS]]
    await query.answer(cards, cache_time=60, is_personal=True)


async def link_command(update: Update, context: Context) -> None:
    """/link: the deep link of the last article read (or of the menu), to pass on."""
    message = update.effective_message
    if message is None:
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    username = context.bot.username
    last = (context.user_data or {}).get("last_article")
    article = services(context).kb.get(str(last)) if last else None
    lines = []
    if article is not None:
        title = html.escape(article.text(locale)[0].title, quote=False)
        lines += [f"<b>{title}</b>", deeplinks.url(username, Link("article", locale, article.id))]
        lines.append("")
    lines += [
        html.escape(_("Safar's menu:")),
        deeplinks.url(username, Link("menu", locale)),
    ]
    intro = html.escape(_("Links to pass on: each opens Safar in your language."))
    await message.reply_text(intro + "\n\n" + "\n".join(lines))


HANDLERS = [
    InlineQueryHandler(inline_query),
    CommandHandler("link", link_command, filters=filters.ChatType.PRIVATE),
]
