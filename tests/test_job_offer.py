"""The job-offer check with plain values: each red flag triggers for the right answers and
not otherwise; signs of trafficking lead to the help action; the data file validates and
every flag cites its sources; every screen exists in all five locales."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from dialogs.engine import SKIPPED, InvalidAnswer, back, start, step
from dialogs.job_offer import (
    ASK,
    DATA_FILE,
    QUESTIONS,
    FlagsFile,
    JobOffer,
    evaluate,
    load_flags,
)
from knowledge.schema import LOCALES
from tests.dialog_helpers import CatalogTranslator

TODAY = dt.date(2026, 12, 5)

#: An offer with nothing wrong: every question answered, no flag.
CLEAN: dict[str, str] = {
    "recruiter": "employer",
    "fee": "no",
    "passport": "me",
    "contract": "clear",
    "wage": "same",
    "ticket": "employer",
    "housing": "own",
    "leave": "yes",
}


def run(answers: dict[str, Any]) -> Any:
    """Answer the dialog's questions in its own order from *answers*; the final state."""
    dialog = JobOffer()
    state = start(dialog, TODAY)
    while state.done is None:
        assert state.question is not None
        state = step(dialog, state, answers[state.question.key], TODAY)
    return state


def test_a_clean_offer_has_no_flags_and_nothing_open() -> None:
    state = run(CLEAN)
    assert state.done is not None
    assert state.done.result.flags == ()
    assert state.done.result.open_questions == ()
    assert state.done.result.trafficking is False
    assert "licence" not in state.answer_map()  # asked only about an agency


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"recruiter": "agency", "licence": "no"}, {"unlicensed_agency"}),
        ({"recruiter": "agency", "licence": "checked"}, set()),
        ({"recruiter": "agency", "licence": "says"}, {"licence_unchecked"}),
        ({"recruiter": "person"}, {"informal_recruiter"}),
        ({"recruiter": "online"}, {"informal_recruiter"}),
        ({"fee": "fee"}, {"job_fee"}),
        ({"fee": "debt"}, {"debt_bondage"}),
        ({"leave": "debt"}, {"debt_bondage"}),
        ({"passport": "employer"}, {"passport_kept"}),
        ({"passport": "short"}, {"passport_paperwork"}),
        ({"contract": "later"}, {"no_contract"}),
        ({"contract": "no"}, {"no_contract"}),
        ({"contract": "unclear"}, {"contract_language"}),
        ({"wage": "high"}, {"wage_too_good"}),
        ({"wage": "low"}, {"wage_low"}),
        ({"ticket": "deducted"}, {"ticket_deducted"}),
        ({"ticket": "me"}, set()),
        ({"housing": "locked"}, {"confined_housing"}),
        ({"housing": "free"}, set()),
        ({"leave": "no"}, {"cannot_leave"}),
    ],
)
def test_each_flag_triggers_for_its_answers_and_no_other(
    changes: dict[str, str], expected: set[str]
) -> None:
    state = run({**CLEAN, **changes})
    assert state.done is not None
    assert set(state.done.result.flags) == expected


def test_every_flag_in_the_file_is_reachable_by_the_table_above() -> None:
    # Guards the table: a new flag in the data file needs its own case.
    covered = {
        "unlicensed_agency", "licence_unchecked", "informal_recruiter", "job_fee",
        "debt_bondage", "passport_kept", "passport_paperwork", "no_contract",
        "contract_language", "wage_too_good", "wage_low", "ticket_deducted",
        "confined_housing", "cannot_leave",
    }  # fmt: skip
    assert {f.id for f in load_flags().flags} == covered


@pytest.mark.parametrize(
    "changes",
    [
        {"passport": "employer"},
        {"fee": "debt"},
        {"leave": "debt"},
        {"leave": "no"},
        {"housing": "locked"},
    ],
)
def test_signs_of_trafficking_put_the_help_action_first(changes: dict[str, str]) -> None:
    state = run({**CLEAN, **changes})
    assert state.done is not None
    assert state.done.result.trafficking is True
    assert state.done.actions[0].kind == "help"
    text = JobOffer().render(state.done.result, CatalogTranslator("ru"))
    assert text.index("принудительного труда") < text.index("Найдено тревожных признаков")


@pytest.mark.parametrize("changes", [{}, {"fee": "fee"}, {"wage": "high", "contract": "no"}])
def test_without_trafficking_signs_help_is_offered_but_not_first(changes: dict[str, str]) -> None:
    state = run({**CLEAN, **changes})
    assert state.done is not None
    kinds = [a.kind for a in state.done.actions]
    assert state.done.result.trafficking is False
    assert kinds[0] != "help" and "help" in kinds


def test_unknown_or_skipped_answers_become_questions_to_ask_not_flags() -> None:
    answers = {key: SKIPPED for key in CLEAN} | {"recruiter": "agency", "licence": "unknown"}
    state = run(answers)
    assert state.done is not None
    result = state.done.result
    assert result.flags == ()
    assert result.open_questions == (
        "licence", "fee", "passport", "contract", "wage", "ticket", "housing", "leave"
    )  # fmt: skip
    text = JobOffer().render(result, CatalogTranslator("tg"))
    assert CatalogTranslator("tg").gettext(ASK["passport"]) in text


def test_every_question_can_be_skipped_and_a_forged_answer_is_refused() -> None:
    dialog = JobOffer()
    state = start(dialog, TODAY)
    assert all(q.skippable for q, _ in QUESTIONS)
    with pytest.raises(InvalidAnswer):
        step(dialog, state, "bribe", TODAY)
    state = step(dialog, state, "agency", TODAY)
    assert state.question is not None and state.question.key == "licence"
    state = back(dialog, state, TODAY)
    assert state.question is not None and state.question.key == "recruiter"


def test_evaluate_is_a_pure_function_of_plain_answers_most_serious_first() -> None:
    result = evaluate({"ticket": "deducted", "wage": "high", "passport": "employer"})
    assert result.flags == ("passport_kept", "wage_too_good", "ticket_deducted")
    assert result.trafficking is True


def test_the_data_file_validates_and_every_flag_cites_ilo_iom_or_national_sources() -> None:
    data = load_flags()
    for flag in data.flags:
        assert flag.sources, flag.id
        for ref in flag.sources:
            source = data.sources[ref]
            assert source.url.startswith(("https://", "file://"))
            assert source.checked <= TODAY
            assert source.short
    cited = {ref for f in data.flags for ref in f.sources}
    assert any(ref.startswith("ilo_") for ref in cited)
    assert any(ref.startswith("iom_") for ref in cited)
    # national licensing rules of each origin country
    assert {"kg_center_2025", "uz_agency_2024", "tj_licensed_2024"} <= cited


def _raw() -> dict[str, Any]:
    with DATA_FILE.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.safe_load(f)
    return data


def test_a_flag_naming_an_answer_that_does_not_exist_is_rejected() -> None:
    raw = _raw()
    raw["flags"][0]["when"] = [{"passport": ["burned"]}]
    with pytest.raises(ValidationError, match="unknown answer"):
        FlagsFile.model_validate(raw)


def test_a_flag_citing_an_unknown_source_is_rejected() -> None:
    raw = _raw()
    raw["flags"][0]["sources"] = ["a_blog_post"]
    with pytest.raises(ValidationError, match="unknown source"):
        FlagsFile.model_validate(raw)


def _all_msgids() -> list[str]:
    ids = [JobOffer.title]
    for question, ask in QUESTIONS:
        ids += [question.text, ask, *(c.label for c in question.choices)]
    for flag in load_flags().flags:
        ids += [flag.title, flag.explain, flag.next]
    ids += [s.short for s in load_flags().sources.values() if s.short]
    return ids


@pytest.mark.parametrize("locale", LOCALES)
def test_every_screen_is_translated_in_every_locale(locale: str) -> None:
    tr = CatalogTranslator(locale)
    untranslated = [m for m in _all_msgids() if tr.gettext(m) == m]
    assert untranslated == [], untranslated[:3]


@pytest.mark.parametrize("locale", LOCALES)
def test_the_worst_result_fits_one_telegram_message(locale: str) -> None:
    worst = {
        "recruiter": "agency", "licence": "no", "fee": "debt", "passport": "employer",
        "contract": "no", "wage": "high", "ticket": "deducted", "housing": "locked",
        "leave": "no",
    }  # fmt: skip
    state = run(worst)
    assert state.done is not None
    text = JobOffer().render(state.done.result, CatalogTranslator(locale))
    assert len(text) < 4096
    assert all(len(CatalogTranslator(locale).gettext(q.text)) < 200 for q, _ in QUESTIONS)
