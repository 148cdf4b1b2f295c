"""The guided checks: the official ban check (``dlg:check``) and the job-offer check
(``dlg:offer``), shown by the generic dialog adapter.

Registering at import puts "🔎 Check officially" at the top of the ban section and
"💼 Check a job offer" at the top of the "Before you go" section. The dialogs need no
Telegram code of their own; their result buttons (articles, "Talk to an NGO" = ``help``,
another check, menu) are the adapter's.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import BaseHandler

from bot.handlers.dialogs import register
from bot.i18n import N_
from dialogs.job_offer import DIALOG as JOB_OFFER
from dialogs.official_check import DIALOG as OFFICIAL_CHECK

register(OFFICIAL_CHECK, menu=("ban", N_("🔎 Check officially")))
register(JOB_OFFER, menu=("before", N_("💼 Check a job offer")))

#: No handlers of its own: ``dlg:check`` and ``dlg:offer`` are the adapter's.
HANDLERS: list[BaseHandler[Any, Any, Any]] = []
