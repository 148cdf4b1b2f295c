"""Service directory and routing: who can help a person, where and in which language.

The organisations live in ``knowledge/data/services.yaml`` (with the source and the date
each contact was checked). :func:`route` picks the best organisation for a person's place,
needs and language, with a fallback; :func:`emergency_contacts` gives the emergency and
hotline numbers of a country for the crisis-first reply. The Telegram chat that receives an
organisation's referrals is set at deployment (``SAFAR_ORG_CHATS``), not here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowledge.schema import LOCALES

SERVICES_FILE = Path(__file__).with_name("data") / "services.yaml"

#: What a person may need; the codes of the screening and of a case.
Need = Literal["legal", "psychological", "economic", "medical", "shelter", "return", "trafficking"]
NEEDS: tuple[Need, ...] = (
    "legal",
    "psychological",
    "economic",
    "medical",
    "shelter",
    "return",
    "trafficking",
)

#: Countries Safar serves (ISO 3166-1 alpha-2).
COUNTRIES: tuple[str, ...] = ("RU", "KZ", "KG", "TJ", "UZ")

#: Weight of each need when organisations are compared: the needs that cannot wait
#: (a person held or without shelter) count most, so that the organisation that covers
#: them wins over one that covers more but milder needs.
NEED_WEIGHT: dict[str, int] = {
    "trafficking": 5,
    "shelter": 4,
    "medical": 3,
    "psychological": 2,
    "legal": 2,
    "return": 1,
    "economic": 1,
}


class Contact(BaseModel):
    """One way to reach an organisation, with where it was found and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["phone", "website", "telegram", "email", "address", "article"]
    value: str
    source: str
    checked: dt.date


class Organisation(BaseModel):
    """An organisation that can receive referrals.

    *countries*: where it helps people (ISO codes); *cities*: lower-case city keys where
    it has an office (empty: the whole country, or by phone); *services*: need codes;
    *languages*: Safar locales it can talk in; *hours*: opening hours as text per Safar
    locale (every locale, so that no screen shows them in English), or None.
    *only_for*: whom alone it helps (``women_children``: women and children;
    ``citizens_KG``: citizens of Kyrgyzstan); all must be established for a person.
    A contact of kind ``article`` is where the organisation was found (a press article),
    not a way to reach it: it is never shown to the person.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z0-9-]{2,40}$")
    name: str
    names: dict[str, str] = Field(default_factory=dict)
    countries: tuple[str, ...]
    cities: tuple[str, ...] = ()
    services: tuple[Need, ...]
    languages: tuple[str, ...]
    hours: dict[str, str] | None = None
    only_for: tuple[Literal["women_children", "citizens_KG"], ...] = ()
    contacts: tuple[Contact, ...] = ()

    def display_name(self, locale: str) -> str:
        """The organisation's name in *locale*, else its own name."""
        return self.names.get(locale, self.name)

    def hours_in(self, locale: str) -> str | None:
        """The opening hours in *locale* (text), or None when unknown."""
        return (self.hours or {}).get(locale)

    @model_validator(mode="after")
    def _check(self) -> Organisation:
        bad = [c for c in self.countries if c not in COUNTRIES]
        if bad:
            raise ValueError(f"{self.id}: unknown countries {bad}")
        bad = [lang for lang in (*self.languages, *self.names) if lang not in LOCALES]
        if bad:
            raise ValueError(f"{self.id}: unknown locales {bad}")
        if self.hours is not None and set(self.hours) != set(LOCALES):
            raise ValueError(f"{self.id}: hours must be given in every locale {LOCALES}")
        return self


class EmergencyNumber(BaseModel):
    """An emergency or hotline number of a country; *label* names what it is for
    (``emergency``, ``police``, ``ambulance``, ``trafficking_hotline``, ``women_hotline``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label: Literal["emergency", "police", "ambulance", "trafficking_hotline", "women_hotline"]
    value: str


class Directory(BaseModel):
    """``services.yaml``: the organisations, the fallback's id and emergency numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    fallback: str
    organisations: tuple[Organisation, ...]
    emergency: dict[str, tuple[EmergencyNumber, ...]]

    @model_validator(mode="after")
    def _check(self) -> Directory:
        ids = [o.id for o in self.organisations]
        if len(ids) != len(set(ids)):
            raise ValueError("organisation ids must be unique")
        if self.fallback not in ids:
            raise ValueError(f"fallback {self.fallback!r} is not an organisation")
        return self

    def get(self, org_id: str) -> Organisation | None:
        """The organisation with id *org_id*, or None."""
        return next((o for o in self.organisations if o.id == org_id), None)

    @property
    def fallback_organisation(self) -> Organisation:
        """The organisation that takes what no other one can (and unclaimed urgent cases)."""
        found = self.get(self.fallback)
        assert found is not None  # checked at load
        return found


@cache
def directory(path: Path = SERVICES_FILE) -> Directory:
    """Read and validate the service directory (cached).

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: the file is missing or invalid.
    """
    return Directory.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


def _score(org: Organisation, country: str | None, city: str | None, needs: Iterable[str],
           locale: str) -> tuple[int, int, int, int]:  # fmt: skip
    wanted = set(needs)
    covered = sum(NEED_WEIGHT.get(n, 1) for n in wanted & set(org.services))
    in_city = int(bool(city) and city in org.cities)
    speaks = int(locale in org.languages)
    # Prefer an organisation of the place over a regional one that covers everything.
    local = int(len(org.countries) == 1)
    return (covered, in_city, speaks, local)


def route(
    country: str | None,
    city: str | None,
    needs: Iterable[str],
    locale: str,
    reachable: Collection[str] | None = None,
    established: Collection[str] = (),
) -> Organisation:
    """The best organisation for a person in *country* (ISO code, or None if unknown) and
    *city* (a lower-case city key, or None) who needs *needs* (need codes) and speaks
    *locale*.

    Only organisations that help in *country* are considered; among them, the one that
    covers the most (weighted) needs, then has an office in the city, then speaks the
    locale, then works only in that country. *reachable*: if given, only these organisation
    ids can receive a referral (those with a chat set at deployment). With no match (no
    country, no organisation that covers any need) the fallback organisation is returned.
    Never raises.
    """
    data = directory()
    candidates = [
        org
        for org in data.organisations
        if country in org.countries
        and (reachable is None or org.id in reachable)
        and org.id != data.fallback
    ]
    wanted = list(needs)
    known = set(established)
    eligible = [o for o in candidates if set(o.only_for) <= known]
    for pool in (eligible, candidates):
        best = max(pool, key=lambda o: _score(o, country, city, wanted, locale), default=None)
        if best is not None and not (
            wanted and _score(best, country, city, wanted, locale)[0] == 0
        ):
            return best
    return data.fallback_organisation


def emergency_contacts(country: str | None) -> tuple[EmergencyNumber, ...]:
    """The emergency and hotline numbers of *country* (ISO code); empty if unknown."""
    if country is None:
        return ()
    return directory().emergency.get(country, ())
