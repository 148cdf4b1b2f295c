"""Command line: ``python -m bot [run|chat|replay|kb check|eval-search|eval-risk]``.

* ``run``: poll Telegram (or ``SAFAR_BOT_API_URL``) with ``BOT_TOKEN``.
* ``chat``: talk to the very same application in the terminal, offline (the default when
  no token is set). Type text; press a button by typing its number.
* ``replay FILE.jsonl``: feed recorded Telegram ``Update`` objects (one a line, raw or as
  ``{"update": {...}}``) through the application; print every Bot API call as a JSON line.
* ``kb check``: validate the knowledge base; print counts per topic and locale.
* ``eval-search FILE.jsonl [--json]``: score free-text search on a question set.
* ``eval-risk FILE.jsonl [--json]``: score the free-text danger detection (lines with
  ``text``, ``lang``, ``risk``): recall and precision per level, crisis and high recall per
  language.
* ``export-cases [--format json|csv] [--out FILE] [--min-count N]``: anonymous counts of
  referral cases by ISO week, country, urgency and need, for reports to donors.
* ``leaflet ID LOCALE OUT.pdf [--qr OUT.png] [--bot USERNAME]``: render the printable
  leaflet of an article (or a topic) in a locale, and optionally its QR code.
* ``estimate-ban [--json]``: read one JSON object (country, as_of, events) on standard input
  and print the ban estimate (JSON with ``--json``, else one line a ban). See
  docs/estimate-ban.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from bot.logs import setup_logging
from bot.settings import Settings, SettingsError, load_settings
from knowledge.loader import KnowledgeBaseError

log = logging.getLogger("bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Safar Telegram bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="poll Telegram with BOT_TOKEN")
    sub.add_parser("chat", help="offline conversation in the terminal")
    sub.add_parser("keygen", help="print a new SAFAR_DATA_KEY")
    replay = sub.add_parser("replay", help="feed recorded updates, print Bot API calls")
    replay.add_argument("file", type=Path)
    replay.add_argument("--db", default=":memory:", help="database (default: in memory)")
    kb = sub.add_parser("kb", help="knowledge-base tools")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    kb_sub.add_parser("check", help="validate articles and print counts")
    ev = sub.add_parser("eval-search", help="score search on a question set")
    ev.add_argument("file", type=Path)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    risk = sub.add_parser("eval-risk", help="score danger detection on a labelled set")
    risk.add_argument("file", type=Path)
    risk.add_argument("--json", action="store_true", help="print one JSON object")
    export = sub.add_parser(
        "export-cases", help="anonymous referral counts by need, urgency, country and week"
    )
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    export.add_argument(
        "--min-count",
        type=int,
        default=1,
        help="leave out rows with fewer cases than this (small cells; default 1: none)",
    )
    stats = sub.add_parser(
        "stats", help="anonymous usage: articles read, questions answered and unanswered"
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    leaflet = sub.add_parser("leaflet", help="render a printable leaflet (PDF)")
    leaflet.add_argument("key", metavar="ID", help="article id or topic (e.g. ban_check)")
    leaflet.add_argument("locale", help="ky, tg, ru, uz or uz_Cyrl")
    leaflet.add_argument("out", type=Path, help="PDF file to write")
    leaflet.add_argument("--qr", type=Path, help="also write the QR code as this PNG file")
    leaflet.add_argument("--bot", default="safar_bot", help="bot username for the deep link")
    est = sub.add_parser("estimate-ban", help="estimate entry bans from JSON on stdin")
    est.add_argument("--json", action="store_true", help="print the estimate as JSON")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"safar: bad setting: {exc}", file=sys.stderr)
        return 2
    command = args.command or ("run" if settings.token else "chat")
    level = settings.log_level
    if command == "chat" and level in ("DEBUG", "INFO"):
        level = "WARNING"  # keep the terminal conversation free of log lines
    setup_logging(level, [settings.token or ""])
    try:
        if command == "run":
            return _run(settings)
        if command == "keygen":
            from bot.crypto import new_key

            print(new_key())
            return 0
        if command == "chat":
            from bot.chat import chat

            return asyncio.run(chat(settings))
        if command == "replay":
            from bot.replay import replay

            return asyncio.run(replay(settings, args.file, args.db))
        if command == "kb":
            return _kb_check(settings.kb_dir)
        if command == "eval-search":
            return _eval_search(settings.kb_dir, args.file, args.json)
        if command == "eval-risk":
            return _eval_risk(args.file, args.json)
        if command == "estimate-ban":
            return _estimate_ban(args.json)
        if command == "export-cases":
            return asyncio.run(_export_cases(settings, args.format, args.out, args.min_count))
        if command == "stats":
            return asyncio.run(_stats(settings, args.json))
        if command == "leaflet":
            return _leaflet(settings.kb_dir, args.key, args.locale, args.out, args.qr, args.bot)
    except KnowledgeBaseError as exc:
        print(f"safar: the knowledge base is invalid:\n{exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"safar: {exc}", file=sys.stderr)
        return 2
    return 2


def _run(settings: Settings) -> int:
    if not settings.token:
        print(
            "safar: BOT_TOKEN is not set; use 'python -m bot chat' to try Safar offline.",
            file=sys.stderr,
        )
        return 2
    if not settings.data_key:
        print(
            "safar: SAFAR_DATA_KEY is not set; make one with 'python -m bot keygen' and keep it"
            " safe (personal data is encrypted with it).",
            file=sys.stderr,
        )
        return 2
    from telegram import Update
    from telegram.error import InvalidToken

    from bot.app import build_application

    try:
        asyncio.run(_wait_for_bot_api(settings))
    except InvalidToken:
        print("safar: the Bot API rejected BOT_TOKEN; check it with @BotFather.", file=sys.stderr)
        return 2
    app = build_application(settings, publish_commands=True)
    log.info("polling for updates")
    try:
        # bootstrap_retries=-1: if the Bot API cannot be reached at start, keep trying
        # (a network outage should not stop the service) instead of exiting.
        app.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)
    except InvalidToken:
        print("safar: the Bot API rejected BOT_TOKEN; check it with @BotFather.", file=sys.stderr)
        return 2
    return 0


async def _wait_for_bot_api(settings: Settings) -> None:
    """Call ``getMe`` until the Bot API answers, warning after each failure (waits 1 s,
    doubling to at most 60 s), so that an unreachable server is said, not silent.

    Raises:
        telegram.error.InvalidToken: the server rejected the token.
    """
    from telegram import Bot
    from telegram.error import NetworkError

    assert settings.token is not None
    base_url = (
        f"{settings.bot_api_url}/bot" if settings.bot_api_url else "https://api.telegram.org/bot"
    )
    delay = 1.0
    while True:
        try:
            async with Bot(settings.token, base_url=base_url):
                return
        except NetworkError as exc:  # includes TimedOut; InvalidToken is not one
            log.warning("cannot reach the Bot API (%s); trying again in %.0f s",
                        type(exc).__name__, delay)  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, 60.0)


def _kb_check(kb_dir: Path) -> int:
    from knowledge.loader import check_knowledge_base
    from knowledge.schema import LOCALES, TOPICS

    report = check_knowledge_base(kb_dir)
    print(f"articles: {report.articles}")
    print("by topic:")
    for topic in TOPICS:
        print(f"  {topic:<26} {report.by_topic[topic]:>3}")
    print("by locale (native-reviewed):")
    for locale in LOCALES:
        print(f"  {locale:<8} {report.by_locale[locale]:>3} ({report.native_by_locale[locale]})")
    for warning in report.warnings:
        print(f"warning: {warning}")
    for error in report.errors:
        print(f"error: {error}")
    print("ok" if report.ok else f"FAILED: {len(report.errors)} error(s)")
    return 0 if report.ok else 1


def _eval_search(kb_dir: Path, path: Path, as_json: bool) -> int:
    from knowledge.answer import answer
    from knowledge.evaluation import evaluate, read_questions
    from knowledge.loader import load_knowledge_base
    from knowledge.risk import assess
    from knowledge.search import Searcher

    searcher = Searcher(load_knowledge_base(kb_dir))
    result = evaluate(
        read_questions(path), lambda t: answer(searcher, t), lambda t: assess(t).needs_help
    )
    print(json.dumps(result.as_dict(), ensure_ascii=False) if as_json else result.table())
    return 0


def _eval_risk(path: Path, as_json: bool) -> int:
    from knowledge.evaluation import evaluate_risk, read_risk_lines
    from knowledge.risk import assess

    result = evaluate_risk(read_risk_lines(path), lambda text: assess(text).level)
    print(json.dumps(result.as_dict(), ensure_ascii=False) if as_json else result.table())
    return 0


async def _stats(settings: Settings, as_json: bool) -> int:
    """Anonymous usage counts over all days, most first: articles read, questions answered
    (by article) and questions not answered (by reason, nearest topic and language; see
    ``bot.handlers.search.unanswered_bucket``). JSON: ``{"article_view": {key: n},
    "search_answered": {...}, "search_unanswered": {...}}``. Nothing personal is read."""
    from bot.storage import ARTICLE_VIEW, SEARCH_ANSWERED, SEARCH_UNANSWERED, Storage

    kinds = (ARTICLE_VIEW, SEARCH_ANSWERED, SEARCH_UNANSWERED)
    async with await Storage.open(settings.db) as storage:
        counts = {kind: await storage.usage(kind) for kind in kinds}
    ordered = {
        kind: dict(sorted(by_key.items(), key=lambda kv: (-kv[1], kv[0])))
        for kind, by_key in counts.items()
    }
    if as_json:
        print(json.dumps(ordered, ensure_ascii=False))
        return 0
    titles = {
        ARTICLE_VIEW: "Articles read",
        SEARCH_ANSWERED: "Questions answered, by article",
        SEARCH_UNANSWERED: "Questions not answered, by reason:nearest topic:language",
    }
    for kind in kinds:
        print(f"{titles[kind]} ({sum(ordered[kind].values())}):")
        for key, n in ordered[kind].items():
            print(f"  {n:>6}  {key}")
    return 0


async def _export_cases(settings: Settings, fmt: str, out: Path | None, min_count: int) -> int:
    """Anonymous counts of referral cases (no key needed: nothing personal is read).

    JSON: ``{"generated_at", "totals": {...}, "rows": [{"week", "country", "urgency",
    "need", "cases"}], "left_out_rows"}``; CSV: the rows, with a header line.
    """
    import csv
    import datetime as dt
    import io

    from bot import cases
    from bot.storage import Storage

    if str(settings.db) != ":memory:" and not Path(settings.db).exists():
        print(f"safar: no database at {settings.db}", file=sys.stderr)
        return 2
    async with await Storage.open(settings.db) as storage:
        rows = await cases.export_counts(storage)
        totals = await cases.export_totals(storage)
    kept = [row for row in rows if row["cases"] >= min_count]
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["week", "country", "urgency", "need", "cases"])
        writer.writeheader()
        writer.writerows(kept)
        text = buffer.getvalue()
    else:
        report = {
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "totals": totals,
            "rows": kept,
            "left_out_rows": len(rows) - len(kept),
        }
        text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"{out}: {len(kept)} row(s), {totals['cases']} case(s)")
    return 0


def _leaflet(
    kb_dir: Path, key: str, locale: str, out: Path, qr: Path | None, bot_username: str
) -> int:
    from bot import deeplinks
    from bot.deeplinks import Link
    from bot.i18n import gettext_for
    from bot.leaflets import leaflet_pdf, qr_png, topic_leaflet_pdf
    from bot.ui import TOPIC_TITLES
    from knowledge.loader import load_knowledge_base
    from knowledge.schema import LOCALES, TOPICS

    if locale not in LOCALES:
        print(f"safar: unknown locale {locale!r}; one of {', '.join(LOCALES)}", file=sys.stderr)
        return 2
    kb = load_knowledge_base(kb_dir)
    article = kb.get(key)
    if article is not None:
        link = deeplinks.url(bot_username, Link("article", locale, key))
        pdf = leaflet_pdf(article, locale, link)
    elif key in TOPICS:
        link = deeplinks.url(bot_username, Link("topic", locale, key))
        title = gettext_for(locale)(TOPIC_TITLES[key])
        pdf = topic_leaflet_pdf(title, kb.by_topic(key), locale, link)
    else:
        print(f"safar: no article or topic {key!r}", file=sys.stderr)
        return 2
    out.write_bytes(pdf)
    print(f"{out}: {link}")
    if qr is not None:
        qr.write_bytes(qr_png(link))
        print(f"{qr}: {link}")
    return 0


def _estimate_ban(as_json: bool) -> int:
    """Read one JSON object on stdin, print the estimate; exit 2 on bad input."""
    from dialogs.ban_estimator import estimate_json

    try:
        data = json.loads(sys.stdin.read())
    except json.JSONDecodeError as exc:
        print(f"safar: standard input is not JSON: {exc}", file=sys.stderr)
        return 2
    result = estimate_json(data)  # ValueError -> "safar: ..." and exit 2 in main()
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    for ban in result["bans"]:
        length = f"{ban['years']} years" if ban["years"] else f"until {ban['until']}"
        print(
            f"{ban['basis']}: {length}, {ban['start'] or '-'} .. {ban['end'] or '-'}"
            f" ({'confirmed' if ban['confirmed'] else 'not confirmed: check officially'})"
        )
    print(f"latest end: {result['latest_end'] or '-'}"
          + (" (may be longer)" if result["may_be_longer"] else ""))  # fmt: skip
    print("This is an estimate. Confirm it officially (MVD check or a written request).")
    return 0
