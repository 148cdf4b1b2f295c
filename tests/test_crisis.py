"""Danger signals: a message about self-harm, violence or being held gets the emergency
contacts at once. Written for this test in every language, not taken from the eval set."""

from __future__ import annotations

import html

import pytest

from bot.i18n import gettext_for
from knowledge.crisis import crisis_phrases, detect_crisis
from knowledge.loader import KnowledgeBase
from tests.conftest import Harness, buttons, texts

DANGER = [
    ("я больше не хочу жить, всё надоело", "self_harm"),
    ("хочу покончить с собой", "self_harm"),
    ("меня избили на стройке, идёт кровь", "violence"),
    ("нас заперли в цеху и не выпускают", "held_or_forced"),
    ("жашагым келбей калды, баары бүттү", "self_harm"),
    ("бригадир сабап салды, башымдан кан агып жатат", "violence"),
    ("дигар зиндагӣ кардан намехоҳам", "self_harm"),
    ("маро заданд, хун меравад", "violence"),
    ("yashagim kelmayapti, hammasi tugadi", "self_harm"),
    ("xo‘jayin urib ketdi, qon ketyapti", "violence"),
    ("bizni qamab qo‘yishdi, chiqarishmayapti", "held_or_forced"),
    # Reported by a tester: conjugated, with ё, with an ASCII apostrophe.
    ("муж бьёт меня", "violence"),
    ("мени камап коюшту, чыгарбай жатышат", "held_or_forced"),
    ("meni qamab qo'yishdi", "held_or_forced"),
    ("хочу выпрыгнуть из окна", "self_harm"),
    ("маро куштанӣ ҳастанд", "violence"),
    ("бизни қамаб қўйишди, чиқаришмаяпти", "held_or_forced"),
]

SAFE = [
    "как проверить запрет на въезд",
    "кончается регистрация через 3 дня",
    "контролируемых лиц реестр проверить",
    "анализ крови для патента где сдать",
    "konsullik qayerda joylashgan",
    "кроватъ в общежитии сколько стоит",
]


@pytest.mark.parametrize(("text", "kind"), DANGER)
def test_danger_is_detected_in_every_language_and_script(text: str, kind: str) -> None:
    assert kind in detect_crisis(text)


@pytest.mark.parametrize("text", SAFE)
def test_ordinary_questions_are_not_taken_for_danger(text: str) -> None:
    assert detect_crisis(text) == frozenset()


def test_the_emergency_article_exists(kb: KnowledgeBase) -> None:
    article = kb.get(crisis_phrases().emergency_article)
    assert article is not None and article.topic == "emergency_crisis"


@pytest.mark.parametrize("locale", ["ky", "tg", "uz_Cyrl"])
async def test_a_message_about_danger_gets_emergency_contacts_first(
    harness: Harness, kb: KnowledgeBase, locale: str
) -> None:
    await harness.press(f"l:{locale}")
    calls = await harness.say("меня избили, идёт кровь, паспорт забрали")
    sent = texts(calls)
    lead = gettext_for(locale)(
        "You are not alone. If you are in danger now, call the emergency number. "
        "Here are the numbers:"
    )
    assert html.escape(lead) in sent[0]
    emergency = kb.get(crisis_phrases().emergency_article)
    assert emergency is not None
    assert html.escape(emergency.locales[locale].title, quote=False) in sent[1]


async def test_after_the_emergency_contacts_nothing_else_is_sent(harness: Harness) -> None:
    await harness.press("l:ru")
    calls = await harness.say("хочу покончить с собой")
    sent = texts(calls)
    # The lead line, the emergency numbers, then the offer of a caseworker; no "I don't know".
    assert len(sent) == 3
    assert buttons(calls)[0][1] == "help:c"
    assert html.escape(gettext_for("ru")("I don't know this yet.")) not in "".join(sent)


async def test_danger_in_a_group_mention_gets_the_numbers_there_too(
    harness: Harness, kb: KnowledgeBase
) -> None:
    group = {"id": -100300400, "type": "supergroup", "title": "Bazaar"}
    text = "@safar_bot меня избили"
    message = {
        "message_id": 3,
        "date": 1764460800,
        "chat": group,
        "from": {"id": 19, "is_bot": False, "first_name": "G", "language_code": "ru"},
        "text": text,
        "entities": [{"type": "mention", "offset": 0, "length": 10}],
    }
    sent = texts(await harness.feed({"message": message}))
    emergency = kb.get(crisis_phrases().emergency_article)
    assert emergency is not None
    assert any(html.escape(emergency.locales["ru"].title, quote=False) in t for t in sent)


@pytest.mark.parametrize(
    ("locale", "text"),
    [
        ("ru", "нас держат на работе под замком и не платят, что делать"),
        ("ky", "мени камап коюшту, чыгарбай жатышат, акча төлөбөйт, эмне кылам"),
        ("uz", "bizni qamab qo'yishdi ishlatishyapti pul berishmayapti nima qilay"),
    ],
)
async def test_being_held_at_work_gets_the_numbers_then_what_to_do_about_it(
    harness: Harness, kb: KnowledgeBase, locale: str, text: str
) -> None:
    await harness.press(f"l:{locale}")
    calls = await harness.say(text)
    sent = texts(calls)
    emergency = kb.get(crisis_phrases().emergency_article)
    assert emergency is not None
    # The numbers come first; then an article on being held or forced to work, not the
    # numbers again; then the offer of a caseworker.
    assert html.escape(emergency.locales[locale].title, quote=False) in sent[1]
    answer = next(
        a
        for a in kb.articles.values()
        if html.escape(a.locales[locale].title, quote=False) in sent[2]
    )
    assert answer.topic == "trafficking_exploitation"
    assert buttons(calls)[0][1] == "help:c"


async def test_after_violence_the_numbers_are_the_only_article(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:tg")
    calls = await harness.say("маро дар кӯча заданд, сарам хун аст, шиносномаам мӯҳлаташ гузашт")
    sent = texts(calls)
    titles = [a.locales["tg"].title for a in kb.articles.values()]
    shown = [t for t in titles if any(html.escape(t, quote=False) in s for s in sent)]
    emergency = kb.get(crisis_phrases().emergency_article)
    assert emergency is not None
    assert shown == [emergency.locales["tg"].title]
