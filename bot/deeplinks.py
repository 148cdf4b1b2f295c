"""Deep-link payloads: ``https://t.me/<bot>?start=<payload>`` opens a screen in a locale.

Telegram allows at most 64 characters of ``A-Z a-z 0-9 _ -`` in a payload. Ours are
``<kind>_<key>_<locale code>``:

| payload                           | opens                          |
|-----------------------------------|--------------------------------|
| ``a_ru-ban-check-online_tg``      | an article                     |
| ``t_ban_check_ky``                | a topic's list of articles     |
| ``m_uz``                          | the main menu                  |

Locale codes avoid ``_``: ``ky``, ``tg``, ``ru``, ``uz`` and ``uzc`` for ``uz_Cyrl``.
Anything else decodes to ``None`` and the bot falls back to its usual start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from telegram.helpers import create_deep_linked_url

from knowledge.schema import LOCALES, TOPICS

#: Locale -> its code in links and commands (``uz_Cyrl`` -> ``uzc``), and back.
LOCALE_CODE = {locale: ("uzc" if locale == "uz_Cyrl" else locale) for locale in LOCALES}
LOCALE_OF_CODE = {code: locale for locale, code in LOCALE_CODE.items()}
_PAYLOAD_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class Link:
    """What a deep link opens: ``kind`` is ``article``, ``topic`` or ``menu``."""

    kind: str
    locale: str
    key: str = ""


def encode(link: Link) -> str:
    """The payload of *link*.

    Raises:
        ValueError: the payload would break Telegram's rules (over 64 characters).
    """
    code = LOCALE_CODE[link.locale]
    payload = {"article": f"a_{link.key}_{code}", "topic": f"t_{link.key}_{code}"}.get(
        link.kind, f"m_{code}"
    )
    if not _PAYLOAD_RE.match(payload):
        raise ValueError(f"payload {payload!r} is not a valid deep-link payload")
    return payload


def decode(payload: str, article_ids: set[str] | frozenset[str]) -> Link | None:
    """The :class:`Link` in *payload*, or ``None`` if it is malformed, names an unknown
    article or topic, or an unknown locale."""
    if not _PAYLOAD_RE.match(payload) or "_" not in payload:
        return None
    kind, _, rest = payload.partition("_")
    key, _, code = rest.rpartition("_") if kind != "m" else ("", "", rest)
    locale = LOCALE_OF_CODE.get(code)
    if locale is None:
        return None
    if kind == "m" and not key:
        return Link("menu", locale)
    if kind == "a" and key in article_ids:
        return Link("article", locale, key)
    if kind == "t" and key in TOPICS:
        return Link("topic", locale, key)
    return None


def url(bot_username: str, link: Link) -> str:
    """The ``https://t.me/...`` address that opens *link* in the bot *bot_username*."""
    return create_deep_linked_url(bot_username, encode(link))
