"""Language detection only suggests; short or unsure text gives None."""

from __future__ import annotations

import pytest

from knowledge.langdetect import detect_locale


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("работодатель не платит зарплату уже три месяца", "ru"),
        ("kak mne uznat est li zapret na vezd", "ru"),
        ("Орусияда иштеп жүрөм, айлыгымды бербей жатышат", "ky"),
        ("корфармо се моҳ боз маош намедиҳад, чӣ кор кунам", "tg"),
        ("ish beruvchi uch oydan beri maosh bermayapti", "uz"),
        ("иш берувчи уч ойдан бери маош бермаяпти, нима қилай", "uz_Cyrl"),
    ],
)
def test_detects_the_language_of_a_sentence(text: str, locale: str) -> None:
    assert detect_locale(text) == locale


@pytest.mark.parametrize("text", ["", "привет", "ok ok", "??", "123 456"])
def test_short_text_gives_no_suggestion(text: str) -> None:
    assert detect_locale(text) is None
