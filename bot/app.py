"""Wiring: build the PTB ``Application`` with every handler, in one place.

The same application runs against Telegram (``run``), a local Bot API server (set
``SAFAR_BOT_API_URL``), or the in-process :class:`bot.transport.RecordingRequest`
(``chat``, ``replay`` and tests).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sqlite3
from typing import Any

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackContext,
    CallbackQueryHandler,
    Defaults,
    TypeHandler,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import guard, reminders
from bot.broadcast import BROADCASTER_KEY, Broadcaster
from bot.crypto import Cipher
from bot.delivery import DELIVERY_KEY, Delivery
from bot.handlers import (
    articles,
    ban,
    caseworkers,
    checks,
    dialogs,
    fallback,
    help,
    leaflets,
    menu,
    privacy,
    search,
    share,
    start,
    subscriptions,
)
from bot.handlers.errors import on_error
from bot.i18n import format_date, format_number, gettext_for, translations
from bot.retry import RetryingRequest
from bot.services import Services, install
from bot.settings import Settings
from bot.storage import COUNTS_FLUSH_SECONDS, Storage
from bot.transport import OFFLINE_TOKEN
from bot.ui import stale_button
from dialogs import screening
from dialogs.ban_rules import default_rules
from dialogs.job_offer import load_flags
from dialogs.official_check import load_checks
from knowledge import langdetect, risk
from knowledge.crisis import crisis_phrases
from knowledge.index_cache import cached_searcher, prepare_in_child
from knowledge.loader import KnowledgeBase, load_knowledge_base
from knowledge.schema import LOCALES
from knowledge.search import Searcher
from knowledge.services import directory

log = logging.getLogger(__name__)

SafarApp = Application[Any, Any, Any, Any, Any, Any]

#: Telegram's command-menu languages for our locales (uz_Cyrl shares "uz").
#: bot_data key of the settings and knowledge base until post_init opens storage.
_PENDING = "safar_pending"

_COMMAND_LANGUAGES = {"ky": "ky", "tg": "tg", "ru": "ru", "uz": "uz"}


def build_application(
    settings: Settings,
    kb: KnowledgeBase | None = None,
    request: BaseRequest | None = None,
    publish_commands: bool = False,
    searcher: Searcher | None = None,
    rate_limited: bool = True,
) -> SafarApp:
    """Build the application with all handlers; storage opens in ``post_init``.

    *request*, if given, replaces HTTP for every Bot API call (offline modes and tests).
    Without a token (offline), a placeholder token is used that never reaches Telegram.
    With *publish_commands*, start-up also sets the command menu (``setMyCommands``).
    *searcher* reuses a search index already built over *kb* (tests build it once).
    *rate_limited* False leaves out the rate limiter that keeps sends within Telegram's
    limits (about 30 a second): only for fuzzing and benchmarks on a stand-in transport.

    Raises:
        knowledge.loader.KnowledgeBaseError: an article file is invalid.
    """
    kb = kb or load_knowledge_base(settings.kb_dir)
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(settings.token or OFFLINE_TOKEN)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .post_init(_open_and_publish if publish_commands else open_services)
        .post_shutdown(close_services)
    )
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    if settings.bot_api_url:
        builder = builder.base_url(settings.bot_api_url + "/bot").base_file_url(
            settings.bot_api_url + "/file/bot"
        )
    # Every call but the long poll retries what certainly had no effect (see bot.retry).
    if request is not None:
        builder = builder.request(RetryingRequest(request)).get_updates_request(request)
    else:
        builder = builder.request(RetryingRequest(HTTPXRequest(connection_pool_size=256)))
    app: SafarApp = builder.build()
    app.bot_data[_PENDING] = (settings, kb, searcher)
    # Flood control and input limits run first, for every update (see bot.guard); a group
    # of their own, as only one handler per group runs.
    guard.install(app.bot_data)
    app.add_handler(TypeHandler(Update, guard.guard), group=guard.GROUP)
    # A button press without data would match every pattern handler (PTB treats missing
    # data as "no pattern to check"): catch it first. The pattern is False for any data.
    app.add_handler(CallbackQueryHandler(stale_button, pattern=lambda _data: False))
    # Group -1 sees text and commands first: a dialog waiting for a typed answer takes it
    # before search does (and stops it); a command leaves an active dialog.
    app.add_handlers(dialogs.EARLY_HANDLERS, group=-1)
    features = (
        start,
        menu,
        articles,
        dialogs,
        checks,
        ban,
        help,
        search,
        share,
        leaflets,
        subscriptions,
        privacy,
        caseworkers,
    )
    for module in (*features, fallback):  # fallback last: it takes what nothing else did
        app.add_handlers(module.HANDLERS)
    app.add_error_handler(on_error)
    return app


async def open_services(app: SafarApp) -> None:
    """Open storage, build the search index and install :class:`Services` (idempotent)."""
    if _PENDING not in app.bot_data:
        return
    settings, kb, searcher = app.bot_data.pop(_PENDING)
    storage = await Storage.open(settings.db)
    key = settings.data_key.get_secret_value() if settings.data_key else None
    cipher = Cipher(key)
    # The built search index and language model are kept beside the database (see
    # knowledge.index_cache and knowledge.langdetect): start-up loads them.
    cache_dir = None if str(settings.db) == ":memory:" else settings.db.resolve().parent
    if searcher is None:
        if cache_dir is not None:  # a first start builds in a child (knowledge.index_cache)
            await asyncio.to_thread(prepare_in_child, kb, cache_dir)
        searcher = cached_searcher(kb, cache_dir)
    langdetect.set_cache_dir(cache_dir)
    await asyncio.to_thread(warm_up)
    install(app.bot_data, Services(settings, storage, kb, searcher, cipher))
    log.info(
        "knowledge base: %d articles; database schema %d",
        len(kb.articles),
        await storage.schema_version(),
    )
    if app.job_queue is not None:
        app.job_queue.run_repeating(
            _flush_counts, interval=COUNTS_FLUSH_SECONDS, name="flush-usage-counts"
        )
    # Reminders live in SQLite; the JobQueue forgets them at a restart: schedule them again.
    scheduled = await reminders.schedule_all(app, storage, cipher)
    log.info("reminders scheduled: %d", scheduled)
    if settings.token:  # offline modes (chat, replay, tests) never send broadcasts
        broadcaster = Broadcaster(storage, app.bot)
        await broadcaster.start()
        app.bot_data[BROADCASTER_KEY] = broadcaster
        delivery = Delivery(storage, cipher, app.bot, settings)
        await delivery.start()
        app.bot_data[DELIVERY_KEY] = delivery


async def _flush_counts(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """Write the anonymous usage counts kept in memory (see :meth:`Storage.count`); if the
    database refuses (locked, full disk), they stay in memory for the next run."""
    found = context.application.bot_data.get("safar")
    if not isinstance(found, Services):
        return
    try:
        await found.storage.flush_counts()
    except sqlite3.Error as exc:
        log.warning("anonymous usage counts not saved yet: %s", type(exc).__name__)


def warm_up() -> None:
    """Load now, at start-up, what handlers otherwise load at their first use: the language
    model, the danger phrases and their index, the service directory, the dialogs' rule
    files, the message catalogs and CLDR data of every locale. The first person to write
    then waits no longer than anyone else (the phrase tables alone took 45 ms at the first
    typed message).

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: a data file is missing or invalid
            (the bot must not start with it).
    """
    langdetect.warm_up()
    risk.warm_up()
    crisis_phrases()
    directory()
    screening.rules()
    default_rules()
    load_flags()
    load_checks()
    for locale in LOCALES:
        translations(locale)
        format_date(dt.date(2000, 1, 1), locale)
        format_number(1000.5, locale)


async def _open_and_publish(app: SafarApp) -> None:
    await open_services(app)
    await set_commands(app)


async def set_commands(app: SafarApp) -> None:
    """Publish the command menu in each language Telegram supports for us."""
    for locale, code in _COMMAND_LANGUAGES.items():
        _ = gettext_for(locale)
        commands = [
            BotCommand("menu", _("Main menu")),
            BotCommand("language", _("Change the language")),
            BotCommand("help", _("Help")),
        ]
        await app.bot.set_my_commands(commands, language_code=code)


async def close_services(app: SafarApp) -> None:
    """Stop the referral and broadcast workers (letting sends in flight finish), then close
    storage."""
    delivery = app.bot_data.pop(DELIVERY_KEY, None)
    if isinstance(delivery, Delivery):
        await delivery.stop()
    broadcaster = app.bot_data.pop(BROADCASTER_KEY, None)
    if isinstance(broadcaster, Broadcaster):
        await broadcaster.stop()
    found = app.bot_data.get("safar")
    if isinstance(found, Services):
        await found.storage.close()
