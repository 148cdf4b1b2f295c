"""Which of Safar's locales a question is written in (a suggestion, never a decision).

``py3langid`` (a maintained fork of langid.py, model bundled in the wheel) restricted to
Russian, Kyrgyz, Tajik and Uzbek does the work; the script picks ``uz`` or ``uz_Cyrl``.
langid takes Russian typed in Latin letters for Uzbek, so Latin text is checked against
short lists of common Russian and Uzbek words first. Short texts (under
:data:`MIN_CHARS` letters or two words) give ``None``: the chat keeps its locale.
"""

from __future__ import annotations

import re
from functools import cache

from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

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


@cache
def _identifier() -> LanguageIdentifier:
    ident = LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE, norm_probs=True)
    ident.set_languages(["ru", "ky", "tg", "uz"])
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
