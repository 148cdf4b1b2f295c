"""Search: script folding, and questions typed the way people type them.

These questions were written for this test (not taken from the shared eval set).
"""

from __future__ import annotations

import pytest

from knowledge.normalize import fold
from knowledge.search import GREETING, Searcher


@pytest.mark.parametrize(
    "variants",
    [
        ("Ўзбекистон", "O‘zbekiston", "O'zbekiston", "Oʻzbekiston", "O`zbekiston"),
        ("черный список", "chernyy spisok", "cherniy spisok"),
        ("Ғалла", "G‘alla", "g'alla"),
        ("Қарз", "qarz"),
        ("ХОЧУ", "xochu", "khochu"),
    ],
)
def test_fold_maps_scripts_and_apostrophes_to_one_form(variants: tuple[str, ...]) -> None:
    assert len({fold(v) for v in variants}) == 1


def test_fold_drops_punctuation_and_extra_space() -> None:
    assert fold("  Запрет!!!   на   въезд??? ") == "zapret na vezd"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("4to delat esli zapret", "что делать если запрет"),
        ("ho4u 6kolu", "хочу школу"),
        ("çıkış şartnoma", "чикиш шартнома"),
    ],
)
def test_fold_reads_chat_digits_and_turkish_style_letters(typed: str, meant: str) -> None:
    assert fold(typed) == fold(meant)


def test_fold_keeps_numbers_that_stand_alone() -> None:
    assert fold("запрет на 5 лет, 4 штрафа") == "zapret na 5 let 4 shtrafa"


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        # Tajik typed on a Russian keyboard: "ч" for "ҷ".
        ("кори мачбури", "trafficking_exploitation"),
        # Uzbek Cyrillic typed on a Russian keyboard: "у" for "ў".
        ("курикдан утиш", "entry_stay_rules"),
    ],
)
def test_letters_missing_from_a_russian_keyboard_do_not_matter(
    searcher: Searcher, question: str, topic: str
) -> None:
    result = searcher.search(question)
    assert not result.abstained and result.hits[0].topic == topic


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("как узнать есть ли на мне запрет на въезд в РФ", "ban_check"),
        ("kak uznat est li zapret na vezd v rossiyu", "ban_check"),
        ("зарплату не платят уже 2 месяца что делать", "labour_rights_wages"),
        ("работодатель забрал паспорт и не отдает", "passport_confiscated"),
        ("Rossiyaga kirish taqiqi bormi qanday tekshiraman", "ban_check"),
        ("Россияга кириш тақиқи борми қандай текшираман", "ban_check"),
        ("полиция остановила на улице проверка документов", "police_detention"),
        ("патент на работу как получить", "patent_work_permit"),
    ],
)
def test_typical_questions_find_their_topic_in_the_top_three(
    searcher: Searcher, question: str, topic: str
) -> None:
    result = searcher.search(question)
    assert not result.abstained
    assert topic in [hit.topic for hit in result.hits[:3]]


@pytest.mark.parametrize("question", ["", "   ", "?!", "ok"])
def test_empty_or_tiny_input_abstains(searcher: Searcher, question: str) -> None:
    assert searcher.search(question).abstained


@pytest.mark.parametrize(
    "question",
    [
        "какая завтра погода в москве",
        "кто выиграл футбол вчера",
        "рецепт борща",
        # A place name shared with articles must not pull an everyday question in.
        "бүгүн Бишкекте жамгыр жаайбы",
        "Душанбеда пагох хаво чи хел мешавад",
        "Samarqandda bugun havo qanday",
        "ертага Тошкентда ёмғир ёғадими",
    ],
)
def test_out_of_scope_questions_abstain(searcher: Searcher, question: str) -> None:
    assert searcher.search(question).abstained


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        # Everyday words ("купить", "телефон") inside a real question do not make it out
        # of scope.
        ("где купить полис медицинский для патента недорого", "medical_help"),
        ("ishda telefonimni olib qo'yishdi, pasportim ham ularda", "passport_confiscated"),
    ],
)
def test_everyday_words_in_a_real_question_do_not_make_it_out_of_scope(
    searcher: Searcher, question: str, topic: str
) -> None:
    result = searcher.search(question)
    assert not result.abstained
    assert topic in [hit.topic for hit in result.hits[:3]]


@pytest.mark.parametrize("greeting", ["salom", "Привет!", "Assalomu alaykum", "рахмат"])
def test_a_bare_greeting_is_recognised(searcher: Searcher, greeting: str) -> None:
    result = searcher.search(greeting)
    assert result.abstained and result.out_of_scope == GREETING


@pytest.mark.parametrize(
    ("question", "topic"),
    [
        ("салам, запрет барбы кантип билем", "ban_check"),
        ("салом, патентни қандай оламан", "patent_work_permit"),
        ("запретро чӣ хел санҷам", "ban_check"),
        ("патенттин баасы канча", "patent_work_permit"),
    ],
)
def test_greetings_and_question_words_do_not_hide_a_question(
    searcher: Searcher, question: str, topic: str
) -> None:
    result = searcher.search(question)
    assert not result.abstained and topic in [h.topic for h in result.hits[:3]]


def test_search_quality_on_our_own_question_set_does_not_regress(searcher: Searcher) -> None:
    """Floors a little under what was measured when they were set (75 questions written
    without seeing the articles, tests/questions/questions-own.jsonl): top-1 0.87, top-3
    0.92, out-of-scope abstained 0.80. A change to search or content that drops below
    them makes answers worse for people."""
    from pathlib import Path

    from knowledge.evaluation import evaluate, read_questions

    path = Path(__file__).with_name("questions") / "questions-own.jsonl"
    result = evaluate(read_questions(path), searcher.search).as_dict()
    assert result["top1"] >= 0.82
    assert result["top3"] >= 0.88
    assert result["out_of_scope_abstained"] >= 0.7
    assert min(lang["top1"] for lang in result["by_lang"].values()) >= 0.7


def test_answers_on_a_set_written_without_seeing_search_or_articles_do_not_regress(
    searcher: Searcher,
) -> None:
    """tests/questions/questions-fresh.jsonl: 135 questions (27 per language, out-of-scope
    and "other" ones included) written from the topic list alone, by someone who saw
    neither the articles nor the other question sets. Measured when added: top-1 0.93,
    top-3 0.96, Kyrgyz top-1 0.81, out-of-scope abstained 0.90. Floors a little under."""
    from pathlib import Path

    from knowledge.answer import answer
    from knowledge.evaluation import evaluate, read_questions

    path = Path(__file__).with_name("questions") / "questions-fresh.jsonl"
    result = evaluate(read_questions(path), lambda text: answer(searcher, text)).as_dict()
    assert result["top1"] >= 0.88
    assert result["top3"] >= 0.92
    assert result["out_of_scope_abstained"] >= 0.8
    assert min(lang["top1"] for lang in result["by_lang"].values()) >= 0.75


@pytest.mark.parametrize(
    "question",
    [
        "шаҳрвандии русияро чӣ хел гирам",  # Tajik: how do I get Russian citizenship
        "Россиянын жарандыгын кантип алса болот",  # Kyrgyz: the same
        "как получить гражданство россии",
        "ВНЖ алыш үчүн эмне керек",  # Kyrgyz: what do I need for a residence permit
    ],
)
def test_subjects_safar_does_not_cover_go_to_who_can_help_not_a_wrong_article(
    searcher: Searcher, question: str
) -> None:
    result = searcher.search(question)
    assert result.abstained or result.hits[0].topic == "contacts_ngo"
