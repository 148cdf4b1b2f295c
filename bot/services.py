"""The services every handler uses, kept in ``application.bot_data`` under one key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.ext import CallbackContext

from bot.crypto import Cipher
from bot.settings import Settings
from bot.storage import Storage
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher

_KEY = "safar"


@dataclass
class Services:
    """Settings, storage, knowledge base and search index of one running bot."""

    settings: Settings
    storage: Storage
    kb: KnowledgeBase
    searcher: Searcher
    #: Encrypts personal data at rest (see :mod:`bot.crypto`).
    cipher: Cipher


def install(bot_data: dict[Any, Any], services: Services) -> None:
    """Put *services* into an application's ``bot_data``."""
    bot_data[_KEY] = services


def services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    """The :class:`Services` of the application that runs this callback."""
    found = context.bot_data[_KEY]
    assert isinstance(found, Services)
    return found
