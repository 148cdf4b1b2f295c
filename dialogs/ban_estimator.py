"""Estimate which entry bans likely apply, and until when, from what a person tells us.

Pure functions over the rules in ``dialogs/data/ban_rules.yaml`` (see
:mod:`dialogs.ban_rules`); no I/O beyond loading that file once, no Telegram.

How dates are counted (our reading; the result always says to confirm officially):

* A ban of *N* years ends on the same calendar day *N* years after its start (the start
  being the day of exit, of expulsion, or the day the last ruling took legal force), as
  periods in years are usually counted in Russian law; a start on 29 February ends on
  28 February. This matches the court example in the facts file (a 10-year ban "until
  06.05.2028"). The person may enter from the next day at the earliest.
* "Two or more offences within three years" (114-FZ Art. 26 p.4): the first and the last
  ruling are within the window when the last is *before* the same calendar day three years
  after the first: exactly three years apart is outside, one day less is inside. Results on
  such an edge are marked :attr:`Ban.edge`.
* Overstay thresholds count whole days stayed past the end of the allowed period: "more
  than 30" means 31 or more (leaving on the 30th day is still in time).
* The rule applied is the one in force on the day of the event: the day of exit for an
  overstay (today if the person has not left), the day of the (last) expulsion, the day of
  the last ruling; events without a date are judged by today's rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialogs.ban_rules import COUNTRIES, GROUNDS, Rule, RuleSet, default_rules


@dataclass(frozen=True)
class Event:
    """Something that happened, as the dialog collects it.

    * ``overstay``: *days* past the allowed period (whole days, >= 1) and *exit*, the day
      the person left (None: not left yet).
    * ``offences`` / ``regime_offences``: *dates*, the days the rulings took legal force
      (any order).
    * ``expulsion``: *date* of the (last) expulsion or deportation and *times* (1, or 2 for
      "two or more"); *dates* may list them instead.
    * any other ground (:data:`dialogs.ban_rules.GROUNDS`): *date* optional.
    """

    type: str
    date: dt.date | None = None
    dates: tuple[dt.date, ...] = ()
    days: int | None = None
    exit: dt.date | None = None
    times: int = 1

    def __post_init__(self) -> None:
        if self.type not in GROUNDS:
            raise ValueError(f"unknown event type {self.type!r}; one of {', '.join(GROUNDS)}")
        if self.type == "overstay" and (self.days is None or self.days < 1):
            raise ValueError("overstay needs days (whole days past the allowed stay, >= 1)")
        if self.times < 1:
            raise ValueError("times must be at least 1")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Event:
        """An event from plain JSON (dates as ISO ``YYYY-MM-DD`` text).

        Keys: ``type`` (required), ``date``, ``dates``, ``days``, ``exit``, ``times``.

        Raises:
            ValueError: unknown keys or type, a bad date or number.
        """
        known = {"type", "date", "dates", "days", "exit", "times"}
        extra = set(data) - known
        if extra:
            raise ValueError(f"unknown key(s) in event: {', '.join(sorted(extra))}")
        kind = data.get("type")
        if not isinstance(kind, str):
            raise ValueError("each event needs a type")
        dates = data.get("dates") or []
        if not isinstance(dates, list):
            raise ValueError("dates must be a list of dates")
        days = data.get("days")
        times = data.get("times", 1)
        if days is not None and (not isinstance(days, int) or isinstance(days, bool)):
            raise ValueError("days must be a whole number")
        if not isinstance(times, int) or isinstance(times, bool):
            raise ValueError("times must be a whole number")
        parsed = tuple(_iso(d) for d in dates)
        date = _iso(data["date"]) if data.get("date") else None
        if kind == "expulsion" and parsed:
            times = max(times, len(parsed))
            date = max([*parsed, *([date] if date else [])])
        return cls(
            type=kind,
            date=date,
            dates=parsed,
            days=days,
            exit=_iso(data["exit"]) if data.get("exit") else None,
            times=times,
        )


def _iso(value: object) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None


@dataclass(frozen=True)
class Ban:
    """One ban that likely applies.

    *years* or *until* gives its length; *start*/*end* are None when the start is not
    fixed (e.g. an overstay and the person has not left: *starts_on_exit*). *edge*: the facts
    are within a day of a threshold or of a change in the law, so the reading could go
    either way. *ended*: *end* is before the day of the estimate.
    """

    rule: Rule
    start: dt.date | None
    end: dt.date | None
    ended: bool = False
    edge: bool = False
    starts_on_exit: bool = False

    @property
    def years(self) -> int | None:
        """Length in years, or None."""
        return self.rule.length.years

    @property
    def until(self) -> str | None:
        """``paid``, ``record_cleared``, ``remedied``, ``lifted``, ``unknown`` or None."""
        return self.rule.length.until

    @property
    def confirmed(self) -> bool:
        """A source states this rule directly."""
        return self.rule.confirmed

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (see docs/estimate-ban.md)."""
        r = self.rule
        return {
            "rule": r.id,
            "ground": r.ground,
            "basis": r.basis.cite(),
            "law": r.basis.law,
            "article": r.basis.article,
            "paragraph": r.basis.paragraph or None,
            "discretionary": r.discretionary,
            "years": self.years,
            "until_paid": self.until == "paid",
            "indefinite": self.until is not None and self.until != "paid",
            "until": self.until,
            "start_counted_from": r.start,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "starts_on_exit": self.starts_on_exit,
            "ended": self.ended,
            "edge": self.edge,
            "confidence": r.confidence,
            "confirmed": r.confirmed,
            "effective_from": r.effective_from.isoformat() if r.effective_from else None,
            "effective_to": r.effective_to.isoformat() if r.effective_to else None,
            "sources": [s.url for s in r.sources],
        }


@dataclass(frozen=True)
class Estimate:
    """The result: every ban that likely applies and the end date that governs.

    *latest_end*: the latest end among bans whose length we can state (confidence ``src``
    or ``2nd``); None if none has a date. *governing*: that ban. *may_be_longer*: some ban
    has no fixed end (until paid, record cleared, ...) or is unverified, so the real end may
    be later. *no_rule*: event types for which no rule was in force on the event's day.
    *near_edge*: some fact is within a day of a threshold or of a change in the law (even
    if no ban resulted), so the person should confirm officially.
    """

    country: str
    as_of: dt.date
    bans: tuple[Ban, ...]
    latest_end: dt.date | None
    governing: Ban | None
    may_be_longer: bool
    no_rule: tuple[str, ...] = field(default=())
    near_edge: bool = False

    @property
    def banned_now(self) -> bool:
        """Some ban (of any confidence) has not ended on *as_of* or has no fixed end."""
        return any(not b.ended for b in self.bans)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (see docs/estimate-ban.md)."""
        return {
            "country": self.country,
            "as_of": self.as_of.isoformat(),
            "bans": [b.to_json() for b in self.bans],
            "latest_end": self.latest_end.isoformat() if self.latest_end else None,
            "latest_end_confirmed": bool(self.governing and self.governing.confirmed),
            "may_be_longer": self.may_be_longer,
            "no_rule": list(self.no_rule),
            "near_edge": self.near_edge,
            "estimate_only": True,
        }


def add_years(day: dt.date, years: int) -> dt.date:
    """*day* moved *years* calendar years on; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def _window_start(dates: Sequence[dt.date], count: int, years: int | None) -> dt.date | None:
    """The latest ruling that completes *count* rulings within *years* (None: never)."""
    ordered = sorted(dates)
    if len(ordered) < count:
        return None
    for i in range(len(ordered) - 1, count - 2, -1):
        first = ordered[i - count + 1]
        if years is None or ordered[i] < add_years(first, years):
            return ordered[i]
    return None


def _window_edge(dates: Sequence[dt.date], years: int | None) -> bool:
    """Some two rulings are within a day of exactly *years* apart."""
    if years is None:
        return False
    ordered = sorted(dates)
    for i, first in enumerate(ordered):
        limit = add_years(first, years)
        for later in ordered[i + 1 :]:
            if abs((later - limit).days) <= 1:
                return True
    return False


def _matches(rule: Rule, event: Event) -> bool:
    c = rule.condition
    days = event.days or 0
    if c.days_over_more_than is not None and not days > c.days_over_more_than:
        return False
    if c.days_over_at_most is not None and not days <= c.days_over_at_most:
        return False
    if c.times_at_least is not None and event.times < c.times_at_least:
        return False
    if c.times_at_most is not None and event.times > c.times_at_most:
        return False
    return not (
        c.count_at_least is not None
        and _window_start(event.dates, c.count_at_least, c.window_years) is None
    )


def _event_day(event: Event, as_of: dt.date) -> dt.date:
    if event.type == "overstay":
        return event.exit or as_of
    if event.dates:
        return max(event.dates)
    return event.date or as_of


def _near_change(rules: Iterable[Rule], day: dt.date) -> bool:
    for rule in rules:
        for bound in (rule.effective_from, rule.effective_to):
            if bound is not None and abs((day - bound).days) <= 1:
                return True
    return False


def _ban(rule: Rule, event: Event, as_of: dt.date, edge: bool) -> Ban:
    start: dt.date | None
    if rule.start == "exit":
        start = event.exit
    elif rule.start == "event":
        start = event.date
    elif rule.start == "last_ruling":
        c = rule.condition
        start = _window_start(event.dates, c.count_at_least or 1, c.window_years)
    else:
        start = None
    years = rule.length.years
    end = add_years(start, years) if start is not None and years is not None else None
    return Ban(
        rule=rule,
        start=start,
        end=end,
        ended=end is not None and end < as_of,
        edge=edge,
        starts_on_exit=rule.start == "exit" and event.exit is None,
    )


def estimate(
    country: str, as_of: dt.date, events: Sequence[Event], rules: RuleSet | None = None
) -> Estimate:
    """Which bans likely apply to a person of *country*'s rules, as of *as_of*.

    *country*: ``ru`` or ``kz``. *events*: what happened (see :class:`Event`). For each
    event, the rules of that country for that ground in force on the event's day (see the
    module docstring) whose condition holds give one :class:`Ban` each. When several apply,
    the latest end governs (:attr:`Estimate.latest_end`). *rules* defaults to the packaged
    file.

    Raises:
        ValueError: unknown *country*; an event date after *as_of*; an exit before the
            overstay could have happened is not checked (the person knows their dates).
        dialogs.ban_rules.RulesError: the packaged rules file is invalid.
    """
    if country not in COUNTRIES:
        raise ValueError(f"unknown country {country!r}; one of {', '.join(COUNTRIES)}")
    rules = rules or default_rules()
    bans: list[Ban] = []
    no_rule: list[str] = []
    near_edge = False
    for event in events:
        for day in (event.date, event.exit, *event.dates):
            if day is not None and day > as_of:
                raise ValueError(f"{event.type}: date {day.isoformat()} is after as_of")
        day = _event_day(event, as_of)
        in_force = rules.for_event(country, event.type, day)
        all_for_ground = [r for r in rules.rules if r.country == country and r.ground == event.type]
        if not in_force:
            no_rule.append(event.type)
            continue
        edge = _near_change(all_for_ground, day) or _window_edge(event.dates, 3)
        if event.type == "overstay":
            bounds = {
                b
                for r in in_force
                for b in (r.condition.days_over_more_than, r.condition.days_over_at_most)
                if b is not None
            }
            edge = edge or any((event.days or 0) in (b, b + 1) for b in bounds if b > 0)
        near_edge = near_edge or edge
        for rule in in_force:
            if _matches(rule, event):
                rule_edge = edge or _window_edge(event.dates, rule.condition.window_years)
                bans.append(_ban(rule, event, as_of, rule_edge))
    stated = [b for b in bans if b.end is not None and b.rule.confidence != "unverified"]
    governing = max(stated, key=lambda b: (b.end, b.confirmed)) if stated else None
    latest = governing.end if governing else None
    may_be_longer = any(
        b.end is None or latest is None or b.end > latest for b in bans if not b.ended
    )
    return Estimate(
        country=country,
        as_of=as_of,
        bans=tuple(bans),
        latest_end=latest,
        governing=governing,
        may_be_longer=bool(may_be_longer),
        no_rule=tuple(dict.fromkeys(no_rule)),
        near_edge=near_edge or any(b.edge for b in bans),
    )


def estimate_json(data: Mapping[str, Any], rules: RuleSet | None = None) -> dict[str, Any]:
    """The CLI's contract: one JSON object in (``country``, ``as_of``, ``events``), one out.

    Raises:
        ValueError: a missing or bad field (the message names it).
    """
    if not isinstance(data, Mapping):
        raise ValueError("expected one JSON object")
    extra = set(data) - {"country", "as_of", "events"}
    if extra:
        raise ValueError(f"unknown key(s): {', '.join(sorted(extra))}")
    country = str(data.get("country", "")).lower()
    as_of = _iso(data["as_of"]) if data.get("as_of") else dt.date.today()
    raw_events = data.get("events")
    if not isinstance(raw_events, list):
        raise ValueError("events must be a list")
    events = []
    for i, item in enumerate(raw_events):
        if not isinstance(item, Mapping):
            raise ValueError(f"events[{i}] must be an object")
        try:
            events.append(Event.from_json(item))
        except ValueError as exc:
            raise ValueError(f"events[{i}]: {exc}") from None
    return estimate(country, as_of, events, rules).to_json()
