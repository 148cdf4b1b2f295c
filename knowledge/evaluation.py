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


# --- Free-text danger detection (``python -m bot eval-risk``) --------------------------

#: Risk levels, least to most urgent (as in :mod:`knowledge.risk`).
RISK_LEVELS = ("none", "elevated", "high", "crisis")
_DANGER = ("high", "crisis")


@dataclass(frozen=True)
class RiskLine:
    """One labelled line of a risk question set: *text*, *lang* and the *risk* level."""

    text: str
    lang: str
    risk: str


def read_risk_lines(path: Path) -> list[RiskLine]:
    """Read a JSONL file of ``{"text", "lang", "risk"}`` lines (other keys are ignored;
    blank lines are skipped).

    Raises:
        ValueError: a line is not JSON, lacks one of the keys, or has a risk that is not
            one of ``none``, ``elevated``, ``high``, ``crisis`` (the message gives the line).
    """
    lines = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
            line = RiskLine(str(data["text"]), str(data["lang"]), str(data["risk"]))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a risk line ({exc})") from None
        if line.risk not in RISK_LEVELS:
            raise ValueError(f"{path}:{number}: unknown risk {line.risk!r}")
        lines.append(line)
    return lines


def _ratio(hits: int, total: int) -> float:
    """*hits*/*total* rounded to 4 places; 1.0 when there is nothing to count."""
    return round(hits / total, 4) if total else 1.0


@dataclass
class RiskEvaluation:
    """Predicted against labelled levels, per line: ``(lang, label, predicted)``."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    @staticmethod
    def _hit(label: str, predicted: str) -> bool:
        # A high line counts as found when high or crisis is predicted.
        if label == "high":
            return predicted in _DANGER
        return predicted == label

    @staticmethod
    def _precise(label: str, predicted: str) -> bool:
        # A line predicted high is rightly flagged if it is labelled high or crisis.
        if predicted == "high":
            return label in _DANGER
        return predicted == label

    def by_level(self) -> dict[str, dict[str, float | int]]:
        """level -> ``{"recall", "precision", "n"}`` (n: lines labelled with the level).

        Recall: the share of lines labelled with the level that were predicted at it (for
        ``high``, at high or crisis). Precision: the share of lines predicted at the level
        that carry that label (for ``high``, high or crisis). 1.0 when nothing to count.
        """
        out: dict[str, dict[str, float | int]] = {}
        for level in RISK_LEVELS:
            labelled = [(lab, pred) for _, lab, pred in self.rows if lab == level]
            predicted = [(lab, pred) for _, lab, pred in self.rows if pred == level]
            out[level] = {
                "recall": _ratio(sum(self._hit(lab, p) for lab, p in labelled), len(labelled)),
                "precision": _ratio(
                    sum(self._precise(lab, p) for lab, p in predicted), len(predicted)
                ),
                "n": len(labelled),
            }
        return out

    def by_lang(self) -> dict[str, dict[str, float]]:
        """lang -> ``{"crisis_recall", "high_recall"}`` (high recall: high or crisis
        predicted for a high line)."""
        out: dict[str, dict[str, float]] = {}
        for lang in sorted({row[0] for row in self.rows}):
            rows = [(lab, pred) for lg, lab, pred in self.rows if lg == lang]
            crisis = [p for lab, p in rows if lab == "crisis"]
            high = [p for lab, p in rows if lab == "high"]
            out[lang] = {
                "crisis_recall": _ratio(sum(p == "crisis" for p in crisis), len(crisis)),
                "high_recall": _ratio(sum(p in _DANGER for p in high), len(high)),
            }
        return out

    def flagged_precision(self) -> float:
        """Of the lines predicted high or crisis, the share labelled high or crisis."""
        flagged = [lab for _, lab, pred in self.rows if pred in _DANGER]
        return _ratio(sum(lab in _DANGER for lab in flagged), len(flagged))

    def as_dict(self) -> dict[str, Any]:
        """``{"n", "by_level": {level: {"recall", "precision", "n"}},
        "by_lang": {lang: {"crisis_recall", "high_recall"}}}``."""
        return {"n": len(self.rows), "by_level": self.by_level(), "by_lang": self.by_lang()}

    def table(self) -> str:
        """Plain-text tables: per level, then per language, then the flagged precision."""
        head = f"{'level':<9} {'n':>4} {'recall':>7} {'precision':>9}"
        rows = [head, "-" * len(head)]
        for level, d in self.by_level().items():
            rows.append(f"{level:<9} {d['n']:>4} {d['recall']:>7.2f} {d['precision']:>9.2f}")
        head = f"{'lang':<9} {'n':>4} {'crisis_recall':>13} {'high_recall':>11}"
        rows += ["", head, "-" * len(head)]
        for lang, d in self.by_lang().items():
            n = sum(1 for row in self.rows if row[0] == lang)
            rows.append(f"{lang:<9} {n:>4} {d['crisis_recall']:>13.2f} {d['high_recall']:>11.2f}")
        rows += ["", f"flagged (high or crisis) precision: {self.flagged_precision():.2f}", ""]
        rows.append("labelled \\ predicted  " + " ".join(f"{lv:>8}" for lv in RISK_LEVELS))
        for label in RISK_LEVELS:
            counts = [
                sum(1 for _, lab, pred in self.rows if lab == label and pred == p)
                for p in RISK_LEVELS
            ]
            rows.append(f"{label:<21} " + " ".join(f"{c:>8}" for c in counts))
        return "\n".join(rows)


def evaluate_risk(lines: Iterable[RiskLine], classify: Callable[[str], str]) -> RiskEvaluation:
    """Run *classify* (text -> level) on every line and keep (lang, label, predicted)."""
    ev = RiskEvaluation()
    for line in lines:
        ev.rows.append((line.lang, line.risk, classify(line.text)))
    return ev
