"""Messages fit Telegram's limit and show article text literally."""

from __future__ import annotations

import html

import pytest

from bot.i18n import gettext_for
from bot.render import MESSAGE_LIMIT, render_article, split_message
from knowledge.loader import KnowledgeBase
from knowledge.schema import LOCALES, Article


@pytest.mark.parametrize(
    "text",
    [
        "short",
        "\n\n".join(["paragraph " * 40] * 30),
        "word " * 2000,
        "x" * 10_000,
        "line\n" * 3000,
    ],
)
def test_split_keeps_every_part_within_the_limit_and_loses_no_words(text: str) -> None:
    parts = split_message(text)
    assert all(0 < len(p) <= MESSAGE_LIMIT for p in parts)
    assert " ".join(parts).split() == text.split() or "".join(parts) == text.strip()


def test_every_article_in_every_locale_fits_one_message(kb: KnowledgeBase) -> None:
    for article in kb.articles.values():
        for locale in LOCALES:
            parts = render_article(article, locale)
            assert len(parts) == 1, (article.id, locale, [len(p) for p in parts])


def test_article_text_is_escaped_not_interpreted(kb: KnowledgeBase) -> None:
    article = next(iter(kb.articles.values()))
    ru = article.locales["ru"].model_copy(update={"body": "Штраф <b>до</b> 5 000 & больше"})
    forged = article.model_copy(update={"locales": {**article.locales, "ru": ru}})
    rendered = render_article(Article.model_validate(forged.model_dump()), "ru")[0]
    assert "&lt;b&gt;до&lt;/b&gt; 5 000 &amp; больше" in rendered


def test_split_never_cuts_an_html_entity() -> None:
    parts = split_message("a&amp;" * 1000)
    assert all(not p.endswith(("&", "&a", "&am", "&amp")) for p in parts)
    assert "".join(parts) == "a&amp;" * 1000


def test_russian_fallback_is_announced_before_the_text(kb: KnowledgeBase) -> None:
    article = next(iter(kb.articles.values()))
    locales = {k: v for k, v in article.locales.items() if k != "tg"}
    partial = Article.model_validate({**article.model_dump(), "locales": locales})
    rendered = render_article(partial, "tg")[0]
    note = gettext_for("tg")("This article is not yet in your language. Here it is in Russian.")
    assert rendered.index(html.escape(note)) < rendered.index(
        html.escape(article.locales["ru"].body[:30], quote=False)
    )
