"""Guided dialogs as plain data: questions, answers, a ``step`` function and a result.

A dialog (the ban estimator, the job-offer check, the needs screening, consent) is a
:class:`Dialog`: a ``name`` and a pure function ``next`` that, given the answers so far,
returns the next :class:`Question` or a :class:`Done` with the result. Nothing here knows
Telegram or storage: the bot's generic adapter (``bot/handlers/dialogs.py``) shows a
question as a message with buttons, passes the person's answer to :func:`step` and stores
the :class:`State` (plain JSON) between updates, so that a restart resumes the dialog.

Text is English msgids (marked with ``N_`` for extraction) with ``{name}`` parameters; the
bot translates them with the user's catalog. Result text is rendered by the dialog itself
through a :class:`Translator`, which the bot builds for the user's locale.

Flow of one answer::

    state = start(dialog)                        # -> State, state.question is the first
    state = step(dialog, state, raw, today)      # raw: a choice value or typed text
    state = back(dialog, state)                  # drop the last answer
    state.done                                   # Done once the dialog has finished

:func:`step` raises :class:`InvalidAnswer` (with a msgid to show) when an answer does not
fit the question: an unknown choice (a forged or stale button), a date that does not
parse, is impossible or lies in the future, a number out of range.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

#: An answer as stored: a choice value (str), a number (int), a date as ISO text
#: ("2026-11-30"), free text (str), or None for "prefer not to say" (skipped).
Answer = str | int | None

#: What a question accepts: a button; a date (typed as day.month.year or a button); a whole
#: number (typed or a button); short free text (typed).
AnswerKind = Literal["choice", "date", "number", "text"]

#: The answer value stored when a skippable question is skipped.
SKIPPED: None = None

#: Dates before this year are refused as typing slips (no one's events go back further).
EARLIEST_YEAR = 1900

#: Longest free-text answer kept (characters); longer text is refused, not cut.
MAX_TEXT = 200


def N_(message: str) -> str:
    """Mark *message* as a msgid for extraction without translating it here."""
    return message


class Translator(Protocol):
    """Translation and CLDR formatting for one locale (the bot supplies one)."""

    locale: str

    def gettext(self, message: str) -> str:
        """The translation of msgid *message*."""

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The plural form of *singular*/*plural* for count *n* (CLDR rules)."""

    def format_date(self, value: dt.date) -> str:
        """*value* in the locale's long date form, e.g. ru "30 ноября 2026 г."."""

    def format_number(self, value: float) -> str:
        """*value* with the locale's digit grouping."""


@dataclass(frozen=True)
class Choice:
    """One button: the stored *value* (ASCII, short) and its *label* msgid."""

    value: str
    label: str


@dataclass(frozen=True)
class Question:
    """One question of a dialog.

    *key* names the answer in :attr:`State.answers`. *text* is a msgid, formatted with
    *params* after translation. *choices* are the buttons; a ``date`` or ``number`` question
    may have buttons too (e.g. "Today") whose values are stored as typed answers would be.
    *params* values may be text, whole numbers or dates; the bot formats numbers and dates
    for the user's locale (CLDR).
    *skippable* adds "Prefer not to say" (stored as :data:`SKIPPED`). For ``number``,
    *minimum*/*maximum* bound the value; for ``date``, *not_before* bounds it from below and
    dates after ``today`` are refused. *hint* is a msgid shown under the question (e.g. the
    date format).
    """

    key: str
    text: str
    kind: AnswerKind = "choice"
    choices: tuple[Choice, ...] = ()
    skippable: bool = False
    params: Mapping[str, str | int | dt.date] = field(default_factory=dict)
    minimum: int | None = None
    maximum: int | None = None
    not_before: dt.date | None = None
    hint: str | None = None
    columns: int = 1


@dataclass(frozen=True)
class Action:
    """A button offered with a result.

    *kind*: ``article`` (open article *arg*), ``dialog`` (start dialog *arg*), ``help``
    (the "I need help" path), ``reminder`` (offer a reminder for the result), ``menu``.
    *label* is a msgid.
    """

    kind: Literal["article", "dialog", "help", "reminder", "menu"]
    label: str
    arg: str = ""


@dataclass(frozen=True)
class Done:
    """The end of a dialog: *result* (dialog-specific plain data) and follow-up *actions*.

    The bot shows ``dialog.render(result, translator)`` and the actions as buttons.
    """

    result: Any
    actions: tuple[Action, ...] = ()


class Dialog(Protocol):
    """A guided conversation as a pure function of its answers."""

    #: Short ASCII id, used in callback data and storage (e.g. ``ban``, ``offer``).
    name: str
    #: Msgid of the dialog's title, shown above each question.
    title: str

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        """The next question given *answers* so far (in order), or the result."""

    def render(self, result: Any, tr: Translator) -> str:
        """The result as text for the user's locale (Telegram HTML; escape user text)."""


class InvalidAnswer(ValueError):
    """An answer that does not fit the question; *message* is a msgid to show, with
    *params*, before the same question again."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class State:
    """Where a person is in a dialog: its *name*, the *answers* in order, and the current
    *question* (None once *done*). ``version`` counts answers so that a press on a button
    of an older question is recognised as stale."""

    name: str
    answers: tuple[tuple[str, Answer], ...] = ()
    question: Question | None = None
    done: Done | None = None

    @property
    def version(self) -> int:
        """How many answers have been given (the step number, from 0)."""
        return len(self.answers)

    def answer_map(self) -> dict[str, Answer]:
        """The answers as a dict, in order."""
        return dict(self.answers)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for storage: only the name and answers (the rest is recomputed)."""
        return {"name": self.name, "answers": [[k, v] for k, v in self.answers]}


def _advance(dialog: Dialog, answers: tuple[tuple[str, Answer], ...], today: dt.date) -> State:
    nxt = dialog.next(dict(answers), today)
    if isinstance(nxt, Done):
        return State(dialog.name, answers, None, nxt)
    return State(dialog.name, answers, nxt, None)


def start(dialog: Dialog, today: dt.date, answers: Mapping[str, Answer] | None = None) -> State:
    """A new dialog, optionally with *answers* already known (e.g. the country)."""
    return _advance(dialog, tuple((answers or {}).items()), today)


def restore(dialog: Dialog, data: Mapping[str, Any], today: dt.date) -> State:
    """A state from :meth:`State.to_json` (after a restart). Answers the dialog no longer
    accepts are dropped from the first bad one on, so the person is asked again.

    Raises:
        ValueError: *data* is not a state of *dialog*.
    """
    if data.get("name") != dialog.name:
        raise ValueError("not a state of this dialog")
    state = start(dialog, today)
    for item in data.get("answers", []):
        key, value = item
        if state.question is None or state.question.key != key:
            break
        try:
            state = step(dialog, state, value, today)
        except InvalidAnswer:
            break
    return state


def step(dialog: Dialog, state: State, raw: Answer, today: dt.date) -> State:
    """Answer the current question with *raw* (a choice value, typed text, or
    :data:`SKIPPED`); returns the new state.

    Raises:
        InvalidAnswer: *raw* does not fit the question (the state is unchanged).
        ValueError: the dialog has already finished.
    """
    question = state.question
    if question is None:
        raise ValueError("the dialog has finished")
    value = parse_answer(question, raw, today)
    return _advance(dialog, (*state.answers, (question.key, value)), today)


def back(dialog: Dialog, state: State, today: dt.date) -> State:
    """The state one answer earlier (the first question stays where it is)."""
    return _advance(dialog, state.answers[:-1], today)


_DATE_RE = re.compile(r"^\s*(\d{1,2})\s*[./\-, ]\s*(\d{1,2})\s*[./\-, ]\s*(\d{2}|\d{4})\s*$")


def parse_date(text: str, today: dt.date) -> dt.date:
    """A date typed as day.month.year with any common separator (``.``, ``/``, ``-``,
    ``,`` or space); a two-digit year means 20xx, or 19xx if that would be in the future.
    ISO ``2026-11-30`` is accepted too.

    Raises:
        InvalidAnswer: not a date, an impossible date (31.02.2026), after *today*, or
            before :data:`EARLIEST_YEAR`.
    """
    iso = re.fullmatch(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*", text)
    if iso:
        year, month, day = int(iso[1]), int(iso[2]), int(iso[3])
    else:
        match = _DATE_RE.match(text)
        if not match:
            raise InvalidAnswer(N_("Please write the date as day.month.year, e.g. 25.03.2024."))
        day, month, year = int(match[1]), int(match[2]), int(match[3])
        if len(match[3]) == 2:
            year += 2000 if 2000 + year <= today.year else 1900
    try:
        value = dt.date(year, month, day)
    except ValueError:
        raise InvalidAnswer(N_("There is no such date. Please check the day and month.")) from None
    if value > today:
        raise InvalidAnswer(N_("This date is in the future. Please write a date that has passed."))
    if value.year < EARLIEST_YEAR:
        raise InvalidAnswer(N_("This date is too early. Please check the year."))
    return value


_CHOICE_ONLY = N_("Please press one of the buttons.")

#: A whole number as typed: digits (any script's decimal digits), at most 9 of them.
_NUMBER_RE = re.compile(r"\d{1,9}")


def _clean(text: str) -> str:
    """*text* without invisible format characters (zero-width spaces, direction marks,
    which phones and copy-paste insert) and without surrounding space."""
    return "".join(c for c in text if unicodedata.category(c) != "Cf").strip()


def parse_answer(question: Question, raw: Answer, today: dt.date) -> Answer:
    """Check and normalise *raw* for *question* (see :func:`step`).

    Returns the value to store: a choice value, an int, an ISO date string, stripped text,
    or :data:`SKIPPED`.

    Raises:
        InvalidAnswer: see :func:`step`.
    """
    if raw is SKIPPED:
        if question.skippable:
            return SKIPPED
        raise InvalidAnswer(N_("This question cannot be skipped."))
    values = {c.value for c in question.choices}
    if isinstance(raw, str) and raw in values:
        return raw
    if question.kind == "choice":
        raise InvalidAnswer(_CHOICE_ONLY)
    if question.kind == "date":
        if isinstance(raw, int):
            raise InvalidAnswer(N_("Please write the date as day.month.year, e.g. 25.03.2024."))
        value = parse_date(_clean(raw), today)
        if question.not_before and value < question.not_before:
            raise InvalidAnswer(N_("This date is too early. Please check the year."))
        return value.isoformat()
    if question.kind == "number":
        digits = _clean(str(raw)).replace(" ", "")
        if not _NUMBER_RE.fullmatch(digits):
            raise InvalidAnswer(N_("Please write a whole number, e.g. 3."))
        number = int(digits)
        if (question.minimum is not None and number < question.minimum) or (
            question.maximum is not None and number > question.maximum
        ):
            raise InvalidAnswer(
                N_("Please write a number from {minimum} to {maximum}."),
                minimum=str(question.minimum if question.minimum is not None else 0),
                maximum=str(question.maximum if question.maximum is not None else "…"),
            )
        return number
    text = _clean(str(raw))
    if not text:
        raise InvalidAnswer(N_("Please write a short answer."))
    if len(text) > MAX_TEXT:
        raise InvalidAnswer(N_("This is too long. Please write it shorter."))
    return text


def as_date(answer: Answer) -> dt.date | None:
    """A stored date answer (ISO text) as a date; None if skipped or not a date."""
    if not isinstance(answer, str):
        return None
    try:
        return dt.date.fromisoformat(answer)
    except ValueError:
        return None
