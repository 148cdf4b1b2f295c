"""Printable leaflets: one A4 page (PDF) of an article or a topic, and a QR code (PNG).

For notice boards at mosques, bazaars and consulates. A leaflet shows the title, the
essentials (the article body, shortened at a paragraph boundary to fit the page), the date
the facts were checked, the sources' titles, a QR code of the deep link that opens the
same page in Safar (the link printed under it) and a line saying what Safar is.

Text is set in DejaVu Sans (``bot/fonts``, embedded as a subset), which has every letter
of Kyrgyz, Tajik and Uzbek (ң ө ү ғ қ ҳ ҷ ӣ ӯ ў, o‘ g‘). The standard PDF fonts have none of
them. Rendering is pure: no Telegram, no storage; the output for the same input is the
same bytes (no timestamps in the file).
"""

from __future__ import annotations

import html
import io
import re
import threading
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import segno
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph

from bot.i18n import format_date, gettext_for
from knowledge.schema import Article

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
#: The embedded TrueType fonts: name in the PDF, file in :data:`FONTS_DIR`.
FONT_FILES = {"DejaVuSans": "DejaVuSans.ttf", "DejaVuSans-Bold": "DejaVuSans-Bold.ttf"}
FONT, FONT_BOLD = "DejaVuSans", "DejaVuSans-Bold"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 40.0
WIDTH = PAGE_WIDTH - 2 * MARGIN
#: The left footer column: the QR code, with the link under it.
QR_COLUMN = 180.0
QR_SIZE = 164.0
GAP = 16.0

INK = HexColor("#111111")
GREY = HexColor("#555555")
ACCENT = HexColor("#0b6e4f")

_TITLE = ParagraphStyle("title", fontName=FONT_BOLD, fontSize=22, leading=27, textColor=INK)
_NOTE = ParagraphStyle("note", fontName=FONT, fontSize=9, leading=12, textColor=GREY)
_BODY = ParagraphStyle(
    "body", fontName=FONT, fontSize=12, leading=16.5, textColor=INK, spaceAfter=7
)
_ITEM = ParagraphStyle(
    "item", parent=_BODY, fontSize=13, leading=17, leftIndent=14, firstLineIndent=-14
)
_CALL = ParagraphStyle("call", fontName=FONT_BOLD, fontSize=14, leading=18, textColor=ACCENT)
_CHECKED = ParagraphStyle("checked", fontName=FONT_BOLD, fontSize=10.5, leading=14, textColor=INK)
_SMALL = ParagraphStyle("small", fontName=FONT, fontSize=7.5, leading=9.5, textColor=GREY)
_ABOUT = ParagraphStyle("about", fontName=FONT, fontSize=8.5, leading=11, textColor=GREY)

#: reportlab keeps per-document state in shared font objects: render one page at a time.
_LOCK = threading.Lock()


@cache
def register_fonts() -> None:
    """Register the bundled TrueType fonts with reportlab (once per process)."""
    for name, file in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(FONTS_DIR / file)))
    pdfmetrics.registerFontFamily(
        FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD
    )


def missing_glyphs(text: str, font_file: str = "DejaVuSans.ttf") -> set[str]:
    """The characters of *text* that *font_file* has no glyph for (empty: all covered)."""
    register_fonts()
    face = pdfmetrics.getFont(Path(font_file).stem).face
    return {ch for ch in set(text) if not ch.isspace() and ord(ch) not in face.charToGlyph}


def qr_code(link_url: str) -> Any:
    """The QR code (``segno.QRCode``) of *link_url*; error correction at least M (15%),
    raised when it fits the same size, as printed codes get dirty and torn."""
    return segno.make(link_url, error="m", micro=False)


def qr_png(link_url: str, scale: int = 10) -> bytes:
    """*link_url* as a QR code PNG: *scale* pixels a module, the standard 4-module border."""
    buf = io.BytesIO()
    qr_code(link_url).save(buf, kind="png", scale=scale, border=4)
    return buf.getvalue()


def paragraphs(body: str) -> list[str]:
    """The paragraphs of an article body (split at blank lines)."""
    return [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]


def printable(text: str) -> str:
    """*text* without the characters the font cannot draw (emoji such as 📞, which would
    print as empty boxes); each is dropped with the one space after it."""
    register_fonts()
    glyphs = pdfmetrics.getFont(FONT).face.charToGlyph
    missing = {ch for ch in set(text) if not ch.isspace() and ord(ch) not in glyphs}
    if not missing:
        return text
    return re.sub("[" + re.escape("".join(sorted(missing))) + "]+ ?", "", text)


def _markup(text: str) -> str:
    """Plain text as reportlab paragraph markup: drawable, escaped, line breaks kept."""
    lines = printable(text).splitlines()
    return "<br/>".join(html.escape(line.strip(), quote=False) for line in lines)


#: Body text sizes tried, largest first, for text that must be read from a step away.
BODY_SIZES = (15.0, 14.0, 13.0)


def _body_that_fits(
    make: Callable[[ParagraphStyle], list[Paragraph]],
    style: ParagraphStyle,
    height: float,
    more: Paragraph,
) -> list[Paragraph]:
    """The body made by *make*: in the largest of :data:`BODY_SIZES` at which it all fits
    *height*; else in *style*, cut to fit (see :func:`_fit`)."""
    for size in BODY_SIZES:
        bigger = ParagraphStyle(
            f"{style.name}-{size}",
            parent=style,
            fontSize=size,
            leading=size * style.leading / style.fontSize,
        )
        items = make(bigger)
        if sum(i.wrap(WIDTH, height)[1] + i.getSpaceAfter() for i in items) <= height:
            return items
    return _fit(make(style), height, more)


def _fit(items: list[Paragraph], height: float, more: Paragraph) -> list[Paragraph]:
    """The leading *items* that fit *height* (at page width); if some are left out, *more*
    is added at the end (it fits too). A first item too long on its own is split."""
    _w, more_h = more.wrap(WIDTH, height)
    used, kept = 0.0, []
    for i, item in enumerate(items):
        _w, h = item.wrap(WIDTH, height)
        h += item.getSpaceAfter()
        rest_h = 0.0 if i == len(items) - 1 else more_h
        if used + h + rest_h <= height:
            kept.append(item)
            used += h
            continue
        if not kept:  # one huge paragraph: keep the part that fits
            parts = item.split(WIDTH, height - more_h - item.getSpaceAfter())
            kept = parts[:1]
        return [*kept, more]
    return kept


def _draw_qr(canvas: Canvas, link_url: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of *link_url* as vector squares, *size* points wide, lower-left
    corner at (*x*, *y*); the white quiet zone around it is the caller's to leave."""
    matrix = qr_code(link_url).matrix
    module = size / len(matrix)
    path = canvas.beginPath()
    for r, row in enumerate(matrix):
        col = 0
        while col < len(row):
            if not row[col] & 1:
                col += 1
                continue
            start = col
            while col < len(row) and row[col] & 1:
                col += 1
            top = y + size - (r + 1) * module
            path.rect(x + start * module, top, (col - start) * module, module)
    canvas.setFillColor(Color(0, 0, 0))
    canvas.drawPath(path, stroke=0, fill=1)


def _draw_link(canvas: Canvas, link_url: str, centre: float, y: float, width: float) -> None:
    """The link as text centred at *centre*, shrunk until it fits *width*; clickable."""
    size = 9.0
    while size > 5 and pdfmetrics.stringWidth(link_url, FONT, size) > width:
        size -= 0.25
    text_width = pdfmetrics.stringWidth(link_url, FONT, size)
    canvas.setFont(FONT, size)
    canvas.setFillColor(INK)
    canvas.drawCentredString(centre, y, link_url)
    left = centre - text_width / 2
    canvas.linkURL(link_url, (left, y - 2, left + text_width, y + size), relative=0)


def _page(
    locale: str,
    title: str,
    notes: Sequence[str],
    body: Callable[[ParagraphStyle], list[Paragraph]],
    style: ParagraphStyle,
    side: list[Paragraph],
    link_url: str,
) -> bytes:
    """Lay out one A4 page and return the PDF: *title*, small *notes*, the paragraphs that
    *body* makes in a paragraph style (based on *style*, cut to fit), then a footer with the
    QR code of *link_url* and the *side* column next to it."""
    _ = gettext_for(locale)
    register_fonts()
    buf = io.BytesIO()
    canvas = Canvas(buf, pagesize=A4, invariant=True, pageCompression=1, initialFontName=FONT)
    canvas.setTitle(printable(title))
    canvas.setAuthor("Safar")
    canvas.setCreator("Safar")
    canvas.setSubject(link_url)

    # The footer, bottom up: what Safar is; then the QR code and the side column.
    about = Paragraph(
        html.escape(
            _(
                "Safar is a free Telegram bot for migrant workers: entry bans, rights, "
                "safe migration. It answers in Kyrgyz, Tajik, Russian and Uzbek."
            )
            + " "
            + _(
                "Safar gives general information, not legal advice. "
                "For your own case, talk to a lawyer or an NGO."
            )
        ),
        _ABOUT,
    )
    _w, about_h = about.wrap(WIDTH, PAGE_HEIGHT)
    about.drawOn(canvas, MARGIN, MARGIN)
    y = MARGIN + about_h + 8
    canvas.setStrokeColor(GREY)
    canvas.setLineWidth(0.5)
    canvas.line(MARGIN, y, PAGE_WIDTH - MARGIN, y)
    y += 10

    link_h = 14.0
    column_h = QR_SIZE + link_h
    qr_x = MARGIN + (QR_COLUMN - QR_SIZE) / 2
    _draw_qr(canvas, link_url, qr_x, y + link_h, QR_SIZE)
    _draw_link(canvas, link_url, MARGIN + QR_COLUMN / 2, y + 2, QR_COLUMN + GAP / 2)

    side_x = MARGIN + QR_COLUMN + GAP
    side_w = WIDTH - QR_COLUMN - GAP
    top = y + column_h
    for item in side:
        _w, h = item.wrap(side_w, column_h)
        if top - h < y:
            break  # the rest (small print: more sources) does not fit the column
        top -= h
        item.drawOn(canvas, side_x, top)
        top -= item.getSpaceAfter()
    footer_top = y + column_h + 12
    canvas.setStrokeColor(ACCENT)
    canvas.setLineWidth(2)
    canvas.line(MARGIN, footer_top, PAGE_WIDTH - MARGIN, footer_top)

    # The head: title and notes, then as much of the body as fits above the footer.
    y = PAGE_HEIGHT - MARGIN
    canvas.setFillColor(ACCENT)
    canvas.rect(MARGIN, y - 4, 60, 4, stroke=0, fill=1)
    y -= 14
    head = [Paragraph(_markup(title), _TITLE)]
    head += [Paragraph(_markup(note), _NOTE) for note in notes]
    for item in head:
        _w, h = item.wrap(WIDTH, PAGE_HEIGHT)
        y -= h
        item.drawOn(canvas, MARGIN, y)
        y -= 6
    y -= 6
    more = Paragraph(html.escape(_("Shortened. The full text is in Safar.")), _NOTE)
    for item in _body_that_fits(body, style, y - footer_top - 10, more):
        _w, h = item.wrap(WIDTH, PAGE_HEIGHT)
        y -= h
        item.drawOn(canvas, MARGIN, y)
        y -= item.getSpaceAfter()
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def leaflet_pdf(article: Article, locale: str, link_url: str) -> bytes:
    """A one-page A4 PDF leaflet of *article* in *locale*, with a QR code of *link_url*
    (the deep link that opens the article in Safar)."""
    register_fonts()
    _ = gettext_for(locale)
    text, is_fallback = article.text(locale)
    notes = []
    if is_fallback:
        notes.append(_("This article is not yet in your language. Here it is in Russian."))
    elif text.review == "draft" and locale != "ru":
        notes.append(_("This translation has not yet been checked by a native speaker."))
    texts = paragraphs(text.body)
    checked = _("Checked on {date}").format(date=format_date(article.reviewed_on, locale))
    side = [
        Paragraph(html.escape(_("Read more and ask your own question in Safar:")), _CALL),
        Paragraph(html.escape(checked), _CHECKED),
    ]
    side[0].spaceAfter = side[1].spaceAfter = 8
    if article.sources:
        side.append(Paragraph(html.escape(_("Sources:")), _SMALL))
        side += [Paragraph("• " + _markup(s.title), _SMALL) for s in article.sources]
    with _LOCK:
        return _page(
            locale,
            text.title,
            notes,
            lambda style: [Paragraph(_markup(p), style) for p in texts],
            _BODY,
            side,
            link_url,
        )


def topic_leaflet_pdf(title: str, articles: Sequence[Article], locale: str, link_url: str) -> bytes:
    """A one-page A4 PDF leaflet of a topic: its *title* (already translated), the titles
    of its *articles* in *locale* with the date each was checked, and a QR code of
    *link_url* (the deep link that opens the topic in Safar)."""
    register_fonts()
    _ = gettext_for(locale)
    markup = []
    for article in articles:
        checked = _("Checked on {date}").format(date=format_date(article.reviewed_on, locale))
        markup.append(
            f"• <b>{_markup(article.text(locale)[0].title)}</b><br/>"
            f'<font size="9" color="#555555">{html.escape(checked)}</font>'
        )
    side = [Paragraph(html.escape(_("Read more and ask your own question in Safar:")), _CALL)]
    with _LOCK:
        return _page(
            locale,
            title,
            [],
            lambda style: [Paragraph(m, style) for m in markup],
            _ITEM,
            side,
            link_url,
        )
