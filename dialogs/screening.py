"""Needs screening (dialog ``screening``): ten short questions, then urgency and needs.

The questions (every one can be skipped with "Prefer not to say"): the country the person
is in now and the city (buttons for the main cities, or typed), entry ban, who lives on
their income (main earner and how many depend on them, or a woman raising children
alone), money for food and shelter this week, debts, health, how they have been feeling
lately (telling shock, anxiety and resignation apart, as the field research does), whether
someone keeps their passport or makes them work unpaid, and age group.

The result is a :class:`ScreeningResult`: an urgency (``routine`` < ``priority`` <
``urgent`` < ``crisis``) and the needs, each with the answers that caused it, so that a
caseworker sees why. The rules are data (``dialogs/data/screening.yaml``, explained there
from the field findings). The free-text danger level of the message that opened the help
path raises the urgency (:func:`screen`). Urgency describes need, never the person.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dialogs.engine import N_, Answer, Choice, Done, Question, Translator

DATA_FILE = Path(__file__).with_name("data") / "screening.yaml"

Urgency = Literal["routine", "priority", "urgent", "crisis"]
URGENCIES: tuple[Urgency, ...] = ("routine", "priority", "urgent", "crisis")
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
RiskLevel = Literal["none", "elevated", "high", "crisis"]

#: What a free-text danger level raises the urgency to, at least.
RISK_FLOOR: dict[str, Urgency] = {
    "none": "routine",
    "elevated": "priority",
    "high": "urgent",
    "crisis": "crisis",
}

#: The need names shown to the person and the caseworker (msgids).
NEED_LABELS: dict[str, str] = {
    "legal": N_("⚖️ Legal advice"),
    "psychological": N_("💬 Someone to talk to (psychological support)"),
    "economic": N_("💵 Money and work"),
    "medical": N_("🩺 Medical care"),
    "shelter": N_("🏠 A safe place to stay"),
    "return": N_("🧳 Getting home or starting again at home"),
    "trafficking": N_("🛡️ Protection from exploitation"),
}

#: City buttons per country: stored value (the key :func:`knowledge.services.route` uses)
#: and label msgid. Other cities are typed.
CITIES: dict[str, tuple[tuple[str, str], ...]] = {
    "RU": (
        ("moscow", N_("Moscow")),
        ("saint-petersburg", N_("Saint Petersburg")),
        ("yekaterinburg", N_("Yekaterinburg")),
        ("novosibirsk", N_("Novosibirsk")),
    ),
    "KZ": (("almaty", N_("Almaty")), ("astana", N_("Astana")), ("shymkent", N_("Shymkent"))),
    "KG": (("bishkek", N_("Bishkek")), ("osh", N_("Osh"))),
    "TJ": (("dushanbe", N_("Dushanbe")), ("khujand", N_("Khujand"))),
    "UZ": (("tashkent", N_("Tashkent")), ("samarkand", N_("Samarkand"))),
}

#: Country buttons (ISO codes) and "another country".
COUNTRY_CHOICES: tuple[Choice, ...] = (
    Choice("RU", N_("🇷🇺 Russia")),
    Choice("KZ", N_("🇰🇿 Kazakhstan")),
    Choice("KG", N_("🇰🇬 Kyrgyzstan")),
    Choice("TJ", N_("🇹🇯 Tajikistan")),
    Choice("UZ", N_("🇺🇿 Uzbekistan")),
    Choice("other", N_("🌍 Another country")),
)


def _choice_q(key: str, text: str, *choices: tuple[str, str], columns: int = 1) -> Question:
    options = tuple(Choice(v, label) for v, label in choices)
    return Question(key, text, choices=options, skippable=True, columns=columns)


#: The questions after country and city, in order.
QUESTIONS: tuple[Question, ...] = (
    _choice_q(
        "ban",
        N_("Do you have a ban on entering Russia or another country?"),
        ("yes_long", N_("⛔ Yes, for 5 years or more")),
        ("yes", N_("⛔ Yes, shorter, or I don't know how long")),
        ("unsure", N_("❓ I don't know")),
        ("no", N_("✅ No")),
    ),
    _choice_q(
        "household",
        N_("Who lives on your income?"),
        ("self", N_("🙂 Only me")),
        ("earner_small", N_("👨‍👩‍👦 I am the main earner for 1-3 people")),
        ("earner_large", N_("👨‍👩‍👧‍👦 I am the main earner for 4-6 people")),
        ("earner_7plus", N_("🏘️ I am the main earner for 7 or more")),
        ("woman_alone", N_("👩‍👧 I am a woman raising children alone")),
        ("not_earner", N_("🤝 Someone else is the main earner")),
    ),
    _choice_q(
        "money",
        N_("This week, do you have money for food and a place to sleep?"),
        ("yes", N_("✅ Yes")),
        ("partly", N_("➗ Only for part of the week")),
        ("no", N_("❌ No money for food")),
        ("no_shelter", N_("🏚️ I have nowhere to sleep")),
    ),
    _choice_q(
        "debts",
        N_("Do you have debts?"),
        ("no", N_("✅ No")),
        ("small", N_("🙂 Yes, and I can repay them")),
        ("large", N_("😟 Yes, more than I can repay")),
        ("threatened", N_("⚠️ Yes, and the lenders threaten me")),
    ),
    _choice_q(
        "health",
        N_("Do you have a health problem that needs care?"),
        ("no", N_("✅ No")),
        ("physical", N_("🤕 An illness or injury")),
        ("mental", N_("🧠 Stress or nerves that do not go away")),
        ("both", N_("➕ Both")),
        ("urgent", N_("🚑 I need a doctor now")),
    ),
    _choice_q(
        "feelings",
        N_("How have you been feeling lately?"),
        ("ok", N_("🙂 Mostly all right")),
        ("shock", N_("😳 Shaken: everything fell apart suddenly")),
        ("anxiety", N_("😟 Worried all the time about money and what comes next")),
        ("resigned", N_("😶 Nothing works any more, I have given up")),
        ("harm", N_("💔 I think about hurting myself")),
    ),
    _choice_q(
        "coercion",
        N_("Does someone keep your passport, or make you work without pay?"),
        ("no", N_("✅ No")),
        ("passport", N_("🛂 Someone keeps my passport")),
        ("unpaid", N_("💸 I work and I am not paid")),
        ("both", N_("⛓️ Both")),
        ("cannot_leave", N_("🔒 I am not allowed to leave")),
    ),
    _choice_q(
        "age",
        N_("How old are you?"),
        ("under18", N_("Under 18")),
        ("18_24", N_("18-24")),
        ("25_44", N_("25-44")),
        ("45_59", N_("45-59")),
        ("60plus", N_("60 or older")),
        columns=3,
    ),
)

COUNTRY_QUESTION = Question(
    "country", N_("Which country are you in now?"), choices=COUNTRY_CHOICES, skippable=True
)


def city_question(country: str) -> Question:
    """The city question for *country* (ISO code): buttons for its main cities, or typed."""
    choices = tuple(Choice(v, label) for v, label in CITIES.get(country, ()))
    return Question(
        "city",
        N_("Which city are you in? Choose one or type its name."),
        kind="text",
        choices=choices,
        skippable=True,
        columns=2,
    )


#: Every question key, in the order asked (``city`` only after a country with a list).
QUESTION_KEYS: tuple[str, ...] = ("country", "city", *(q.key for q in QUESTIONS))


class Rule(BaseModel):
    """What one answer adds: *needs*, *points* toward the urgency, an urgency *floor*;
    *when* limits it to answers of other questions (key -> allowed values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str
    needs: tuple[Need, ...] = ()
    points: int = 0
    floor: Urgency | None = None
    when: dict[str, tuple[str, ...]] = Field(default_factory=dict)


class Rules(BaseModel):
    """``screening.yaml``: thresholds and rules per question key."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    thresholds: dict[Literal["priority", "urgent"], int]
    rules: dict[str, tuple[Rule, ...]]

    @model_validator(mode="after")
    def _check(self) -> Rules:
        known = {q.key: {c.value for c in q.choices} for q in (COUNTRY_QUESTION, *QUESTIONS)}
        for key, rules in self.rules.items():
            if key not in known:
                raise ValueError(f"rules for an unknown question {key!r}")
            for rule in rules:
                if rule.value not in known[key]:
                    raise ValueError(f"{key}: no choice {rule.value!r}")
                for other, values in rule.when.items():
                    if other not in known or not set(values) <= known[other]:
                        raise ValueError(f"{key}={rule.value}: bad condition on {other!r}")
        return self


_BY_KEY: dict[str, Question] = {q.key: q for q in (COUNTRY_QUESTION, *QUESTIONS)}


@cache
def rules(path: Path = DATA_FILE) -> Rules:
    """Read and validate the screening rules (cached).

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: the file is missing or invalid.
    """
    return Rules.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Reason:
    """An answer that caused a need: question *key* and the *value* given."""

    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


@dataclass(frozen=True)
class ScreeningResult:
    """The screening's outcome: *urgency* and need -> the answers that caused it."""

    urgency: Urgency
    needs: dict[Need, tuple[Reason, ...]]

    def reason_codes(self) -> dict[str, list[str]]:
        """need -> ``["key=value", ...]`` (the form a case stores)."""
        return {need: [str(r) for r in reasons] for need, reasons in self.needs.items()}


def reason_text(code: str, gettext: Callable[[str], str]) -> str:
    """A stored reason (``"key=value"``, see :meth:`ScreeningResult.reason_codes`) as
    readable words through *gettext* (the reader's catalog): the question, then the answer
    given, e.g. "Does someone keep your passport, ...? 🛂 Someone keeps my passport".
    An unknown question or answer is shown as the code itself."""
    key, _sep, value = code.partition("=")
    question = _BY_KEY.get(key)
    label = (
        next((c.label for c in question.choices if c.value == value), None) if question else None
    )
    if question is None or label is None:
        return code
    return f"{gettext(question.text)} {gettext(label)}"


def _max(*levels: Urgency) -> Urgency:
    return max(levels, key=URGENCIES.index)


def screen(answers: Mapping[str, Answer], risk: str = "none") -> ScreeningResult:
    """Needs and urgency from the screening *answers* (question key -> choice value, typed
    city, or None when skipped) and the free-text danger *risk* level of the message that
    opened the help path (``none``, ``elevated``, ``high``, ``crisis``; unknown = none).

    Needs are listed in :data:`NEEDS` order, each with its reasons in question order.
    A person who answered nothing that points to a need still gets ``legal`` (advice on
    their situation) with no reasons, so that a caseworker has somewhere to start.
    """
    data = rules()
    found: dict[Need, list[Reason]] = {}
    points = 0
    floor: Urgency = RISK_FLOOR.get(risk, "routine")
    for key in QUESTION_KEYS:
        value = answers.get(key)
        if not isinstance(value, str):
            continue
        for rule in data.rules.get(key, ()):
            if rule.value != value:
                continue
            if any(answers.get(k) not in allowed for k, allowed in rule.when.items()):
                continue
            for need in rule.needs:
                reasons = found.setdefault(need, [])
                if Reason(key, value) not in reasons:
                    reasons.append(Reason(key, value))
            points += rule.points
            if rule.floor:
                floor = _max(floor, rule.floor)
    by_points: Urgency = "routine"
    if points >= data.thresholds["urgent"]:
        by_points = "urgent"
    elif points >= data.thresholds["priority"]:
        by_points = "priority"
    needs = {need: tuple(found[need]) for need in NEEDS if need in found}
    if not needs:
        needs = {"legal": ()}
    return ScreeningResult(_max(floor, by_points), needs)


@dataclass
class ScreeningDialog:
    """The screening as a :class:`dialogs.engine.Dialog`; the result is a
    :class:`ScreeningResult` from the answers alone (the bot raises it with the free-text
    danger level through :func:`screen`)."""

    name: str = "screening"
    title: str = N_("🆘 Finding the right help")

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        """The next unanswered question, or the result."""
        if "country" not in answers:
            return COUNTRY_QUESTION
        country = answers["country"]
        if "city" not in answers and isinstance(country, str) and country in CITIES:
            return city_question(country)
        for question in QUESTIONS:
            if question.key not in answers:
                return question
        return Done(screen(answers))

    def render(self, result: ScreeningResult, tr: Translator) -> str:
        """What the answers point to, as a short list for the person (Telegram HTML)."""
        _ = tr.gettext
        head = _("Thank you. From your answers, you may need:")
        lines = ["<b>" + html.escape(head) + "</b>"]
        lines += [f"• {html.escape(_(NEED_LABELS[need]))}" for need in result.needs]
        if result.urgency in ("urgent", "crisis"):
            lines += ["", html.escape(_("This looks urgent. Help should reach you soon."))]
        return "\n".join(lines)


SCREENING = ScreeningDialog()


def city_key(answer: Answer) -> str | None:
    """The city of a screening answer as a lower-case key (a button's value, or typed
    text lower-cased and trimmed); None if skipped."""
    if not isinstance(answer, str) or not answer.strip():
        return None
    return answer.strip().lower()
