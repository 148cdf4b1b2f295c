"""Scoring search against a question set (``../shared/eval/README.md``).

A question file has one JSON object a line with ``text``, ``lang`` and ``topic``. A question
is right at top-1 / top-3 when the first / any of the first three articles has its topic.
Two special topics: ``out_of_scope`` is right only when the search abstains; ``other`` is
right when it abstains or answers with a ``contacts_ngo`` article.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from knowledge.search import SearchResult

OUT_OF_SCOPE = "out_of_scope"
OTHER = "other"


@dataclass(frozen=True)
class Question:
    """One labelled question; ``risk`` (``none``, ``elevated``, ``high``, ``crisis``) if
    the file gives it."""

    text: str
    lang: str
    topic: str
    risk: str | None = None


def read_questions(path: Path) -> list[Question]:
    """Read a JSONL question file; blank lines are skipped.

    Raises:
        ValueError: a line is not JSON or lacks ``text``, ``lang`` or ``topic``
            (the message gives the line number).
    """
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            risk = str(data["risk"]) if data.get("risk") else None
            questions.append(
                Question(str(data["text"]), str(data["lang"]), str(data["topic"]), risk)
            )
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a question line ({exc})") from None
    return questions


def _right(result: SearchResult, topic: str, depth: int) -> bool:
    if topic == OUT_OF_SCOPE:
        return result.abstained
    topics = [] if result.abstained else [h.topic for h in result.hits[:depth]]
    if topic == OTHER:
        return result.abstained or "contacts_ngo" in topics
    return topic in topics


@dataclass
class _Tally:
    n: int = 0
    top1: int = 0
    top3: int = 0
    abstained: int = 0

    def as_dict(self) -> dict[str, Any]:
        div = self.n or 1
        return {
            "n": self.n,
            "top1": round(self.top1 / div, 4),
            "top3": round(self.top3 / div, 4),
            "abstained": round(self.abstained / div, 4),
        }


@dataclass
class Evaluation:
    """Scores of one run. Fractions are 0-1.

    ``abstained`` is the share of all questions the search declined;
    ``out_of_scope_abstained`` the share of ``out_of_scope`` questions it declined.
    """

    total: _Tally = field(default_factory=_Tally)
    by_lang: dict[str, _Tally] = field(default_factory=dict)
    out_of_scope: _Tally = field(default_factory=_Tally)
    #: risk label -> [questions, of which flagged as danger]
    risk: dict[str, list[int]] = field(default_factory=dict)

    def risk_summary(self) -> dict[str, float | int] | None:
        """Danger detection against the ``risk`` labels: recall on ``crisis``, recall on
        ``high`` or ``crisis``, and precision (flagged questions labelled high or crisis)."""
        if not self.risk:
            return None
        crisis = self.risk.get("crisis", [0, 0])
        high = [a + b for a, b in zip(crisis, self.risk.get("high", [0, 0]), strict=True)]
        flagged = sum(v[1] for v in self.risk.values())
        return {
            "crisis_n": crisis[0],
            "crisis_recall": round(crisis[1] / crisis[0], 4) if crisis[0] else 1.0,
            "high_n": high[0],
            "high_recall": round(high[1] / high[0], 4) if high[0] else 1.0,
            "flagged": flagged,
            "precision": round(high[1] / flagged, 4) if flagged else 1.0,
        }

    def as_dict(self) -> dict[str, Any]:
        """``{"n", "top1", "top3", "abstained", "out_of_scope_abstained", "by_lang"}``."""
        total = self.total.as_dict()
        oos = self.out_of_scope
        return {
            **total,
            "out_of_scope_abstained": round(oos.abstained / oos.n, 4) if oos.n else None,
            "by_lang": {lang: t.as_dict() for lang, t in sorted(self.by_lang.items())},
            "risk": self.risk_summary(),
        }

    def table(self) -> str:
        """A plain-text table: one row per language, then the total."""
        head = f"{'lang':<8} {'n':>4} {'top1':>6} {'top3':>6} {'abstained':>9}"
        rows = [head, "-" * len(head)]
        for lang, t in [*sorted(self.by_lang.items()), ("all", self.total)]:
            d = t.as_dict()
            rows.append(
                f"{lang:<8} {d['n']:>4} {d['top1']:>6.2f} {d['top3']:>6.2f} {d['abstained']:>9.2f}"
            )
        oos = self.as_dict()["out_of_scope_abstained"]
        if oos is not None:
            rows.append(f"out-of-scope questions abstained: {oos:.2f} of {self.out_of_scope.n}")
        risk = self.risk_summary()
        if risk:
            rows.append(
                f"danger flagged: crisis recall {risk['crisis_recall']:.2f} "
                f"(of {risk['crisis_n']}), high-or-crisis recall {risk['high_recall']:.2f} "
                f"(of {risk['high_n']}), precision {risk['precision']:.2f} "
                f"(of {risk['flagged']} flagged)"
            )
        return "\n".join(rows)


def evaluate(
    questions: Iterable[Question],
    search: Callable[[str], SearchResult],
    flags_danger: Callable[[str], bool] | None = None,
) -> Evaluation:
    """Run *search* on every question and tally top-1, top-3 and abstentions per language;
    with *flags_danger*, also tally danger detection against the ``risk`` labels."""
    ev = Evaluation()
    for q in questions:
        if flags_danger is not None and q.risk:
            counts = ev.risk.setdefault(q.risk, [0, 0])
            counts[0] += 1
            counts[1] += flags_danger(q.text)
        result = search(q.text)
        tallies = [ev.total, ev.by_lang.setdefault(q.lang, _Tally())]
        if q.topic == OUT_OF_SCOPE:
            tallies.append(ev.out_of_scope)
        for t in tallies:
            t.n += 1
            t.top1 += _right(result, q.topic, 1)
            t.top3 += _right(result, q.topic, 3)
            t.abstained += result.abstained
    return ev
