"""/start, /language and the language menu."""

from __future__ import annotations

import html
from typing import Any

from telegram import Update
from telegram.ext import CallbackContext, CallbackQueryHandler, CommandHandler, filters

from bot import deeplinks
from bot.handlers.articles import send_article
from bot.handlers.menu import topic_screen
from bot.i18n import LOCALE_NAMES, gettext_for
from bot.services import services
from bot.ui import (
    answer,
    language_keyboard,
    main_menu_keyboard,
    main_menu_text,
    section_of,
    show,
    stale_button,
    user_locale,
)
from knowledge.schema import LOCALES

Context = CallbackContext[Any, Any, Any, Any]


async def start(update: Update, context: Context) -> None:
    """Greet and offer the five languages, pre-selecting the stored or suggested one; with a
    valid deep-link payload, open that screen instead."""
    if context.args and await open_deep_link(update, context, context.args[0]):
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    text = "\n\n".join(
        [
            html.escape(_("Hello! I am Safar, a free bot for migrant workers.")),
            html.escape(
                _(
                    "I answer questions about entry bans, your rights and safe migration. "
                    "I am a bot, not a lawyer."
                )
            ),
            "<b>" + html.escape(_("Choose your language:")) + "</b>",
        ]
    )
    await show(update, text, language_keyboard(locale))


async def open_deep_link(update: Update, context: Context, payload: str) -> bool:
    """Open the screen a deep-link *payload* names; False if the payload is not valid.

    The article is shown in the link's locale. A person who has not chosen a language yet
    gets the link's as their own (it is usually the language of whoever shared it with
    them, chosen for them); a choice already made is kept.
    """
    svc = services(context)
    link = deeplinks.decode(payload, frozenset(svc.kb.articles))
    user = update.effective_user
    if link is None or user is None:
        return False
    locale = await user_locale(update, context)
    if await svc.storage.get_locale(user.id) is None:
        await svc.storage.set_locale(user.id, link.locale)
        if context.user_data is not None:
            context.user_data["locale"] = link.locale
        locale = link.locale
    if link.kind == "article":
        article = svc.kb.articles[link.key]
        await send_article(
            update, context, article, locale, section_of(article.topic), text_locale=link.locale
        )
    elif link.kind == "topic":
        await topic_screen(update, context, link.key, section_of(link.key))
    else:
        await show(update, main_menu_text(locale), main_menu_keyboard(locale))
    return True


async def language_menu(update: Update, context: Context) -> None:
    """Show the language menu (command /language or the Language button)."""
    locale = await user_locale(update, context)
    await answer(update)
    _ = gettext_for(locale)
    await show(
        update, "<b>" + html.escape(_("Choose your language:")) + "</b>", language_keyboard(locale)
    )


async def choose_language(update: Update, context: Context) -> None:
    """Store the chosen locale (callback data ``l:<locale>``) and show the main menu."""
    query = update.callback_query
    assert query is not None and query.data is not None
    chosen = query.data.removeprefix("l:")
    if chosen not in LOCALES or update.effective_user is None:
        await stale_button(update, context)
        return
    await services(context).storage.set_locale(update.effective_user.id, chosen)
    if context.user_data is not None:
        context.user_data["locale"] = chosen
    _ = gettext_for(chosen)
    await answer(update, _("Language saved: {name}").format(name=LOCALE_NAMES[chosen]))
    await show(update, main_menu_text(chosen), main_menu_keyboard(chosen))


HANDLERS = [
    CommandHandler("start", start, filters=filters.ChatType.PRIVATE),
    CommandHandler("language", language_menu, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(language_menu, pattern=r"^lang$"),
    CallbackQueryHandler(choose_language, pattern=r"^l:"),
]
