"""Safar's sourced knowledge base: articles, their schema, loading, checks and search.

Knows nothing of Telegram or storage: functions take plain data and return plain data.
"""

from knowledge.schema import LOCALES, TOPICS, Article, LocalizedText, Source

__all__ = ["LOCALES", "TOPICS", "Article", "LocalizedText", "Source"]
