"""Interface text from gettext catalogs (compiled with Babel), and CLDR formatting.

Catalogs live in ``locales/<locale>/LC_MESSAGES/messages.po`` (compiled to ``.mo``);
msgids are English. Article text is not here: it lives in ``knowledge/``.
"""

from __future__ import annotations

import datetime as dt
import gettext
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.numbers import format_decimal
from babel.support import Translations

from knowledge.schema import FALLBACK_LOCALE, LOCALES

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"

#: Each locale named in itself, for the language menu.
LOCALE_NAMES: dict[str, str] = {
    "ky": "Кыргызча",
    "tg": "Тоҷикӣ",
    "ru": "Русский",
    "uz": "O‘zbekcha",
    "uz_Cyrl": "Ўзбекча",
}

DEFAULT_LOCALE = FALLBACK_LOCALE


def locale_from_language_code(language_code: str | None) -> str:
    """Suggest a locale from Telegram's ``language_code`` (an IETF tag such as ``uz``).

    Only a suggestion: many migrants' phones run in Russian, so the person's own choice
    always wins. Unknown or missing codes give ``ru``.
    """
    if not language_code:
        return DEFAULT_LOCALE
    tag = language_code.replace("_", "-").lower()
    if tag.startswith("uz"):
        return "uz_Cyrl" if "cyrl" in tag else "uz"
    primary = tag.split("-")[0]
    return primary if primary in LOCALES else DEFAULT_LOCALE


def normalize_locale(locale: str | None) -> str:
    """Return *locale* if Safar serves it, else the default (``ru``)."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalog of *locale* (cached). An unknown locale gets ``ru``."""
    locale = normalize_locale(locale)
    return Translations.load(str(LOCALES_DIR), locales=[locale], domain=DOMAIN)


def gettext_for(locale: str) -> Callable[[str], str]:
    """``gettext`` bound to *locale*; use as ``_ = gettext_for(locale)``."""
    return translations(locale).gettext


def ngettext_for(locale: str) -> Callable[[str, str, int], str]:
    """``ngettext`` bound to *locale* (CLDR plural rules of that locale)."""
    return translations(locale).ngettext


def format_date(value: dt.date, locale: str) -> str:
    """A date in the long CLDR form of *locale*, e.g. ru "30 ноября 2026 г."."""
    return _babel_format_date(value, format="long", locale=Locale.parse(normalize_locale(locale)))


def format_number(value: float, locale: str) -> str:
    """A number with *locale*'s digit grouping and decimal sign."""
    return format_decimal(value, locale=Locale.parse(normalize_locale(locale)))


def N_(message: str) -> str:
    """Mark *message* for extraction without translating it now."""
    return message


class LocaleTranslator:
    """:class:`dialogs.engine.Translator` for one locale: its catalog and CLDR formats."""

    def __init__(self, locale: str) -> None:
        self.locale = normalize_locale(locale)
        self._translations = translations(self.locale)

    def gettext(self, message: str) -> str:
        """The translation of msgid *message*."""
        return self._translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The plural form for *n* (CLDR rules of the locale)."""
        return self._translations.ngettext(singular, plural, n)

    def format_date(self, value: dt.date) -> str:
        """*value* in the locale's long date form."""
        return format_date(value, self.locale)

    def format_number(self, value: float) -> str:
        """*value* with the locale's digit grouping."""
        return format_number(value, self.locale)
