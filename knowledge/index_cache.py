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

Building takes about three times the memory the bot needs to run (scikit-learn, the
fitted vectorizers, py3langid's full model of 97 languages: 270-340 MB at the peak, against
under 200 MB loaded), and a Python process keeps most of what it once held. So at its
first start the bot builds what is missing in a short-lived child process
(:func:`prepare_in_child`) and loads the result like any later start: the long-running
process never holds the build's memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import scipy

from knowledge import langdetect, normalize, search
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


def _path(kb: KnowledgeBase, cache_dir: Path) -> Path:
    return cache_dir / f"safar-search-{index_key(kb)[:24]}.pickle"


def _load(path: Path, kb: KnowledgeBase) -> Searcher | None:
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
    return None


def cached_searcher(kb: KnowledgeBase, cache_dir: Path | None) -> Searcher:
    """The search index over *kb*: loaded from *cache_dir* if it was built before for the
    same content, else built (and saved there). ``None``: always build, save nothing."""
    if cache_dir is None:
        return Searcher(kb)
    path = _path(kb, cache_dir)
    found = _load(path, kb)
    if found is not None:
        return found
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


#: What a first start builds: the language model, then the search index.
PARTS = ("language_model", "search_index")


def missing(kb: KnowledgeBase, cache_dir: Path) -> list[str]:
    """The :data:`PARTS` not yet built in *cache_dir* (for *kb*)."""
    model = langdetect.cache_file(cache_dir)
    found = {
        "language_model": model is None or model.is_file(),
        "search_index": _path(kb, cache_dir).is_file(),
    }
    return [part for part in PARTS if not found[part]]


def prepare(kb: KnowledgeBase, cache_dir: Path, parts: tuple[str, ...] = PARTS) -> None:
    """Build and save in *cache_dir* the *parts* (:data:`PARTS`) not there yet: the
    language model (:mod:`knowledge.langdetect`) and the search index of *kb*, in this
    process.

    Raises:
        OSError: the model could not be read from py3langid's package (a failure to
            write the cache is only logged).
    """
    if "language_model" in parts:
        langdetect.set_cache_dir(cache_dir)
        langdetect.warm_up()
    if "search_index" in parts:
        cached_searcher(kb, cache_dir)


#: The children's programs: the language model needs only :mod:`knowledge.langdetect`
#: (argument: the folder); the index reads ``(kb, folder)`` pickled from standard input
#: (not ``-m knowledge.index_cache``: what it pickles must name this module, not
#: ``__main__``).
_CHILD = {
    "language_model": "import sys; from pathlib import Path; from knowledge import langdetect; "
    "langdetect.set_cache_dir(Path(sys.argv[1])); langdetect.warm_up()",
    "search_index": "import sys; from knowledge.index_cache import _child_main; "
    "sys.exit(_child_main())",
}


def prepare_in_child(kb: KnowledgeBase, cache_dir: Path, timeout: float = 300.0) -> bool:
    """:func:`prepare` what is :func:`missing`, each part in a short-lived child process of
    its own (the same Python), so that this process never holds the memory building takes
    and no child holds both builds (about 150 MB at the peak for the language model,
    210 MB for the index, 260 MB together); *kb* is handed over pickled on the index
    child's standard input.

    Returns True if every child succeeded (or nothing was missing); False if one failed or
    took longer than *timeout* seconds, in which case the caller builds in its own process
    as before (nothing is lost but memory).
    """
    root = str(Path(__file__).resolve().parent.parent)  # where the knowledge package is
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    for part in missing(kb, cache_dir):
        given = b""
        if part == "search_index":
            given = pickle.dumps((kb, str(cache_dir)), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            done = subprocess.run(
                [sys.executable, "-c", _CHILD[part], str(cache_dir)],
                input=given,
                capture_output=True, env=env, timeout=timeout, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("building the %s in a child process failed (%s)", part, type(exc).__name__)
            return False
        if done.returncode != 0:
            last = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            log.warning("building the %s in a child process failed: %s", part, *last or ["?"])
            return False
    return True


def _child_main() -> int:
    """The index's child of :func:`prepare_in_child`: read ``(kb, folder)`` from standard
    input and build the index there."""
    kb, folder = pickle.loads(sys.stdin.buffer.read())
    cached_searcher(kb, Path(folder))
    return 0
