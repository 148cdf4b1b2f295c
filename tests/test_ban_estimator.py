"""The ban estimator against cases taken from the law's text (table-driven).

Each case names its source: the paragraph of 114-FZ (Arts. 26, 27) or of the Kazakh Law
"On Migration" (Art. 48) as given in dialogs/data/ban_rules.yaml, where the sources and
the dates they were checked are listed. Expected: the rules that apply (rule id -> end date,
or None when the ban has no fixed end) and the end that governs.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dialogs.ban_estimator import Event, add_years, estimate, estimate_json
from dialogs.ban_rules import RULES_FILE, RulesError, load_rules

D = dt.date
AS_OF = D(2026, 12, 5)

# Rule ids (see dialogs/data/ban_rules.yaml).
P26_8 = "ru-26-8-overstay-30"  # 114-FZ Art. 26 p.8: not left within 30 days; 3 y from exit
P27_12_OLD = "ru-27-12-overstay-90-in-180"  # Art. 27 p.12, 2014-2024 wording; 3 y from exit
P27_12_NEW = "ru-27-12-overstay-90-calendar-year"  # Art. 27 p.12 from 2025; 3 y from exit
P27_14 = "ru-27-14-overstay-180"  # Art. 27 p.14 as cited (unverified): 5 y
P27_13 = "ru-27-13-overstay-270"  # Art. 27 p.13 as cited (unverified): 10 y
P26_4 = "ru-26-4-two-offences-3-years"  # Art. 26 p.4: 3 y from the last ruling
P27_2 = "ru-27-2-expulsion"  # Art. 27 p.2: 5 y from expulsion
P27_2_1 = "ru-27-2-1-repeated-expulsion"  # Art. 27 p.2.1: 10 y from the last expulsion
P27_3 = "ru-27-3-conviction"  # Art. 27 p.3: until the record is cleared
P27_10 = "ru-27-10-unpaid-fine"  # Art. 27 p.10: until the fine is paid


def overstay(days: int, exit: dt.date | None) -> Event:
    return Event("overstay", days=days, exit=exit)


def offences(*dates: dt.date) -> Event:
    return Event("offences", dates=dates)


def expulsion(date: dt.date, times: int = 1) -> Event:
    return Event("expulsion", date=date, times=times)


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    events: tuple[Event, ...]
    bans: dict[str, dt.date | None]
    latest_end: dt.date | None
    country: str = "ru"
    as_of: dt.date = AS_OF
    edge: bool | None = None  # when set: whether any ban is marked as on an edge


CASES: tuple[Case, ...] = (
    # --- Art. 26 p.8 (30 days) and Art. 27 p.12 (any overstay), 3 years from exit
    Case(
        "overstay 30 days: in time for p.8, p.12 applies",
        "114-FZ Art. 26 p.8; Art. 27 p.12",
        (overstay(30, D(2024, 3, 1)),),
        {P27_12_OLD: D(2027, 3, 1)},
        D(2027, 3, 1),
        edge=True,
    ),
    Case(
        "overstay 31 days: one day past the 30-day limit",
        "114-FZ Art. 26 p.8",
        (overstay(31, D(2024, 3, 1)),),
        {P26_8: D(2027, 3, 1), P27_12_OLD: D(2027, 3, 1)},
        D(2027, 3, 1),
        edge=True,
    ),
    Case(
        "overstay 1 day past 90 (2014-2024 wording)",
        "114-FZ Art. 27 p.12 (90 in 180)",
        (overstay(1, D(2019, 7, 15)),),
        {P27_12_OLD: D(2022, 7, 15)},
        D(2022, 7, 15),
    ),
    Case(
        "overstay 45 days, exit 2023",
        "114-FZ Art. 26 p.8; Art. 27 p.12",
        (overstay(45, D(2023, 5, 20)),),
        {P26_8: D(2026, 5, 20), P27_12_OLD: D(2026, 5, 20)},
        D(2026, 5, 20),
        edge=False,
    ),
    Case(
        "overstay 180 days: at the p.14 threshold, not past it",
        "114-FZ Art. 27 p.14 (cited)",
        (overstay(180, D(2024, 6, 1)),),
        {P26_8: D(2027, 6, 1), P27_12_OLD: D(2027, 6, 1)},
        D(2027, 6, 1),
        edge=True,
    ),
    Case(
        "overstay 181 days: one past 180, longer ban unverified",
        "114-FZ Art. 27 p.14 (cited)",
        (overstay(181, D(2024, 6, 1)),),
        {P26_8: D(2027, 6, 1), P27_12_OLD: D(2027, 6, 1), P27_14: D(2029, 6, 1)},
        D(2027, 6, 1),
        edge=True,
    ),
    Case(
        "overstay 270 days: top of the p.14 range",
        "114-FZ Art. 27 p.14 (cited)",
        (overstay(270, D(2024, 6, 1)),),
        {P26_8: D(2027, 6, 1), P27_12_OLD: D(2027, 6, 1), P27_14: D(2029, 6, 1)},
        D(2027, 6, 1),
        edge=True,
    ),
    Case(
        "overstay 271 days: one past 270",
        "114-FZ Art. 27 p.13 (cited)",
        (overstay(271, D(2024, 6, 1)),),
        {P26_8: D(2027, 6, 1), P27_12_OLD: D(2027, 6, 1), P27_13: D(2034, 6, 1)},
        D(2027, 6, 1),
        edge=True,
    ),
    Case(
        "overstay, not left yet: the ban starts on exit",
        "114-FZ Art. 26 p.8: 'from exit'",
        (overstay(40, None),),
        {P26_8: None, P27_12_NEW: None},
        None,
    ),
    Case(
        "overstay ended long ago: ban over",
        "114-FZ Art. 26 p.8; Art. 27 p.12",
        (overstay(60, D(2018, 1, 10)),),
        {P26_8: D(2021, 1, 10), P27_12_OLD: D(2021, 1, 10)},
        D(2021, 1, 10),
    ),
    # --- a rule that changed: p.12 from 01.01.2014; the wording changed on 01.01.2025;
    #     p.8 from early 2013 (the older rule applies to the older event)
    Case(
        "exit 31.12.2013, 20 days: before p.12, under p.8 limit",
        "114-FZ Art. 27 p.12 from 2014",
        (overstay(20, D(2013, 12, 31)),),
        {},
        None,
        edge=True,
    ),
    Case(
        "exit 02.01.2014, 20 days: p.12 (90/180) applies",
        "114-FZ Art. 27 p.12 from 2014",
        (overstay(20, D(2014, 1, 2)),),
        {P27_12_OLD: D(2017, 1, 2)},
        D(2017, 1, 2),
        edge=True,
    ),
    Case(
        "exit 10.01.2014, 20 days: p.12, well after the change",
        "114-FZ Art. 27 p.12",
        (overstay(20, D(2014, 1, 10)),),
        {P27_12_OLD: D(2017, 1, 10)},
        D(2017, 1, 10),
        edge=False,
    ),
    Case(
        "exit 31.12.2024: the 90-in-180 wording",
        "114-FZ Art. 27 p.12; 115-FZ Art. 5 (2024)",
        (overstay(10, D(2024, 12, 31)),),
        {P27_12_OLD: D(2027, 12, 31)},
        D(2027, 12, 31),
        edge=True,
    ),
    Case(
        "exit 15.01.2025: the calendar-year wording",
        "114-FZ Art. 27 p.12; 115-FZ Art. 5 (2025)",
        (overstay(10, D(2025, 1, 15)),),
        {P27_12_NEW: D(2028, 1, 15)},
        D(2028, 1, 15),
    ),
    Case(
        "exit 2012, 40 days: before p.8 existed",
        "Federal Law 321-FZ of 30.12.2012",
        (overstay(40, D(2012, 6, 1)),),
        {},
        None,
    ),
    Case(
        "exit 2013, 40 days: p.8 only (p.12 not yet)",
        "114-FZ Art. 26 p.8 (from 2013)",
        (overstay(40, D(2013, 6, 1)),),
        {P26_8: D(2016, 6, 1)},
        D(2016, 6, 1),
    ),
    # --- Art. 26 p.4: two offences within three years, 3 years from the last ruling
    Case(
        "one offence: no ban",
        "114-FZ Art. 26 p.4 ('two or more')",
        (offences(D(2025, 3, 1)),),
        {},
        None,
    ),
    Case(
        "two offences one year apart",
        "114-FZ Art. 26 p.4",
        (offences(D(2024, 2, 10), D(2025, 2, 10)),),
        {P26_4: D(2028, 2, 10)},
        D(2028, 2, 10),
    ),
    Case(
        "two offences exactly three years apart: outside",
        "114-FZ Art. 26 p.4",
        (offences(D(2021, 3, 10), D(2024, 3, 10)),),
        {},
        None,
        edge=True,
    ),
    Case(
        "two offences three years less one day apart: inside",
        "114-FZ Art. 26 p.4",
        (offences(D(2021, 3, 10), D(2024, 3, 9)),),
        {P26_4: D(2027, 3, 9)},
        D(2027, 3, 9),
        edge=True,
    ),
    Case(
        "first offence on a leap day; exactly 3 years later is 28.02",
        "114-FZ Art. 26 p.4",
        (offences(D(2020, 2, 29), D(2023, 2, 28)),),
        {},
        None,
    ),
    Case(
        "first offence on a leap day; one day less",
        "114-FZ Art. 26 p.4",
        (offences(D(2020, 2, 29), D(2023, 2, 27)),),
        {P26_4: D(2026, 2, 27)},
        D(2026, 2, 27),
    ),
    Case(
        "three offences: the last pair governs",
        "114-FZ Art. 26 p.4 ('the last ruling')",
        (offences(D(2019, 1, 5), D(2020, 4, 1), D(2022, 11, 20)),),
        {P26_4: D(2025, 11, 20)},
        D(2025, 11, 20),
    ),
    Case(
        "offences in any order",
        "114-FZ Art. 26 p.4",
        (offences(D(2025, 8, 1), D(2024, 9, 1)),),
        {P26_4: D(2028, 8, 1)},
        D(2028, 8, 1),
    ),
    # --- Art. 27 p.2 and p.2.1: expulsion or deportation
    Case(
        "first expulsion: 5 years from it",
        "114-FZ Art. 27 p.2",
        (expulsion(D(2023, 4, 12)),),
        {P27_2: D(2028, 4, 12)},
        D(2028, 4, 12),
    ),
    Case(
        "repeated expulsion: 10 years from the last",
        "114-FZ Art. 27 p.2.1",
        (expulsion(D(2022, 9, 30), times=2),),
        {P27_2_1: D(2032, 9, 30)},
        D(2032, 9, 30),
    ),
    Case(
        "expulsion on a leap day: ends 28.02",
        "114-FZ Art. 27 p.2 (5 years)",
        (expulsion(D(2024, 2, 29)),),
        {P27_2: D(2029, 2, 28)},
        D(2029, 2, 28),
    ),
    Case(
        "repeated expulsion on a leap day, 8 years on is a leap day",
        "114-FZ Art. 27 p.2.1",
        (expulsion(D(2016, 2, 29), times=3),),
        {P27_2_1: D(2026, 2, 28)},
        D(2026, 2, 28),
    ),
    Case(
        "expulsion long ago: ended",
        "114-FZ Art. 27 p.2",
        (expulsion(D(2015, 5, 5)),),
        {P27_2: D(2020, 5, 5)},
        D(2020, 5, 5),
    ),
    # --- open-ended grounds
    Case(
        "unpaid fine: until paid",
        "114-FZ Art. 27 p.10",
        (Event("unpaid_fine"),),
        {P27_10: None},
        None,
    ),
    Case(
        "criminal record: until cleared",
        "114-FZ Art. 27 p.3",
        (Event("conviction", date=D(2021, 1, 1)),),
        {P27_3: None},
        None,
    ),
    Case(
        "border rules: until put right",
        "114-FZ Art. 26 p.1",
        (Event("border_rules"),),
        {"ru-26-1-border-rules": None},
        None,
    ),
    # --- several grounds at once: the latest end governs
    Case(
        "overstay + two offences: offences end later",
        "114-FZ Art. 26 p.4, p.8; Art. 27 p.12",
        (overstay(40, D(2024, 1, 10)), offences(D(2023, 5, 1), D(2024, 12, 1))),
        {P26_8: D(2027, 1, 10), P27_12_OLD: D(2027, 1, 10), P26_4: D(2027, 12, 1)},
        D(2027, 12, 1),
    ),
    Case(
        "expulsion + overstay: expulsion ends later",
        "114-FZ Art. 27 p.2; Art. 26 p.8",
        (expulsion(D(2024, 1, 10)), overstay(35, D(2024, 1, 10))),
        {P27_2: D(2029, 1, 10), P26_8: D(2027, 1, 10), P27_12_OLD: D(2027, 1, 10)},
        D(2029, 1, 10),
    ),
    Case(
        "repeated expulsion + unpaid fine",
        "114-FZ Art. 27 p.2.1, p.10",
        (expulsion(D(2021, 3, 3), times=2), Event("unpaid_fine")),
        {P27_2_1: D(2031, 3, 3), P27_10: None},
        D(2031, 3, 3),
    ),
    # --- Kazakhstan: grounds named, terms not confirmed
    Case(
        "KZ expulsion: term not confirmed",
        "KZ Law On Migration Art. 48",
        (expulsion(D(2025, 2, 1)),),
        {"kz-48-expulsion": None},
        None,
        country="kz",
    ),
    Case(
        "KZ repeated violations",
        "KZ Law On Migration Art. 48 (MVD, 2025)",
        (offences(D(2024, 5, 1), D(2025, 5, 1)),),
        {"kz-48-repeated-violations": None},
        None,
        country="kz",
    ),
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_estimate_matches_the_law(case: Case) -> None:
    result = estimate(case.country, case.as_of, case.events)
    assert {b.rule.id: b.end for b in result.bans} == case.bans, case.source
    assert result.latest_end == case.latest_end, case.source
    if case.edge is not None:
        assert result.near_edge == case.edge


def test_at_least_thirty_cases_each_with_a_source() -> None:
    assert len(CASES) >= 30
    assert all(c.source for c in CASES)


def test_ends_before_today_are_marked_ended_and_a_live_ban_is_not() -> None:
    old = estimate("ru", AS_OF, [expulsion(D(2015, 5, 5))])
    assert old.bans[0].ended and not old.banned_now
    live = estimate("ru", AS_OF, [expulsion(D(2023, 4, 12))])
    assert not live.bans[0].ended and live.banned_now


def test_open_ended_and_unverified_bans_say_the_end_may_be_later() -> None:
    fine = estimate("ru", AS_OF, [expulsion(D(2023, 4, 12)), Event("unpaid_fine")])
    assert fine.latest_end == D(2028, 4, 12) and fine.may_be_longer
    long_stay = estimate("ru", AS_OF, [overstay(300, D(2024, 6, 1))])
    assert long_stay.latest_end == D(2027, 6, 1) and long_stay.may_be_longer
    plain = estimate("ru", AS_OF, [expulsion(D(2023, 4, 12))])
    assert not plain.may_be_longer


def test_unconfirmed_rules_are_not_presented_as_confirmed() -> None:
    result = estimate("ru", AS_OF, [overstay(300, D(2024, 6, 1))])
    by_id = {b.rule.id: b for b in result.bans}
    assert by_id[P26_8].confirmed
    assert not by_id[P27_12_OLD].confirmed
    assert by_id[P27_13].rule.confidence == "unverified"
    assert result.governing is not None and result.governing.rule.confidence != "unverified"


def test_no_rule_in_force_is_reported() -> None:
    result = estimate("ru", AS_OF, [overstay(20, D(2013, 12, 31))])
    assert result.bans == () and result.no_rule == ()  # a rule was in force: p.8 did not match
    kz = estimate("kz", AS_OF, [Event("unpaid_fine")])
    assert kz.bans == () and kz.no_rule == ("unpaid_fine",)


def test_add_years_keeps_the_day_and_moves_29_february_to_28() -> None:
    assert add_years(D(2024, 2, 29), 4) == D(2028, 2, 29)
    assert add_years(D(2024, 2, 29), 1) == D(2025, 2, 28)
    assert add_years(D(2023, 12, 31), 3) == D(2026, 12, 31)


def test_bad_input_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="country"):
        estimate("us", AS_OF, [])
    with pytest.raises(ValueError, match="after as_of"):
        estimate("ru", AS_OF, [expulsion(D(2027, 1, 1))])
    with pytest.raises(ValueError, match="unknown event type"):
        Event("murder")
    with pytest.raises(ValueError, match="days"):
        Event("overstay", exit=D(2024, 1, 1))
    with pytest.raises(ValueError, match=r"events\[0\]"):
        estimate_json({"country": "ru", "as_of": "2026-01-01", "events": [{"type": "x"}]})
    with pytest.raises(ValueError, match="unknown key"):
        estimate_json({"country": "ru", "events": [], "name": "Ali"})


def test_every_rule_names_a_source_and_the_file_validates(tmp_path: Path) -> None:
    rules = load_rules(RULES_FILE)
    assert all(r.sources and r.sources[0].checked for r in rules.rules)
    assert {r.country for r in rules.rules} == {"ru", "kz"}
    bad = tmp_path / "rules.yaml"
    bad.write_text(RULES_FILE.read_text(encoding="utf-8").replace("years: 5}", "years: 0}"))
    with pytest.raises(RulesError):
        load_rules(bad)


def test_cli_reads_json_on_stdin_and_prints_the_estimate() -> None:
    request = {
        "country": "ru",
        "as_of": "2026-12-05",
        "events": [
            {"type": "expulsion", "dates": ["2019-01-01", "2021-06-01"]},
            {"type": "overstay", "days": 45, "exit": "2021-06-01"},
        ],
    }
    out = subprocess.run(
        [sys.executable, "-m", "bot", "estimate-ban", "--json"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parents[1],
    )
    result = json.loads(out.stdout)
    assert result["latest_end"] == "2031-06-01"
    first = result["bans"][0]
    assert first["basis"] == "114-FZ Art. 27 p. 2.1" and first["years"] == 10
    assert first["start"] == "2021-06-01" and first["end"] == "2031-06-01"
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "estimate-ban", "--json"],
        input='{"country": "ru", "events": [{"type": "overstay"}]}',
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).parents[1],
    )
    assert bad.returncode == 2 and "overstay needs days" in bad.stderr
