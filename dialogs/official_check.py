"""The official ban check, step by step, as a guided dialog (name ``check``).

Safar never looks anyone up and must not pretend to. This dialog tells a person which
official service to use (Russia: the MVD entry-ban check and the registry of controlled
persons; Kazakhstan: whom to ask), which data to have ready, where to enter them, and,
after they have checked themselves, what the answer they got means and what to do next,
with the home country's advice and contacts.

Steps, addresses and contacts are data: ``dialogs/data/official_checks.yaml``, validated
by :class:`ChecksFile`; each address and phone number cites its sources with the date
checked. Flow::

    which ─┬─ ru_ban / ru_registry ─▶ citizen (kg/tj/uz/other, skippable) ─▶ outcome ─▶ result
           └─ kz ─▶ result
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dialogs.engine import N_, Action, Answer, Choice, Done, Question, Translator
from dialogs.sources import DATA_DIR, Source, load_model, missing_sources

DATA_FILE = DATA_DIR / "official_checks.yaml"

Outcome = Literal["none", "found", "error", "later"]
OUTCOMES: tuple[Outcome, ...] = ("none", "found", "error", "later")


class Meaning(BaseModel):
    """What an answer of the official service means (*means*) and what to do (*next*)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    means: str = Field(min_length=10)
    next: tuple[str, ...] = ()


class Check(BaseModel):
    """One official check: *title*, the service address *url* (with *url_sources*), the
    *steps* msgid (``{url}`` is filled in), its *sources*, and either the meaning of each
    possible answer (*outcomes*) or, where no online check exists, *info*."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: Literal["RU", "KZ"]
    title: str
    url: str = ""
    url_sources: tuple[str, ...] = ()
    steps: str = ""
    sources: tuple[str, ...] = Field(min_length=1)
    outcomes: dict[Outcome, Meaning] = Field(default_factory=dict)
    info: Meaning | None = None

    @model_validator(mode="after")
    def _complete(self) -> Check:
        if self.outcomes:
            if set(self.outcomes) != set(OUTCOMES):
                raise ValueError(f"outcomes must be exactly {OUTCOMES}")
            if not self.steps or "{url}" not in self.steps or not self.url:
                raise ValueError("a check with outcomes needs steps with {url} and a url")
            if not self.url_sources:
                raise ValueError("an address needs its sources")
        elif self.info is None:
            raise ValueError("a check needs outcomes or info")
        return self


class Contact(BaseModel):
    """A phone number or address (*value*, shown as is) with its *label* msgid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    value: str = Field(min_length=3)
    sources: tuple[str, ...] = Field(min_length=1)


class Home(BaseModel):
    """What the home country advises (*note*) and its contacts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    note: str
    note_sources: tuple[str, ...] = Field(min_length=1)
    contacts: tuple[Contact, ...] = ()


class ChecksFile(BaseModel):
    """``official_checks.yaml``. Every source id used must be defined under *sources*."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checked: dt.date
    sources: dict[str, Source]
    checks: dict[Literal["ru_ban", "ru_registry", "kz"], Check]
    home: dict[Literal["KG", "TJ", "UZ"], Home]

    @model_validator(mode="after")
    def _sources_resolve(self) -> ChecksFile:
        refs: list[str] = []
        for check in self.checks.values():
            refs += [*check.sources, *check.url_sources]
        for home in self.home.values():
            refs += list(home.note_sources)
            for contact in home.contacts:
                refs += list(contact.sources)
        missing = missing_sources(refs, self.sources)
        if missing:
            raise ValueError(f"unknown source ids: {sorted(set(missing))}")
        return self


@cache
def load_checks() -> ChecksFile:
    """The validated data file (cached).

    Raises:
        pydantic.ValidationError: the file is invalid (see :class:`ChecksFile`).
    """
    return load_model(ChecksFile, DATA_FILE)


WHICH = Question(
    "which",
    N_("What do you want to check?"),
    choices=(
        Choice("ru_ban", N_("🇷🇺 Russia: entry ban")),
        Choice("ru_registry", N_("🇷🇺 Russia: registry of controlled persons")),
        Choice("kz", N_("🇰🇿 Kazakhstan: entry ban")),
    ),
    hint=N_("Safar does not look anyone up. It shows you how to check yourself, officially."),
)

CITIZEN = Question(
    "citizen",
    N_("Which country's citizen are you? We will add your country's advice and contacts."),
    choices=(
        Choice("KG", N_("Kyrgyzstan")),
        Choice("TJ", N_("Tajikistan")),
        Choice("UZ", N_("Uzbekistan")),
        Choice("other", N_("Another country")),
    ),
    skippable=True,
    columns=2,
)

OUTCOME_CHOICES = (
    Choice("none", N_("✅ Nothing found")),
    Choice("found", N_("⛔ Something was found")),
    Choice("error", N_("⚠️ The site did not work")),
    Choice("later", N_("🕓 I will check later")),
)


@dataclass(frozen=True)
class CheckResult:
    """The result: which *check*, the person's *citizen*ship (or None) and the *outcome*
    they reported (None for a check without an online service)."""

    check: str
    citizen: str | None
    outcome: str | None


class OfficialCheck:
    """The ``check`` dialog (see the module docstring)."""

    name = "check"
    title = N_("🔎 Check officially")

    def __init__(self, data: ChecksFile | None = None) -> None:
        self.data = data or load_checks()

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        """The next question, or the :class:`CheckResult` with its actions."""
        if "which" not in answers:
            return WHICH
        which = str(answers["which"])
        check = self.data.checks[which]  # type: ignore[index]
        if check.outcomes:
            if "citizen" not in answers:
                return CITIZEN
            if "outcome" not in answers:
                return Question(
                    "outcome",
                    check.steps,
                    choices=OUTCOME_CHOICES,
                    params={"url": check.url},
                    hint=N_("After you have checked, what did it show?"),
                    columns=2,
                )
        citizen = answers.get("citizen")
        outcome = answers.get("outcome")
        result = CheckResult(
            which,
            str(citizen) if citizen is not None else None,
            str(outcome) if outcome is not None else None,
        )
        return Done(result, self.actions(result))

    def actions(self, result: CheckResult) -> tuple[Action, ...]:
        """Buttons under the result: the way to an NGO first when something was found,
        then the related articles, another check, and the menu."""
        articles = {
            "ru_ban": Action("article", N_("📄 How to check for a ban"), "ru-ban-check-online"),
            "ru_registry": Action(
                "article",
                N_("📄 The registry and home-country lists"),
                "ru-ban-check-registry-origin",
            ),
            "kz": Action("article", N_("📄 Kazakhstan: what is known"), "kz-ban-check-expulsion"),
        }
        helper = Action("help", N_("🤝 Talk to an NGO"))
        actions: list[Action] = []
        if result.outcome == "found":
            actions.append(helper)
            if result.check == "ru_ban":
                actions.append(
                    Action("article", N_("📄 Appeal a ban in court"), "ru-ban-appeal-court")
                )
        actions.append(articles[result.check])
        if result.outcome != "found":
            actions.append(helper)
        actions.append(Action("dialog", N_("🔁 Another check"), "check"))
        actions.append(Action("menu", N_("🏠 Menu")))
        return tuple(actions)

    def render(self, result: Any, tr: Translator) -> str:
        """The result as Telegram HTML in the user's locale."""
        assert isinstance(result, CheckResult)
        _ = tr.gettext
        check = self.data.checks[result.check]  # type: ignore[index]
        lines = [f"<b>{html.escape(_(check.title))}</b>", ""]
        meaning = check.outcomes[result.outcome] if result.outcome else check.info  # type: ignore[index]
        assert meaning is not None
        lines.append(html.escape(_(meaning.means)))
        if meaning.next:
            lines.append("")
            lines.append("<b>{}</b>".format(html.escape(_(N_("What to do next:")))))
            lines += [f"• {html.escape(_(step))}" for step in meaning.next]
        if result.outcome == "later":
            lines += ["", html.escape(_(check.steps).format(url=check.url))]
        home = self.data.home.get(result.citizen) if result.citizen else None  # type: ignore[call-overload]
        if home is not None and check.country == "RU":
            lines += ["", html.escape(_(home.note))]
            lines += [f"☎️ {html.escape(_(c.label))}: {html.escape(c.value)}" for c in home.contacts]
        lines += [
            "",
            "<i>{}</i>".format(
                html.escape(
                    _(
                        "Safar does not look anyone up. Addresses and phones are from "
                        "public sources checked on {date}; they can change."
                    ).format(date=tr.format_date(self.data.checked))
                )
            ),
        ]
        return "\n".join(lines)


#: The dialog instance the bot registers.
DIALOG = OfficialCheck()
