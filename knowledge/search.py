"""Free-text search over the knowledge base.

Every text is first folded to one Latin spelling (:func:`knowledge.normalize.fold`), so
Uzbek in either script, Russian typed in Latin letters, and Kyrgyz or Tajik with or without
their own letters meet. Five TF-IDF channels (scikit-learn) then score each article in each
locale (an article's score is its best locale's), and a classifier adds a sixth:

* ``title_kw``: character n-grams (``char_wb``, 2-5) of title, keywords and example
  questions: what people type; n-grams survive the rich endings of Kyrgyz, Uzbek and
  Tajik, and most typos;
* ``body``: character n-grams of the body;
* ``stems``: words cut to their first five letters, over title, keywords and body;
* ``stems_kw``: the same over title, keywords and example questions;
* ``phrase``: nearest phrase: the best character n-gram match between the question and any
  single title, keyword or example question of the article, so that one short phrase that
  says exactly what the person asks is not drowned in a long keyword list;
* ``topic``: a linear classifier (scikit-learn ``LinearSVC``) trained on those same phrases
  (about 9,000, every locale) to tell the 17 topics apart; its margin for an article's
  topic. It learns which n-grams separate neighbouring topics (a late wage from forced
  labour, a ban's length from its appeal) instead of counting every shared n-gram alike.
  Cross-validated on the articles' own example questions (5 folds, questions held out of
  both index and classifier) it raised top-1 from 0.83 to 0.85.

(Matching each example question on its own *instead* of the channels above did worse:
short questions share mostly their question words. As one channel among five it helps.)

The weighted mean (:data:`WEIGHTS`) ranks the articles. The search abstains ("I don't know
this yet") when no article's confidence (the same mean over :data:`CONFIDENCE_CHANNELS`, which
is also each hit's ``score``) reaches :data:`DEFAULT_MIN_SCORE`, or when a subject Safar
does not cover (``knowledge/data/out_of_scope.yaml``: weather, sport, food, small talk...)
matches the question's words better than the best article's title and keywords do.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict
from scipy.sparse import csc_matrix

from knowledge.loader import KnowledgeBase
from knowledge.normalize import fold
from knowledge.schema import LocalizedText

if TYPE_CHECKING:  # imported when an index is built: a cached one needs no scikit-learn
    from sklearn.feature_extraction.text import TfidfVectorizer

#: A best score below this means "I don't know this yet" (weighted cosine similarity, 0-1).
DEFAULT_MIN_SCORE = 0.15

#: Channel weights; the score is their weighted mean (0-1).
WEIGHTS = {"title_kw": 0.3, "body": 0.2, "stems": 0.3, "stems_kw": 0.2, "phrase": 0.2, "topic": 0.1}

#: The channels whose weighted mean is compared with ``min_score``. ``phrase`` and ``topic``
#: rank but do not vouch: one short keyword shared by chance matches an off-topic question
#: too, and the classifier always prefers some topic.
CONFIDENCE_CHANNELS = ("title_kw", "body", "stems", "stems_kw")

#: Out of scope is decided from two measures: *ratio*, how much better the best subject
#: phrase matches the question than the best article's title and keywords do (n-grams), and
#: *lead*, how far the topic classifier's out-of-scope class leads its best topic. A
#: subject's words win by :data:`OOS_MARGIN` unless the classifier clearly prefers a topic
#: (lead below :data:`OOS_MARGIN_MIN_LEAD`: "где купить ДМС для патента" shares "купить"
#: with "купить телефон"); the classifier's out-of-scope class wins with a lead above
#: :data:`OOS_LEAD` when the words also point that way (ratio above
#: :data:`OOS_LEAD_MIN_RATIO`: "погода в Бишкеке" matches articles that name Bishkek).
OOS_MARGIN = 1.3
OOS_MARGIN_MIN_LEAD = -0.5
OOS_LEAD = -0.1
OOS_LEAD_MIN_RATIO = 0.6

#: The topic classifier's class for the out-of-scope subjects' phrases.
OUT_OF_SCOPE_CLASS = "out_of_scope"

#: Shorter folded questions (in letters) are treated as nonsense and abstained on.
MIN_QUERY_CHARS = 3

#: In the ``phrase`` channel (one document per title, keyword or example question, about
#: 15,000), a character n-gram found in more than this share of the phrases ("a ", "ka")
#: is left out of the query once its vector is normalised: it tells no phrase apart, and
#: reading its long column was about half of a search's time. Measured on the dev, own and
#: fresh question sets: top-1 within one question of before on each (dev +1, own 0, fresh
#: -1), top-3 the same or better, out-of-scope abstention unchanged; a search 22% faster.
PHRASE_COMMON_SHARE = 0.05

#: Words are cut to this many letters for the ``stems`` channels.
STEM_LENGTH = 5

OUT_OF_SCOPE_FILE = Path(__file__).with_name("data") / "out_of_scope.yaml"


class OutOfScope(BaseModel):
    """``out_of_scope.yaml``: greetings, subject -> locale -> words and phrases, and locale
    -> whole everyday questions (training rows of the classifier's out-of-scope class)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    greetings: list[str] = []
    subjects: dict[str, dict[str, list[str]]]
    questions: dict[str, list[str]] = {}


#: ``SearchResult.out_of_scope`` of a message that is only a greeting or thanks.
GREETING = "greeting"


def load_out_of_scope(path: Path = OUT_OF_SCOPE_FILE) -> OutOfScope:
    """Read and validate the out-of-scope subjects.

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: the file is missing or invalid.
    """
    return OutOfScope.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Hit:
    """One ranked article: its id, topic and confidence score (0-1; see the module doc)."""

    article_id: str
    topic: str
    score: float


@dataclass(frozen=True)
class SearchResult:
    """Ranked hits, best first; ``abstained`` is True when none is good enough.

    ``out_of_scope`` names the uncovered subject that matched (e.g. ``"weather"``), if any;
    ``emergency`` is True when the question signalled immediate danger and the emergency
    contacts go first (set by :func:`knowledge.answer.answer`, never by search itself).
    """

    hits: tuple[Hit, ...]
    abstained: bool
    out_of_scope: str | None = None
    emergency: bool = False

    @property
    def best(self) -> Hit | None:
        """The best hit, or ``None`` when the search abstained."""
        return None if self.abstained or not self.hits else self.hits[0]


def _stems(text: str) -> list[str]:
    return [word[:STEM_LENGTH] for word in text.split() if len(word) >= 2]


#: Letters that phones with a Russian keyboard cannot type, and what people type instead:
#: Uzbek "ў" becomes "у" ("йўқ" -> "йук"), Tajik "ҷ" becomes "ч" ("куҷо" -> "кучо"). The
#: other letters of Kyrgyz, Tajik and Uzbek fold to the same Latin letter as their stand-in.
_KEYBOARD_STAND_INS = str.maketrans({"ў": "у", "Ў": "У", "ҷ": "ч", "Ҷ": "Ч"})


def _fold_indexed(text: str) -> str:
    """:func:`fold` of an indexed text, followed by its Russian-keyboard spelling if that
    differs, so that a question typed either way meets it."""
    folded = fold(text)
    typed = fold(text.translate(_KEYBOARD_STAND_INS))
    return folded if typed == folded else f"{folded} \n {typed}"


def _title_kw(text: LocalizedText) -> str:
    return _fold_indexed(" \n ".join([text.title, *text.keywords, *text.questions]))


class _Channel:
    """One TF-IDF index over one field; each document belongs to one article.

    *owners* gives each document's article index and must not decrease (documents grouped
    by article, every article present). A query is analysed once per analyzer
    (:meth:`Searcher.search`) and scored here without scikit-learn's per-call overhead: only
    the columns of the query's terms are read (CSC), which keeps one search within a few
    milliseconds.
    """

    def __init__(
        self,
        docs: list[str],
        vectorizer: TfidfVectorizer,
        owners: np.ndarray,
        common_share: float | None = None,
    ) -> None:
        self.vectorizer = vectorizer
        self.matrix: csc_matrix = csc_matrix(vectorizer.fit_transform(docs))
        self.vocabulary: dict[str, int] = vectorizer.vocabulary_
        self.idf: np.ndarray = vectorizer.idf_
        self.starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        # With *common_share*, terms found in more than that share of the documents are
        # left out of a query after its vector is normalised (they say little about any
        # one document, and reading their columns is most of a search's time).
        self.rare: np.ndarray | None = None
        if common_share is not None:
            in_docs = np.diff(self.matrix.indptr)
            self.rare = in_docs <= common_share * self.matrix.shape[0]

    def query(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The query's TF-IDF vector as (column indices, values): sublinear tf, idf, l2 norm,
        as ``TfidfVectorizer(sublinear_tf=True)`` computes it."""
        counts = Counter(self.vocabulary[t] for t in terms if t in self.vocabulary)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        columns = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
        values = (1 + np.log(np.fromiter(counts.values(), float, len(counts)))) * self.idf[columns]
        values /= np.linalg.norm(values)
        if self.rare is not None:
            keep = self.rare[columns]
            return columns[keep], values[keep]
        return columns, values

    def doc_scores(self, matrix: csc_matrix, vector: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Cosine of every row of *matrix* (this channel's vocabulary) with *vector*."""
        columns, values = vector
        if not len(columns):
            return np.zeros(matrix.shape[0])
        result: np.ndarray = matrix[:, columns] @ values
        return result

    def article_scores(self, vector: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Each article's best cosine among its documents."""
        result: np.ndarray = np.maximum.reduceat(self.doc_scores(self.matrix, vector), self.starts)
        return result


class _TopicChannel:
    """The ``topic`` channel: a linear SVM over the ``phrase`` channel's TF-IDF rows, each
    labelled with its article's topic, plus the out-of-scope subjects' phrases labelled
    :data:`OUT_OF_SCOPE_CLASS`. An article scores its topic's margin, mapped from [-1, 1]
    to [0, 1] and clipped; :meth:`out_of_scope_lead` tells how far the out-of-scope class
    leads the best topic."""

    def __init__(
        self,
        rows: csc_matrix,
        row_topics: list[str],
        article_topics: list[str],
    ) -> None:
        from sklearn.svm import LinearSVC  # only to build; the fitted weights are plain arrays

        model = LinearSVC(C=0.5, random_state=0).fit(rows.tocsr(), row_topics)
        classes = [str(c) for c in model.classes_]
        self.coef: np.ndarray = np.ascontiguousarray(model.coef_.T)
        self.intercept: np.ndarray = model.intercept_
        self.article_class = np.array([classes.index(t) for t in article_topics])
        self.oos_class = classes.index(OUT_OF_SCOPE_CLASS) if OUT_OF_SCOPE_CLASS in classes else -1

    def margins(self, vector: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Every class's margin for a query *vector* of the ``phrase`` channel."""
        columns, values = vector
        result: np.ndarray = values @ self.coef[columns] + self.intercept
        return result

    def article_scores(self, vector: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Each article's topic margin, in [0, 1], for a query *vector* of the ``phrase``
        channel."""
        result: np.ndarray = np.clip((self.margins(vector) + 1) / 2, 0, 1)[self.article_class]
        return result

    def out_of_scope_lead(self, vector: tuple[np.ndarray, np.ndarray]) -> float:
        """The out-of-scope class's margin minus the best topic's (> 0: the classifier
        takes the question for a subject Safar does not cover); -inf without that class."""
        if self.oos_class < 0:
            return float("-inf")
        margins = self.margins(vector)
        topics = np.delete(margins, self.oos_class)
        return float(margins[self.oos_class] - topics.max())


class Searcher:
    """Search index over a :class:`KnowledgeBase`; build once (a few seconds), query many times
    (about a millisecond each)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        min_score: float = DEFAULT_MIN_SCORE,
        out_of_scope: OutOfScope | None = None,
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.kb = kb
        self.min_score = min_score
        self._article_ids = list(kb.articles)
        index = {aid: i for i, aid in enumerate(self._article_ids)}
        texts = [(index[a.id], t) for a in kb.articles.values() for t in a.locales.values()]
        doc_article = np.array([i for i, _ in texts])
        phrases = [
            (i, _fold_indexed(phrase))
            for i, t in texts
            for phrase in (t.title, *t.keywords, *t.questions)
        ]
        phrase_article = np.array([i for i, _ in phrases])
        title_kw = [_title_kw(t) for _, t in texts]
        body = [_fold_indexed(t.body) for _, t in texts]

        def chars() -> TfidfVectorizer:
            return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)

        def stems() -> TfidfVectorizer:
            return TfidfVectorizer(analyzer=_stems, sublinear_tf=True)

        self._channels = {
            "title_kw": _Channel(title_kw, chars(), doc_article),
            "body": _Channel(body, chars(), doc_article),
            "stems": _Channel(
                [f"{k} \n {b}" for k, b in zip(title_kw, body, strict=True)], stems(), doc_article
            ),
            "stems_kw": _Channel(title_kw, stems(), doc_article),
            "phrase": _Channel(
                [p for _, p in phrases], chars(), phrase_article, common_share=PHRASE_COMMON_SHARE
            ),
        }
        self._char_analyzer = self._channels["title_kw"].vectorizer.build_analyzer()

        scope = out_of_scope or load_out_of_scope()
        self._greetings = [fold(g).split() for g in scope.greetings if fold(g)]
        subjects = scope.subjects
        # One document per phrase: a short question like "погода завтра" should meet
        # "погода" at full strength, not diluted by a whole list of weather words.
        pairs = [
            (name, fold(phrase))
            for name, by_locale in subjects.items()
            for phrases in by_locale.values()
            for phrase in phrases
        ]
        self._oos_names = [name for name, _ in pairs]
        oos_docs = [doc for _, doc in pairs]
        self._oos = {
            name: csc_matrix(self._channels[name].vectorizer.transform(oos_docs))
            for name in ("title_kw", "stems_kw")
        }

        article_topics: list[str] = [kb.articles[aid].topic for aid in self._article_ids]
        self._channels_extra: dict[str, _TopicChannel] = {}
        if len(set(article_topics)) > 1:
            from scipy.sparse import vstack

            everyday = [fold(q) for qs in scope.questions.values() for q in qs]
            oos_rows = self._channels["phrase"].vectorizer.transform(oos_docs + everyday)
            self._channels_extra["topic"] = _TopicChannel(
                csc_matrix(vstack([self._channels["phrase"].matrix, oos_rows])),
                [article_topics[i] for i in phrase_article]
                + [OUT_OF_SCOPE_CLASS] * (len(oos_docs) + len(everyday)),
                article_topics,
            )

    def _without_greetings(self, folded: str) -> str:
        """*folded* with greeting and thanks phrases (whole words) taken out."""
        words = folded.split()
        kept: list[str] = []
        i = 0
        while i < len(words):
            for greeting in self._greetings:
                if words[i : i + len(greeting)] == greeting:
                    i += len(greeting)
                    break
            else:
                kept.append(words[i])
                i += 1
        return " ".join(kept)

    def _weighted_mean(
        self, per_channel: dict[str, np.ndarray], channels: Iterable[str]
    ) -> np.ndarray:
        """Per-article weighted mean (:data:`WEIGHTS`) of *channels*' scores (those that
        this index has: ``topic`` needs at least two topics)."""
        names = [name for name in channels if name in per_channel]
        total = np.zeros(len(self._article_ids))
        for name in names:
            total += WEIGHTS[name] * per_channel[name]
        result: np.ndarray = total / sum(WEIGHTS[name] for name in names)
        return result

    def search(self, query: str, limit: int = 3) -> SearchResult:
        """Rank articles for *query* (any locale or script); at most *limit* hits.

        The result has ``abstained=True`` (hits still listed, for diagnostics) when the query
        is empty or too short, the best score is below ``min_score``, or an out-of-scope
        subject matches better than any article.
        """
        folded = fold(query)
        stripped = self._without_greetings(folded)
        if folded and not stripped:
            return SearchResult(hits=(), abstained=True, out_of_scope=GREETING)
        folded = stripped
        if len(folded.replace(" ", "")) < MIN_QUERY_CHARS:
            return SearchResult(hits=(), abstained=True)
        terms = {"chars": self._char_analyzer(folded), "stems": _stems(folded)}
        per_channel = {}
        vectors = {}
        for name, channel in self._channels.items():
            vectors[name] = channel.query(terms["stems" if "stems" in name else "chars"])
            per_channel[name] = channel.article_scores(vectors[name])
        for name, extra in self._channels_extra.items():
            per_channel[name] = extra.article_scores(vectors["phrase"])
        total = self._weighted_mean(per_channel, WEIGHTS)
        confidence = self._weighted_mean(per_channel, CONFIDENCE_CHANNELS)
        order = np.argsort(-total)[:limit]
        hits = tuple(
            Hit(
                self._article_ids[i],
                self.kb.articles[self._article_ids[i]].topic,
                float(confidence[i]),
            )
            for i in order.tolist()
            if total[i] > 0
        )
        # Out of scope: compare on title and keywords, the fields the subjects resemble.
        kw_best = 0.5 * (per_channel["title_kw"] + per_channel["stems_kw"])
        oos_scores: np.ndarray = 0.5 * (
            self._channels["title_kw"].doc_scores(self._oos["title_kw"], vectors["title_kw"])
            + self._channels["stems_kw"].doc_scores(self._oos["stems_kw"], vectors["stems_kw"])
        )
        surest = int(np.argmax(confidence))
        subject = None
        if len(oos_scores) and hits:
            ratio = float(oos_scores.max()) / max(float(kw_best[surest]), 1e-9)
            topic = self._channels_extra.get("topic")
            lead = topic.out_of_scope_lead(vectors["phrase"]) if topic else float("inf")
            if (ratio > OOS_MARGIN and lead > OOS_MARGIN_MIN_LEAD) or (
                lead > OOS_LEAD and ratio > OOS_LEAD_MIN_RATIO
            ):
                subject = self._oos_names[int(np.argmax(oos_scores))]
        abstained = not hits or confidence[surest] < self.min_score or subject is not None
        return SearchResult(hits=hits, abstained=abstained, out_of_scope=subject)
