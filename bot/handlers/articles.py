"""Showing an article: callback data ``a:<article id>:<section>``, or
``a:<article id>:<section>:<locale>`` to read it once in another locale."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import CallbackContext, CallbackQueryHandler

from bot.deeplinks import LOCALE_CODE
from bot.i18n import LOCALE_NAMES, gettext_for
from bot.render import render_article
from bot.services import services
from bot.storage import ARTICLE_VIEW
from bot.ui import answer, button, help_row, home_row, show, stale_button, user_locale
from knowledge.schema import LOCALES, Article
from knowledge.sections import SECTIONS

Context = CallbackContext[Any, Any, Any, Any]

#: Topics whose articles end with the "I need help" button (the help path): life after a
#: return, emergencies, forced labour and trafficking.
HELP_TOPICS = frozenset({"return_reintegration", "emergency_crisis", "trafficking_exploitation"})


def article_keyboard(
    article: Article,
    locale: str,
    section_key: str,
    more: list[Article] | None = None,
    also_in: str | None = None,
) -> InlineKeyboardMarkup:
    """Buttons under an article: "I need help" for a return or crisis article, the same
    article in locale *also_in* (if given), further articles (*more*), then Back to its
    topic and Home."""
    rows = [help_row(locale)] if article.topic in HELP_TOPICS else []
    if also_in:
        rows.append(
            [button("📖 " + LOCALE_NAMES[also_in], f"a:{article.id}:{section_key}:{also_in}")]
        )
    rows += [
        [button("📄 " + other.text(locale)[0].title, f"a:{other.id}:{section_key}")]
        for other in more or []
    ]
    _ = gettext_for(locale)
    share_query = f"{LOCALE_CODE[locale]} {article.id}"
    rows.append([InlineKeyboardButton(_("↗️ Share"), switch_inline_query=share_query)])
    rows.append(home_row(locale, back=f"t:{article.topic}:{section_key}"))
    return InlineKeyboardMarkup(rows)


async def send_article(
    update: Update,
    context: Context,
    article: Article,
    locale: str,
    section_key: str,
    more: list[Article] | None = None,
    also_in: str | None = None,
    text_locale: str | None = None,
    as_new: bool = False,
) -> None:
    """Show *article* in *text_locale* (default: *locale*, the user's); buttons, in
    *locale*, go under its last part; *also_in* offers the article in that locale too.

    A one-part article replaces the pressed message (unless *as_new*); a longer one is
    sent as new messages. Counts one anonymous article view.
    """
    parts = render_article(article, text_locale or locale)
    markup = article_keyboard(article, locale, section_key, more, also_in)
    await services(context).storage.count(ARTICLE_VIEW, article.id)
    if context.user_data is not None:  # for /leaflet (bot.handlers.leaflets.LAST_ARTICLE)
        context.user_data["last_article"] = article.id
    if len(parts) == 1 and not as_new:
        await show(update, parts[0], markup)
        return
    chat = update.effective_chat
    if chat is None:  # a button under an inline-mode message: no chat to write to
        return
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        await context.bot.send_message(chat.id, part, reply_markup=markup if last else None)


async def article(update: Update, context: Context) -> None:
    """The article named by the pressed button."""
    query = update.callback_query
    assert query is not None and query.data is not None
    parts = query.data.split(":")
    found = services(context).kb.get(parts[1]) if len(parts) in (3, 4) else None
    text_locale = parts[3] if len(parts) == 4 else None
    if (
        found is None
        or parts[2] not in SECTIONS
        or found.topic not in SECTIONS[parts[2]]
        or (text_locale is not None and text_locale not in LOCALES)
    ):
        await stale_button(update, context)
        return
    locale = await user_locale(update, context)
    await answer(update)
    # Another language's version comes as a new message, so that both stay readable.
    await send_article(
        update, context, found, locale, parts[2], text_locale=text_locale,
        as_new=text_locale is not None,
    )  # fmt: skip


HANDLERS = [CallbackQueryHandler(article, pattern=r"^a:")]
