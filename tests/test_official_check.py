"""The official check, step by step, with plain values: the flow, what each answer means,
home-country contacts, and a data file where every address and phone cites a source."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from dialogs.engine import SKIPPED, InvalidAnswer, back, start, step
from dialogs.official_check import (
    CITIZEN,
    DATA_FILE,
    OUTCOME_CHOICES,
    WHICH,
    ChecksFile,
    OfficialCheck,
    load_checks,
)
from knowledge.schema import LOCALES
from tests.dialog_helpers import CatalogTranslator

TODAY = dt.date(2026, 12, 5)


def run(*answers: Any) -> Any:
    dialog = OfficialCheck()
    state = start(dialog, TODAY)
    for answer in answers:
        state = step(dialog, state, answer, TODAY)
    return state


def test_russia_asks_citizenship_then_shows_the_steps_with_the_official_address() -> None:
    state = run("ru_ban")
    assert state.question is not None and state.question.key == "citizen"
    state = run("ru_ban", "KG")
    question = state.question
    assert question is not None and question.key == "outcome"
    text = CatalogTranslator("ky").gettext(question.text).format(**question.params)
    assert "http://сервисы.гувм.мвд.рф/info-service.htm?sid=3000" in text
    assert "латын" in text  # name in Latin letters, in Kyrgyz


def test_kazakhstan_goes_straight_to_what_is_known_without_an_online_check() -> None:
    state = run("kz")
    assert state.done is not None
    text = OfficialCheck().render(state.done.result, CatalogTranslator("uz"))
    assert "eGov.kz" in text
    assert "tekshiring" in text.lower()  # "check officially", in Uzbek


def test_a_ban_found_leads_with_the_way_to_an_ngo_and_warns_against_travel() -> None:
    state = run("ru_ban", "TJ", "found")
    assert state.done is not None
    assert state.done.actions[0].kind == "help"
    text = OfficialCheck().render(state.done.result, CatalogTranslator("tg"))
    assert "сафар накунед" in text  # do not travel
    assert "+7 (495) 967-98-44" in text  # the Tajik ministry's hotline, with its caveat
    assert "mehnat.tj" in text


@pytest.mark.parametrize("outcome", ["none", "error", "later"])
def test_other_answers_offer_help_but_not_first(outcome: str) -> None:
    state = run("ru_registry", "UZ", outcome)
    assert state.done is not None
    kinds = [a.kind for a in state.done.actions]
    assert kinds[0] == "article" and "help" in kinds


def test_each_answer_of_the_service_has_its_own_meaning() -> None:
    tr = CatalogTranslator("ru")
    texts = {
        o.value: OfficialCheck().render(run("ru_ban", "other", o.value).done.result, tr)
        for o in OUTCOME_CHOICES
    }
    assert len(set(texts.values())) == len(OUTCOME_CHOICES)
    assert "не имеет юридической силы" in texts["none"]
    assert "ФСБ" in texts["none"]
    assert "Никогда не платите" in texts["found"]


@pytest.mark.parametrize(("citizen", "expected"), [("KG", "+7 925 115 50 47"), ("TJ", "vkd.tj")])
def test_home_country_advice_appears_only_for_that_country(citizen: str, expected: str) -> None:
    mine = OfficialCheck().render(
        run("ru_ban", citizen, "none").done.result, CatalogTranslator("ru")
    )
    other = OfficialCheck().render(
        run("ru_ban", SKIPPED, "none").done.result, CatalogTranslator("ru")
    )
    assert expected in mine and expected not in other


def test_forged_choices_are_refused_and_back_returns_a_step() -> None:
    dialog = OfficialCheck()
    state = start(dialog, TODAY)
    with pytest.raises(InvalidAnswer):
        step(dialog, state, "us", TODAY)
    state = run("ru_registry", "KG")
    with pytest.raises(InvalidAnswer):
        step(dialog, state, "deleted", TODAY)
    state = back(dialog, state, TODAY)
    assert state.question is not None and state.question.key == "citizen"


def test_the_result_never_pretends_to_look_anyone_up() -> None:
    for which, outcome in [("ru_ban", "found"), ("ru_registry", "none")]:
        text = OfficialCheck().render(
            run(which, "KG", outcome).done.result, CatalogTranslator("ru")
        )
        assert "Safar никого не ищет по базам" in text


def test_the_data_file_validates_and_every_address_and_phone_has_a_dated_source() -> None:
    data = load_checks()
    for check in data.checks.values():
        assert check.sources
        if check.url:
            assert check.url_sources
    for home in data.home.values():
        for contact in home.contacts:
            digits = re.sub(r"\D", "", contact.value)
            cited = [data.sources[s] for s in contact.sources]
            # the number itself is stated by at least one cited source
            assert any(digits in re.sub(r"\D", "", s.name) for s in cited), contact.value
    for source in data.sources.values():
        assert source.checked <= TODAY
        assert source.published is None or source.published <= source.checked


def test_a_contact_without_a_known_source_is_rejected() -> None:
    with DATA_FILE.open(encoding="utf-8") as f:
        raw = yaml.safe_load(f)
    raw["home"]["KG"]["contacts"][0]["sources"] = ["somebody_said"]
    with pytest.raises(ValidationError, match="unknown source"):
        ChecksFile.model_validate(raw)


def _msgids() -> list[str]:
    data = load_checks()
    ids = [OfficialCheck.title, WHICH.text, CITIZEN.text]
    ids += [c.label for q in (WHICH, CITIZEN) for c in q.choices]
    ids += [c.label for c in OUTCOME_CHOICES]
    for check in data.checks.values():
        ids += [check.title] + ([check.steps] if check.steps else [])
        meanings = list(check.outcomes.values()) + ([check.info] if check.info else [])
        for meaning in meanings:
            ids += [meaning.means, *meaning.next]
    for home in data.home.values():
        ids += [home.note, *(c.label for c in home.contacts)]
    return ids


@pytest.mark.parametrize("locale", LOCALES)
def test_every_screen_is_translated_and_keeps_its_placeholders(locale: str) -> None:
    tr = CatalogTranslator(locale)
    ids = _msgids()
    assert [m for m in ids if tr.gettext(m) == m] == []
    for msgid in ids:
        assert re.findall(r"\{\w+\}", tr.gettext(msgid)) == re.findall(r"\{\w+\}", msgid)
    state = run("ru_registry", "TJ", "found")
    assert len(OfficialCheck().render(state.done.result, tr)) < 4096
