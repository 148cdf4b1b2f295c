"""``/leaflet``: a printable leaflet (PDF) and a QR code (PNG) for notice boards.

* ``/leaflet`` after reading an article: that article (the last one shown to the user).
* ``/leaflet <article id>`` or ``/leaflet <topic>`` (e.g. ``ban_check``): that article, or
  the topic's list of articles.
* A locale code anywhere in the arguments (``ky``, ``tg``, ``ru``, ``uz``, ``uzc``) makes
  the leaflet in that locale, for a volunteer printing one per language; otherwise it is
  in the user's locale.

The PDF comes as a document named ``safar-<id>-<locale>.pdf`` (``-uz_Cyrl`` for Uzbek in
Cyrillic), then the QR code of the same deep link as a photo. There is deliberately no
button for this under articles (too many buttons).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

from telegram import Update
from telegram.ext import CallbackContext, CommandHandler, filters

from bot import deeplinks
from bot.deeplinks import Link
from bot.i18n import gettext_for
from bot.services import services
from bot.ui import TOPIC_TITLES, main_menu_keyboard, user_locale
from knowledge.schema import TOPICS

Context = CallbackContext[Any, Any, Any, Any]

#: ``context.user_data`` key of the id of the last article shown to the user.
LAST_ARTICLE = "last_article"

#: Locale codes accepted as arguments (as in deep links and inline mode, plus ``uz_cyrl``).
_LOCALE_CODES = {**deeplinks.LOCALE_OF_CODE, "uz_cyrl": "uz_Cyrl"}


async def leaflet(update: Update, context: Context) -> None:
    """Send the leaflet PDF and QR code of the named or last-read article (or topic)."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    locale = await user_locale(update, context)
    words = [w for w in (context.args or []) if w.strip()]
    kb = services(context).kb
    key: str | None = None
    unknown = False
    for word in words:
        word = word.strip().lower()
        if word in _LOCALE_CODES:
            locale = _LOCALE_CODES[word]
        elif kb.get(word) is not None or word in TOPICS:
            key = word
        else:
            unknown = True  # other words ("/leaflet for the mosque"): the last article
    _ = gettext_for(locale)
    if key is None and context.user_data is not None:
        key = context.user_data.get(LAST_ARTICLE)
    if key is None and unknown:
        key = words[-1].strip().lower()  # said as unknown just below
    if key is None:
        text = _("First open an article, then send /leaflet: I will make a leaflet of it to print.")
        await message.reply_text(html.escape(text), reply_markup=main_menu_keyboard(locale))
        return
    article = kb.get(key)
    if article is None and key not in TOPICS:
        text = _("I don't know this article. Open an article with the buttons, then send /leaflet.")
        await message.reply_text(html.escape(text), reply_markup=main_menu_keyboard(locale))
        return
    username = context.bot.username
    # Imported here: reportlab and segno are a tenth of start-up, and leaflets are rare.
    from bot.leaflets import leaflet_pdf, qr_png, topic_leaflet_pdf

    if article is not None:
        title = article.text(locale)[0].title
        link = deeplinks.url(username, Link("article", locale, article.id))
        pdf = await asyncio.to_thread(leaflet_pdf, article, locale, link)
    else:
        title = _(TOPIC_TITLES[key])
        link = deeplinks.url(username, Link("topic", locale, key))
        pdf = await asyncio.to_thread(topic_leaflet_pdf, title, kb.by_topic(key), locale, link)
    png = await asyncio.to_thread(qr_png, link)
    await context.bot.send_document(
        chat.id,
        pdf,
        filename=f"safar-{key}-{locale}.pdf",
        caption=html.escape(_("A leaflet to print and put up: {title}").format(title=title)),
    )
    await context.bot.send_photo(
        chat.id,
        png,
        filename=f"safar-{key}-{locale}.png",
        caption=html.escape(_("This QR code opens the same page in Safar.")) + f"\n{link}",
    )


HANDLERS = [CommandHandler("leaflet", leaflet, filters=filters.ChatType.PRIVATE)]
