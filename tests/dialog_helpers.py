"""A Translator for dialog render() tests, built from the real catalogs (no Telegram)."""

from __future__ import annotations

import datetime as dt

from bot.i18n import format_date, format_number, gettext_for, ngettext_for


class CatalogTranslator:
    """gettext, ngettext and CLDR formatting for *locale*, as the bot's adapter gives."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._gettext = gettext_for(locale)
        self._ngettext = ngettext_for(locale)

    def gettext(self, message: str) -> str:
        return self._gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._ngettext(singular, plural, n)

    def format_date(self, value: dt.date) -> str:
        return format_date(value, self.locale)

    def format_number(self, value: float) -> str:
        return format_number(value, self.locale)
