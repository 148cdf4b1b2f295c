"""Throughput benchmark: Safar's Application against a bare PTB echo bot, same stream, same
transport; plus Safar's start-up time and memory.

    python bench/throughput.py [--record] [--write bench/RESULTS.md]

* The stream (``bench/stream.jsonl``, made once with ``--record``, deterministic): 60
  people in the five locales, each starting, choosing a language, then mostly pressing
  menu buttons (sections, topics, articles, Back, Menu) and typing questions (the
  articles' own example questions, lower-cased and without punctuation, as people type),
  interleaved as they would arrive.
* Before anything is measured, two separate processes build Safar's language model and
  search index (what a first start builds, each in a child process of the bot: see
  ``knowledge/index_cache.py``), in a fresh folder, timing them and reading their peak
  RSS; the files are then kept in the benchmark's cache folder if it lacks them (a fresh
  clone), so that the measured Safar process loads them as a restarted bot does.
* Each bot runs in its own process on :class:`bot.transport.RecordingRequest` (no network;
  Safar with its search index cached on disk, as a restarted bot has it),
  without PTB's rate limiter (it would hold both to Telegram's 30 sends a second) and, for
  Safar, without flood limits (the stream is faster than people). Each first handles 30
  warm-up updates of other people, then the stream, one update at a time as polling
  delivers them; per update, the time of ``Application.process_update``.
* Start-up: the real ``python -m bot run`` against the Bot API stand-in
  (``tests/botapi_stub.py``) on 127.0.0.1, from process start to its first ``getUpdates``,
  first with no cached search index (cold), then with it (warm), and its peak RSS.

Prints a table; ``--write`` appends it to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STREAM = Path(__file__).with_name("stream.jsonl")
sys.path.insert(0, str(ROOT))

PEOPLE = 60
#: Where the measured Safar process finds its search index and language model.
BENCH_DIR = Path(tempfile.gettempdir()) / "safar-bench"
WARM_UP = 30
LOCALES = ("ky", "tg", "ru", "uz", "uz_Cyrl")


# ------------------------------------------------------------------ the stream


def record_stream(seed: int = 7) -> list[dict[str, Any]]:
    """The benchmark's updates (deterministic for a knowledge base and seed)."""
    from knowledge.loader import load_knowledge_base
    from knowledge.sections import SECTIONS

    kb = load_knowledge_base()
    rng = random.Random(seed)
    per_person: list[list[dict[str, Any]]] = []
    for n in range(PEOPLE):
        uid = 9_100_000 + n
        locale = LOCALES[n % len(LOCALES)]
        questions = [
            re.sub(r"[?!.,;:«»\"]", "", q).lower()
            for a in kb.articles.values()
            for q in a.locales[locale].questions
        ] if True else []  # fmt: skip
        user = {"id": uid, "is_bot": False, "first_name": "Bench", "language_code": "ru"}
        chat = {"id": uid, "type": "private", "first_name": "Bench"}
        events: list[tuple[str, str]] = [("text", "/start"), ("press", f"l:{locale}")]
        for _ in range(rng.randint(8, 14)):
            roll = rng.random()
            if roll < 0.4 and questions:
                events.append(("text", rng.choice(questions)))
                continue
            section = rng.choice(list(SECTIONS))
            topic = rng.choice(SECTIONS[section])
            articles = kb.by_topic(topic)
            path = [f"s:{section}", f"t:{topic}:{section}"]
            if articles:
                path.append(f"a:{rng.choice(articles).id}:{section}")
            path.append(rng.choice(["h", f"t:{topic}:{section}", "ask", "lang"]))
            events.extend(("press", data) for data in path[: rng.randint(1, len(path))])
        updates = []
        for kind, value in events:
            if kind == "text":
                message: dict[str, Any] = {"message_id": 0, "date": 0, "chat": chat,
                                           "from": user, "text": value}  # fmt: skip
                if value.startswith("/"):
                    message["entities"] = [{"type": "bot_command", "offset": 0,
                                            "length": len(value.split()[0])}]  # fmt: skip
                updates.append({"message": message})
            else:
                updates.append({"callback_query": {
                    "id": "0", "from": user, "chat_instance": str(uid), "data": value,
                    "message": {"message_id": 1, "date": 0, "chat": chat, "text": "…"},
                }})  # fmt: skip
        per_person.append(updates)
    stream: list[dict[str, Any]] = []
    while any(per_person):  # people write at the same time: interleave them
        person = rng.choice([p for p in per_person if p])
        stream.append(person.pop(0))
    for number, update in enumerate(stream, start=1):
        update["update_id"] = number
        body = update.get("message") or update["callback_query"]
        if "message" in update:
            body["message_id"] = number
            body["date"] = 1_765_000_000 + number
        else:
            body["id"] = str(number)
            body["message"]["date"] = 1_765_000_000
    return stream


# ------------------------------------------------------------------ one bot, in this process


def _echo_app(request: Any) -> Any:
    from telegram import Update
    from telegram.constants import ParseMode
    from telegram.ext import Application, CallbackQueryHandler, Defaults, MessageHandler, filters

    from bot.transport import OFFLINE_TOKEN

    async def echo(update: Update, context: Any) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(html.escape(update.effective_message.text or ""))

    async def press(update: Update, context: Any) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text(html.escape(query.data or ""))

    app = (
        Application.builder()
        .token(OFFLINE_TOKEN)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .request(request)
        .get_updates_request(request)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.add_handler(CallbackQueryHandler(press))
    return app


async def _run(kind: str, stream: list[dict[str, Any]]) -> dict[str, Any]:
    from telegram import Update

    from bot.transport import RecordingRequest

    request = RecordingRequest()
    started = time.perf_counter()
    tmp = tempfile.TemporaryDirectory()
    if kind == "safar":
        from bot import guard
        from bot.app import build_application, close_services, open_services
        from bot.settings import Settings
        from knowledge.index_cache import cached_searcher
        from knowledge.loader import load_knowledge_base

        # A fresh database in a folder that keeps the search index and language model
        # cached, as a restarted bot has them (built by _prepare before).
        folder = BENCH_DIR
        folder.mkdir(exist_ok=True)
        for old in folder.glob("bench.db*"):
            old.unlink()
        settings = Settings(SAFAR_DB=folder / "bench.db")  # type: ignore[call-arg]
        kb = load_knowledge_base()
        searcher = cached_searcher(kb, folder)
        app = build_application(
            settings, kb=kb, request=request, rate_limited=False, searcher=searcher
        )
        unlimited = guard.FloodControl(limit=10**9)
        guard.install(app.bot_data, guard.Guards(unlimited, unlimited))
        await app.initialize()
        await open_services(app)
    else:
        app = _echo_app(request)
        await app.initialize()
    ready = time.perf_counter() - started
    warm = [json.loads(json.dumps(u)) for u in stream[:WARM_UP]]
    for u in warm:  # other people, so that the stream's state starts fresh
        for key in ("message", "callback_query"):
            if key in u:
                u[key]["from"]["id"] += 1000
                (u[key].get("chat") or u[key]["message"]["chat"])["id"] += 1000
        await app.process_update(Update.de_json(u, app.bot))
    latencies = []
    slowest: list[tuple[float, str]] = []
    began = time.perf_counter()
    for data in stream:
        t0 = time.perf_counter()
        await app.process_update(Update.de_json(data, app.bot))
        latencies.append(time.perf_counter() - t0)
        what = data["callback_query"]["data"] if "callback_query" in data else "text"
        slowest.append((latencies[-1], what))
        request.calls.clear()
    elapsed = time.perf_counter() - began
    if kind == "safar":
        await close_services(app)
    await app.shutdown()
    tmp.cleanup()
    latencies.sort()
    return {
        "kind": kind,
        "updates": len(stream),
        "seconds": elapsed,
        "per_second": len(stream) / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * len(latencies)) - 1],
        "max_ms": 1000 * latencies[-1],
        "ready_s": ready,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "slowest": [f"{1000 * t:.1f} ms {w}" for t, w in sorted(slowest, reverse=True)[:8]],
    }


def _prepare(part: str) -> dict[str, Any]:
    """Build *part* (the search index or the language model) as a first start does in its
    child process (here, a child of the benchmark), in a fresh folder; keep it in
    :data:`BENCH_DIR`. Timed from the build's start (the bot's child gets the articles
    already loaded)."""
    import shutil

    BENCH_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as fresh:
        if part == "language_model":  # what that child imports: knowledge.langdetect only
            from knowledge import langdetect

            began = time.perf_counter()
            langdetect.set_cache_dir(Path(fresh))
            langdetect.warm_up()
        else:
            from knowledge.index_cache import cached_searcher
            from knowledge.loader import load_knowledge_base

            kb = load_knowledge_base()
            began = time.perf_counter()
            cached_searcher(kb, Path(fresh))
        seconds = time.perf_counter() - began
        for built in Path(fresh).glob("safar-*.pickle"):
            if not (BENCH_DIR / built.name).exists():
                shutil.copy2(built, BENCH_DIR / built.name)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb": peak}


def _child(kind: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--run", kind], cwd=ROOT, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------------ start-up of the real process


async def _startup(db_dir: Path) -> tuple[float, float]:
    """Seconds from starting ``python -m bot run`` to its first getUpdates, and its peak
    RSS in MB (from /proc at that moment, VmHWM)."""
    from tests.botapi_stub import BotAPIStub
    from tests.conftest import TEST_DATA_KEY

    async with BotAPIStub() as stub:
        env = {
            **os.environ,
            "BOT_TOKEN": stub.token,
            "SAFAR_DATA_KEY": TEST_DATA_KEY,
            "SAFAR_BOT_API_URL": stub.root,
            "SAFAR_DB": str(db_dir / "startup.db"),
            "SAFAR_LOG_LEVEL": "WARNING",
        }
        began = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await stub.wait_for("getUpdates", timeout=60)
        seconds = time.perf_counter() - began
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        proc.kill()
        await proc.wait()
    return seconds, hwm


# ------------------------------------------------------------------ main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--record", action="store_true", help="write bench/stream.jsonl anew")
    parser.add_argument(
        "--run", choices=["safar", "echo", "language_model", "search_index"], help=argparse.SUPPRESS
    )
    parser.add_argument("--write", type=Path, help="append the results to this Markdown file")
    args = parser.parse_args()
    if args.record:
        stream = record_stream()
        STREAM.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in stream),
                          encoding="utf-8")  # fmt: skip
        print(f"{STREAM}: {len(stream)} updates")
        return 0
    stream = [json.loads(line) for line in STREAM.read_text(encoding="utf-8").splitlines()]
    if args.run in ("language_model", "search_index"):
        print(json.dumps(_prepare(args.run)))
        return 0
    if args.run:
        print(json.dumps(asyncio.run(_run(args.run, stream))))
        return 0
    kinds = {
        "texts": sum("message" in u for u in stream),
        "presses": sum("callback_query" in u for u in stream),
    }
    built = {part: _child(part) for part in ("language_model", "search_index")}
    echo = _child("echo")
    safar = _child("safar")
    with tempfile.TemporaryDirectory() as folder:
        cold, cold_rss = asyncio.run(_startup(Path(folder)))
        warm_runs = [asyncio.run(_startup(Path(folder))) for _ in range(3)]
    warm = statistics.median(s for s, _ in warm_runs)
    warm_rss = max(r for _, r in warm_runs)
    load = os.getloadavg()
    lines = [
        f"### Throughput ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Stream: {len(stream)} updates ({kinds['presses']} button presses, {kinds['texts']} "
        f"texts) from {PEOPLE} people in five locales; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} at the end (other sessions were running tests: see below).",
        "",
        "| bot | updates/s | p50 ms | p95 ms | max ms | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in (echo, safar):
        lines.append(
            f"| {r['kind']} | {r['per_second']:.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} "
            f"| {r['max_ms']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"Ratio Safar / echo: **{safar['per_second'] / echo['per_second']:.2f}**. Safar's "
        f"slowest updates: {', '.join(safar['slowest'][:5])}.",
        "",
        f"Start-up of `python -m bot run` to its first getUpdates: **{warm:.2f} s** with the "
        f"search index cached (median of 3; peak RSS {warm_rss:.0f} MB), {cold:.2f} s cold "
        f"(index and language model built and saved by a child process of the bot; the "
        f"bot's own peak RSS {cold_rss:.0f} MB). In-process, Safar was ready "
        f"to handle updates {safar['ready_s']:.2f} s after its benchmark process began "
        f"importing it. A first start builds the language model and the search index, each "
        f"in a child process: {built['language_model']['seconds']:.1f} s and "
        f"{built['search_index']['seconds']:.1f} s, peak RSS of those processes "
        f"{built['language_model']['peak_rss_mb']:.0f} and "
        f"{built['search_index']['peak_rss_mb']:.0f} MB.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with args.write.open("a", encoding="utf-8") as file:
            file.write("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
