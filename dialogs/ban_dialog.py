"""The ban estimator as a guided conversation (dialog ``ban``).

Short button answers: the country; then, as often as needed, what happened (overstay,
fines, expulsion, a conviction, an unpaid fine or debt, false documents, something else),
each with a question or two (days past the allowed stay and the day of leaving; the dates
of the last two fines; first or repeated expulsion and its date; ...); "That's all" shows
the result. The result is :func:`dialogs.ban_estimator.estimate` over the answers (see
:func:`events_from_answers`), rendered for the person's locale: each ban with its legal
basis, length, start and end, what is not confirmed, the end date that governs, that this
is an estimate and how to confirm it officially, and what to do next; buttons lead to the
articles on appeal, amnesties and legal work elsewhere, to the official check, an NGO and
a reminder on the day the ban ends.

Answer keys: ``country``; ``what1``, ``what2``, ... (the event chosen at each round, or
``done``); per event: ``overstay_days``, ``overstay_left``, ``overstay_exit``;
``offences_count``, ``offences_last``, ``offences_prev``; ``expulsion_times``,
``expulsion_date``; ``conviction_cleared``; ``unpaid_kind``; ``other_kind``,
``other_date``.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dialogs.ban_estimator import Ban, Estimate, Event, estimate
from dialogs.ban_rules import Basis
from dialogs.engine import N_, Action, Answer, Choice, Done, Question, Translator, as_date

#: Earliest date accepted for an event (nothing older matters for a ban today).
NOT_BEFORE = dt.date(1995, 1, 1)

_DATE_HINT = N_("Write the date as day.month.year, e.g. 25.03.2024.")

#: The events a person can pick, in menu order: (value, button label).
EVENTS: tuple[tuple[str, str], ...] = (
    ("overstay", N_("⏳ I stayed too long (overstay)")),
    ("offences", N_("🧾 I got fines (offences)")),
    ("expulsion", N_("🚫 I was expelled or deported")),
    ("conviction", N_("⚖️ A criminal conviction")),
    ("unpaid", N_("💸 An unpaid fine or debt")),
    ("false_documents", N_("📄 False documents or false information")),
    ("other", N_("❓ Something else")),
)
DONE = "done"

_COUNTRY_NAMES = {"ru": N_("Russia"), "kz": N_("Kazakhstan")}

#: What each ground is, in plain words (msgids), for the result.
GROUND_TEXT: dict[str, str] = {
    "overstay": N_("stayed past the allowed period"),
    "offences": N_("two or more offences within three years"),
    "regime_offences": N_("repeated offences within one year"),
    "expulsion": N_("expulsion or deportation"),
    "conviction": N_("a criminal record not yet cleared"),
    "unpaid_fine": N_("an unpaid fine"),
    "debt": N_("an unpaid debt"),
    "false_documents": N_("false documents or false information"),
    "border_rules": N_("broke border, customs or sanitary rules"),
    "security": N_("a decision on security, public order or health grounds"),
    "undesirable": N_("a decision that the stay is undesirable"),
}
_REPEATED = "ru-27-2-1-repeated-expulsion"

_START_TEXT = {
    "exit": N_("from {date}, the day you left"),
    "event": N_("from {date}, the day of expulsion"),
    "last_ruling": N_("from {date}, the day of the last fine"),
}
_UNTIL_TEXT = {
    "paid": N_("Until it is paid in full."),
    "record_cleared": N_("Until the criminal record is cleared."),
    "remedied": N_("Until the violation is put right."),
    "lifted": N_("No fixed end: until the decision is lifted."),
    "unknown": N_("How long it lasts is not confirmed."),
}


def _yes_no(key: str, text: str) -> Question:
    return Question(
        key,
        text,
        choices=(Choice("yes", N_("✅ Yes")), Choice("no", N_("❌ No"))),
        columns=2,
    )


def _date(key: str, text: str, today: dt.date | None = None) -> Question:
    """A date question; with *today*, buttons "Today" and "Yesterday" too."""
    choices: tuple[Choice, ...] = ()
    if today is not None:
        yesterday = today - dt.timedelta(days=1)
        choices = (
            Choice(today.isoformat(), N_("📅 Today")),
            Choice(yesterday.isoformat(), N_("📅 Yesterday")),
        )
    return Question(
        key, text, kind="date", choices=choices, columns=2, not_before=NOT_BEFORE, hint=_DATE_HINT
    )


def _chosen(answers: Mapping[str, Answer]) -> list[str]:
    """The events chosen so far, in order (without ``done``)."""
    out = []
    n = 1
    while f"what{n}" in answers:
        value = answers[f"what{n}"]
        if value == DONE:
            break
        out.append(str(value))
        n += 1
    return out


def _follow_up(event: str, answers: Mapping[str, Answer], today: dt.date) -> Question | None:
    """The next question about *event*, or None when it is fully described."""
    if event == "overstay":
        if "overstay_days" not in answers:
            return Question(
                "overstay_days",
                N_("How many days did you stay past the allowed period?"),
                kind="number",
                minimum=1,
                maximum=3650,
                hint=N_("Write a number of days, e.g. 45."),
            )
        if "overstay_left" not in answers:
            return _yes_no("overstay_left", N_("Have you left the country since then?"))
        if answers["overstay_left"] == "yes" and "overstay_exit" not in answers:
            return _date("overstay_exit", N_("On what date did you leave?"), today)
    elif event == "offences":
        if "offences_count" not in answers:
            return Question(
                "offences_count",
                N_("How many fines (offences) did you get in the last years?"),
                choices=(Choice("1", "1"), Choice("2", "2"), Choice("3", "3+")),
                columns=3,
            )
        if answers["offences_count"] != "1":
            if "offences_last" not in answers:
                return _date("offences_last", N_("Date of the latest fine?"))
            if "offences_prev" not in answers:
                return _date("offences_prev", N_("Date of the fine before it?"))
    elif event == "expulsion":
        if "expulsion_times" not in answers:
            return Question(
                "expulsion_times",
                N_("Was it the first time or not?"),
                choices=(
                    Choice("1", N_("1️⃣ The first time")),
                    Choice("2", N_("🔁 Two times or more")),
                ),
            )
        if "expulsion_date" not in answers:
            return _date("expulsion_date", N_("Date of the (last) expulsion or deportation?"))
    elif event == "conviction":
        if "conviction_cleared" not in answers:
            return Question(
                "conviction_cleared",
                N_("Is the criminal record cleared (expunged or lifted) now?"),
                choices=(
                    Choice("no", N_("❌ Not yet")),
                    Choice("yes", N_("✅ Yes, cleared")),
                    Choice("unknown", N_("🤷 I don't know")),
                ),
            )
    elif event == "unpaid":
        if "unpaid_kind" not in answers:
            return Question(
                "unpaid_kind",
                N_("What is unpaid?"),
                choices=(
                    Choice("fine", N_("🧾 A fine")),
                    Choice("debt", N_("🏦 A debt by a court, or taxes")),
                    Choice("paid", N_("✅ All is paid now")),
                ),
            )
    elif event == "other" and "other_kind" not in answers:
        return Question(
            "other_kind",
            N_("What happened?"),
            choices=(
                Choice("border_rules", N_("🛂 I broke border or customs rules")),
                Choice("security", N_("🛡 I was told: security or public order")),
                Choice("undesirable", N_("📜 I was told: my stay is «undesirable»")),
                Choice("regime_offences", N_("🔁 2+ fines in one year for stay or work rules")),
            ),
        )
    elif (
        event == "other"
        and answers["other_kind"] == "regime_offences"
        and "other_date" not in answers
    ):
        return _date("other_date", N_("Date of the latest fine?"))
    return None


def events_from_answers(answers: Mapping[str, Answer]) -> tuple[str, list[Event]]:
    """The country and the events described by a run's *answers* (see the module
    docstring for the keys). Unanswered or contradictory parts are left out.

    Raises:
        ValueError: no country was chosen.
    """
    country = answers.get("country")
    if country not in _COUNTRY_NAMES:
        raise ValueError("no country chosen")
    events: list[Event] = []
    for kind in _chosen(answers):
        if kind == "overstay" and isinstance(answers.get("overstay_days"), int):
            days = int(answers["overstay_days"] or 0)
            exit_day = as_date(answers.get("overstay_exit"))
            if days >= 1:
                events.append(Event("overstay", days=days, exit=exit_day))
        elif kind == "offences":
            dates = tuple(
                d
                for d in (
                    as_date(answers.get("offences_last")),
                    as_date(answers.get("offences_prev")),
                )
                if d is not None
            )
            if dates:
                events.append(Event("offences", dates=dates))
        elif kind == "expulsion":
            times = 2 if answers.get("expulsion_times") == "2" else 1
            events.append(
                Event("expulsion", date=as_date(answers.get("expulsion_date")), times=times)
            )
        elif kind == "conviction" and answers.get("conviction_cleared") != "yes":
            events.append(Event("conviction"))
        elif kind == "unpaid" and answers.get("unpaid_kind") in ("fine", "debt"):
            events.append(Event("unpaid_fine" if answers["unpaid_kind"] == "fine" else "debt"))
        elif kind == "false_documents":
            events.append(Event("false_documents"))
        elif kind == "other" and isinstance(answers.get("other_kind"), str):
            other = str(answers["other_kind"])
            if other == "regime_offences":
                day = as_date(answers.get("other_date"))
                if day is not None:
                    events.append(Event("regime_offences", dates=(day, day)))
            else:
                events.append(Event(other))
    return str(country), events


def estimate_answers(answers: Mapping[str, Answer], today: dt.date) -> Estimate:
    """The estimate for a run's *answers* as of *today* (e.g. to recompute it for a
    reminder from the stored answers).

    Raises:
        ValueError: no country was chosen, or a date lies after *today*.
    """
    country, events = events_from_answers(answers)
    return estimate(country, today, events)


@dataclass(frozen=True)
class BanResult:
    """What the dialog finishes with: the estimate (the actions depend on it)."""

    estimate: Estimate


class BanDialog:
    """The ``ban`` dialog (see the module docstring)."""

    name = "ban"
    title = N_("⛔ Ban estimate")

    def next(self, answers: Mapping[str, Answer], today: dt.date) -> Question | Done:
        """The next question, or the result once the person says "That's all"."""
        if "country" not in answers:
            return Question(
                "country",
                N_("Which country's ban do you want to estimate?"),
                choices=(Choice("ru", N_("🇷🇺 Russia")), Choice("kz", N_("🇰🇿 Kazakhstan"))),
                columns=2,
            )
        chosen = _chosen(answers)
        for event in chosen:
            follow = _follow_up(event, answers, today)
            if follow is not None:
                return follow
        n = len(chosen) + 1
        if answers.get(f"what{n}") != DONE and len(chosen) < len(EVENTS):
            first = n == 1
            choices = tuple(Choice(v, label) for v, label in EVENTS if v not in chosen)
            return Question(
                f"what{n}",
                N_("What happened? Choose one; you can add more after.")
                if first
                else N_("Anything else? Choose one more, or «That's all»."),
                choices=(*choices, Choice(DONE, N_("✅ That's all: show the result"))),
            )
        result = BanResult(estimate_answers(answers, today))
        return Done(result, self.actions(result.estimate, today))

    @staticmethod
    def actions(est: Estimate, today: dt.date) -> tuple[Action, ...]:
        """The result's buttons: official check, reminder, appeal and what next, an NGO."""
        actions = [Action("dialog", N_("🔎 Check officially"), "check")]
        if est.latest_end is not None and est.latest_end > today:
            actions.append(Action("reminder", N_("⏰ Remind me when it ends")))
        if est.country == "ru":
            actions.append(Action("article", N_("📄 Appeal a ban in court"), "ru-ban-appeal-court"))
            actions.append(
                Action("article", N_("📄 Amnesties and agreements"), "ru-ban-bilateral-amnesties")
            )
            actions.append(
                Action("article", N_("📄 When the ban ends"), "ru-ban-end-date-what-next")
            )
        else:
            actions.append(
                Action("article", N_("📄 Kazakhstan: what is known"), "kz-ban-check-expulsion")
            )
        actions.append(
            Action("article", N_("📄 Legal work in other countries"), "legal-work-other-countries")
        )
        actions.append(Action("help", N_("🤝 Talk to an NGO")))
        return tuple(actions)

    def render(self, result: Any, tr: Translator) -> str:
        """The estimate as Telegram HTML in *tr*'s locale."""
        assert isinstance(result, BanResult)
        return render_estimate(result.estimate, tr)


#: Law names as the result shows them (msgids; the rules file uses the keys).
LAW_NAMES: dict[str, str] = {
    "114-FZ": N_("114-FZ"),
    "KZ Law On Migration No. 477-IV": N_("Law of Kazakhstan On Migration"),
}


def cite(basis: Basis, tr: Translator) -> str:
    """The legal basis in *tr*'s locale, e.g. ru "114-ФЗ, ст. 27, п. 12"."""
    _ = tr.gettext
    law = _(LAW_NAMES.get(basis.law, basis.law))
    if basis.paragraph:
        return _("{law}, Art. {article}, p. {paragraph}").format(
            law=law, article=basis.article, paragraph=basis.paragraph
        )
    return _("{law}, Art. {article}").format(law=law, article=basis.article)


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _ban_lines(ban: Ban, tr: Translator) -> list[str]:
    _ = tr.gettext
    rule = ban.rule
    ground = GROUND_TEXT[rule.ground]
    if rule.id == _REPEATED:
        ground = N_("expelled or deported two or more times")
    lines = [f"• <b>{_esc(cite(rule.basis, tr))}</b>: {_esc(_(ground))}"]
    if rule.confidence == "unverified":
        lines.append(
            "  ⚠️ " + _esc(_("This may apply, but we could not confirm the rule. Check officially."))
        )
        return lines
    years = ban.years
    if years is not None:
        length = tr.ngettext("{n} year", "{n} years", years).format(n=tr.format_number(years))
        if ban.start is not None:
            start = _(_START_TEXT[rule.start]).format(date=tr.format_date(ban.start))
            lines.append(f"  {_esc(length)}, {_esc(start)}")
        elif ban.starts_on_exit:
            text = _("{length} from the day you leave.").format(length=length)
            lines.append("  " + _esc(text))
        else:
            lines.append("  " + _esc(length))
        if ban.end is not None:
            key = N_("Ended on {date}") if ban.ended else N_("Ends on {date}")
            lines.append("  " + _esc(_(key).format(date=tr.format_date(ban.end))))
    elif ban.until is not None:
        lines.append("  " + _esc(_(_UNTIL_TEXT[ban.until])))
    if rule.confidence == "2nd":
        lines.append("  ⚠️ " + _esc(_("Not confirmed in the law's text: check officially.")))
    return lines


def render_estimate(est: Estimate, tr: Translator) -> str:
    """*est* as Telegram HTML: the bans, the governing end date, the caveats, how to
    confirm officially and what next (all text from the catalog of *tr*'s locale)."""
    _ = tr.gettext
    country = _(_COUNTRY_NAMES[est.country])
    parts = [
        "<b>{}</b>".format(_esc(_("⛔ Ban estimate: {country}").format(country=country))),
        "ℹ️ " + _esc(_("This is an estimate from your answers, not an official answer.")),
    ]
    if est.bans:
        lines = [_esc(_("Bans that likely apply:"))]
        for ban in est.bans:
            lines.extend(_ban_lines(ban, tr))
        parts.append("\n".join(lines))
    else:
        parts.append(
            _esc(
                _(
                    "From your answers we found no ban in the rules we know. "
                    "There are other grounds: check officially before you travel."
                )
            )
        )
    live = [b for b in est.bans if not b.ended]
    if est.latest_end is not None and est.latest_end >= est.as_of:
        text = _("📅 Estimated end: {date}").format(date=tr.format_date(est.latest_end))
        after = _("You may enter at the earliest the day after.")
        parts.append("<b>" + _esc(text) + "</b>\n" + _esc(after))
    elif est.bans and not live:
        parts.append(_esc(_("✅ The bans we estimated have ended.")))
    if est.may_be_longer and live:
        parts.append(_esc(_("It may last longer: see the points marked above.")))
    if any(b.rule.discretionary and b.rule.country == "ru" for b in live):
        parts.append(
            _esc(
                _(
                    "Bans under Art. 26 are decided case by case: the authorities may give "
                    "them, but do not have to."
                )
            )
        )
    if est.near_edge:
        parts.append(
            "⚠️ " + _esc(_("Your dates are right at a limit of the law: check officially."))
        )
    if est.country == "ru":
        confirm = _(
            "How to confirm: the MVD online check, or a written request to the migration "
            "service (the answer is due within 30 days)."
        )
        appeal = _(
            "Appeal: to the higher MVD office or to a court (administrative claim). "
            "The deadline is usually 3 months from the day you learned of the ban; "
            "this is not confirmed, so act quickly."
        )
        parts.append(_esc(confirm))
        parts.append(_esc(appeal))
    else:
        parts.append(_esc(_("How to confirm: ask the migration police of Kazakhstan in writing.")))
    if live:
        parts.append(
            _esc(
                _(
                    "While a ban lasts, do not try to enter. "
                    "You can still work legally in other countries."
                )
            )
        )
    return "\n\n".join(parts)


#: The dialog instance the bot registers.
DIALOG = BanDialog()
