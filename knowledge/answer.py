"""What Safar answers to a typed question: danger first, then the knowledge base.

The bot (``bot/handlers/search.py``), ``python -m bot eval-search`` and ``bench/search.py``
all call :func:`answer`, so the figures measured are those of the answers people get:

* a message that signals immediate danger (``crisis`` in :func:`knowledge.risk.assess`)
  gets the emergency contacts first (``SearchResult.emergency``), whatever else it asks.
  For self-harm or violence the emergency article is also the answer, ranked first. For
  being held or forced to work (:data:`ANSWER_AFTER_ALERT`) the person also needs what to
  do about it: the article search finds (forced labour, a passport kept...) is the answer,
  with the emergency article second;
* a message that signals serious harm (``high``: a passport taken, no food or shelter,
  held at work...) is never met with "I don't know this yet" only because no article was
  confident enough: the person gets the nearest article (and the bot opens the help path).
  An out-of-scope subject or a greeting still abstains;
* anything else is :meth:`knowledge.search.Searcher.search` as it is.
"""

from __future__ import annotations

from dataclasses import replace

from knowledge.crisis import crisis_phrases
from knowledge.risk import RiskAssessment, assess
from knowledge.search import Hit, Searcher, SearchResult

#: Crisis kinds (``risk.yaml``) after whose emergency alert the searched article still
#: answers the question; any other crisis kind makes the emergency article the answer.
ANSWER_AFTER_ALERT = frozenset({"held_or_forced", "forced_work"})


def answer(
    searcher: Searcher, text: str, limit: int = 3, risk: RiskAssessment | None = None
) -> SearchResult:
    """Rank articles for *text* (any locale or script) the way the bot answers it.

    *risk* is ``assess(text)`` when the caller already has it. Returns at most *limit* hits;
    for a crisis ``emergency`` is True, the result is never abstained and the emergency
    article (``crisis.yaml``'s ``emergency_article``, score 1.0) is first, or second after a
    confident article for the kinds in :data:`ANSWER_AFTER_ALERT`. Never raises on odd
    input.
    """
    risk = risk if risk is not None else assess(text)
    result = searcher.search(text, limit=limit)
    if risk.is_crisis:
        article = searcher.kb.get(crisis_phrases().emergency_article)
        if article is None:  # a knowledge base without it (tests): search as it is
            return result
        alert = Hit(article.id, article.topic, 1.0)
        rest = [h for h in result.hits if h.article_id != article.id]
        if risk.kinds <= ANSWER_AFTER_ALERT and rest and not result.abstained:
            hits = (rest[0], alert, *rest[1:])
        else:
            hits = (alert, *rest)
        return SearchResult(hits=hits[:limit], abstained=False, emergency=True)
    if risk.needs_help and result.abstained and result.hits and result.out_of_scope is None:
        return replace(result, abstained=False)
    return result
