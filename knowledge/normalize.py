"""Text normalisation for search: one folded Latin form for every script we serve.

People write Uzbek in Latin or Cyrillic (with ``o‘``, ``o'``, ``oʻ`` or ``o`` alike), Kyrgyz
and Tajik in Cyrillic mixed with Russian words, and Russian in Latin letters on phones
without a Cyrillic keyboard. :func:`fold` maps all of these to one lower-case Latin spelling
so that the same word written in two ways gives the same character n-grams.
"""

from __future__ import annotations

import re
import unicodedata

# Cyrillic -> folded Latin. Kyrgyz, Tajik and Uzbek letters are folded to their nearest
# Russian-translit sound so that "қ"/"к", "ғ"/"г", "ҳ"/"х", "ө"/"о" meet.
_CYR_TO_LAT = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "j",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "h",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "sh",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    # Kyrgyz
    "ң": "n",
    "ө": "o",
    "ү": "u",
    # Tajik
    "ғ": "g",
    "ӣ": "i",
    "ӯ": "u",
    "қ": "k",
    "ҳ": "h",
    "ҷ": "j",
    # Uzbek Cyrillic
    "ў": "o",
    # Kazakh letters that appear in mixed text
    "ә": "a",
    "і": "i",
    "ұ": "u",
    "һ": "h",
}

# Latin spellings folded to the forms above (applied after lower-casing, longest first).
_LATIN_FOLDS = (
    ("sch", "sh"),
    ("kh", "h"),
    ("zh", "j"),
    ("dj", "j"),
    ("x", "h"),
    ("q", "k"),
    ("w", "v"),
    ("yy", "y"),
    ("iy", "y"),
    ("ij", "y"),
)

_LONE_C_RE = re.compile(r"c(?!h)")
_APOSTROPHES = "'‘’ʻʼ`´ʹ"
_APOS_RE = re.compile(f"[{_APOSTROPHES}]")
_NON_WORD_RE = re.compile(r"[^a-z0-9 ]+")
_SPACE_RE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Fold *text* to lower-case Latin letters, digits and single spaces.

    Example: ``fold("Ўзбекистон")``, ``fold("O‘zbekiston")`` and ``fold("Uzbekiston")``
    all give ``"uzbekiston"``. Punctuation becomes a space; apostrophes vanish.
    """
    text = unicodedata.normalize("NFC", text).lower()
    text = _APOS_RE.sub("", text)
    text = "".join(_CYR_TO_LAT.get(ch, ch) for ch in text)
    # Strip remaining accents (é -> e) but keep letters.
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    for latin, folded in _LATIN_FOLDS:
        text = text.replace(latin, folded)
    text = _LONE_C_RE.sub("ts", text)
    text = _NON_WORD_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()
