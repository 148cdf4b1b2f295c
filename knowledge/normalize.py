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

# Latin letters of Turkish-style keyboards that Kyrgyz, Uzbek and Tajik typists also use
# ("çıkış", "şartnoma", "ğ"), folded before accents are stripped (ç would become c -> ts).
_LATIN_LETTERS = str.maketrans({"ç": "ch", "ş": "sh", "ı": "i", "ә": "a", "ə": "a", "ñ": "n"})
# Russian chat spelling in Latin letters: "4" for "ч", "6" for "ш" inside a word ("4to",
# "ho4u", "6kola"); numbers on their own ("90 dney") are left alone.
_CHAT_DIGIT_RE = re.compile(r"(?<=[a-z])[46]|[46](?=[a-z])")
_CHAT_DIGITS = {"4": "ch", "6": "sh"}
_LONE_C_RE = re.compile(r"c(?!h)")
_APOSTROPHES = "'‘’ʻʼ`´ʹ"
_APOS_RE = re.compile(f"[{_APOSTROPHES}]")
_NON_WORD_RE = re.compile(r"[^a-z0-9 ]+")
_SPACE_RE = re.compile(r"\s+")


def fold(text: str) -> str:
    """Fold *text* to lower-case Latin letters, digits and single spaces.

    Example: ``fold("Ўзбекистон")`` and ``fold("O‘zbekiston")`` both give ``"ozbekiston"``.
    Punctuation becomes a space; apostrophes vanish; Turkish-style letters (ç, ş, ı) and
    the chat digits of Russian in Latin letters ("4to" = "что") become plain letters.
    """
    text = unicodedata.normalize("NFC", text).lower()
    text = _APOS_RE.sub("", text)
    text = "".join(_CYR_TO_LAT.get(ch, ch) for ch in text)
    text = text.translate(_LATIN_LETTERS)
    # Strip remaining accents (é -> e) but keep letters.
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    for latin, folded in _LATIN_FOLDS:
        text = text.replace(latin, folded)
    text = _CHAT_DIGIT_RE.sub(lambda m: _CHAT_DIGITS[m.group()], text)
    text = _LONE_C_RE.sub("ts", text)
    text = _NON_WORD_RE.sub(" ", text)
    return _SPACE_RE.sub(" ", text).strip()
