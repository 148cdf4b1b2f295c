"""The main menu, its sections, topic lists, "Ask a question" and /help."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import CallbackContext, CallbackQueryHandler, CommandHandler, filters

from bot.handlers.dialogs import menu_buttons
from bot.i18n import gettext_for
from bot.services import services
from bot.ui import (
    SECTION_TITLES,
    TOPIC_TITLES,
    answer,
    button,
    home_row,
    main_menu_keyboard,
    main_menu_text,
    show,
    stale_button,
    user_locale,
)
from knowledge.sections import SECTIONS

Context = CallbackContext[Any, Any, Any, Any]


async def home(update: Update, context: Context) -> None:
    """The main menu (command /menu or the Menu button)."""
    locale = await user_locale(update, context)
    await answer(update)
    await show(update, main_menu_text(locale), main_menu_keyboard(locale))


async def section(update: Update, context: Context) -> None:
    """A section: its guided tools (dialogs) and topics as buttons; a one-topic section
    without tools lists its articles at once."""
    query = update.callback_query
    assert query is not None and query.data is not None
    key = query.data.removeprefix("s:")
    if key not in SECTIONS:
        await stale_button(update, context)
        return
    topics = SECTIONS[key]
    locale = await user_locale(update, context)
    tools = menu_buttons(key, locale)
    if len(topics) == 1 and not tools:
        await topic_screen(update, context, topics[0], key)
        return
    _ = gettext_for(locale)
    await answer(update)
    rows = [[button] for button in tools]
    rows += [[button(_(TOPIC_TITLES[t]), f"t:{t}:{key}")] for t in topics]
    rows.append(home_row(locale))
    text = "<b>{}</b>\n\n{}".format(
        html.escape(_(SECTION_TITLES[key])), html.escape(_("Choose a topic:"))
    )
    await show(update, text, InlineKeyboardMarkup(rows))


async def topic(update: Update, context: Context) -> None:
    """A topic's articles as buttons (callback data ``t:<topic>:<section>``)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    parts = query.data.split(":")
    if len(parts) != 3 or parts[2] not in SECTIONS or parts[1] not in SECTIONS[parts[2]]:
        await stale_button(update, context)
        return
    await topic_screen(update, context, parts[1], parts[2])


async def topic_screen(update: Update, context: Context, topic_key: str, section_key: str) -> None:
    """A topic's articles as buttons, with Back to *section_key* and Home."""
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    await answer(update)
    articles = services(context).kb.by_topic(topic_key)
    rows = [
        [button("📄 " + article.text(locale)[0].title, f"a:{article.id}:{section_key}")]
        for article in articles
    ]
    single = len(SECTIONS[section_key]) == 1
    rows.append(home_row(locale, back=None if single else f"s:{section_key}"))
    text = "<b>{}</b>\n\n{}".format(
        html.escape(_(TOPIC_TITLES[topic_key])), html.escape(_("Choose an article:"))
    )
    await show(update, text, InlineKeyboardMarkup(rows))


async def ask(update: Update, context: Context) -> None:
    """The "Ask a question" button: invite free text."""
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    await answer(update)
    text = html.escape(
        _(
            "Type your question in your own words, in any language. "
            "For example: how do I check if I have an entry ban?"
        )
    )
    await show(update, text, InlineKeyboardMarkup([home_row(locale)]))


async def help_command(update: Update, context: Context) -> None:
    """/help: the commands and what Safar is (and is not)."""
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    lines = [
        html.escape(_("/menu — main menu")),
        html.escape(_("/language — change the language")),
        html.escape(_("/help — this help")),
        html.escape(_("/subscribe — news when the law changes")),
        html.escape(_("/unsubscribe — stop the news")),
        html.escape(_("/leaflet — a leaflet to print of the last article you read")),
        html.escape(_("/link — a link to the last article you read, to pass on")),
        html.escape(_("/reminders — your reminders (when a ban ends)")),
        html.escape(_("/delete — erase what Safar keeps about you")),
        "",
        html.escape(
            _(
                "Safar gives general information, not legal advice. "
                "For your own case, talk to a lawyer or an NGO."
            )
        ),
    ]
    await show(update, "\n".join(lines), main_menu_keyboard(locale))


HANDLERS = [
    CommandHandler("menu", home, filters=filters.ChatType.PRIVATE),
    CommandHandler("help", help_command, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(home, pattern=r"^h$"),
    CallbackQueryHandler(section, pattern=r"^s:"),
    CallbackQueryHandler(topic, pattern=r"^t:"),
    CallbackQueryHandler(ask, pattern=r"^ask$"),
]
