"""Subscriptions to country updates, and the administrators' /broadcast.

* /subscribe shows one button per country (callback data ``sub:<CC>``); a press toggles it.
* /unsubscribe removes every subscription.
* /broadcast (administrators in ``SAFAR_ADMINS`` only) queues an update for everyone
  subscribed to the given countries, one text per locale, for example::

      /broadcast
      countries: RU,KZ
      ky: ...
      tg: ...
      ru: ...
      uz: ...
      uz_Cyrl: ...

  A block runs until the next line that starts with a locale code and a colon, so texts
  may span several lines. Texts are sent as plain text (escaped for HTML). Anyone else who
  sends /broadcast gets the unknown-command reply and nothing changes. Sending happens in
  :mod:`bot.broadcast`.
"""

from __future__ import annotations

import html
import re
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import MessageLimit
from telegram.ext import CallbackContext, CallbackQueryHandler, CommandHandler, filters

from bot.broadcast import BROADCASTER_KEY, Broadcaster
from bot.handlers.fallback import unknown_command
from bot.i18n import DEFAULT_LOCALE, N_, gettext_for
from bot.services import services
from bot.ui import answer, home_row, show, stale_button, user_locale
from knowledge.schema import LOCALES

Context = CallbackContext[Any, Any, Any, Any]

#: Countries one can subscribe to: ISO code -> (flag, English msgid), in display order.
COUNTRIES: dict[str, tuple[str, str]] = {
    "RU": ("🇷🇺", N_("Russia")),
    "KZ": ("🇰🇿", N_("Kazakhstan")),
    "KG": ("🇰🇬", N_("Kyrgyzstan")),
    "TJ": ("🇹🇯", N_("Tajikistan")),
    "UZ": ("🇺🇿", N_("Uzbekistan")),
}

_BLOCK_RE = re.compile(
    r"^\s*(" + "|".join(re.escape(loc) for loc in LOCALES) + r"|countries)\s*:\s?(.*)$",
    re.IGNORECASE,
)
_LOCALE_BY_KEY = {loc.lower(): loc for loc in LOCALES}


class BroadcastFormatError(ValueError):
    """The /broadcast message cannot be read; the message says why (English msgid)."""


def parse_broadcast(text: str) -> tuple[list[str], dict[str, str]]:
    """Countries and per-locale texts of a /broadcast message (the command is skipped).

    Returns:
        ``(countries, {locale: text})`` with every locale of :data:`LOCALES`.

    Raises:
        BroadcastFormatError: no ``countries:`` line first, an unknown country, a missing,
            empty or repeated locale block, or a text too long for one message.
    """
    lines = text.split("\n")
    if lines and lines[0].lstrip().startswith("/"):
        first = lines[0].lstrip().split(maxsplit=1)
        lines = ([first[1]] if len(first) > 1 else []) + lines[1:]
    while lines and not lines[0].strip():
        lines.pop(0)
    head = _BLOCK_RE.match(lines[0]) if lines else None
    if head is None or head.group(1).lower() != "countries":
        raise BroadcastFormatError(N_("The first line must be: countries: RU,KZ"))
    countries = [c.strip().upper() for c in head.group(2).split(",") if c.strip()]
    if not countries or any(c not in COUNTRIES for c in countries):
        raise BroadcastFormatError(N_("Countries must be some of: RU, KZ, KG, TJ, UZ."))
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[1:]:
        found = _BLOCK_RE.match(line)
        if found and found.group(1).lower() in _LOCALE_BY_KEY:
            locale = _LOCALE_BY_KEY[found.group(1).lower()]
            if locale in blocks:
                raise BroadcastFormatError(N_("Each language must appear once."))
            current = blocks[locale] = [found.group(2)]
        elif current is not None:
            current.append(line)
        elif line.strip():
            raise BroadcastFormatError(N_("Text must follow a language code such as ru:"))
    texts = {loc: "\n".join(blocks.get(loc, [])).strip() for loc in LOCALES}
    if not all(texts.values()):
        raise BroadcastFormatError(N_("Each of ky:, tg:, ru:, uz: and uz_Cyrl: needs a text."))
    if any(len(html.escape(t)) > MessageLimit.MAX_TEXT_LENGTH for t in texts.values()):
        raise BroadcastFormatError(N_("A text is too long for one Telegram message."))
    return list(dict.fromkeys(countries)), texts


def subscribe_keyboard(locale: str, chosen: set[str]) -> InlineKeyboardMarkup:
    """One toggle button per country (✅ when subscribed), then Menu."""
    _ = gettext_for(locale)
    rows = [
        [
            InlineKeyboardButton(
                ("✅ " if code in chosen else "") + f"{flag} {_(name)}",
                callback_data=f"sub:{code}",
            )
        ]
        for code, (flag, name) in COUNTRIES.items()
    ]
    rows.append(home_row(locale))
    return InlineKeyboardMarkup(rows)


def _subscribe_text(locale: str) -> str:
    _ = gettext_for(locale)
    return html.escape(
        _(
            "Choose the countries you want news about, such as changes in the law. "
            "Tap again to stop."
        )
    )


async def subscribe(update: Update, context: Context) -> None:
    """/subscribe: the country toggles."""
    user = update.effective_user
    if user is None:
        return
    locale = await user_locale(update, context)
    chosen = await services(context).storage.subscriptions(user.id)
    await show(update, _subscribe_text(locale), subscribe_keyboard(locale, chosen))


async def toggle(update: Update, context: Context) -> None:
    """A country button (``sub:<CC>``): subscribe or unsubscribe, then redraw the toggles."""
    query = update.callback_query
    assert query is not None and query.data is not None
    code = query.data.removeprefix("sub:")
    user = update.effective_user
    chat = update.effective_chat
    private = chat is not None and chat.type == "private"
    if code not in COUNTRIES or user is None or not private:
        await stale_button(update, context)  # subscriptions are made in a private chat only
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    storage = services(context).storage
    now_on = await storage.toggle_subscription(user.id, code)
    name = _(COUNTRIES[code][1])
    if now_on:
        await answer(update, _("Subscribed: {country}").format(country=name))
    else:
        await answer(update, _("Unsubscribed: {country}").format(country=name))
    chosen = await storage.subscriptions(user.id)
    await show(update, _subscribe_text(locale), subscribe_keyboard(locale, chosen))


async def unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe: remove every subscription."""
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None:
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    removed = await services(context).storage.unsubscribe_all(user.id)
    if removed:
        text = _("You will no longer get news. To subscribe again, send /subscribe.")
    else:
        text = _("You were not subscribed. To subscribe, send /subscribe.")
    await message.reply_text(html.escape(text))


async def broadcast(update: Update, context: Context) -> None:
    """/broadcast from an administrator: check the message, queue the broadcast, report.

    From anyone else: the unknown-command reply, nothing else happens.
    """
    user = update.effective_user
    message = update.effective_message
    svc = services(context)
    if user is None or message is None or user.id not in svc.settings.admins:
        await unknown_command(update, context)
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    try:
        countries, texts = parse_broadcast(message.text or "")
    except BroadcastFormatError as exc:
        usage = _(
            "Send /broadcast, then a line 'countries: RU,KZ', then one block per language "
            "starting with ky:, tg:, ru:, uz: and uz_Cyrl:."
        )
        await message.reply_text(html.escape(_(str(exc)) + "\n\n" + usage))
        return
    if await svc.storage.subscriber_count(countries) == 0:
        await message.reply_text(
            html.escape(_("Nobody is subscribed to these countries; nothing was sent."))
        )
        return
    broadcast_id, total = await svc.storage.create_broadcast(
        user.id, countries, texts, DEFAULT_LOCALE
    )
    await message.reply_text(
        html.escape(
            _("Broadcast {id}: sending to {total} subscribers.").format(
                id=broadcast_id, total=total
            )
        )
    )
    broadcaster = context.bot_data.get(BROADCASTER_KEY)
    if isinstance(broadcaster, Broadcaster):
        broadcaster.wake()


HANDLERS = [
    CommandHandler("subscribe", subscribe, filters=filters.ChatType.PRIVATE),
    CommandHandler("unsubscribe", unsubscribe, filters=filters.ChatType.PRIVATE),
    CommandHandler("broadcast", broadcast, filters=filters.ChatType.PRIVATE),
    CallbackQueryHandler(toggle, pattern=r"^sub:"),
]
