"""Scratch robustness probes (temporary)."""

from __future__ import annotations

import html
import json
import logging
import re
import sqlite3
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po

from bot.i18n import gettext_for
from knowledge.schema import LOCALES
from tests.conftest import Harness, buttons, texts, user

ROOT = Path(__file__).resolve().parent.parent
with open(ROOT / "locales/messages.pot", "rb") as f:
    MSGIDS = [m.id for m in read_po(f) if m.id and isinstance(m.id, str)]

TR = {loc: {m: gettext_for(loc)(m) for m in MSGIDS} for loc in LOCALES}
DISTINCT: dict[str, set[str]] = {}
for loc in LOCALES:
    s = set()
    for m in MSGIDS:
        t = TR[loc][m]
        if all(TR[o][m] != t for o in LOCALES if o != loc):
            s.add(t.split("{")[0].strip())
    DISTINCT[loc] = {x for x in s if len(x) >= 4}

ALLOWED = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
}


class Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.plain: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED:
            self.problems.append(f"bad tag <{tag}>")
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"unbalanced </{tag}> stack={self.stack}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.plain.append(data)

    def handle_entityref(self, name):
        if name not in ("lt", "gt", "amp", "quot"):
            self.problems.append(f"bad entity &{name};")
        self.plain.append(html.unescape(f"&{name};"))

    def handle_charref(self, name):
        self.plain.append(html.unescape(f"&#{name};"))


def html_problems(text: str) -> tuple[list[str], str]:
    c = Checker()
    c.feed(text)
    c.close()
    if c.stack:
        c.problems.append(f"unclosed {c.stack}")
    if re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        c.problems.append("raw &")
    return c.problems, "".join(c.plain)


def strings(calls) -> list[str]:
    out = []
    for c in calls:
        if c.method in ("sendMessage", "editMessageText"):
            _, plain = html_problems(str(c.params["text"]))
            out += [ln.strip() for ln in plain.split("\n") if ln.strip()]
            markup = c.params.get("reply_markup")
            if markup:
                out += [b["text"] for row in markup["inline_keyboard"] for b in row]
        if c.method == "answerCallbackQuery" and c.params.get("text"):
            out.append(c.params["text"])
    return out


def locales_seen(calls) -> set[str]:
    seen = set()
    for s in strings(calls):
        for loc in LOCALES:
            if any(s.startswith(d) for d in DISTINCT[loc]):
                seen.add(loc)
    return seen


def check(
    calls,
    caplog,
    *,
    locale: str | None = None,
    private=True,
    reply=True,
    callback=False,
    silent=False,
) -> list[str]:
    p: list[str] = []
    errs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    if errs:
        p.append("ERROR logged: " + "; ".join(r.getMessage() for r in errs))
    warns = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("bot")]
    if warns:
        p.append("WARNING logged: " + "; ".join(r.getMessage() for r in warns))
    sent = [c for c in calls if c.method in ("sendMessage", "editMessageText")]
    for c in sent:
        t = str(c.params["text"])
        probs, plain = html_problems(t)
        if probs:
            p.append(f"HTML: {probs} in {t[:80]!r}")
        if len(plain) > 4096 or len(plain.encode("utf-16-le")) // 2 > 4096:
            p.append(f"too long: {len(plain)}")
        if not plain.strip():
            p.append("empty text")
        if c.params.get("parse_mode") != "HTML":
            p.append(f"parse_mode {c.params.get('parse_mode')}")
        markup = c.params.get("reply_markup")
        if markup:
            for row in markup["inline_keyboard"]:
                for b in row:
                    if "callback_data" in b and len(b["callback_data"].encode()) > 64:
                        p.append("callback_data > 64 bytes")
    if callback:
        n = sum(c.method == "answerCallbackQuery" for c in calls)
        if n != 1:
            p.append(f"answerCallbackQuery called {n} times")
    if silent and sent:
        p.append(f"sent in non-private chat: {[c.params['text'][:60] for c in sent]}")
    if reply and private and not sent:
        p.append("no reply in private chat")
    if locale and sent:
        seen = locales_seen(calls)
        if locale != "ru" or seen:
            if locale not in seen and not (locale == "ru" and not seen):
                p.append(f"reply not in {locale}; seen {seen}")
            if seen - {locale}:
                p.append(f"reply has other locales {seen - {locale}}")
    return p


def show(label, calls, problems):
    print(f"\n=== {label}: {[c.method for c in calls]}")
    for c in calls:
        if c.method in ("sendMessage", "editMessageText", "answerCallbackQuery"):
            print("   ", c.method, repr(str(c.params.get("text"))[:100]))
    for pr in problems:
        print("   PROBLEM:", pr)
