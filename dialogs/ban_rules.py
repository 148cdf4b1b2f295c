"""Entry-ban rules as data: the schema of ``dialogs/data/ban_rules.yaml`` and its loader.

Each :class:`Rule` names one ground for an entry ban in one country, its legal basis (law,
article, paragraph), its length (a number of years, or until something happens), how its
start is counted, the dates between which it was in force, its sources with the date they
were checked, and how sure we are (:attr:`Rule.confidence`). A change in the law is a new
rule with ``effective_from`` (and ``effective_to`` on the old one), not a code change.

Sources: Federal Law No. 114-FZ of 15.08.1996 (Russia), Arts. 26 and 27; Law of Kazakhstan
No. 477-IV of 22.07.2011 "On Migration", Art. 48; as collected in the project's legal-facts
file and the stored copies of the law (checked 05.12.2026; see each rule's ``sources``).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dialogs.sources import Source

#: The rules file shipped with the package.
RULES_FILE = Path(__file__).with_name("data") / "ban_rules.yaml"

#: Countries whose rules we hold (lower-case ISO 3166-1 alpha-2).
Country = Literal["ru", "kz"]
COUNTRIES: tuple[str, ...] = ("ru", "kz")

#: What happened, as the estimator's events and the rules name it.
Ground = Literal[
    "overstay",  # stayed past the allowed period (days past it; day of exit)
    "offences",  # administrative offences (dates the rulings took legal force)
    "regime_offences",  # offences against public order / rules of stay within one year
    "expulsion",  # administrative expulsion, deportation, readmission hand-over
    "conviction",  # a criminal record not yet expunged or lifted
    "unpaid_fine",  # an administrative fine not paid
    "debt",  # a debt set by a court, or unpaid taxes
    "false_documents",  # forged documents or false information
    "border_rules",  # broke border-crossing, customs or sanitary rules
    "security",  # a decision citing security, public order or public health
    "undesirable",  # a decision that the stay is undesirable
]
GROUNDS: tuple[str, ...] = Ground.__args__  # type: ignore[attr-defined]

#: How sure we are of a rule (labels of the legal-facts file): ``src`` a source states it
#: directly; ``2nd`` only secondary sources; ``unverified`` no source gave the text.
Confidence = Literal["src", "2nd", "unverified"]

#: From which day the ban is counted: the day of leaving the country, the day of the
#: expulsion itself, the day the last ruling took legal force, or no fixed start.
StartKind = Literal["exit", "event", "last_ruling", "none"]

#: Ends other than a number of years: the fine/debt is paid; the criminal record is
#: expunged or lifted; the violation is put right; the decision is lifted; not known.
Until = Literal["paid", "record_cleared", "remedied", "lifted", "unknown"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Basis(_Strict):
    """The legal basis: e.g. law "114-FZ", article "27", paragraph "12" (part 1 implied)."""

    law: str
    article: str
    paragraph: str = ""

    def cite(self) -> str:
        """Short citation, e.g. ``114-FZ Art. 27 p. 12`` (no paragraph: ``... Art. 26``)."""
        text = f"{self.law} Art. {self.article}"
        return f"{text} p. {self.paragraph}" if self.paragraph else text


class Length(_Strict):
    """Exactly one of *years* (whole years) or *until*."""

    years: int | None = Field(default=None, ge=1, le=50)
    until: Until | None = None

    @model_validator(mode="after")
    def _one(self) -> Length:
        if (self.years is None) == (self.until is None):
            raise ValueError("give exactly one of years or until")
        return self


class Condition(_Strict):
    """When a rule applies to an event (all given bounds must hold).

    * ``days_over_more_than`` / ``days_over_at_most``: days stayed past the end of the
      allowed stay, strictly more than / at most.
    * ``times_at_least`` / ``times_at_most``: how many expulsion decisions.
    * ``count_at_least`` with ``window_years``: that many rulings, the first and the last of
      them less than ``window_years`` apart (see :mod:`dialogs.ban_estimator`).
    """

    days_over_more_than: int | None = Field(default=None, ge=0)
    days_over_at_most: int | None = Field(default=None, ge=1)
    times_at_least: int | None = Field(default=None, ge=1)
    times_at_most: int | None = Field(default=None, ge=1)
    count_at_least: int | None = Field(default=None, ge=1)
    window_years: int | None = Field(default=None, ge=1)


class Rule(_Strict):
    """One ground for an entry ban in one country, in force between two dates."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    country: Country
    ground: Ground
    condition: Condition = Condition()
    basis: Basis
    #: Art. 26 of 114-FZ: entry "may be refused" (the authority decides; a court can weigh
    #: family ties). Art. 27: entry "is refused".
    discretionary: bool
    length: Length
    start: StartKind
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    effective_note: str = ""
    confidence: Confidence
    remark: str = ""
    sources: tuple[Source, ...] = Field(min_length=1)

    @property
    def confirmed(self) -> bool:
        """True if a source states the rule directly (``confidence == "src"``)."""
        return self.confidence == "src"

    def in_force_on(self, day: dt.date) -> bool:
        """Whether the rule applied to an event on *day* (from inclusive, to exclusive)."""
        if self.effective_from is not None and day < self.effective_from:
            return False
        return self.effective_to is None or day < self.effective_to

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if (
            self.effective_from is not None
            and self.effective_to is not None
            and self.effective_to <= self.effective_from
        ):
            raise ValueError(f"{self.id}: effective_to must be after effective_from")
        if self.length.years is not None and self.start == "none":
            raise ValueError(f"{self.id}: a ban of some years needs a start")
        return self


class RuleSet(_Strict):
    """All rules, with the date the file as a whole was last checked."""

    checked: dt.date
    rules: tuple[Rule, ...]

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate rule ids: {sorted(dupes)}")
        return self

    def for_event(self, country: str, ground: str, day: dt.date) -> list[Rule]:
        """The rules of *country* for *ground* in force on *day*, in file order."""
        return [
            r
            for r in self.rules
            if r.country == country and r.ground == ground and r.in_force_on(day)
        ]


class RulesError(Exception):
    """The rules file is not valid YAML or breaks the schema."""


def load_rules(path: Path | str = RULES_FILE) -> RuleSet:
    """Read and validate the rules file at *path*.

    Raises:
        RulesError: the file cannot be read, is not YAML or breaks the schema.
    """
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return RuleSet.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise RulesError(f"{path}: {exc}") from exc


@lru_cache(maxsize=1)
def default_rules() -> RuleSet:
    """The packaged rules, loaded once.

    Raises:
        RulesError: see :func:`load_rules`.
    """
    return load_rules(RULES_FILE)
