"""A Translator for dialog render() tests: the bot's own, built from the real catalogs."""

from __future__ import annotations

from bot.i18n import LocaleTranslator as CatalogTranslator

__all__ = ["CatalogTranslator"]
