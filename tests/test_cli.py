"""The command line: replay, kb check, eval-search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.i18n import gettext_for
from knowledge.loader import KnowledgeBase
from knowledge.schema import TOPICS
from knowledge.search import Searcher
from tests.conftest import make_harness

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "fixtures" / "questions-sample.jsonl"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_replay_prints_each_call_as_json_in_the_chosen_locale() -> None:
    proc = _run("replay", "tests/fixtures/conversation-tg.jsonl")
    assert proc.returncode == 0, proc.stderr
    calls = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {c["method"] for c in calls} >= {"sendMessage", "editMessageText"}
    sent = [c["params"]["text"] for c in calls if "text" in c["params"]]
    # After choosing Tajik, the menu is in Tajik.
    assert any(gettext_for("tg")("Main menu") in t for t in sent)


def test_replay_skips_a_line_that_is_not_an_update(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"update_id": 1, "message": "nonsense"}\nnot json\n')
    proc = _run("replay", str(bad))
    assert proc.returncode == 1
    assert "skipped" in proc.stderr and "Traceback" not in proc.stderr


def test_kb_check_passes_and_prints_counts() -> None:
    proc = _run("kb", "check")
    assert proc.returncode == 0, proc.stdout
    assert "by topic:" in proc.stdout and proc.stdout.rstrip().endswith("ok")


def test_eval_search_json_has_the_documented_shape() -> None:
    proc = _run("eval-search", str(EVAL), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) >= {"n", "top1", "top3", "abstained", "out_of_scope_abstained", "by_lang"}
    assert result["risk"] is None  # the sample file has no risk labels
    assert 0 <= result["top1"] <= result["top3"] <= 1
    assert all(set(v) >= {"n", "top1", "top3"} for v in result["by_lang"].values())


def test_without_a_token_python_m_bot_starts_an_offline_chat(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env["SAFAR_DB"] = str(tmp_path / "chat.db")
    proc = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True,
        input="5\nменга иш ҳақи бермаяпти\n/quit\n", timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "offline" in proc.stdout.splitlines()[0]
    # Button 5 is Ўзбекча: the menu and the answer then come in Uzbek Cyrillic.
    assert gettext_for("uz_Cyrl")("Main menu") in proc.stdout
    assert "[1] " in proc.stdout


async def test_stats_shows_unanswered_questions_by_reason_topic_and_language(
    db_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    """Where content is missing shows in `python -m bot stats`, without any text kept."""
    questions = ["погода завтра в москве", "подскажите пожалуйста а что потом"]
    async with make_harness(db_path, kb, searcher) as h:
        await h.press("l:ru")
        for question in questions:
            await h.say(question)
        await h.say("как проверить запрет на въезд в россию")
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env["SAFAR_DB"] = str(db_path)
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "stats", "--json"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    unanswered = stats["search_unanswered"]
    assert unanswered.get("weather:-:ru") == 1
    low = [key for key in unanswered if key.startswith("low_score:")]
    assert len(low) == 1 and low[0].endswith(":ru") and low[0].split(":")[1] in TOPICS
    assert sum(stats["search_answered"].values()) == 1
    assert all(word not in json.dumps(stats) for q in questions for word in q.split())
