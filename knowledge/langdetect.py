"""Which of Safar's locales a question is written in (a suggestion, never a decision).

``py3langid`` (a maintained fork of langid.py, model bundled in the wheel) restricted to
Russian, Kyrgyz, Tajik and Uzbek does the work; the script picks ``uz`` or ``uz_Cyrl``.
langid takes Russian typed in Latin letters for Uzbek, so Latin text is checked against
short lists of common Russian and Uzbek words first. Short texts (under
:data:`MIN_CHARS` letters or two words) give ``None``: the chat keeps its locale.

Loading py3langid's model of 97 languages takes over a second and about 100 MB at its
peak; restricted to our four it is a tenth of that. With :func:`set_cache_dir` (the bot
passes its database's folder) the restricted model is pickled there once and loaded from
it afterwards (key: the py3langid version and the languages); :func:`warm_up` loads it.
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import re
import tempfile
from array import array
from functools import cache
from importlib.metadata import version
from pathlib import Path

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

log = logging.getLogger(__name__)

_LANGUAGES = ["ru", "ky", "tg", "uz"]
_CACHE_DIR: list[Path] = []

MIN_CHARS = 12
MIN_CONFIDENCE = 0.9

_WORD_RE = re.compile(r"[^\W\d_]+(?:['‘’ʻʼ`][^\W\d_]+)*")
_CYRILLIC_RE = re.compile(r"[\u0400-\u04FF]")

# Frequent short words of Russian typed in Latin letters, and of Uzbek (Latin script).
_RU_LATIN = frozenset(
    [
        "kak",
        "chto",
        "chto-to",
        "ne",
        "na",
        "v",
        "vo",
        "u",
        "menya",
        "mne",
        "ya",
        "ty",
        "on",
        "ona",
        "my",
        "vy",
        "oni",
        "eto",
        "est",
        "li",
        "nu",
        "i",
        "a",
        "no",
        "da",
        "net",
        "kto",
        "gde",
        "kogda",
        "pochemu",
        "zachem",
        "mozhno",
        "nado",
        "nuzhno",
        "esli",
        "ili",
        "uzhe",
        "eshe",
        "tolko",
        "chtoby",
        "bez",
        "pro",
        "dlya",
        "ot",
        "do",
        "po",
        "za",
        "iz",
        "s",
        "so",
        "k",
        "ko",
        "chem",
        "kak-to",
        "zdravstvuyte",
        "privet",
        "pomogite",
        "skolko",
        "kuda",
    ]
)
_UZ_LATIN = frozenset(
    [
        "va",
        "bu",
        "men",
        "sen",
        "u",
        "biz",
        "siz",
        "ular",
        "nima",
        "nega",
        "qanday",
        "qayerda",
        "qachon",
        "kim",
        "uchun",
        "bilan",
        "emas",
        "bor",
        "yoq",
        "yo'q",
        "yo‘q",
        "ham",
        "lekin",
        "agar",
        "kerak",
        "mumkin",
        "qilish",
        "qildi",
        "boladi",
        "bo'ladi",
        "bo‘ladi",
        "edi",
        "ekan",
        "menga",
        "sizga",
        "mening",
        "meni",
        "nimaga",
        "qancha",
        "assalomu",
        "salom",
        "rahmat",
        "iltimos",
    ]
)


def set_cache_dir(folder: Path | None) -> None:
    """Keep the restricted model in *folder* (``None``: do not keep it anywhere)."""
    _CACHE_DIR[:] = [folder] if folder is not None else []


def cache_file(folder: Path | None = None) -> Path | None:
    """Where the restricted model is kept in *folder* (default: the folder given to
    :func:`set_cache_dir`); ``None`` if no folder."""
    if folder is None:
        if not _CACHE_DIR:
            return None
        folder = _CACHE_DIR[0]
    return folder / f"safar-langid-{version('py3langid')}-{'-'.join(_LANGUAGES)}-4.pickle"


def warm_up() -> None:
    """Load the model now rather than at the first question."""
    _identifier()


@cache
def _identifier() -> LanguageIdentifier:
    path = cache_file()
    if path is not None:
        try:
            with path.open("rb") as file:
                found, typecode, count, offset = pickle.load(file)
                # The table is mapped, not read: only the pages a text walks through
                # are ever in memory.
                table = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            width = array(typecode).itemsize
            moves = memoryview(table)[offset : offset + count * width].cast(typecode)
            if isinstance(found, LanguageIdentifier) and len(moves) == count:
                found.tk_nextmove = moves
                return found
        except FileNotFoundError:
            pass
        except Exception as exc:  # damaged: load the model again and rewrite it
            log.warning("language model cache unreadable (%s)", type(exc).__name__)
    ident = LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE, norm_probs=True)
    ident.set_languages(_LANGUAGES)
    ident._full_model = ident.nb_ptc, ident.nb_pc, ident.nb_classes  # let the rest go
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".safar-langid-")
            # The automaton's table (an array.array of about 40 MB) follows the pickle as
            # raw bytes at an offset aligned to 4 KiB, to be memory-mapped when read.
            moves = ident.tk_nextmove
            ident.tk_nextmove = array(moves.typecode)
            try:
                head = pickle.dumps((ident, moves.typecode, len(moves), 0))
                offset = -(-(len(head) + 64) // 4096) * 4096
                head = pickle.dumps((ident, moves.typecode, len(moves), offset))
                with os.fdopen(fd, "wb") as file:
                    file.write(head.ljust(offset, b"\0"))
                    moves.tofile(file)
            finally:
                ident.tk_nextmove = moves
            os.replace(tmp, path)
        except OSError as exc:
            log.info("language model not cached (%s)", type(exc).__name__)
    return ident


def detect_locale(text: str) -> str | None:
    """The locale (``ru``, ``ky``, ``tg``, ``uz`` or ``uz_Cyrl``) *text* is written in,
    or ``None`` when the text is too short or the guess is not confident."""
    words = _WORD_RE.findall(text.lower())
    if len(words) < 2 or sum(len(w) for w in words) < MIN_CHARS:
        return None
    letters = "".join(words)
    cyrillic = len(_CYRILLIC_RE.findall(letters)) / len(letters)
    if cyrillic < 0.5:
        ru = sum(w in _RU_LATIN for w in words)
        uz = sum(w in _UZ_LATIN for w in words)
        if ru > uz:
            return "ru"
    language, confidence = _identifier().classify(" ".join(words))
    if confidence < MIN_CONFIDENCE:
        return None
    if language == "uz":
        return "uz_Cyrl" if cyrillic >= 0.5 else "uz"
    if cyrillic < 0.5:
        return None  # Kyrgyz, Tajik or Russian in Latin letters: too unsure to say
    return str(language)
