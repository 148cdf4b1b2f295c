"""``python -m tests.killable_bot``: the real ``python -m bot run``, with one small test
dialog registered first (``dlg:zkill``: a country button, a typed date, a number), for the
kill tests (``tests/test_kill.py``) while no product dialog is needed for them."""

from __future__ import annotations

import datetime as dt
import html
import sys
from collections.abc import Mapping

from bot.cli import main
from bot.handlers.dialogs import register
from dialogs.engine import Answer, Choice, Done, Question, Translator


class KillDialog:
    """Three questions; the result repeats the answers."""

    name = "zkill"
    title = "Entry ban"  # an existing msgid, so the title is translated

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        if "country" not in answers:
            return Question(
                "country", "Choose a topic:", choices=(Choice("ru", "RU"), Choice("kz", "KZ"))
            )
        if "entered" not in answers:
            return Question("entered", "When?", kind="date")
        if "days" not in answers:
            return Question("days", "How many?", kind="number", minimum=0)
        return Done(dict(answers))

    def render(self, result: Mapping[str, Answer], tr: Translator) -> str:
        return html.escape(f"RESULT {result['country']} {result['entered']} {result['days']}")


register(KillDialog())

if __name__ == "__main__":
    sys.exit(main(["run"]))
