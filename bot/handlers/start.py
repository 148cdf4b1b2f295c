"""/start, /language and the language menu."""

from __future__ import annotations

import html
from typing import Any

from telegram import Update
from telegram.ext import CallbackContext, CallbackQueryHandler, CommandHandler, filters

from bot.i18n import LOCALE_NAMES, gettext_for
from bot.services import services
from bot.ui import (
    answer,
    language_keyboard,
    main_menu_keyboard,
    main_menu_text,
    show,
    stale_button,
    user_locale,
)
from knowledge.schema import LOCALES

Context = CallbackContext[Any, Any, Any, Any]


async def start(update: Update, context: Context) -> None:
    """Greet and offer the five languages, pre-selecting the stored or suggested one."""
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
