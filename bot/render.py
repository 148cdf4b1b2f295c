"""Rendering knowledge-base articles as Telegram messages (HTML parse mode).

Article text is plain text in the data; it is HTML-escaped here so that any ``<`` or ``&``
shows literally. Every message fits Telegram's 4,096-character limit: longer text is split
at paragraph, then line, then word boundaries.
"""

from __future__ import annotations

import html

from bot.i18n import format_date, gettext_for
from knowledge.schema import Article

#: Telegram's limit on the text of one message, in characters (after entity parsing).
MESSAGE_LIMIT = 4096


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split *text* into parts of at most *limit* characters.

    Splits at the last blank line before the limit, else the last newline, else the last
    space, else hard at the limit. HTML tags used by :func:`render_article` never span a
    line, so a split at a line boundary never breaks a tag.
    """
    parts: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep)
            if cut > limit // 4:
                break
        if cut <= 0:
            cut = limit
            amp = window.rfind("&", limit - 10)
            if amp > 0 and ";" not in window[amp:]:
                cut = amp  # never split an HTML entity such as &amp;
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


#: Rendered articles by (id of the article object, locale), with the object itself so that
#: the id stays its own while cached (articles are immutable).
_RENDERED: dict[tuple[int, str], tuple[Article, tuple[str, ...]]] = {}
_RENDERED_MAX = 2048


def _render(article: Article, locale: str) -> list[str]:
    _ = gettext_for(locale)
    text, is_fallback = article.text(locale)
    lines = [f"<b>{html.escape(text.title, quote=False)}</b>", ""]
    if is_fallback:  # said first, so that nobody reads a whole text wondering why
        note = _("This article is not yet in your language. Here it is in Russian.")
        lines += [f"<i>{html.escape(note)}</i>", ""]
    lines.append(html.escape(text.body, quote=False))
    if not is_fallback and text.review == "draft" and locale != "ru":
        note = _("This translation has not yet been checked by a native speaker.")
        lines += ["", f"<i>{html.escape(note)}</i>"]
    if article.sources:
        lines += ["", html.escape(_("Sources:"))]
        for source in article.sources:
            url = html.escape(source.url, quote=True)
            lines.append(f'• <a href="{url}">{html.escape(source.title)}</a>')
        checked = _("Checked on {date}").format(date=format_date(article.reviewed_on, locale))
        lines.append(html.escape(checked))
    return split_message("\n".join(lines))


def render_article(article: Article, locale: str) -> list[str]:
    """The article in *locale* as one or more HTML message texts (rendered once per
    article and locale, then kept: the result depends on nothing else).

    Shape: bold title; a note if the text is the Russian fallback; body; a note if the
    translation is not yet reviewed; then, for every article with sources, the sources as links and
    "Checked on <date>" with ``reviewed_on`` formatted by Babel for *locale*.
    """
    key = (id(article), locale)
    found = _RENDERED.get(key)
    if found is not None and found[0] is article:
        return list(found[1])
    parts = _render(article, locale)
    if len(_RENDERED) >= _RENDERED_MAX:  # knowledge bases reloaded many times (tests)
        _RENDERED.clear()
    _RENDERED[key] = (article, tuple(parts))
    return parts
