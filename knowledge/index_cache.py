"""The built search index, kept on disk so that start-up neither rebuilds it nor imports
scikit-learn.

Building :class:`knowledge.search.Searcher` (fitting five TF-IDF channels) and importing
scikit-learn were most of Safar's start-up (see ``bench/RESULTS.md``). A built index does
not change until the articles, the out-of-scope subjects or the search code do, so it is
pickled once, under a name made from a SHA-256 of exactly those (plus the Python, NumPy and
SciPy versions), and loaded on the next start. The pickled index keeps no scikit-learn
object: queries need only the fitted vocabularies, IDF weights and matrices, and
:func:`char_wb_ngrams`, which splits text exactly as scikit-learn's ``char_wb`` analyzer
does (a test checks that).

The file lives in the folder given (the database's folder when the bot runs), written
atomically and readable by the owner only; it is trusted like the code (whoever can write
there can change the database too). If it cannot be read or written, the index is simply
built, as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import platform
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from knowledge import normalize, search
from knowledge.loader import KnowledgeBase
from knowledge.search import OUT_OF_SCOPE_FILE, Searcher

log = logging.getLogger(__name__)

#: Bump when the pickled layout changes in a way the key does not see.
CACHE_VERSION = 1

_WHITE_SPACES = re.compile(r"\s\s+")


def char_wb_ngrams(text: str, min_n: int = 2, max_n: int = 5) -> list[str]:
    """Character n-grams (*min_n* to *max_n*) inside word boundaries, words padded with a
    space: what ``TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))`` gives for
    *text* (lower-cased, runs of white space made one space), in the same order."""
    text = _WHITE_SPACES.sub(" ", text.lower())
    ngrams: list[str] = []
    append = ngrams.append
    for word in text.split():
        word = " " + word + " "
        length = len(word)
        for n in range(min_n, max_n + 1):
            offset = 0
            append(word[offset : offset + n])
            while offset + n < length:
                offset += 1
                append(word[offset : offset + n])
            if offset == 0:  # a short word (shorter than n) counts once
                break
    return ngrams


def index_key(kb: KnowledgeBase, min_score: float = search.DEFAULT_MIN_SCORE) -> str:
    """A hex SHA-256 of everything the built index depends on: every article (as loaded),
    the out-of-scope subjects, the search and folding code, this module, *min_score* and
    the Python, NumPy and SciPy versions."""
    digest = hashlib.sha256()
    parts: list[bytes] = [
        f"{CACHE_VERSION} {platform.python_version()} {np.__version__} {scipy.__version__}"
        f" {min_score!r}".encode(),
        OUT_OF_SCOPE_FILE.read_bytes(),
    ]
    for module in (search, normalize):
        parts.append(Path(str(module.__file__)).read_bytes())
    parts.append(Path(__file__).read_bytes())
    for article_id in sorted(kb.articles):
        parts.append(kb.articles[article_id].model_dump_json().encode())
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _portable(searcher: Searcher) -> Searcher:
    """A copy of *searcher* without scikit-learn objects or the knowledge base."""
    state: dict[str, Any] = dict(vars(searcher))
    state["kb"] = None
    state["_char_analyzer"] = char_wb_ngrams
    channels = {}
    for name, channel in state["_channels"].items():
        copy = object.__new__(type(channel))
        vars(copy).update({**vars(channel), "vectorizer": None})
        channels[name] = copy
    state["_channels"] = channels
    portable: Searcher = object.__new__(Searcher)
    vars(portable).update(state)
    return portable


def cached_searcher(kb: KnowledgeBase, cache_dir: Path | None) -> Searcher:
    """The search index over *kb*: loaded from *cache_dir* if it was built before for the
    same content, else built (and saved there). ``None``: always build, save nothing."""
    if cache_dir is None:
        return Searcher(kb)
    path = cache_dir / f"safar-search-{index_key(kb)[:24]}.pickle"
    try:
        with path.open("rb") as file:
            found = pickle.load(file)
        if isinstance(found, Searcher):
            found.kb = kb
            return found
    except FileNotFoundError:
        pass
    except Exception as exc:  # a damaged or foreign file: rebuild over it
        log.warning("search index cache unreadable (%s); rebuilding", type(exc).__name__)
    searcher = Searcher(kb)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".safar-search-", suffix=".tmp")
        with os.fdopen(fd, "wb") as file:
            pickle.dump(_portable(searcher), file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
        for old in cache_dir.glob("safar-search-*.pickle"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        log.info("search index not cached (%s)", type(exc).__name__)
    return searcher
