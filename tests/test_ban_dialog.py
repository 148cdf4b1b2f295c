"""The ban dialog with plain values (no Telegram): questions, answers, Back, the result."""

from __future__ import annotations

import datetime as dt

import pytest

from dialogs.ban_dialog import DIALOG, BanResult, events_from_answers, render_estimate
from dialogs.engine import Answer, InvalidAnswer, State, back, restore, start, step
from knowledge.loader import KnowledgeBase

TODAY = dt.date(2026, 12, 5)


class Plain:
    """A translator that keeps the English msgids and writes dates as ISO text."""

    locale = "en"

    def gettext(self, message: str) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return singular if n == 1 else plural

    def format_date(self, value: dt.date) -> str:
        return value.isoformat()

    def format_number(self, value: float) -> str:
        return str(value)


def run(*answers: Answer) -> State:
    state = start(DIALOG, TODAY)
    for answer in answers:
        state = step(DIALOG, state, answer, TODAY)
    return state


def result_text(state: State) -> str:
    assert state.done is not None
    return DIALOG.render(state.done.result, Plain())


def test_overstay_and_fines_give_each_ban_and_the_latest_end() -> None:
    state = run(
        "ru", "overstay", "45", "yes", "01.03.2024", "offences", "2", "1.12.2024", "1/5/2023",
        "done",
    )  # fmt: skip
    assert state.done is not None
    est = state.done.result.estimate
    assert est.latest_end == dt.date(2027, 12, 1)
    text = result_text(state)
    assert "114-FZ, Art. 26, p. 8" in text and "114-FZ, Art. 26, p. 4" in text
    assert "📅 Estimated end: 2027-12-01" in text
    assert "You may enter at the earliest the day after." in text
    assert "This is an estimate from your answers, not an official answer." in text
    assert "How to confirm" in text
    assert "Bans under Art. 26 are decided case by case" in text  # p.4 and p.8 are Art. 26
    # p.12 rests on secondary sources only: marked, not stated as fact
    assert "Not confirmed in the law's text: check officially." in text


def test_each_event_type_is_offered_once_and_the_menu_shrinks() -> None:
    state = run("ru", "expulsion", "2", "30.09.2022")
    assert state.question is not None and state.question.key == "what2"
    values = [c.value for c in state.question.choices]
    assert "expulsion" not in values and values[-1] == "done"
    state = step(DIALOG, state, "done", TODAY)
    assert state.done is not None
    assert state.done.result.estimate.latest_end == dt.date(2032, 9, 30)
    assert "expelled or deported two or more times" in result_text(state)
    assert "Art. 26" not in result_text(state)  # Art. 27: no "may" note


def test_not_left_yet_says_the_ban_starts_on_leaving() -> None:
    state = run("ru", "overstay", "40", "no", "done")
    text = result_text(state)
    assert "3 years from the day you leave." in text
    assert "Estimated end" not in text


def test_long_overstay_shows_unverified_rules_without_their_numbers() -> None:
    state = run("ru", "overstay", "300", "yes", "01.06.2024", "done")
    text = result_text(state)
    assert "114-FZ, Art. 27, p. 13" in text
    assert "we could not confirm the rule" in text
    assert "10 years" not in text  # the unverified 10-year term is not published
    assert "It may last longer" in text


def test_a_bad_date_or_number_is_refused_and_asked_again() -> None:
    state = run("ru", "overstay")
    with pytest.raises(InvalidAnswer):
        step(DIALOG, state, "many", TODAY)
    with pytest.raises(InvalidAnswer):
        step(DIALOG, state, "0", TODAY)
    state = run("ru", "expulsion", "1")
    for bad in ("31.02.2024", "5.12.2027", "yesterday"):
        with pytest.raises(InvalidAnswer):
            step(DIALOG, state, bad, TODAY)
    assert state.question is not None and state.question.key == "expulsion_date"


def test_back_goes_one_step_and_restore_resumes() -> None:
    state = run("kz", "expulsion", "1")
    state = back(DIALOG, state, TODAY)
    assert state.question is not None and state.question.key == "expulsion_times"
    state = step(DIALOG, state, "2", TODAY)
    again = restore(DIALOG, state.to_json(), TODAY)
    assert again.question is not None and again.question.key == "expulsion_date"


def test_nothing_chosen_gives_no_ban_but_still_says_to_check() -> None:
    state = run("ru", "done")
    text = result_text(state)
    assert "we found no ban" in text and "check officially" in text


def test_paid_and_cleared_answers_give_no_ban() -> None:
    state = run("ru", "unpaid", "paid", "conviction", "yes", "done")
    assert state.done is not None and state.done.result.estimate.bans == ()


def test_kazakhstan_says_the_term_is_not_confirmed() -> None:
    state = run("kz", "expulsion", "1", "1.2.2025", "done")
    text = result_text(state)
    assert "Kazakhstan" in text and "could not confirm" in text
    assert "migration police of Kazakhstan" in text


def test_actions_offer_reminder_only_for_a_future_end_and_link_existing_articles(
    kb: KnowledgeBase,
) -> None:
    live = run("ru", "expulsion", "1", "12.4.2023", "done")
    assert live.done is not None
    kinds = [a.kind for a in live.done.actions]
    assert "reminder" in kinds and "help" in kinds
    for action in live.done.actions:
        if action.kind == "article":
            assert kb.get(action.arg) is not None, action.arg
    old = run("ru", "expulsion", "1", "5.5.2015", "done")
    assert old.done is not None
    assert "reminder" not in [a.kind for a in old.done.actions]
    assert "have ended" in result_text(old)


def test_events_from_answers_needs_a_country() -> None:
    with pytest.raises(ValueError):
        events_from_answers({})
    country, events = events_from_answers(
        {"country": "ru", "what1": "other", "other_kind": "security", "what2": "done"}
    )
    assert country == "ru" and [e.type for e in events] == ["security"]


def test_render_escapes_nothing_from_the_person_and_is_html() -> None:
    state = run("ru", "false_documents", "done")
    assert state.done is not None
    assert isinstance(state.done.result, BanResult)
    text = render_estimate(state.done.result.estimate, Plain())
    assert text.count("<b>") == text.count("</b>")


@pytest.mark.parametrize("locale", ["ky", "tg", "ru", "uz", "uz_Cyrl"])
def test_every_screen_of_the_estimate_is_in_the_locale(locale: str) -> None:
    from bot.i18n import gettext_for
    from tests.dialog_helpers import CatalogTranslator

    _ = gettext_for(locale)
    state = start(DIALOG, TODAY)
    seen = []
    for answer in ("ru", "overstay", "300", "yes", "01.06.2024", "expulsion", "2", "1.2.2023",
                   "unpaid", "fine", "done"):  # fmt: skip
        assert state.question is not None
        seen.append(state.question.text)
        seen.extend(c.label for c in state.question.choices if not c.label[0].isdigit())
        state = step(DIALOG, state, answer, TODAY)
    for msgid in seen:
        assert _(msgid) != msgid, (locale, msgid)
    assert state.done is not None
    text = DIALOG.render(state.done.result, CatalogTranslator(locale))
    for english in ("This is an estimate", "Bans that likely apply", "Until it is paid",
                    "How to confirm", "check officially"):  # fmt: skip
        assert english not in text, (locale, english)
    assert _("This is an estimate from your answers, not an official answer.") in text


def test_the_day_of_leaving_can_be_chosen_with_a_button() -> None:
    state = run("ru", "overstay", "31", "yes")
    assert state.question is not None and state.question.key == "overstay_exit"
    labels = {c.label: c.value for c in state.question.choices}
    assert labels["📅 Yesterday"] == "2026-12-04"
    state = step(DIALOG, state, labels["📅 Today"], TODAY)
    assert state.answer_map()["overstay_exit"] == "2026-12-05"
