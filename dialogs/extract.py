"""Babel extractor for the dialogs' YAML data files (``babel.cfg``: ``[dialogs_yaml: ...]``).

Text fields of the data files are English msgids. This yields every string (or list of
strings) stored under a key in :data:`TRANSLATABLE`, so that ``pybabel extract`` puts them
in the catalog like the ``N_`` markers in code. Source citations (``name``, ``url``) and
other values are not extracted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml

#: Keys whose values are msgids (a string or a list of strings).
TRANSLATABLE = frozenset({"title", "steps", "means", "next", "explain", "note", "label", "short"})


def msgids(data: Any) -> Iterator[str]:
    """Every msgid in parsed YAML *data*, depth first, in file order."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key in TRANSLATABLE:
                values = value if isinstance(value, list) else [value]
                yield from (v for v in values if isinstance(v, str) and v)
            else:
                yield from msgids(value)
    elif isinstance(data, list):
        for item in data:
            yield from msgids(item)


def extract_yaml(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method: ``(lineno, funcname, message, comments)`` per msgid."""
    data = yaml.safe_load(fileobj.read().decode("utf-8"))
    for message in msgids(data):
        yield 0, None, message, []
