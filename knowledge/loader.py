"""Loading and checking the knowledge base (the YAML files under ``knowledge/articles/``)."""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from knowledge.schema import LOCALES, MAX_BODY_CHARS, TOPICS, Article

ARTICLES_DIR = Path(__file__).with_name("articles")

#: libyaml's C parser when PyYAML was built with it (several times faster), else Python's.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: ``reviewed_on`` older than this many days is reported as a warning.
STALE_AFTER_DAYS = 365


class KnowledgeBaseError(Exception):
    """The knowledge base cannot be loaded: a file is not valid YAML or breaks the schema."""


@dataclass(frozen=True)
class KnowledgeBase:
    """All articles, by id, in file-name order."""

    articles: dict[str, Article]

    def by_topic(self, topic: str) -> list[Article]:
        """Articles of *topic*, in file-name order (the order the menu lists them)."""
        return [a for a in self.articles.values() if a.topic == topic]

    def get(self, article_id: str) -> Article | None:
        """The article with *article_id*, or ``None``."""
        return self.articles.get(article_id)


def load_article(path: Path) -> Article:
    """Parse and validate one article file.

    Raises:
        KnowledgeBaseError: the file is not YAML, breaks the schema, or its name
            differs from its ``id``.
    """
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        article = Article.model_validate(data)
    except (yaml.YAMLError, ValidationError) as exc:
        raise KnowledgeBaseError(f"{path.name}: {exc}") from exc
    if article.id != path.stem:
        raise KnowledgeBaseError(f"{path.name}: id {article.id!r} differs from the file name")
    return article


def load_knowledge_base(directory: Path = ARTICLES_DIR) -> KnowledgeBase:
    """Load every ``*.yaml`` article in *directory*.

    Raises:
        KnowledgeBaseError: any file fails (all failures are listed in the message), or
            two files share an id.
    """
    articles: dict[str, Article] = {}
    errors: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            article = load_article(path)
        except KnowledgeBaseError as exc:
            errors.append(str(exc))
            continue
        articles[article.id] = article
    if errors:
        raise KnowledgeBaseError("\n".join(errors))
    return KnowledgeBase(articles)


@dataclass
class CheckReport:
    """What ``kb check`` found: errors fail the check, warnings do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    by_topic: Counter[str] = field(default_factory=Counter)
    by_locale: Counter[str] = field(default_factory=Counter)
    native_by_locale: Counter[str] = field(default_factory=Counter)
    articles: int = 0

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors


def check_knowledge_base(
    directory: Path = ARTICLES_DIR, today: dt.date | None = None
) -> CheckReport:
    """Validate the knowledge base beyond the schema.

    Errors: a file that fails the schema; a locale missing from an article; a body longer
    than ``MAX_BODY_CHARS``; a topic with no article. Warnings: ``reviewed_on`` more than
    ``STALE_AFTER_DAYS`` days before *today* (UTC date if not given), or in the future.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    report = CheckReport()
    for path in sorted(directory.glob("*.yaml")):
        try:
            article = load_article(path)
        except KnowledgeBaseError as exc:
            report.errors.append(str(exc))
            continue
        report.articles += 1
        report.by_topic[article.topic] += 1
        for locale in LOCALES:
            text = article.locales.get(locale)
            if text is None:
                report.errors.append(f"{article.id}: no {locale} text")
                continue
            report.by_locale[locale] += 1
            if text.review == "native":
                report.native_by_locale[locale] += 1
            # Counted as sent: HTML-escaped (& becomes &amp;).
            length = len(html.escape(text.body, quote=False))
            if length > MAX_BODY_CHARS:
                report.errors.append(
                    f"{article.id} [{locale}]: body has {length} characters, "
                    f"more than {MAX_BODY_CHARS}"
                )
        age = (today - article.reviewed_on).days
        if age > STALE_AFTER_DAYS:
            report.warnings.append(
                f"{article.id}: reviewed_on {article.reviewed_on} is {age} days old"
            )
        elif age < 0:
            report.warnings.append(
                f"{article.id}: reviewed_on {article.reviewed_on} is in the future"
            )
    for topic in TOPICS:
        if report.by_topic[topic] == 0:
            report.errors.append(f"topic {topic}: no article")
    return report
