"""The search index cached on disk answers exactly as a freshly built one, needs no
scikit-learn, and is rebuilt when the articles change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge.index_cache import cached_searcher as cached
from knowledge.index_cache import char_wb_ngrams, index_key
from knowledge.loader import KnowledgeBase
from knowledge.search import Searcher
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    json.loads(line)["text"]
    for line in (FIXTURES / "questions-sample.jsonl").read_text(encoding="utf-8").splitlines()
    if line.strip()
]
ODD = ["", " ", "a", "ab  \t cd\n\ne", "ÀÉ Ўзбек ҶҲ", "x" * 300, "👍🏽 🇰🇬 a\u200bb", "İstanbul ß"]


def test_char_wb_ngrams_are_scikit_learns() -> None:
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5)).build_analyzer()
    for text in [*QUESTIONS, *ODD]:
        assert char_wb_ngrams(text) == analyzer(text)


def test_a_cached_index_searches_exactly_like_a_fresh_one(
    tmp_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    first = cached(kb, tmp_path)  # built and saved
    assert len(list(tmp_path.glob("safar-search-*.pickle"))) == 1
    second = cached(kb, tmp_path)  # loaded
    assert second is not first and second.kb is kb
    for text in [*QUESTIONS, *ODD, "погода завтра", "привет", "паспорт забрали"]:
        assert second.search(text) == searcher.search(text), text


def test_loading_the_cached_index_imports_no_scikit_learn(
    tmp_path: Path, kb: KnowledgeBase
) -> None:
    cached(kb, tmp_path)
    code = (
        "import sys; from pathlib import Path; from knowledge.loader import load_knowledge_base;"
        "from knowledge.index_cache import cached_searcher;"
        f"s = cached_searcher(load_knowledge_base(), Path({str(tmp_path)!r}));"
        "assert s.search('паспорт забрали').best is not None;"
        "print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_the_key_changes_with_the_articles(kb: KnowledgeBase) -> None:
    article = next(iter(kb.articles.values()))
    older = article.model_copy(
        update={"reviewed_on": article.reviewed_on.replace(year=article.reviewed_on.year - 1)}
    )
    changed = KnowledgeBase({**kb.articles, article.id: older})
    assert index_key(kb) == index_key(KnowledgeBase(dict(kb.articles)))
    assert index_key(kb) != index_key(changed)


def test_a_damaged_cache_file_is_rebuilt(tmp_path: Path, kb: KnowledgeBase) -> None:
    cached(kb, tmp_path)
    (path,) = tmp_path.glob("safar-search-*.pickle")
    path.write_bytes(b"not a pickle")
    assert cached(kb, tmp_path).search("паспорт забрали").best is not None
    assert path.read_bytes() != b"not a pickle"


def test_the_language_model_kept_on_disk_detects_as_the_bundled_one(tmp_path: Path) -> None:
    from knowledge import langdetect

    texts = [*QUESTIONS, "Rossiyaga kirish taqiqi bormi", "корфармо маоши маро намедиҳад"]
    code = (
        "import json, sys; from pathlib import Path; from knowledge import langdetect;"
        f"langdetect.set_cache_dir(Path({str(tmp_path)!r}));"
        f"print(json.dumps([langdetect.detect_locale(t) for t in {texts!r}]))"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
        for _ in range(2)  # the first writes the file, the second reads it
    ]
    assert len(list(tmp_path.glob("safar-langid-*.pickle"))) == 1
    expected = [langdetect.detect_locale(t) for t in texts]
    assert [json.loads(r.stdout) for r in runs] == [expected, expected], runs[1].stderr
    assert {"ru", "uz", "tg"} <= set(expected)


def test_a_first_start_builds_in_a_child_and_keeps_nothing_of_the_build(
    tmp_path: Path, kb: KnowledgeBase, searcher: Searcher
) -> None:
    """The real process at its first start (empty folder): the index and the language
    model are built in a short-lived child; the bot then loads them as at any later
    start (no scikit-learn in it) and answers as a fresh index does."""
    from knowledge import langdetect
    from knowledge.index_cache import missing, prepare_in_child

    code = (
        "import sys; from pathlib import Path; from knowledge.loader import load_knowledge_base;"
        "from knowledge.index_cache import cached_searcher, prepare_in_child;"
        f"folder = Path({str(tmp_path)!r}); kb = load_knowledge_base();"
        "assert prepare_in_child(kb, folder);"
        "s = cached_searcher(kb, folder);"
        "print('sklearn' in sys.modules, s.search('паспорт забрали').best.article_id)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    expected = searcher.search("паспорт забрали").best
    assert expected is not None
    assert out.stdout.split() == ["False", expected.article_id], out.stderr
    assert missing(kb, tmp_path) == []
    assert langdetect.cache_file(tmp_path) in set(tmp_path.iterdir())
    assert prepare_in_child(kb, tmp_path)  # nothing missing: no child at all


def test_if_the_child_fails_the_index_is_built_in_process(
    tmp_path: Path, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    from knowledge import index_cache

    monkeypatch.setattr(index_cache.sys, "executable", str(tmp_path / "no-such-python"))
    assert not index_cache.prepare_in_child(kb, tmp_path)
    assert cached(kb, tmp_path).search("паспорт забрали").best is not None
