"""The service directory: every organisation is valid and sourced; routing picks by place,
need and language, with a fallback; emergency numbers per country."""

from __future__ import annotations

import pytest

from knowledge.schema import LOCALES
from knowledge.services import COUNTRIES, NEEDS, directory, emergency_contacts, route


def test_every_contact_names_its_source_and_date() -> None:
    data = directory()
    assert data.fallback_organisation.id == data.fallback
    for org in data.organisations:
        assert org.services and org.countries and org.languages, org.id
        for contact in org.contacts:
            assert contact.source.strip() and contact.checked.year >= 2025, org.id


def test_every_organisation_has_a_name_in_every_locale() -> None:
    for org in directory().organisations:
        assert {loc: org.display_name(loc) for loc in LOCALES}.keys() == set(LOCALES)
        assert set(org.names) == set(LOCALES), org.id


def test_every_country_has_an_emergency_number() -> None:
    for country in COUNTRIES:
        assert any(n.label == "emergency" and n.value == "112" for n in emergency_contacts(country))
    assert emergency_contacts(None) == ()


def test_a_person_in_moscow_with_legal_needs_goes_to_a_moscow_organisation() -> None:
    org = route("RU", "moscow", ["legal", "economic"], "ru")
    assert "RU" in org.countries and "moscow" in org.cities


def test_a_kyrgyz_woman_needing_shelter_in_moscow_goes_to_the_embassy_crisis_centre() -> None:
    known = {"women_children", "citizens_KG"}
    assert route("RU", "moscow", ["shelter", "psychological"], "ky", established=known).id == (
        "kg-embassy-crisis-centre-moscow"
    )
    # Speaking Kyrgyz shows neither citizenship nor that the person is a woman.
    assert route("RU", "moscow", ["shelter", "psychological"], "ky").only_for == ()


def test_trafficking_in_kazakhstan_goes_to_an_organisation_that_handles_it() -> None:
    org = route("KZ", None, ["trafficking", "legal"], "ky")
    assert "KZ" in org.countries and "trafficking" in org.services


def test_language_breaks_a_tie() -> None:
    assert "uz" in route("UZ", None, ["legal"], "uz").languages


def test_no_country_or_no_match_goes_to_the_fallback() -> None:
    fallback = directory().fallback
    assert route(None, None, ["legal"], "ru").id == fallback
    assert route("TJ", None, ["trafficking"], "tg").id == fallback


def test_only_reachable_organisations_are_chosen() -> None:
    org = route("RU", "moscow", ["legal"], "ru", reachable={"tj-molmep-russia"})
    assert org.id == "tj-molmep-russia"
    assert route("RU", "moscow", ["legal"], "ru", reachable=set()).id == directory().fallback


@pytest.mark.parametrize("need", NEEDS)
def test_every_need_is_served_somewhere_in_every_country_or_by_the_fallback(need: str) -> None:
    for country in COUNTRIES:
        assert need in route(country, None, [need], "ru").services
