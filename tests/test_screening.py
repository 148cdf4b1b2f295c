"""Needs screening: at most ten skippable questions; urgency and needs with reasons; the
consent text names the organisation and says what, why and how to withdraw."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from dialogs.consent import CONSENT_VERSION, consent_scope, render_consent
from dialogs.engine import SKIPPED, Done, start, step
from dialogs.screening import (
    DATA_FILE,
    NEEDS,
    QUESTION_KEYS,
    SCREENING,
    Reason,
    ScreeningResult,
    rules,
    screen,
)
from tests.dialog_helpers import CatalogTranslator

TODAY = dt.date(2026, 12, 5)


def run(answers: dict[str, str | None]) -> ScreeningResult:
    """Answer the dialog question by question (skipping what *answers* lacks)."""
    state = start(SCREENING, TODAY)
    asked = 0
    while state.question is not None:
        asked += 1
        state = step(SCREENING, state, answers.get(state.question.key, SKIPPED), TODAY)
    assert isinstance(state.done, Done)
    assert asked <= 10
    result = state.done.result
    assert isinstance(result, ScreeningResult)
    return result


def test_every_question_can_be_skipped_and_there_are_at_most_ten() -> None:
    state = start(SCREENING, TODAY)
    keys = []
    while state.question is not None:
        assert state.question.skippable
        keys.append(state.question.key)
        state = step(SCREENING, state, SKIPPED, TODAY)
    assert len(keys) <= 10
    result = run({"country": "KZ"})
    assert result.urgency == "routine" and set(result.needs) <= set(NEEDS)


def test_the_city_is_a_button_or_typed() -> None:
    state = step(SCREENING, start(SCREENING, TODAY), "KZ", TODAY)
    assert state.question is not None and state.question.key == "city"
    assert "almaty" in {c.value for c in state.question.choices}
    typed = step(SCREENING, state, "Караганда", TODAY)
    assert typed.answer_map()["city"] == "Караганда"


def test_passport_taken_and_no_money_abroad_is_urgent_with_reasons() -> None:
    result = run({"country": "KZ", "money": "no", "coercion": "passport"})
    assert result.urgency == "urgent"
    assert Reason("coercion", "passport") in result.needs["trafficking"]
    assert Reason("money", "no") in result.needs["economic"]
    assert Reason("money", "no") in result.needs["return"]  # abroad: the way home
    assert result.reason_codes()["legal"] == ["coercion=passport"]


def test_the_three_stages_after_return_lead_to_different_help() -> None:
    shock, anxiety, resigned = (run({"feelings": f}) for f in ("shock", "anxiety", "resigned"))
    assert {"psychological", "legal"} <= set(shock.needs)
    assert "economic" in anxiety.needs
    assert set(resigned.needs) == {"psychological"} and resigned.urgency == "priority"


def test_thoughts_of_self_harm_or_being_held_are_a_crisis() -> None:
    assert run({"feelings": "harm"}).urgency == "crisis"
    assert run({"coercion": "cannot_leave"}).urgency == "crisis"


def test_several_hardships_together_add_up() -> None:
    assert run({"household": "earner_7plus"}).urgency == "priority"
    result = run({"ban": "yes_long", "household": "woman_alone", "debts": "large"})
    assert result.urgency == "urgent"


def test_the_danger_level_of_the_opening_message_raises_the_urgency() -> None:
    answers = {"country": "RU", "ban": "no"}
    assert screen(answers, "none").urgency == "routine"
    assert screen(answers, "elevated").urgency == "priority"
    assert screen(answers, "high").urgency == "urgent"
    assert screen(answers, "crisis").urgency == "crisis"
    assert screen({"feelings": "harm"}, "high").urgency == "crisis"  # never lowered


def test_nothing_answered_still_gives_a_caseworker_somewhere_to_start() -> None:
    assert run({}).needs == {"legal": ()}


def test_rules_name_only_real_questions_and_no_label_of_a_person() -> None:
    data = rules()
    assert set(data.rules) <= set(QUESTION_KEYS)
    text = DATA_FILE.read_text(encoding="utf-8").lower()
    for line in text.splitlines():
        if not line.lstrip().startswith("#"):
            assert not re.search(r"extrem|radical|criminal|suspect|character", line)


@pytest.mark.parametrize("locale", ["ky", "tg", "ru", "uz", "uz_Cyrl"])
def test_consent_names_the_organisation_and_says_how_to_withdraw(locale: str) -> None:
    tr = CatalogTranslator(locale)
    text = render_consent("Org <One>", "Fallback Org", tr, "9:00-18:00")
    assert "Org &lt;One&gt;" in text and "Fallback Org" in text and "/delete" in text
    assert text.count("•") == 6  # the six fields shared


def test_consent_scope_lists_fields_organisation_and_fallback() -> None:
    scope = consent_scope("org-a", "org-b", phone=False)
    assert "org:org-a" in scope and "fallback" in scope and "contact:phone" not in scope
    assert "contact:phone" in consent_scope("org-a", None, phone=True)
    assert "fallback" not in consent_scope("org-a", None)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", CONSENT_VERSION)
