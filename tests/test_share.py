"""Passing answers on: deep links, inline mode, the Share button."""

from __future__ import annotations

import html
from typing import Any

import pytest

from bot import deeplinks
from bot.deeplinks import Link
from bot.i18n import gettext_for
from bot.transport import BOT_USER
from knowledge.loader import KnowledgeBase
from knowledge.schema import LOCALES, TOPICS
from tests.conftest import Harness, buttons, texts, user


def test_every_article_and_topic_has_a_valid_payload_in_every_locale(kb: KnowledgeBase) -> None:
    ids = frozenset(kb.articles)
    links = [Link("article", loc, aid) for aid in ids for loc in LOCALES]
    links += [Link("topic", loc, t) for t in TOPICS for loc in LOCALES]
    links += [Link("menu", loc) for loc in LOCALES]
    for link in links:
        payload = deeplinks.encode(link)
        assert len(payload) <= 64
        assert deeplinks.decode(payload, ids) == link


@pytest.mark.parametrize(
    "payload",
    ["", "x", "a_no-such-article_tg", "t_weather_ky", "a_ru-ban-check-online_fr", "m_",
     "a_ru-ban-check-online_uz_Cyrl", "<b>", "a" * 65],
)  # fmt: skip
def test_bad_payloads_decode_to_nothing(kb: KnowledgeBase, payload: str) -> None:
    assert deeplinks.decode(payload, frozenset(kb.articles)) is None


def _start(payload: str) -> str:
    return f"/start {payload}"


async def test_deep_link_opens_an_article_in_its_locale_for_a_newcomer(
    harness: Harness, kb: KnowledgeBase
) -> None:
    article = kb.articles["ru-ban-check-online"]
    payload = deeplinks.encode(Link("article", "uz_Cyrl", article.id))
    calls = await harness.say(_start(payload), language_code="ru")
    assert html.escape(article.locales["uz_Cyrl"].title, quote=False) in texts(calls)[0]
    # The newcomer's language is now the link's.
    menu = texts(await harness.say("/menu"))[-1]
    assert html.escape(gettext_for("uz_Cyrl")("Main menu")) in menu


async def test_deep_link_keeps_a_language_already_chosen(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:ky")
    article = kb.articles["ru-ban-check-online"]
    calls = await harness.say(_start(deeplinks.encode(Link("article", "tg", article.id))))
    assert html.escape(article.locales["tg"].title, quote=False) in texts(calls)[0]
    assert (gettext_for("ky")("🏠 Menu"), "h") in buttons(calls)
    assert html.escape(gettext_for("ky")("Main menu")) in texts(await harness.say("/menu"))[-1]


async def test_deep_link_to_a_topic_lists_its_articles(harness: Harness, kb: KnowledgeBase) -> None:
    calls = await harness.say(_start("t_ban_check_ky"))
    listed = [d for _, d in buttons(calls) if d.startswith("a:")]
    assert len(listed) == len(kb.by_topic("ban_check"))


async def test_bad_deep_link_falls_back_to_the_language_menu(harness: Harness) -> None:
    calls = await harness.say(_start("a_nothing_here_tg"))
    assert html.escape(gettext_for("ru")("Choose your language:")) in texts(calls)[0]


def _inline(query: str, user_id: int = 5001, language_code: str = "ru") -> dict[str, Any]:
    return {
        "inline_query": {
            "id": "4411",
            "from": user(user_id, language_code),
            "query": query,
            "offset": "",
            "chat_type": "supergroup",
        }
    }


def _results(calls: list[Any]) -> list[dict[str, Any]]:
    answers = [c for c in calls if c.method == "answerInlineQuery"]
    assert len(answers) == 1
    results: list[dict[str, Any]] = answers[0].params["results"]
    return results


@pytest.mark.parametrize(
    ("query", "locale"),
    [("tg запрет на въезд проверить", "tg"), ("ky паспорт забрали", "ky")],
)
async def test_inline_query_lists_cards_in_the_named_locale_with_a_deep_link(
    harness: Harness, kb: KnowledgeBase, query: str, locale: str
) -> None:
    results = _results(await harness.feed(_inline(query)))
    assert 1 <= len(results) <= 5
    for card in results:
        article_id, card_locale = card["id"].split(":")
        assert card_locale == locale
        assert card["title"] == kb.articles[article_id].locales[locale].title
        text = card["input_message_content"]["message_text"]
        payload = deeplinks.encode(Link("article", locale, article_id))
        assert text.rstrip().endswith(f"https://t.me/{BOT_USER['username']}?start={payload}")
        assert len(text) <= 4096


async def test_inline_query_uses_the_senders_own_locale(harness: Harness) -> None:
    await harness.press("l:uz")
    results = _results(await harness.feed(_inline("pasportimni olib qo‘yishdi")))
    assert results and all(card["id"].endswith(":uz") for card in results)


async def test_inline_query_about_nothing_we_cover_gives_no_cards(harness: Harness) -> None:
    assert _results(await harness.feed(_inline("рецепт плова"))) == []


async def test_share_button_query_returns_exactly_that_article(
    harness: Harness, kb: KnowledgeBase
) -> None:
    await harness.press("l:uz_Cyrl")
    calls = await harness.press("a:ru-ban-check-online:ban")
    markup = next(c for c in calls if c.method == "editMessageText").params["reply_markup"]
    share = [b for row in markup["inline_keyboard"] for b in row if "switch_inline_query" in b]
    assert share and share[0]["text"] == gettext_for("uz_Cyrl")("↗️ Share")
    results = _results(await harness.feed(_inline(share[0]["switch_inline_query"])))
    assert [card["id"] for card in results] == ["ru-ban-check-online:uz_Cyrl"]


async def test_link_command_gives_the_last_article_and_the_menu(harness: Harness) -> None:
    await harness.press("l:tg")
    await harness.press("a:ru-ban-check-online:ban")
    sent = texts(await harness.say("/link"))[-1]
    username = BOT_USER["username"]
    assert f"https://t.me/{username}?start=a_ru-ban-check-online_tg" in sent
    assert f"https://t.me/{username}?start=m_tg" in sent
