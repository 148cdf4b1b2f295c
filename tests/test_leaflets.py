"""Printable leaflets: one-page PDFs with embedded fonts, QR codes, and ``/leaflet``."""

from __future__ import annotations

import datetime as dt
import html
import io
import unicodedata
from typing import Any

import pytest
import segno
from PIL import Image
from pypdf import PdfReader

from bot import deeplinks
from bot.deeplinks import Link
from bot.i18n import format_date, gettext_for
from bot.leaflets import leaflet_pdf, missing_glyphs, qr_png, topic_leaflet_pdf
from knowledge.loader import KnowledgeBase
from knowledge.schema import LOCALES, Article, LocalizedText
from tests.conftest import Harness, texts

ARTICLE = "ru-ban-check-online"
#: Every letter the issue names, small and capital (o‘ and g‘ use U+2018).
SPECIAL_LETTERS = "ңөүғқҳҷӣӯў ҢӨҮҒҚҲҶӢӮЎ o‘ g‘ O‘ G‘ ’"


def _link(locale: str, key: str = ARTICLE, kind: str = "article") -> str:
    return deeplinks.url("safar_bot", Link(kind, locale, key))


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _fonts(pdf: bytes) -> list[dict[str, Any]]:
    """The font dictionaries the first page uses."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    fonts = page["/Resources"]["/Font"]
    return [fonts[name].get_object() for name in fonts]


@pytest.mark.parametrize("locale", LOCALES)
def test_article_leaflet_is_one_page_with_title_date_and_link(
    kb: KnowledgeBase, locale: str
) -> None:
    article = kb.articles[ARTICLE]
    pdf = leaflet_pdf(article, locale, _link(locale))
    assert pdf.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = " ".join(_text(pdf).split())
    title = article.text(locale)[0].title
    _ = gettext_for(locale)
    checked = _("Checked on {date}").format(date=format_date(article.reviewed_on, locale))
    for expected in (title, checked, _link(locale)):
        assert " ".join(expected.split()) in text


def test_leaflet_embeds_the_truetype_font_not_a_standard_one(kb: KnowledgeBase) -> None:
    fonts = _fonts(leaflet_pdf(kb.articles[ARTICLE], "tg", _link("tg")))
    names = sorted(str(f["/BaseFont"]) for f in fonts)
    assert names and all(n.split("+")[-1].startswith("DejaVuSans") for n in names), names
    for font in fonts:
        assert font["/Subtype"] == "/TrueType"
        assert "/FontFile2" in font["/FontDescriptor"]  # the glyphs travel with the file


def test_the_font_has_every_letter_of_every_article_and_of_kyrgyz_tajik_uzbek(
    kb: KnowledgeBase,
) -> None:
    everything = [SPECIAL_LETTERS]
    for article in kb.articles.values():
        everything += [s.title for s in article.sources]
        for text in article.locales.values():
            everything += [text.title, text.body]
    missing = missing_glyphs("".join(everything))
    # Only symbols such as the 📞 of a button's name; those are left out when printing.
    assert all(unicodedata.category(ch) in ("So", "Sk", "Cf") for ch in missing), missing
    assert missing_glyphs(SPECIAL_LETTERS, "DejaVuSans-Bold.ttf") == set()


def test_symbols_the_font_lacks_are_left_out_not_printed_as_boxes(kb: KnowledgeBase) -> None:
    article = kb.articles["children-left-at-home"]
    assert "«📞 Контакты»" in article.text("ru")[0].body
    text = _text(leaflet_pdf(article, "ru", _link("ru", article.id)))
    assert "«Контакты»" in text and "📞" not in text


def test_special_letters_survive_into_the_pdf_text() -> None:
    body = "\n\n".join(["Kyrgyz: ң ө ү", "Tajik: ғ қ ҳ ҷ ӣ ӯ", "Uzbek: ў o‘zbek g‘alaba"])
    article = Article(
        id="letters-check",
        topic="ban_check",
        countries=("RU",),
        legal=False,
        reviewed_on=dt.date(2026, 11, 30),
        locales={"ru": LocalizedText(title="Ң Ө Ү Ғ Қ Ҳ Ҷ Ӣ Ӯ Ў", body=body, keywords=("x",))},
    )
    text = _text(leaflet_pdf(article, "ru", _link("ru", "letters-check")))
    for word in ("ң ө ү", "ғ қ ҳ ҷ ӣ ӯ", "o‘zbek", "g‘alaba", "Ң Ө Ү Ғ Қ Ҳ Ҷ Ӣ Ӯ Ў"):
        assert word in text


def test_a_long_body_is_cut_at_a_paragraph_and_says_so(kb: KnowledgeBase) -> None:
    paragraphs = [f"Paragraph number {i}. " + "Words to fill the line. " * 12 for i in range(30)]
    article = kb.articles[ARTICLE].model_copy(
        update={
            "locales": {
                "ru": LocalizedText(title="Long", body="\n\n".join(paragraphs), keywords=("x",))
            }
        }
    )
    pdf = leaflet_pdf(article, "ru", _link("ru"))
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = _text(pdf)
    assert "Paragraph number 0." in text and "Paragraph number 29." not in text
    assert gettext_for("ru")("Shortened. The full text is in Safar.") in text


def test_the_same_input_gives_the_same_bytes(kb: KnowledgeBase) -> None:
    article = kb.articles[ARTICLE]
    assert leaflet_pdf(article, "ky", _link("ky")) == leaflet_pdf(article, "ky", _link("ky"))


def test_topic_leaflet_lists_the_topic_s_articles(kb: KnowledgeBase) -> None:
    articles = kb.by_topic("ban_check")
    link = _link("uz", "ban_check", "topic")
    pdf = topic_leaflet_pdf("Zapretni tekshirish", articles, "uz", link)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = " ".join(_text(pdf).split())
    assert "Zapretni tekshirish" in text and link in text
    for article in articles:
        assert " ".join(article.text("uz")[0].title.split()) in text


def test_qr_png_holds_the_qr_code_of_the_deep_link() -> None:
    """No pure-Python QR decoder is at hand: compare the PNG's pixels, module by module,
    with the code segno makes for the link (so the picture is exactly that code)."""
    link = _link("uz_Cyrl")
    scale, border = 10, 4
    image = Image.open(io.BytesIO(qr_png(link, scale=scale))).convert("L")
    matrix = segno.make(link, error="m", micro=False).matrix
    size = len(matrix) + 2 * border
    assert image.size == (size * scale, size * scale)
    for r in range(size):
        for c in range(size):
            inside = border <= r < size - border and border <= c < size - border
            dark = inside and bool(matrix[r - border][c - border] & 1)
            pixel = image.getpixel((c * scale + scale // 2, r * scale + scale // 2))
            assert (pixel == 0) == dark, (r, c)


async def test_leaflet_command_after_an_article_sends_pdf_and_qr(harness: Harness) -> None:
    await harness.press(f"a:{ARTICLE}:ban", language_code="ru")
    calls = await harness.say("/leaflet")
    methods = [c.method for c in calls]
    assert "sendDocument" in methods and "sendPhoto" in methods
    document = next(c for c in calls if c.method == "sendDocument")
    file_name, content, _mime = document.files["document"]
    assert file_name == f"safar-{ARTICLE}-ru.pdf"
    assert content.startswith(b"%PDF-")
    assert _link("ru").replace("safar_bot", harness.app.bot.username) in _text(content)
    photo = next(c for c in calls if c.method == "sendPhoto")
    assert photo.files["photo"][1].startswith(b"\x89PNG")
    assert _link("ru") in str(photo.params["caption"])


async def test_leaflet_command_with_an_id_and_a_locale_code(harness: Harness) -> None:
    calls = await harness.say(f"/leaflet {ARTICLE} uzc")
    document = next(c for c in calls if c.method == "sendDocument")
    assert document.files["document"][0] == f"safar-{ARTICLE}-uz_Cyrl.pdf"
    assert document.params["document"]["file_name"] == f"safar-{ARTICLE}-uz_Cyrl.pdf"


async def test_leaflet_command_for_a_topic(harness: Harness) -> None:
    calls = await harness.say("/leaflet ban_check", language_code="ky")
    document = next(c for c in calls if c.method == "sendDocument")
    assert document.files["document"][0] == "safar-ban_check-ky.pdf"
    assert _link("ky", "ban_check", "topic") in _text(document.files["document"][1])


async def test_leaflet_command_with_a_bad_id_gets_a_kind_reply(harness: Harness) -> None:
    calls = await harness.say("/leaflet no-such-article")
    assert not [c for c in calls if c.method in ("sendDocument", "sendPhoto")]
    _ = gettext_for("ru")
    expected = _("I don't know this article. Open an article with the buttons, then send /leaflet.")
    assert any(html.escape(expected) in t for t in texts(calls))


async def test_leaflet_command_before_any_article_says_what_to_do(harness: Harness) -> None:
    calls = await harness.say("/leaflet")
    assert not [c for c in calls if c.method in ("sendDocument", "sendPhoto")]
    assert texts(calls) and "/leaflet" in texts(calls)[0]


async def test_leaflet_command_with_other_words_makes_the_last_article(harness: Harness) -> None:
    """A leader types "/leaflet для мечети": the words are not an article, so the leaflet
    is of the article just read, not "I don't know this article"."""
    await harness.press(f"a:{ARTICLE}:ban", language_code="ru")
    calls = await harness.say("/leaflet для мечети")
    document = next(c for c in calls if c.method == "sendDocument")
    assert document.files["document"][0] == f"safar-{ARTICLE}-ru.pdf"
