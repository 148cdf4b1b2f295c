"""Search benchmark: Safar's search against a plain BM25 baseline, on the same questions.

    python bench/search.py [QUESTIONS.jsonl ...] [--write bench/RESULTS.md]

Prints, per question file: top-1 and top-3 topic accuracy and abstention rate per language
for Safar's answers (:func:`knowledge.answer.answer`: danger check, then search, as the bot
answers) and for ``bm25s`` over the same articles (every locale's title,
keywords and body; ``bm25s.tokenize`` with its defaults, no script folding, no stemming),
scored as in ``../shared/eval/README.md``; then the p50 and p95 latency of one Safar answer
(danger check and search) with the full knowledge base loaded. ``--write`` replaces the
search part of the file (everything before its ``# Throughput`` heading) and keeps the rest.
BM25 abstains only when no word matches at all.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import bm25s
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from knowledge.answer import answer  # noqa: E402
from knowledge.evaluation import Evaluation, Question, evaluate, read_questions  # noqa: E402
from knowledge.loader import KnowledgeBase, load_knowledge_base  # noqa: E402
from knowledge.search import Hit, Searcher, SearchResult  # noqa: E402

DEFAULT_FILES = [
    ROOT.parent / "shared" / "eval" / "questions-dev.jsonl",
    ROOT / "tests" / "questions" / "questions-own.jsonl",
    ROOT / "tests" / "questions" / "questions-tune.jsonl",
    ROOT / "tests" / "questions" / "questions-fresh.jsonl",
]


def bm25_baseline(kb: KnowledgeBase) -> Callable[[str], SearchResult]:
    """A plain BM25 search over every locale of every article (best locale per article)."""
    corpus: list[str] = []
    owner: list[str] = []
    for article in kb.articles.values():
        for text in article.locales.values():
            corpus.append(" ".join([text.title, *text.keywords, text.body]))
            owner.append(article.id)
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords=None, show_progress=False),
                    show_progress=False)  # fmt: skip

    def search(query: str) -> SearchResult:
        tokens = bm25s.tokenize([query], stopwords=None, show_progress=False)
        if not tokens.vocab:
            return SearchResult(hits=(), abstained=True)
        docs, scores = retriever.retrieve(tokens, k=min(40, len(corpus)), show_progress=False)
        best: dict[str, float] = {}
        for doc, score in zip(docs[0], scores[0], strict=True):
            if score > 0:
                best.setdefault(owner[int(doc)], float(score))
        hits = tuple(
            Hit(aid, kb.articles[aid].topic, s)
            for aid, s in sorted(best.items(), key=lambda x: -x[1])[:3]
        )
        return SearchResult(hits=hits, abstained=not hits)

    return search


def latency_ms(searcher: Searcher, questions: list[Question], rounds: int = 5) -> list[float]:
    """Wall-clock milliseconds of each single answer (danger check and search), over
    *rounds* passes."""
    times = []
    for _ in range(rounds):
        for q in questions:
            start = time.perf_counter()
            answer(searcher, q.text)
            times.append((time.perf_counter() - start) * 1000)
    return times


def _table(name: str, ours: Evaluation, base: Evaluation) -> str:
    rows = [
        f"### {name}",
        "",
        "| lang | n | Safar top-1 | Safar top-3 | Safar abstained | BM25 top-1 | BM25 top-3 "
        "| BM25 abstained |",
        "|---|---|---|---|---|---|---|---|",
    ]
    pairs = [*((lang, ours.by_lang[lang], base.by_lang[lang]) for lang in sorted(ours.by_lang)),
             ("**all**", ours.total, base.total)]  # fmt: skip
    for lang, o, b in pairs:
        od, bd = o.as_dict(), b.as_dict()
        rows.append(
            f"| {lang} | {od['n']} | {od['top1']:.2f} | {od['top3']:.2f} | {od['abstained']:.2f} "
            f"| {bd['top1']:.2f} | {bd['top3']:.2f} | {bd['abstained']:.2f} |"
        )
    oo, bo = ours.as_dict()["out_of_scope_abstained"], base.as_dict()["out_of_scope_abstained"]
    if oo is not None:
        rows += ["", f"Out-of-scope questions abstained: Safar {oo:.2f}, BM25 {bo:.2f} "
                     f"(of {ours.out_of_scope.n})."]  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--write", type=Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    files = args.files or [f for f in DEFAULT_FILES if f.exists()]
    kb = load_knowledge_base()
    start = time.perf_counter()
    searcher = Searcher(kb)
    build_ms = (time.perf_counter() - start) * 1000
    baseline = bm25_baseline(kb)
    out = [
        "# Search benchmark",
        "",
        f"Knowledge base: {len(kb.articles)} articles. Command: `python bench/search.py`.",
        "",
    ]
    all_questions: list[Question] = []
    for path in files:
        questions = read_questions(path)
        all_questions += questions
        out += [_table(path.name, evaluate(questions, lambda t: answer(searcher, t)),
                       evaluate(questions, baseline)), ""]  # fmt: skip
    times = latency_ms(searcher, all_questions)
    p50, p95 = np.percentile(times, [50, 95])
    out += [
        "### Latency of one Safar answer: danger check and search (full knowledge base loaded)",
        "",
        f"{len(times)} answers: p50 {p50:.2f} ms, p95 {p95:.2f} ms, "
        f"mean {statistics.fmean(times):.2f} ms; index built in {build_ms:.0f} ms.",
        "",
    ]
    report = "\n".join(out)
    print(report)
    if args.write:
        kept = ""
        if args.write.exists():
            old = args.write.read_text(encoding="utf-8")
            at = old.find("# Throughput")
            kept = "\n" + old[at:] if at >= 0 else ""
        args.write.write_text(report + kept, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
