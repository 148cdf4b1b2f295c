"""Catalogs are complete and compiled; dates follow each locale's CLDR rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, format_date, gettext_for, locale_from_language_code
from knowledge.schema import LOCALES

ROOT = Path(__file__).resolve().parent.parent


def _template_ids() -> set[str]:
    """msgids extracted from the code right now (not the committed .pot), as
    ``pybabel extract -F babel.cfg -k N_`` would."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    ids = {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=keywords
        )
    }
    assert len(ids) > 20, "extraction found almost nothing: check babel.cfg"
    return ids


def _forms(string: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """A translation as a tuple of its forms (one, or one per plural form)."""
    return (string,) if isinstance(string, str) else tuple(string)


def _key(msgid: str | tuple[str, ...] | list[str]) -> str:
    """A msgid by its singular form (plural entries have a (singular, plural) id)."""
    return msgid if isinstance(msgid, str) else msgid[0]


@pytest.fixture(scope="module")
def template_ids() -> set[str]:
    return _template_ids()


@pytest.mark.parametrize("locale", LOCALES)
def test_catalog_has_every_msgid_translated_and_none_fuzzy(
    locale: str, template_ids: set[str]
) -> None:
    path = LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f)
    missing = sorted(
        i for i in template_ids if i not in catalog or not all(_forms(catalog[i].string))
    )
    fuzzy = sorted(str(m.id) for m in catalog if m.id and m.fuzzy)
    assert missing == [], f"{locale}: untranslated {missing[:5]}"
    assert fuzzy == [], f"{locale}: fuzzy {fuzzy[:5]}"


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalog_matches_its_po_file(locale: str) -> None:
    folder = LOCALES_DIR / locale / "LC_MESSAGES"
    with (folder / "messages.po").open("rb") as f:
        po = {_key(m.id): _forms(m.string) for m in read_po(f) if m.id}
    with (folder / "messages.mo").open("rb") as f:
        mo = {_key(m.id): _forms(m.string) for m in read_mo(f) if m.id}
    assert mo == po, "run: pybabel compile -d locales -D messages"


@pytest.mark.parametrize("locale", LOCALES)
def test_interface_is_translated_not_english(locale: str) -> None:
    _ = gettext_for(locale)
    assert _("Main menu") != "Main menu"
    assert _("Choose your language:") != "Choose your language:"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("ru", "14 марта 2025\u202fг."),  # CLDR: narrow no-break space
        ("uz", "14-mart, 2025"),
        ("uz_Cyrl", "14 март, 2025"),
        ("ky", "2025-ж., 14-март"),
    ],
)
def test_dates_use_the_locales_own_format(locale: str, expected: str) -> None:
    assert format_date(dt.date(2025, 3, 14), locale) == expected


@pytest.mark.parametrize(
    ("code", "locale"),
    [("uz", "uz"), ("uz-Cyrl", "uz_Cyrl"), ("ky-KG", "ky"), ("tg", "tg"), ("kk", "ru"), ("", "ru")],
)
def test_language_code_only_suggests_a_served_locale(code: str, locale: str) -> None:
    assert locale_from_language_code(code) == locale
