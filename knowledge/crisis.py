"""Danger signals in a message: self-harm, violence, being held (plain data, no Telegram).

The phrases live in ``knowledge/data/crisis.yaml``. :func:`detect_crisis` says which kinds
of danger a message signals; the bot then sends the emergency contacts first, whatever the
person asked. This describes a situation and the help it needs, never the person.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from knowledge.normalize import fold

CRISIS_FILE = Path(__file__).with_name("data") / "crisis.yaml"


class CrisisPhrases(BaseModel):
    """``crisis.yaml``: the article with emergency contacts, and kind -> locale -> phrases."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    emergency_article: str
    phrases: dict[str, dict[str, list[str]]]


@cache
def crisis_phrases(path: Path = CRISIS_FILE) -> CrisisPhrases:
    """Read and validate the crisis phrases (cached).

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: the file is missing or invalid.
    """
    return CrisisPhrases.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@cache
def _folded_phrases(path: Path = CRISIS_FILE) -> tuple[tuple[str, tuple[str, ...]], ...]:
    data = crisis_phrases(path)
    return tuple(
        (kind, tuple(fold(phrase).split()))
        for kind, by_locale in data.phrases.items()
        for phrases in by_locale.values()
        for phrase in phrases
        if fold(phrase)
    )


#: A one-word phrase this short must equal a message word ("qon", blood, must not match
#: "kontrol"); in longer phrases, and for longer words, a phrase word may begin a message
#: word, so that conjugated forms match ("камап кой" matches "камап коюшту").
SHORT_WORD = 4


def _matches(words: list[str], phrase: tuple[str, ...]) -> bool:
    """Each phrase word matches a message word, in order, the words next to each other."""
    n = len(phrase)
    if n == 1 and len(phrase[0]) <= SHORT_WORD:
        return phrase[0] in words
    return any(
        all(words[i + j].startswith(phrase[j]) for j in range(n)) for i in range(len(words) - n + 1)
    )


@cache
def _longest_phrase_word(path: Path = CRISIS_FILE) -> int:
    return max((len(w) for _, phrase in _folded_phrases(path) for w in phrase), default=0)


def detect_crisis(text: str) -> frozenset[str]:
    """The kinds of danger (``self_harm``, ``violence``, ``held_or_forced``) that *text*
    signals, in any of Safar's languages or scripts; empty if none.

    Time is linear in the length of *text* (a 4,096-character message takes milliseconds):
    a phrase is checked word by word only if each of its words begins some word of the
    text, which the set of the text's word prefixes tells at once.
    """
    words = fold(text).split()
    longest = _longest_phrase_word()
    prefixes = {word[:k] for word in set(words) for k in range(1, min(len(word), longest) + 1)}
    return frozenset(
        kind
        for kind, phrase in _folded_phrases()
        if all(w in prefixes for w in phrase) and _matches(words, phrase)
    )
