"""Sources cited by the dialogs' data files, and loading of those files (pydantic).

Every address, phone number and red flag in ``dialogs/data/*.yaml`` names its sources by
id; each source says where the fact was read (``url``; a ``file://`` URL is Safar's own
reference notes) and when the stored copy was checked (``checked``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field

DATA_DIR = Path(__file__).resolve().parent / "data"


class Source(BaseModel):
    """One cited source: a descriptive *name* (not shown translated), its *url*, the date
    it was *published* if known, and the date Safar *checked* it. *short* is a msgid naming
    it on screen (e.g. "ILO indicators of forced labour")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=5)
    url: str = Field(pattern=r"^(https?|file)://\S+$")
    checked: dt.date
    published: dt.date | None = None
    short: str | None = None


M = TypeVar("M", bound=BaseModel)


def load_model(model: type[M], path: Path) -> M:
    """Parse YAML file *path* into *model*.

    Raises:
        OSError: the file cannot be read.
        yaml.YAMLError: not valid YAML.
        pydantic.ValidationError: the data do not fit *model* (including unknown source
            ids, which the models check).
    """
    with path.open(encoding="utf-8") as f:
        return model.model_validate(yaml.safe_load(f))


def missing_sources(refs: list[str], known: dict[str, Source]) -> list[str]:
    """The ids in *refs* that are not in *known* (empty when all resolve)."""
    return [r for r in refs if r not in known]
