"""The ban estimator (``dlg:ban``, shown by the generic dialog adapter) and its reminders.

Registering at import puts "⛔ Estimate my ban" in the ban section. After a result with an
end date in the future, its "⏰ Remind me when it ends" button (``rem:ban``, the adapter's
rendering of ``Action("reminder")``) asks how many days before; the estimate is computed
again from the person's last finished run (``last_answers``), so nothing but the
reminder itself is stored (see :mod:`bot.reminders`).

Callback data:

| data             | button                                        |
|------------------|-----------------------------------------------|
| ``rem:ban``      | "Remind me when it ends" (from the result)    |
| ``rem:ban:<n>``  | remind *n* days before and on the day (0: on the day only) |
| ``rems``         | list my reminders (also ``/reminders``)       |
| ``remx:<id>``    | cancel reminder *id*                          |
"""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatType
from telegram.ext import (
    BaseHandler,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    filters,
)

from bot import clock, reminders
from bot.crypto import DecryptionError
from bot.handlers.dialogs import last_answers, register
from bot.i18n import N_, format_date, gettext_for, ngettext_for
from bot.services import services
from bot.ui import answer, home_row, show, stale_button, user_locale
from dialogs.ban_dialog import DIALOG, estimate_answers

Context = CallbackContext[Any, Any, Any, Any]

register(DIALOG, menu=("ban", N_("⛔ Estimate my ban")))


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


async def _end_date(update: Update, context: Context) -> Any:
    """The estimated end (a date in the future) of the person's last estimate, or None."""
    user = update.effective_user
    if user is None:
        return None
    answers = await last_answers(context, user.id, DIALOG.name)
    if answers is None:
        return None
    try:
        est = estimate_answers(answers, clock.today())
    except ValueError:
        return None
    if est.latest_end is None or est.latest_end <= clock.today():
        return None
    return est.latest_end


def _in_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == ChatType.PRIVATE


async def ask_days(update: Update, context: Context) -> None:
    """``rem:ban``: how many days before the end to remind (and on the day itself)."""
    if not _in_private(update):  # reminders are personal: never from a group's button
        await stale_button(update, context)
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    await answer(update)
    end = await _end_date(update, context)
    if end is None:
        markup = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(_("⛔ Estimate my ban"), callback_data="dlg:ban")],
                home_row(locale),
            ]
        )
        await show(update, _esc(_("There is no end date in the future to remind you of.")), markup)
        return
    ngettext = ngettext_for(locale)
    today = clock.today()
    rows = [
        [
            InlineKeyboardButton(
                ngettext("{n} day before", "{n} days before", n).format(n=n),
                callback_data=f"rem:ban:{n}",
            )
        ]
        for n in reminders.DAYS_BEFORE
        if (end - today).days > n
    ]
    rows.append([InlineKeyboardButton(_("📅 Only on the day"), callback_data="rem:ban:0")])
    rows.append(home_row(locale))
    text = _(
        "I will remind you on the day your ban ends ({date}). When else: how many days before?"
    ).format(date=format_date(end, locale))
    await show(update, _esc(text), InlineKeyboardMarkup(rows))


async def set_reminder(update: Update, context: Context) -> None:
    """``rem:ban:<n>``: store and schedule the reminders, then confirm with their dates."""
    if not _in_private(update):  # reminders are personal: never from a group's button
        await stale_button(update, context)
        return
    query = update.callback_query
    user = update.effective_user
    assert query is not None and query.data is not None
    days = int(query.data.rsplit(":", 1)[1])
    if user is None or (days and days not in reminders.DAYS_BEFORE):
        await stale_button(update, context)
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    end = await _end_date(update, context)
    if end is None:
        await ask_days(update, context)
        return
    await answer(update)
    svc = services(context)
    # Asking again for the same end date replaces the earlier reminders (no duplicates).
    for reminder_id, _tid, token in await svc.storage.pending_reminders(user.id):
        try:
            same = reminders.Payload.open(svc.cipher, token).end == end
        except (DecryptionError, ValueError, KeyError, TypeError):
            continue
        if same and await svc.storage.cancel_reminder(user.id, reminder_id):
            reminders.unschedule(context.application, reminder_id)
    planned = reminders.plan(end, days, clock.today(), locale)
    ids = await svc.storage.add_reminders(user.id, [p.seal(svc.cipher) for p in planned])
    for reminder_id, payload in zip(ids, planned, strict=True):
        reminders.schedule(context.application, reminder_id, user.id, payload)
    dates = ", ".join(
        format_date(p.fire.astimezone(clock.SERVED_TZ).date(), locale) for p in planned
    )
    text = _("✅ Done. I will remind you on: {dates}").format(dates=dates)
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton(_("⏰ My reminders"), callback_data="rems")], home_row(locale)]
    )
    await show(update, _esc(text), markup)


async def list_reminders(update: Update, context: Context) -> None:
    """``/reminders`` or ``rems``: the person's reminders, each with a Cancel button."""
    if not _in_private(update):  # reminders are personal: never from a group's button
        await stale_button(update, context)
        return
    user = update.effective_user
    if user is None:
        return
    locale = await user_locale(update, context)
    _ = gettext_for(locale)
    await answer(update)
    svc = services(context)
    found = []
    for reminder_id, _tid, token in await svc.storage.pending_reminders(user.id):
        try:
            found.append((reminder_id, reminders.Payload.open(svc.cipher, token)))
        except (DecryptionError, ValueError, KeyError, TypeError):
            continue
    found.sort(key=lambda item: item[1].fire)
    if not found:
        await show(
            update, _esc(_("You have no reminders.")), InlineKeyboardMarkup([home_row(locale)])
        )
        return
    title = _("⏰ Your reminders")
    lines = [f"<b>{_esc(title)}</b>"]
    rows = []
    for reminder_id, payload in found:
        day = format_date(payload.fire.astimezone(clock.SERVED_TZ).date(), locale)
        end = format_date(payload.end, locale)
        lines.append("• " + _esc(_("{day}: the ban ends on {end}").format(day=day, end=end)))
        rows.append(
            [
                InlineKeyboardButton(
                    _("❌ Cancel {day}").format(day=day), callback_data=f"remx:{reminder_id}"
                )
            ]
        )
    rows.append(home_row(locale))
    await show(update, "\n".join(lines), InlineKeyboardMarkup(rows))


async def cancel(update: Update, context: Context) -> None:
    """``remx:<id>``: cancel one reminder and show the list again."""
    if not _in_private(update):  # reminders are personal: never from a group's button
        await stale_button(update, context)
        return
    query = update.callback_query
    user = update.effective_user
    assert query is not None and query.data is not None
    reminder_id = int(query.data.removeprefix("remx:"))
    if user is None or not await services(context).storage.cancel_reminder(user.id, reminder_id):
        await stale_button(update, context)
        return
    reminders.unschedule(context.application, reminder_id)
    await list_reminders(update, context)


HANDLERS: list[BaseHandler[Any, Any, Any]] = [
    CallbackQueryHandler(ask_days, pattern=r"^rem:ban$"),
    CallbackQueryHandler(set_reminder, pattern=r"^rem:ban:\d{1,3}$"),
    CallbackQueryHandler(list_reminders, pattern=r"^rems$"),
    CallbackQueryHandler(cancel, pattern=r"^remx:\d{1,12}$"),
    CommandHandler("reminders", list_reminders, filters=filters.ChatType.PRIVATE),
]
