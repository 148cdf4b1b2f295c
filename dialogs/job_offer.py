"""Check a job offer before paying anyone or boarding a bus (dialog ``offer``).

Nine short questions with buttons (who recruits, the agency's licence, fees in advance,
who keeps the passport, the written contract and its language, the wage against the local
norm, who pays the ticket, housing, whether the person may leave); every one can be
skipped. The result lists the red flags found, each explained with its sources (ILO
forced-labour indicators and fair-recruitment principles, IOM guidance, national licensing
rules), what to ask or do next, and questions still open. Where the answers show signs of
forced labour or trafficking, the result says so first and offers the way to an NGO
(``Action("help")``) as the first button.

Red flags are data: ``dialogs/data/job_offer_flags.yaml`` (:class:`FlagsFile`), checked
against the questions here so that a flag cannot name an answer that does not exist.
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

DATA_FILE = DATA_DIR / "job_offer_flags.yaml"

#: Choice value meaning "I don't know" (treated like a skipped question: an open point).
UNKNOWN = "unknown"


def _q(key: str, text: str, ask: str, *choices: tuple[str, str]) -> tuple[Question, str]:
    options = (*(Choice(v, label) for v, label in choices), Choice(UNKNOWN, N_("🤷 I don't know")))
    return Question(key, text, choices=options, skippable=True), ask


#: The questions in order, each with the msgid of what to ask when the answer is unknown.
QUESTIONS: tuple[tuple[Question, str], ...] = (
    _q(
        "recruiter",
        N_("Who offered you the job?"),
        N_("Who exactly offers the job: the employer's full name and address."),
        ("agency", N_("🏢 A recruitment agency")),
        ("employer", N_("🏭 The employer directly")),
        ("person", N_("🧑 A middleman, friend or relative")),
        ("online", N_("📱 An ad online or in social media")),
    ),
    _q(
        "licence",
        N_("Does the agency have a licence to send workers abroad?"),
        N_("Whether the agency is on the official list of licensed agencies."),
        ("checked", N_("✅ Yes, I checked the official list")),
        ("says", N_("💬 They say so; I did not check")),
        ("no", N_("❌ No licence")),
    ),
    _q(
        "fee",
        N_("Do they ask you to pay before you start work?"),
        N_("Whether you must pay anything before work starts, and for what."),
        ("no", N_("✅ No")),
        ("fee", N_("💵 Yes, a fee to get the job")),
        ("debt", N_("🧾 Yes, a debt I repay from my wage")),
    ),
    _q(
        "passport",
        N_("Who will keep your passport?"),
        N_("That your passport stays with you all the time."),
        ("me", N_("✅ I keep it myself")),
        ("short", N_("📄 They take it «for paperwork» for a few days")),
        ("employer", N_("🔒 The employer or recruiter keeps it")),
    ),
    _q(
        "contract",
        N_("Is there a written contract?"),
        N_("For a written contract before you travel."),
        ("clear", N_("✅ Yes, in a language I understand")),
        ("unclear", N_("📝 Yes, in a language I don't understand")),
        ("later", N_("⏳ They promise it on arrival")),
        ("no", N_("❌ No, only spoken promises")),
    ),
    _q(
        "wage",
        N_("The wage offered, compared with what others get for this work there:"),
        N_("What others earn for this work there, and the local minimum wage."),
        ("same", N_("⚖️ About the same")),
        ("high", N_("🤑 Much higher")),
        ("low", N_("📉 Lower")),
    ),
    _q(
        "ticket",
        N_("Who pays for the ticket?"),
        N_("Who pays for the ticket, and whether it is taken from the wage."),
        ("me", N_("🙋 I pay it myself")),
        ("employer", N_("🎁 The employer, for free")),
        ("deducted", N_("➖ The employer, then takes it from my wage")),
    ),
    _q(
        "housing",
        N_("Where will you live?"),
        N_("Where you will live and whether you may go out freely."),
        ("own", N_("🏠 I find housing myself")),
        ("free", N_("🏘 Employer's housing; I can go out freely")),
        ("locked", N_("🚫 At the workplace; going out is not allowed")),
    ),
    _q(
        "leave",
        N_("Can you quit and go home when you want?"),
        N_("Whether you may quit and go home, and on what terms."),
        ("yes", N_("✅ Yes")),
        ("debt", N_("🧾 Only after paying back a debt or a fine")),
        ("no", N_("🚫 They said no")),
    ),
)

#: Question key -> its question.
BY_KEY: dict[str, Question] = {q.key: q for q, _ in QUESTIONS}
#: Question key -> what to ask when unknown or skipped.
ASK: dict[str, str] = {q.key: ask for q, ask in QUESTIONS}


def _relevant(key: str, answers: Mapping[str, Answer]) -> bool:
    """Whether question *key* is asked given *answers* (licence only for an agency)."""
    return key != "licence" or answers.get("recruiter") == "agency"


class Flag(BaseModel):
    """One red flag: when it triggers (*when*: any condition matches; a condition maps
    question keys to the answer values that match), how serious (*severity*: ``high`` or
    ``check``), whether it is a sign of forced labour or *trafficking*, and its texts
    (msgids) and *sources*."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z_]+$")
    when: tuple[dict[str, tuple[str, ...]], ...] = Field(min_length=1)
    severity: Literal["high", "check"]
    trafficking: bool
    title: str
    explain: str
    next: str
    sources: tuple[str, ...] = Field(min_length=1)

    def matches(self, answers: Mapping[str, Answer]) -> bool:
        """True if any condition matches every answer it names."""
        return any(
            all(answers.get(key) in values for key, values in cond.items()) for cond in self.when
        )


class FlagsFile(BaseModel):
    """``job_offer_flags.yaml``: sources by id and the flags. Validation checks that every
    source id resolves, every source a flag cites has a *short* on-screen name, and every
    condition names a real question and choice of :data:`QUESTIONS`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checked: dt.date
    sources: dict[str, Source]
    flags: tuple[Flag, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> FlagsFile:
        ids = [f.id for f in self.flags]
        if len(ids) != len(set(ids)):
            raise ValueError("flag ids must be unique")
        refs = [s for f in self.flags for s in f.sources]
        missing = missing_sources(refs, self.sources)
        if missing:
            raise ValueError(f"unknown source ids: {sorted(set(missing))}")
        unnamed = sorted({s for s in refs if not self.sources[s].short})
        if unnamed:
            raise ValueError(f"sources cited by flags need a short name: {unnamed}")
        for flag in self.flags:
            for cond in flag.when:
                for key, values in cond.items():
                    if key not in BY_KEY:
                        raise ValueError(f"{flag.id}: no question {key!r}")
                    known = {c.value for c in BY_KEY[key].choices}
                    if not set(values) <= known - {UNKNOWN}:
                        raise ValueError(f"{flag.id}: unknown answer in {key}: {values}")
        return self


@cache
def load_flags() -> FlagsFile:
    """The validated red-flag file (cached).

    Raises:
        pydantic.ValidationError: the file is invalid (see :class:`FlagsFile`).
    """
    return load_model(FlagsFile, DATA_FILE)


@dataclass(frozen=True)
class OfferResult:
    """The flags found (ids: signs of trafficking, then serious ones, then points to check),
    the question keys left open (unknown or skipped, in question order), and whether any
    flag is a sign of trafficking."""

    flags: tuple[str, ...]
    open_questions: tuple[str, ...]
    trafficking: bool


def evaluate(answers: Mapping[str, Answer], data: FlagsFile | None = None) -> OfferResult:
    """The red flags in *answers* (question key -> choice value, None when skipped).

    Pure function of the answers; questions not asked (licence without an agency) are
    neither flags nor open questions.
    """
    data = data or load_flags()
    # Signs of trafficking first, then serious flags, then points to check (file order within).
    found = sorted(
        (f for f in data.flags if f.matches(answers)),
        key=lambda f: (not f.trafficking, f.severity != "high"),
    )
    open_keys = tuple(
        key
        for key in BY_KEY
        if _relevant(key, answers) and answers.get(key, UNKNOWN) in (UNKNOWN, None)
    )
    return OfferResult(tuple(f.id for f in found), open_keys, any(f.trafficking for f in found))


class JobOffer:
    """The ``offer`` dialog (see the module docstring)."""

    name = "offer"
    title = N_("💼 Check a job offer")

    def __init__(self, data: FlagsFile | None = None) -> None:
        self.data = data or load_flags()
        self._flags = {f.id: f for f in self.data.flags}

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        """The next relevant question not yet answered, or the result."""
        for question, _ask in QUESTIONS:
            if question.key not in answers and _relevant(question.key, answers):
                return question
        result = evaluate(answers, self.data)
        return Done(result, self.actions(result))

    @staticmethod
    def actions(result: OfferResult) -> tuple[Action, ...]:
        """The way to an NGO first when there are signs of trafficking; articles; menu."""
        helper = Action("help", N_("🆘 Talk to an NGO now"))
        actions: list[Action] = []
        if result.trafficking:
            actions.append(helper)
            actions.append(Action("article", N_("📄 Signs of trafficking"), "trafficking-signs"))
        actions.append(Action("article", N_("📄 Job scams"), "recruitment-scams"))
        if not result.trafficking:
            actions.append(Action("help", N_("🤝 Ask an NGO")))
        actions.append(Action("menu", N_("🏠 Menu")))
        return tuple(actions)

    def render(self, result: Any, tr: Translator) -> str:
        """The result as Telegram HTML in the user's locale."""
        assert isinstance(result, OfferResult)
        _ = tr.gettext

        def esc(msgid: str) -> str:
            return html.escape(_(msgid))

        lines = [f"<b>{esc(self.title)}</b>", ""]
        if result.trafficking:
            lines += [
                "<b>{}</b>".format(
                    esc(
                        N_(
                            "⚠️ Some answers are signs of forced labour or trafficking. "
                            "Do not pay and do not travel yet. Talk to an NGO: press the "
                            "button below."
                        )
                    )
                ),
                "",
            ]
        if result.flags:
            lines.append(
                "<b>{}</b>".format(
                    html.escape(
                        _(N_("Red flags found: {n}")).format(n=tr.format_number(len(result.flags)))
                    )
                )
            )
            for flag_id in result.flags:
                flag = self._flags[flag_id]
                mark = "🔴" if flag.severity == "high" else "🟡"
                shorts = dict.fromkeys(_(self.data.sources[s].short or "") for s in flag.sources)
                lines += [
                    "",
                    f"{mark} <b>{esc(flag.title)}</b>",
                    esc(flag.explain),
                    f"➡️ {esc(flag.next)}",
                    "<i>{}</i>".format(
                        html.escape(_("Source: {sources}").format(sources="; ".join(shorts)))
                    ),
                ]
        else:
            lines.append(
                esc(
                    N_(
                        "No red flags in your answers. Still keep your passport with you, "
                        "and a copy of the contract and the employer's address."
                    )
                )
            )
        if result.open_questions:
            lines += ["", "<b>{}</b>".format(esc(N_("Ask before you go:")))]
            lines += [f"• {esc(ASK[key])}" for key in result.open_questions]
        lines += [
            "",
            "<i>{}</i>".format(
                esc(N_("This check gives signs, not a guarantee. Safar does not check employers."))
            ),
        ]
        return "\n".join(lines)


#: The dialog instance the bot registers.
DIALOG = JobOffer()
