"""Pydantic schema of a knowledge-base article (one YAML file per article).

An article file looks like::

    id: ru-ban-check-online            # [a-z0-9-], unique, also the file name
    topic: ban_check                   # exactly one of TOPICS
    countries: [RU]                    # ISO 3166-1 alpha-2: RU, KZ, KG, TJ, UZ
    legal: true                        # states a legal rule: needs a source
    reviewed_on: 2026-11-30            # date the content was last checked
    sources:
      - title: "Federal Law No. 114-FZ, Art. 27"
        url: "https://www.consultant.ru/..."
        accessed: 2026-11-30
    locales:
      ru: {title: ..., body: ..., keywords: [...], questions: [...], review: draft}
      ky: ...

`review` is ``native`` once a native speaker has read the translation, ``draft`` before.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Interface and article locales, in the order the language menu shows them.
LOCALES: tuple[str, ...] = ("ky", "tg", "ru", "uz", "uz_Cyrl")

#: The fallback locale when an article lacks a translation.
FALLBACK_LOCALE = "ru"

Topic = Literal[
    "ban_check",
    "ban_reasons_duration",
    "ban_appeal_removal",
    "entry_stay_rules",
    "patent_work_permit",
    "eaeu_rights",
    "labour_rights_wages",
    "passport_confiscated",
    "police_detention",
    "deportation_expulsion",
    "medical_help",
    "trafficking_exploitation",
    "safe_departure",
    "return_reintegration",
    "family_children",
    "emergency_crisis",
    "contacts_ngo",
]
#: The topic taxonomy, in menu order. Every article belongs to exactly one.
TOPICS: tuple[str, ...] = get_args(Topic)

Country = Literal["RU", "KZ", "KG", "TJ", "UZ"]
Review = Literal["draft", "native"]

#: Telegram's limit for one message is 4,096 characters; an article body must leave room
#: for its title, source footer and "checked on" line.
MAX_BODY_CHARS = 3500

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """A source of an article's facts: title, web address, and the date it was read."""

    title: str = Field(min_length=3)
    url: str = Field(pattern=r"^https?://\S+$")
    accessed: dt.date


class LocalizedText(_Strict):
    """One locale's version of an article."""

    title: str = Field(min_length=3, max_length=120)
    body: str = Field(min_length=20)
    keywords: tuple[str, ...] = Field(min_length=1)
    #: Example questions this article answers, written the way people ask them (search
    #: matches a question against each one; they are never shown).
    questions: tuple[str, ...] = ()
    review: Review = "draft"

    @field_validator("title", "body")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class Article(_Strict):
    """A sourced article of the knowledge base, in up to five locales."""

    id: str
    topic: Topic
    countries: tuple[Country, ...] = Field(min_length=1)
    legal: bool = True
    reviewed_on: dt.date
    sources: tuple[Source, ...] = ()
    locales: dict[str, LocalizedText]

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _ID_RE.match(value):
            raise ValueError("id must be 3-63 characters of a-z, 0-9 and '-'")
        return value

    @field_validator("locales")
    @classmethod
    def _known_locales(cls, value: dict[str, LocalizedText]) -> dict[str, LocalizedText]:
        unknown = sorted(set(value) - set(LOCALES))
        if unknown:
            raise ValueError(f"unknown locale(s) {unknown}; allowed: {list(LOCALES)}")
        if FALLBACK_LOCALE not in value:
            raise ValueError(f"the {FALLBACK_LOCALE!r} text is required (it is the fallback)")
        return value

    @model_validator(mode="after")
    def _legal_needs_source(self) -> Article:
        if self.legal and not self.sources:
            raise ValueError("a legal article needs at least one source")
        return self

    def text(self, locale: str) -> tuple[LocalizedText, bool]:
        """Return ``(text, is_fallback)``: the article in *locale*, or in Russian if missing."""
        if locale in self.locales:
            return self.locales[locale], False
        return self.locales[FALLBACK_LOCALE], True
