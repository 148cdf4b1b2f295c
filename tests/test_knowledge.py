"""The knowledge base: schema, checks, fallback."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from knowledge.loader import (
    ARTICLES_DIR,
    KnowledgeBase,
    KnowledgeBaseError,
    check_knowledge_base,
    load_knowledge_base,
)
from knowledge.schema import LOCALES, MAX_BODY_CHARS, TOPICS, Article


def test_knowledge_base_passes_its_check_with_every_topic_and_locale() -> None:
    report = check_knowledge_base(today=dt.date(2026, 11, 30))
    assert report.errors == []
    assert report.articles >= 30
    assert all(report.by_topic[t] >= 1 for t in TOPICS)
    assert all(report.by_locale[loc] == report.articles for loc in LOCALES)


def test_every_legal_article_has_a_source(kb: KnowledgeBase) -> None:
    legal = [a for a in kb.articles.values() if a.legal]
    assert legal and all(a.sources for a in legal)


def test_no_article_labels_people_as_a_risk(kb: KnowledgeBase) -> None:
    for article in kb.articles.values():
        for text in article.locales.values():
            assert "экстремист" not in text.body.lower()


def _article(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test-article",
        "topic": "ban_check",
        "countries": ["RU"],
        "legal": True,
        "reviewed_on": "2026-01-01",
        "sources": [{"title": "Law", "url": "https://example.org/law", "accessed": "2026-01-01"}],
        "locales": {
            loc: {"title": "Title", "body": "A body long enough to pass.", "keywords": ["k"]}
            for loc in LOCALES
        },
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "changes",
    [
        {"topic": "weather"},
        {"countries": ["US"]},
        {"sources": []},
        {"id": "Bad Id"},
        {"locales": {"ky": {"title": "Title", "body": "A body long enough.", "keywords": ["k"]}}},
        {
            "locales": {
                "ru": {"title": "T", "body": "A body long enough.", "keywords": ["k"]},
                "en": {"title": "Title", "body": "A body long enough.", "keywords": ["k"]},
            }
        },
    ],
)
def test_schema_rejects_broken_articles(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Article.model_validate(_article(**changes))


def test_missing_locale_falls_back_to_russian() -> None:
    locales = _article()["locales"]
    del locales["tg"]
    article = Article.model_validate(_article(locales=locales))
    text, fallback = article.text("tg")
    assert fallback and text == article.locales["ru"]
    assert article.text("ky") == (article.locales["ky"], False)


def _write(folder: Path, data: dict[str, Any]) -> None:
    (folder / f"{data['id']}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))


def test_check_reports_missing_locale_long_body_stale_date_and_empty_topics(
    tmp_path: Path,
) -> None:
    locales = _article()["locales"]
    del locales["uz_Cyrl"]
    _write(tmp_path, _article(id="no-uz-cyrl", locales=locales))
    long_locales = _article()["locales"]
    long_locales["ky"] = {"title": "Title", "body": "x" * (MAX_BODY_CHARS + 1), "keywords": ["k"]}
    _write(tmp_path, _article(id="too-long", locales=long_locales, reviewed_on="2024-01-01"))
    report = check_knowledge_base(tmp_path, today=dt.date(2026, 11, 30))
    assert any("no-uz-cyrl: no uz_Cyrl text" in e for e in report.errors)
    assert any("too-long [ky]" in e for e in report.errors)
    assert any("too-long: reviewed_on 2024-01-01" in w for w in report.warnings)
    assert any("topic contacts_ngo: no article" in e for e in report.errors)
    assert not report.ok


def test_loader_names_the_broken_file(tmp_path: Path) -> None:
    shutil.copy(next(ARTICLES_DIR.glob("*.yaml")), tmp_path)
    (tmp_path / "broken.yaml").write_text("id: broken\ntopic: [unclosed\n")
    with pytest.raises(KnowledgeBaseError, match=r"broken\.yaml"):
        load_knowledge_base(tmp_path)


def test_article_id_must_match_its_file_name(tmp_path: Path) -> None:
    (tmp_path / "other-name.yaml").write_text(yaml.safe_dump(_article(), allow_unicode=True))
    with pytest.raises(KnowledgeBaseError, match="differs from the file name"):
        load_knowledge_base(tmp_path)


def test_danger_detection_is_scored_against_risk_labels() -> None:
    from knowledge.evaluation import Question, evaluate
    from knowledge.search import SearchResult

    questions = [
        Question("a", "ru", "emergency_crisis", "crisis"),
        Question("b", "ru", "emergency_crisis", "crisis"),
        Question("c", "ru", "labour_rights_wages", "high"),
        Question("d", "ru", "ban_check", "none"),
    ]
    flagged = {"a", "c", "d"}
    ev = evaluate(questions, lambda _: SearchResult((), abstained=True), lambda t: t in flagged)
    assert ev.risk_summary() == {
        "crisis_n": 2, "crisis_recall": 0.5, "high_n": 3, "high_recall": 0.6667,
        "flagged": 3, "precision": 0.6667,
    }  # fmt: skip
