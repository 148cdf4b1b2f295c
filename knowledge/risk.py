"""Free-text danger detection in four levels (plain data, no Telegram).

:func:`assess` reads a message in any of Safar's languages or scripts and says how much
danger the *situation* it describes signals, and of which kinds:

* ``crisis``: life or body in danger now (self-harm or suicide, violence, being locked up
  or held). The bot sends the emergency contacts first, then offers a caseworker.
* ``high``: a passport taken, made to work, no food, nowhere to sleep, stranded at a border,
  detained, brought by deception, seriously ill without care. Opens the help path.
* ``elevated``: a ban, unpaid wages, debts, a lost job, fines, sleeplessness or fear.
* ``none``: nothing of the above.

It describes a situation and the help it needs, never the person. The phrases live in
``knowledge/data/crisis.yaml`` (crisis) and ``knowledge/data/risk.yaml`` (all levels, with
the matching rules explained at its top).
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field

from knowledge.crisis import CRISIS_FILE, crisis_phrases
from knowledge.normalize import fold

RISK_FILE = Path(__file__).with_name("data") / "risk.yaml"
#: PyYAML's safe loader in C (libyaml) when installed, else in Python: the same data, ten
#: times faster (the phrase files took 0.7 s to read at start-up).
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Level = Literal["none", "elevated", "high", "crisis"]
#: The levels from least to most urgent.
LEVELS: tuple[Level, ...] = get_args(Level)

#: How many extra words may lie between (or around) the words of one phrase.
WINDOW = 3
#: Stems this long (folded letters) also match with one typo.
FUZZY = 7
#: A one-word phrase this short must equal a message word ("qon", blood, not "kontrol").
SHORT_WORD = 4
#: In a phrase of several words, a word this short must equal a message word ("не", "у").
SHORT_STEM = 2


class KindPhrases(BaseModel):
    """One kind of danger: *phrases* by locale, *combos* (one alternative of each group),
    and *unless* phrases that cancel the kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    phrases: dict[str, list[str]] = Field(default_factory=dict)
    combos: list[list[list[str]]] = Field(default_factory=list)
    unless: list[list[str]] = Field(default_factory=list)


class RiskFile(BaseModel):
    """``risk.yaml``: level -> kind -> phrases."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: dict[Level, dict[str, KindPhrases]]


@dataclass(frozen=True)
class Stem:
    """One word of a phrase: the folded *text*, whether it must be a *whole* word, and
    whether it is a *negative* stem (the phrase fails if it occurs anywhere)."""

    text: str
    whole: bool
    negative: bool = False


Phrase = tuple[Stem, ...]


@dataclass(frozen=True)
class _Kind:
    level: Level
    name: str
    phrases: tuple[Phrase, ...]
    unless: tuple[Phrase, ...]


@dataclass(frozen=True)
class RiskAssessment:
    """What a message signals: the *level* and the *kinds* of danger found at that level
    (e.g. ``{"passport_taken", "no_food"}``); ``kinds`` is empty for ``none``."""

    level: Level
    kinds: frozenset[str] = frozenset()

    @property
    def is_crisis(self) -> bool:
        """Life or body in danger now: emergency contacts first."""
        return self.level == "crisis"

    @property
    def needs_help(self) -> bool:
        """``high`` or ``crisis``: the help path opens at once."""
        return self.level in ("high", "crisis")


_YO_RE = re.compile(r"y[oe]")


def risk_fold(text: str) -> str:
    """:func:`knowledge.normalize.fold`, with Latin "yo"/"ye" folded to "e" so that Uzbek
    Cyrillic "ё"/"е" and Latin "yo"/"ye" meet (``ёрдам``/``yordam``)."""
    return _YO_RE.sub("e", fold(text))


def parse_phrase(phrase: str, part: bool = False) -> Phrase:
    """A phrase from the data files as folded stems (see the rules atop ``risk.yaml``);
    *part*: the phrase is one alternative of a combo, so never a one-word phrase."""
    raw = [word for word in phrase.split() if not word.startswith("!")]
    stems = []
    for word in phrase.split():
        if word.startswith("!"):
            for piece in risk_fold(word[1:].rstrip("=*")).split():
                stems.append(Stem(piece, word.endswith("="), negative=True))
            continue
        whole = word.endswith("=")
        prefix = word.endswith("*")
        folded = risk_fold(word.rstrip("=*"))
        for piece in folded.split():
            if not part and len(raw) == 1 and len(folded.split()) == 1:
                short = len(piece) <= SHORT_WORD
            else:
                short = len(piece) <= SHORT_STEM
            stems.append(Stem(piece, whole or (short and not prefix)))
    return tuple(stems)


def _phrases(items: Iterable[str], part: bool = False) -> list[Phrase]:
    return [p for p in (parse_phrase(item, part) for item in items) if p]


def _combo_phrases(groups: Sequence[Sequence[str]]) -> list[Phrase]:
    options = [_phrases(group, part=True) for group in groups]
    return [tuple(itertools.chain.from_iterable(parts)) for parts in itertools.product(*options)]


@cache
def risk_file(path: Path = RISK_FILE) -> RiskFile:
    """Read and validate ``risk.yaml`` (cached).

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: the file is missing or invalid.
    """
    text = path.read_text(encoding="utf-8")
    return RiskFile.model_validate(yaml.load(text, Loader=SAFE_LOADER))


@cache
def _kinds(path: Path = RISK_FILE, crisis_path: Path = CRISIS_FILE) -> tuple[_Kind, ...]:
    """Every kind with its phrases; a kind of ``crisis.yaml`` and the ``crisis`` kind of
    the same name in ``risk.yaml`` are one kind (phrases of both, *unless* of the latter)."""
    phrases: dict[tuple[Level, str], list[Phrase]] = {}
    unless: dict[tuple[Level, str], list[Phrase]] = {}
    for name, by_locale in crisis_phrases(crisis_path).phrases.items():
        key: tuple[Level, str] = ("crisis", name)
        phrases.setdefault(key, []).extend(_phrases(p for ps in by_locale.values() for p in ps))
    for level, by_kind in risk_file(path).levels.items():
        for name, data in by_kind.items():
            key = (level, name)
            found = phrases.setdefault(key, [])
            found.extend(_phrases(p for ps in data.phrases.values() for p in ps))
            for combo in data.combos:
                found.extend(_combo_phrases(combo))
            unless.setdefault(key, []).extend(_phrases(" ".join(g) for g in data.unless))
    return tuple(
        _Kind(level, name, tuple(found), tuple(unless.get((level, name), ())))
        for (level, name), found in phrases.items()
    )


def warm_up() -> None:
    """Read the phrase files and build their indexes now (at start-up), so that the first
    person who types a message does not wait for it (about 0.1 s).

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: a phrase file is missing or
            invalid (see :func:`risk_file`).
    """
    _stem_lengths()
    _stem_texts()
    _phrase_index()


def _deletions(text: str) -> set[str]:
    """*text* with one letter left out, every way (the first letter is kept)."""
    return {text[:i] + text[i + 1 :] for i in range(1, len(text))}


class _Words:
    """The words of one message, indexed by every prefix for fast phrase matching.

    A stem of :data:`FUZZY` letters or more also matches a word that begins with it
    mistyped by one letter (one letter wrong, missing, extra, or two swapped; never the
    first letter): "пасспорт", "забрли", "zaperili" are how people type on a phone.

    Only the prefixes and typo variants that some stem can meet are kept (the others could
    never be looked up); they are computed once per distinct word (:func:`_word_keys`).
    """

    def __init__(self, text: str) -> None:
        self.words = risk_fold(text).split()
        self.prefixes: dict[str, list[int]] = {}
        self.whole: dict[str, list[int]] = {}
        self.fuzzy: dict[str, set[int]] = {}
        #: Per word, the index's phrase lists its keys reach (see :func:`_candidates`).
        self.reached: list[tuple[list[_Where], ...]] = []
        for i, word in enumerate(self.words):
            self.whole.setdefault(word, []).append(i)
            keys = _word_keys(word)
            for prefix in keys.prefixes:
                self.prefixes.setdefault(prefix, []).append(i)
            for variant in keys.fuzzy:
                self.fuzzy.setdefault(variant, set()).add(i)
            self.reached.append(keys.reached)

    def find(self, stem: Stem) -> list[int]:
        """Positions of the words *stem* matches (exactly, or with one typo if long)."""
        if stem.whole:
            return self.whole.get(stem.text, [])
        found = self.prefixes.get(stem.text)
        if found or len(stem.text) < FUZZY or stem.negative:
            return found or []
        hits: set[int] = set()
        for variant in _variants(stem.text):
            hits |= self.fuzzy.get(variant, set())
        return sorted(hits)  # positions, ascending (as the exact lists are)

    def matches(self, phrase: Phrase) -> bool:
        """Each stem matches a different word; all of them within ``len + WINDOW`` words."""
        options: list[list[int]] = []
        for stem in phrase:
            found = self.find(stem)
            if stem.negative:
                if found:
                    return False
                continue
            if not found:
                return False
            options.append(found)
        span = len(options) + WINDOW
        return _fits(options, span)


@cache
def _stem_lengths() -> tuple[int, frozenset[int]]:
    """The longest stem, and the prefix lengths a typo-tolerant stem can meet (its length,
    one less or one more)."""
    stems = [s for kind in _kinds() for p in (*kind.phrases, *kind.unless) for s in p]
    fuzzy = {len(s.text) + d for s in stems if len(s.text) >= FUZZY for d in (-1, 0, 1)}
    return max((len(s.text) for s in stems), default=0), frozenset(fuzzy)


@cache
def _stem_texts() -> tuple[frozenset[str], frozenset[str]]:
    """The texts of every stem that matches a word's beginning (not a whole word), and
    every typo variant (:func:`_variants`) of those long enough for typos: the only keys
    :meth:`_Words.find` and :func:`_candidates` can look up."""
    stems = {
        s.text for kind in _kinds() for p in (*kind.phrases, *kind.unless) for s in p
        if not s.whole
    }  # fmt: skip
    variants = {v for stem in stems if len(stem) >= FUZZY for v in _variants(stem)}
    return frozenset(stems), frozenset(variants)


@dataclass(frozen=True)
class _WordKeys:
    """What one word contributes to :class:`_Words`: its *prefixes* that are stems, its
    typo variants (*fuzzy*) that are stem variants, and the lists of the phrase index its
    keys reach (*reached*)."""

    prefixes: tuple[str, ...]
    fuzzy: tuple[str, ...]
    reached: tuple[list[_Where], ...]


@lru_cache(maxsize=8192)
def _word_keys(word: str) -> _WordKeys:
    """:class:`_WordKeys` of one folded *word* (cached: words repeat from message to
    message, and their typo variants are the costly part)."""
    longest, fuzzy_lengths = _stem_lengths()
    stems, variants = _stem_texts()
    index, _always = _phrase_index()
    prefixes: list[str] = []
    fuzzy: set[str] = set()
    # Only prefixes as long as some stem (+1 for a typo): linear in the text.
    for end in range(1, min(len(word), longest + 1) + 1):
        prefix = word[:end]
        if prefix in stems:
            prefixes.append(prefix)
        if end in fuzzy_lengths:
            fuzzy.update(v for v in _deletions(prefix) | {prefix} if v in variants)
    ordered = tuple(sorted(fuzzy))
    keys = [("w", word), *(("p", p) for p in prefixes), *(("f", v) for v in ordered)]
    reached = tuple(index[key] for key in keys if key in index)
    return _WordKeys(tuple(prefixes), ordered, reached)


@cache
def _variants(stem: str) -> frozenset[str]:
    return frozenset(_deletions(stem) | {stem})


def _fits(options: list[list[int]], span: int) -> bool:
    """Pick one distinct position from each list (each sorted) so that all lie within
    *span* words. Each anchor position of the first list looks only at the positions of
    the others inside its window, so long texts stay fast."""
    first, rest = options[0], options[1:]
    for anchor in first:
        low, high = anchor - span + 1, anchor + span - 1
        near = [o[bisect.bisect_left(o, low) : bisect.bisect_right(o, high)] for o in rest]
        if all(near) and _pick(near, (anchor,), span):
            return True
    return False


def _pick(options: list[list[int]], used: tuple[int, ...], span: int) -> bool:
    if not options:
        return True
    for pos in options[0]:
        if pos in used:
            continue
        chosen = (*used, pos)
        if max(chosen) - min(chosen) < span and _pick(options[1:], chosen, span):
            return True
    return False


#: Where a phrase sits: (kind number, True for an *unless* phrase, phrase number).
_Where = tuple[int, bool, int]


@cache
def _phrase_index() -> tuple[dict[tuple[str, str], list[_Where]], list[_Where]]:
    """Phrases by a key their first positive stem needs in a message (``("w", word)`` for
    a whole word, ``("p", prefix)`` for a stem, ``("f", variant)`` for a stem's typos),
    and the phrases with no positive stem (always checked)."""
    index: dict[tuple[str, str], list[_Where]] = {}
    always: list[_Where] = []
    for k, kind in enumerate(_kinds()):
        for unless, phrases in ((False, kind.phrases), (True, kind.unless)):
            for n, phrase in enumerate(phrases):
                where = (k, unless, n)
                stem = next((s for s in phrase if not s.negative), None)
                if stem is None:
                    always.append(where)
                elif stem.whole:
                    index.setdefault(("w", stem.text), []).append(where)
                else:
                    index.setdefault(("p", stem.text), []).append(where)
                    if len(stem.text) >= FUZZY:
                        for variant in _variants(stem.text):
                            index.setdefault(("f", variant), []).append(where)
    return index, always


def _candidates(words: _Words) -> set[_Where]:
    """The phrases whose first positive stem occurs in *words* (exactly or, if long, with
    a typo): only these can match, so only these are checked word by word."""
    _index, always = _phrase_index()
    found = set(always)
    for reached in words.reached:
        for phrases in reached:
            found.update(phrases)
    return found


def assess(text: str) -> RiskAssessment:
    """The danger level that *text* signals and the kinds found at that level.

    Works on any script (Cyrillic, Latin, mixed) and every Safar language; the level is
    the highest of any kind found. Never raises on odd input; empty text is ``none``.
    Only phrases whose first stem occurs in the text are checked (:func:`_candidates`), so
    a question takes well under a millisecond of the thousands of phrases.
    """
    words = _Words(text)
    if not words.words:
        return RiskAssessment("none")
    wanted: dict[tuple[int, bool], list[int]] = {}
    for k, unless, n in _candidates(words):
        wanted.setdefault((k, unless), []).append(n)
    found: dict[Level, set[str]] = {}
    for k, kind in enumerate(_kinds()):
        if (k, False) not in wanted:
            continue
        if kind.level in found and kind.name in found[kind.level]:
            continue
        if any(words.matches(kind.phrases[n]) for n in wanted[(k, False)]) and not any(
            words.matches(kind.unless[n]) for n in wanted.get((k, True), ())
        ):
            found.setdefault(kind.level, set()).add(kind.name)
    for level in reversed(LEVELS):
        if level in found:
            return RiskAssessment(level, frozenset(found[level]))
    return RiskAssessment("none")
