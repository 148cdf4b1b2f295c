"""Immediate danger in a message: self-harm, violence, being held (plain data, no Telegram).

The phrases live in ``knowledge/data/crisis.yaml``; :func:`detect_crisis` is the ``crisis``
level of the four-level detection in :mod:`knowledge.risk`. The bot then sends the emergency
contacts first, whatever the person asked. This describes a situation and the help it needs,
never the person.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

CRISIS_FILE = Path(__file__).with_name("data") / "crisis.yaml"


class CrisisPhrases(BaseModel):
    """``crisis.yaml``: the article with emergency contacts, and kind -> locale -> phrases."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    emergency_article: str
    phrases: dict[str, dict[str, list[str]]]


@cache
def crisis_phrases(path: Path = CRISIS_FILE) -> CrisisPhrases:
    """Read and validate the crisis phrases (cached).

    Raises:
        pydantic.ValidationError, yaml.YAMLError, OSError: the file is missing or invalid.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml if installed: faster
    text = path.read_text(encoding="utf-8")
    return CrisisPhrases.model_validate(yaml.load(text, Loader=loader))


def detect_crisis(text: str) -> frozenset[str]:
    """The kinds of immediate danger (``self_harm``, ``violence``, ``held_or_forced``) that
    *text* signals, in any of Safar's languages or scripts; empty if none.

    The ``crisis`` level of :func:`knowledge.risk.assess`, which also reads the phrases of
    ``risk.yaml``."""
    from knowledge.risk import assess

    result = assess(text)
    return result.kinds if result.is_crisis else frozenset()
