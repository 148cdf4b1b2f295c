"""Danger detection checks only the phrases whose first stem occurs in the message, and
keeps of each word only the prefixes and typo variants some stem can meet; the result is
exactly that of checking every phrase against every prefix and typo variant."""

from __future__ import annotations

import random

from knowledge.loader import KnowledgeBase
from knowledge.risk import (
    LEVELS,
    Level,
    RiskAssessment,
    _deletions,
    _kinds,
    _stem_lengths,
    _Words,
    assess,
    risk_fold,
)


class _AllKeys(_Words):
    """The words of a message with every prefix and every typo variant of it kept (the
    index before any filtering)."""

    def __init__(self, text: str) -> None:
        self.words = risk_fold(text).split()
        self.prefixes: dict[str, list[int]] = {}
        self.whole: dict[str, list[int]] = {}
        self.fuzzy: dict[str, set[int]] = {}
        self.reached = []
        longest, fuzzy_lengths = _stem_lengths()
        for i, word in enumerate(self.words):
            self.whole.setdefault(word, []).append(i)
            for end in range(1, min(len(word), longest + 1) + 1):
                prefix = word[:end]
                self.prefixes.setdefault(prefix, []).append(i)
                if end in fuzzy_lengths:
                    for variant in _deletions(prefix) | {prefix}:
                        self.fuzzy.setdefault(variant, set()).add(i)


def assess_every_phrase(text: str) -> RiskAssessment:
    """The same rules, every phrase checked against every key (the reference)."""
    words = _AllKeys(text)
    if not words.words:
        return RiskAssessment("none")
    found: dict[Level, set[str]] = {}
    for kind in _kinds():
        if any(words.matches(p) for p in kind.phrases) and not any(
            words.matches(p) for p in kind.unless
        ):
            found.setdefault(kind.level, set()).add(kind.name)
    for level in reversed(LEVELS):
        if level in found:
            return RiskAssessment(level, frozenset(found[level]))
    return RiskAssessment("none")


def test_the_index_changes_no_result(kb: KnowledgeBase) -> None:
    rng = random.Random(3)
    texts = [q for a in kb.articles.values() for t in a.locales.values() for q in t.questions]
    phrases = [" ".join(s.text for s in p) for kind in _kinds() for p in kind.phrases[:40]]
    samples = rng.sample(texts, 400) + rng.sample(phrases, 300)
    # Phrases inside other words, with typos (a letter dropped) and negations around them.
    for phrase in rng.sample(phrases, 200):
        cut = rng.randrange(1, max(len(phrase), 2))
        samples.append(f"вчера {phrase[:cut]}{phrase[cut + 1 :]} и не знаю что делать")
        samples.append(f"не {phrase} nima qilay")
    levels = set()
    for text in samples:
        expected = assess_every_phrase(text)
        assert assess(text) == expected, text
        levels.add(expected.level)
    assert levels == set(LEVELS)  # every level was met
