"""Free-text danger detection in four levels, and ``python -m bot eval-risk``.

The sentences are written for these tests (not taken from any eval set), typed the way
people type on a phone: Uzbek in both scripts, Russian words mixed in, typos.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from knowledge.evaluation import RiskLine, evaluate_risk, read_risk_lines
from knowledge.risk import assess

ROOT = Path(__file__).resolve().parent.parent
OWN = ROOT / "tests" / "questions" / "risk-own.jsonl"

LEVELS = [
    ("больше не хочу жить", "crisis"),
    ("мени уруп жатышат, кан агып жатат", "crisis"),
    ("моро дар хона қулф карданд", "crisis"),
    ("bizni yerto‘lada qamab qo‘yishdi", "crisis"),
    ("қарзни ишлаб берасан деб мажбурлашяпти", "crisis"),
    ("работодатель забрал паспорт и не отдаёт", "high"),
    ("паспортумду кожоюн алып койду", "high"),
    ("шиносномаамро гирифтанд, пас намедиҳанд", "high"),
    ("ish beruvchi pasportimni olib qo‘ydi", "high"),
    ("иш берувчи ҳужжатларимни бермаяпти", "high"),
    ("два дня ничего не ели, денег нет", "high"),
    ("жатаканадан кууп чыгышты, көчөдө калдык", "high"),
    ("на границе развернули, сижу в аэропорту без денег", "high"),
    ("chegarada qaytarishdi, pulim yo‘q", "high"),
    ("брата задержали и держат в ЦВСИГ", "high"),
    ("у меня запрет на въезд, что делать", "elevated"),
    ("эки айдан бери айлык беришпей жатат", "high"),
    ("айлык бир жумага кечигип жатат", "elevated"),
    ("как проверить запрет на въезд", "none"),
    ("сколько стоит патент в Москве", "none"),
]


@pytest.mark.parametrize(("text", "level"), LEVELS)
def test_each_level_is_found_in_every_language_and_script(text: str, level: str) -> None:
    assert assess(text).level == level


#: Serious harm that needs a caseworker soon (``high``), as people type it: Russian in
#: Latin letters, Kyrgyz and Tajik without their special letters, Uzbek in both scripts.
HIGH_KINDS = [
    ("четвертый месяц зарплату не выплачивают, прораб трубку не берет", "wages_unpaid_months"),
    ("zarplatu ne dayut uzhe 3 mesyaca", "wages_unpaid_months"),
    ("4 айдан бери айлык беришпейт", "wages_unpaid_months"),
    ("panj mohi maosh namedihand", "wages_unpaid_months"),
    ("ikki oydan beri maosh berishmayapti", "wages_unpaid_months"),
    ("судья вынес выдворение, жду в спецприемнике", "expulsion_ordered"),
    ("сот мага выдворение берди", "expulsion_ordered"),
    ("суд ба бародарам выдворение дод", "expulsion_ordered"),
    ("suddan vydvorenie qarori chiqdi", "expulsion_ordered"),
    ("сестра третьи сутки вне зоны доступа", "out_of_contact"),
    ("атам 4 кундон бери телефонун албай жатат", "out_of_contact"),
    ("писарам ду ҳафта боз чавоб намедихад", "out_of_contact"),
    ("укам бир ҳафтадан бери телефонни олмаяпти", "out_of_contact"),
    ("нас везут в отдел после рейда на рынке", "taken_to_police"),
    ("отделде отурам, эки саат болду", "taken_to_police"),
    ("akamni proverkaga olib ketishdi", "taken_to_police"),
    ("в автобусе украли рюкзак, там паспорт и патент", "documents_lost"),
    ("паспортумду жоготуп койдум, эми документим жок", "documents_lost"),
    ("шиносномаамро дуздиданд", "documents_lost"),
    ("паспортим ўғирланди, патентим ҳам ичида эди", "documents_lost"),
    ("муж на заработках, полгода ни звонка, дети болеют", "family_abandoned"),
    ("күйөөм 8 айдан бери акча жибербейт", "family_abandoned"),
    ("шавхарам як сол боз пул намефиристад", "family_abandoned"),
    ("erim yarim yildan beri pul yubormayapti", "family_abandoned"),
]


@pytest.mark.parametrize(("text", "kind"), HIGH_KINDS)
def test_serious_harm_opens_the_help_path_in_every_language(text: str, kind: str) -> None:
    found = assess(text)
    assert found.level == "high" and kind in found.kinds


@pytest.mark.parametrize(
    "text",
    [
        "сколько месяцев можно не платить зарплату по закону",
        "чем отличается выдворение от депортации",
        "выдворение нима дегани",
        "консульство третий день не отвечает на звонки",
        "сколько часов полиция может держать для проверки документов",
        "имеют ли право забрать в отдел без причины",
        "pasport yo'qolsa qayerga murojaat qilish kerak",
        "паспорт жоголсо эмне кылуу керек",
        "как отправить деньги мужу в Россию",
    ],
)
def test_a_general_question_about_the_rules_is_not_serious_harm(text: str) -> None:
    assert not assess(text).needs_help


@pytest.mark.parametrize(
    "text",
    [
        "анализ крови для патента где сдать",  # blood, but a test
        "принудительное выдворение это депортация?",  # "forced", but expulsion
        "мекӯшам патент гирам",  # Tajik "I try" folds like "I kill"
        "qon tahlilini qayerda topshiraman",
        "telefonimda pul yo‘q, 112 ga qo‘ng‘iroq qilsa bo‘ladimi",  # qo‘ng‘iroq is not qon
        "где забрать паспорт после оформления визы",
        "задержали зарплату на неделю",  # delayed wages, not detention
    ],
)
def test_ordinary_words_that_look_like_danger_are_not_danger(text: str) -> None:
    assert not assess(text).needs_help


def test_a_typo_in_a_long_word_still_matches() -> None:
    assert assess("работадатель забрал пасорт").level == "high"
    assert assess("nas zaperly v podvale").level == "crisis"


def test_our_own_question_set_meets_the_targets() -> None:
    """Floors on tests/questions/risk-own.jsonl (written for Safar, all five languages):
    crisis recall 1.0 and high recall at least 0.9 in every language, precision 0.7."""
    result = evaluate_risk(read_risk_lines(OWN), lambda t: assess(t).level)
    assert len(result.rows) >= 100
    for lang, figures in result.by_lang().items():
        assert figures["crisis_recall"] == 1.0, lang
        assert figures["high_recall"] >= 0.9, lang
    assert result.flagged_precision() >= 0.7


def test_figures_count_high_or_crisis_as_found_for_a_high_line() -> None:
    lines = [
        RiskLine("a", "ru", "high"),
        RiskLine("b", "ru", "high"),
        RiskLine("c", "ky", "crisis"),
        RiskLine("d", "ky", "none"),
    ]
    predicted = {"a": "crisis", "b": "elevated", "c": "crisis", "d": "high"}
    result = evaluate_risk(lines, predicted.__getitem__).as_dict()
    assert result["n"] == 4
    assert result["by_level"]["high"] == {"recall": 0.5, "precision": 0.0, "n": 2}
    assert result["by_level"]["crisis"] == {"recall": 1.0, "precision": 0.5, "n": 1}
    assert result["by_lang"] == {
        "ky": {"crisis_recall": 1.0, "high_recall": 1.0},
        "ru": {"crisis_recall": 1.0, "high_recall": 0.5},
    }


def test_a_line_with_an_unknown_level_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "lang": "ru", "risk": "medium"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:1"):
        read_risk_lines(bad)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_eval_risk_prints_the_documented_json(tmp_path: Path) -> None:
    sample = tmp_path / "risk.jsonl"
    rows = [
        {"text": "хочу покончить с собой", "lang": "ru", "risk": "crisis"},
        {"text": "паспортумду кожоюн алып койду", "lang": "ky", "risk": "high"},
        {"text": "как продлить патент", "lang": "ru", "risk": "none"},
    ]
    sample.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    proc = _run("eval-risk", str(sample), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"n", "by_level", "by_lang"} and result["n"] == 3
    assert set(result["by_level"]) == {"none", "elevated", "high", "crisis"}
    assert all(set(v) == {"recall", "precision", "n"} for v in result["by_level"].values())
    assert result["by_lang"]["ky"] == {"crisis_recall": 1.0, "high_recall": 1.0}
    table = _run("eval-risk", str(sample))
    assert table.returncode == 0 and "crisis_recall" in table.stdout
