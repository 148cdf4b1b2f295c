"""The error handler: log what failed (never message text, tokens or personal data) and
tell the person, in their locale, that something went wrong."""

from __future__ import annotations

import html
import logging
from typing import Any

from telegram import Update
from telegram.error import Forbidden, NetworkError
from telegram.ext import CallbackContext

from bot.i18n import gettext_for
from bot.ui import answer, cached_locale, main_menu_keyboard

log = logging.getLogger(__name__)


async def on_error(update: object, context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Log the error's type and the update id only; apologise in a private chat.

    The apology uses the cached or suggested locale, never storage (which may be what
    failed). A person who blocked the bot (403) is not an error: logged at INFO, no reply.
    A failed Bot API call (time-out, dropped connection, server error after the retries of
    :mod:`bot.retry`) is logged at WARNING without a traceback; anything else at ERROR.
    """
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, Forbidden):
        log.info("update %s: the bot may not write to this chat (Forbidden)", update_id)
        return
    if isinstance(error, NetworkError):  # Telegram or the network failed, not our code
        log.warning("update %s: the Bot API call failed (%s)", update_id, type(error).__name__)
    else:
        log.error(
            "error handling update %s: %s",
            update_id,
            type(error).__name__,
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != "private":
        return
    locale = cached_locale(update, context)
    _ = gettext_for(locale)
    await answer(update)
    try:
        await context.bot.send_message(
            update.effective_chat.id,
            html.escape(_("Sorry, something went wrong. Please try again or open the menu.")),
            reply_markup=main_menu_keyboard(locale),
        )
    except Exception:
        log.warning("could not send the apology for update %s", update_id)
