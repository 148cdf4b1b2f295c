"""The dialog engine with a small dialog of plain values (no Telegram)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pytest

from dialogs.engine import (
    SKIPPED,
    Answer,
    Choice,
    Done,
    InvalidAnswer,
    Question,
    Translator,
    back,
    parse_date,
    restore,
    start,
    step,
)

TODAY = dt.date(2026, 12, 5)


class Trip:
    name = "trip"
    title = "Trip"

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        if "country" not in answers:
            return Question(
                "country", "Where?", choices=(Choice("ru", "Russia"), Choice("kz", "KZ"))
            )
        if "entered" not in answers:
            return Question("entered", "When?", kind="date", not_before=dt.date(2000, 1, 1))
        if "days" not in answers:
            return Question(
                "days", "How many?", kind="number", minimum=0, maximum=999, skippable=True
            )
        return Done(dict(answers))

    def render(self, result: Any, tr: Translator) -> str:
        return str(result)


def test_a_dialog_runs_to_its_result_and_back_drops_the_last_answer() -> None:
    dialog = Trip()
    state = start(dialog, TODAY)
    assert state.question and state.question.key == "country"
    state = step(dialog, state, "kz", TODAY)
    state = step(dialog, state, "1/2/24", TODAY)
    assert state.answer_map()["entered"] == "2024-02-01"
    state = back(dialog, state, TODAY)
    assert state.question and state.question.key == "entered"
    state = step(dialog, state, "29.02.2024", TODAY)
    state = step(dialog, state, SKIPPED, TODAY)
    assert state.done is not None
    assert state.done.result == {"country": "kz", "entered": "2024-02-29", "days": None}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("05.12.2026", dt.date(2026, 12, 5)),
        ("5-3-2024", dt.date(2024, 3, 5)),
        ("5 3 99", dt.date(1999, 3, 5)),
        ("2024-03-05", dt.date(2024, 3, 5)),
    ],
)
def test_dates_in_common_forms_parse(raw: str, expected: dt.date) -> None:
    assert parse_date(raw, TODAY) == expected


@pytest.mark.parametrize(
    "raw",
    ["06.12.2026", "31.02.2025", "yesterday", "29.02.2025", "1.13.2024", "01.01.0001", "1.1.0099"],
)
def test_future_impossible_or_unparsed_dates_are_refused(raw: str) -> None:
    with pytest.raises(InvalidAnswer):
        parse_date(raw, TODAY)


def test_a_forged_choice_or_out_of_range_number_leaves_the_state_unchanged() -> None:
    dialog = Trip()
    state = start(dialog, TODAY)
    with pytest.raises(InvalidAnswer):
        step(dialog, state, "us", TODAY)
    with pytest.raises(InvalidAnswer):
        step(dialog, state, SKIPPED, TODAY)
    state = step(dialog, step(dialog, state, "ru", TODAY), "01.01.2020", TODAY)
    with pytest.raises(InvalidAnswer) as caught:
        step(dialog, state, "1000", TODAY)
    assert caught.value.params == {"minimum": "0", "maximum": "999"}
    assert state.question and state.question.key == "days"


def test_a_stored_state_resumes_after_a_restart_and_drops_answers_no_longer_valid() -> None:
    dialog = Trip()
    state = step(dialog, step(dialog, start(dialog, TODAY), "ru", TODAY), "01.01.2020", TODAY)
    resumed = restore(dialog, state.to_json(), TODAY)
    assert resumed == state
    bad = {"name": "trip", "answers": [["country", "ru"], ["entered", "1999-01-01"]]}
    assert restore(dialog, bad, TODAY).question.key == "entered"  # type: ignore[union-attr]


def test_invisible_characters_from_phones_are_ignored_and_odd_numbers_refused() -> None:
    dialog = Trip()
    state = step(dialog, start(dialog, TODAY), "ru", TODAY)
    state = step(dialog, state, "01.01.2024\u200f", TODAY)
    assert state.answer_map()["entered"] == "2024-01-01"
    assert step(dialog, state, "\u200b45", TODAY).answer_map()["days"] == 45
    assert step(dialog, state, " 1 2 ", TODAY).answer_map()["days"] == 12
    for odd in ("1_0", "+-3", "4.5", "-3"):
        with pytest.raises(InvalidAnswer):
            step(dialog, state, odd, TODAY)
