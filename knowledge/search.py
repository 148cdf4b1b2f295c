"""Free-text search over the knowledge base.

Every locale's title, keywords and body of every article is folded to one Latin form
(:func:`knowledge.normalize.fold`) and indexed as character n-grams (scikit-learn's
``TfidfVectorizer``, ``char_wb`` 2-5), which survive the rich endings of Kyrgyz, Uzbek and
Tajik and most typos. A question is matched against all locales at once, so a question in
Russian typed in Latin letters still finds the article; the score of an article is its best
locale's cosine similarity. Below :data:`DEFAULT_MIN_SCORE` the search abstains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge.loader import KnowledgeBase
from knowledge.normalize import fold
from knowledge.schema import Article

#: A best score below this means "I don't know this yet" (cosine similarity, 0-1).
DEFAULT_MIN_SCORE = 0.155

#: Shorter folded questions (in characters) are treated as nonsense and abstained on.
MIN_QUERY_CHARS = 3


@dataclass(frozen=True)
class Hit:
    """One ranked article: its id, topic and score (cosine similarity, 0-1)."""

    article_id: str
    topic: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits, best first; ``abstained`` is True when none is good enough."""

    hits: tuple[Hit, ...]
    abstained: bool

    @property
    def best(self) -> Hit | None:
        """The best hit, or ``None`` when the search abstained."""
        return None if self.abstained or not self.hits else self.hits[0]


def _document(article: Article, locale: str) -> str:
    text = article.locales[locale]
    # Title and keywords are what people type; weigh them above the body.
    parts = [text.title] * 2 + list(text.keywords) * 2 + [text.body]
    return fold(" \n ".join(parts))


class Searcher:
    """Search index over a :class:`KnowledgeBase`; build once, query many times."""

    def __init__(self, kb: KnowledgeBase, min_score: float = DEFAULT_MIN_SCORE) -> None:
        self.kb = kb
        self.min_score = min_score
        self._doc_article: list[str] = []
        docs: list[str] = []
        for article in kb.articles.values():
            for locale in article.locales:
                docs.append(_document(article, locale))
                self._doc_article.append(article.id)
        self._vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1
        )
        self._matrix = self._vectorizer.fit_transform(docs)
        self._article_ids = list(kb.articles)
        self._article_index = {aid: i for i, aid in enumerate(self._article_ids)}
        self._doc_to_col = np.array([self._article_index[a] for a in self._doc_article])

    def search(self, query: str, limit: int = 3) -> SearchResult:
        """Rank articles for *query* (any locale or script); at most *limit* hits.

        Returns a result with ``abstained=True`` (and the hits still listed, for
        diagnostics) when the query is empty, too short, or the best score is below
        ``min_score``.
        """
        folded = fold(query)
        if len(folded.replace(" ", "")) < MIN_QUERY_CHARS:
            return SearchResult(hits=(), abstained=True)
        vector = self._vectorizer.transform([folded])
        doc_scores = (self._matrix @ vector.T).toarray().ravel()
        article_scores = np.zeros(len(self._article_ids))
        np.maximum.at(article_scores, self._doc_to_col, doc_scores)
        order = np.argsort(-article_scores)[:limit]
        hits = tuple(
            Hit(
                article_id=self._article_ids[i],
                topic=self.kb.articles[self._article_ids[i]].topic,
                score=float(article_scores[i]),
            )
            for i in order
            if article_scores[i] > 0
        )
        abstained = not hits or hits[0].score < self.min_score
        return SearchResult(hits=hits, abstained=abstained)
