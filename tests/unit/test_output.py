"""What people read: tables that never cut a value, durations and shares in human
units, retention one column per period, the null bucket as (none), windows with units."""

from __future__ import annotations

import pytest

from etl.cli.output import Format, percent, render_table
from etl.cli.report_tables import funnel_listing, insights_listing, retention_listing
from etl.serve.durations import format_duration, parse_window

STATUS = [{"date": "2026-10-01", "state": "not loaded", "input_records": 1255, "loaded": 1253,
           "rejected_by_reason": {"invalid_json": 1, "invalid_distinct_id": 1}}]
KEYS = [{"group_key": "company_id", "display_name": "Company", "data_group_id": -4468276815401387099,
         "setup_at": "2026-10-03T12:00:00+00:00", "removed_at": None}]


def test_a_narrow_terminal_wraps_free_text_and_never_cuts_an_id_or_a_date() -> None:
    text = render_table(STATUS, list(STATUS[0]), "load status", width=50)
    assert text.splitlines() == [  # 53 wide: the least that keeps the date and the state whole
        "load status",
        "                          input          rejected by",
        "date        state       records  loaded  reason",
        "─" * 53,
        '2026-10-01  not loaded     1255    1253  {"invalid_js',
        '                                         on": 1,',
        '                                         "invalid_dis',
        '                                         tinct_id":',
        "                                         1}",
    ]
    assert "…" not in render_table(KEYS, list(KEYS[0]), "group keys", width=40)
    for line in ("-4468276815401387099", "2026-10-03T12:00:00+00:00"):
        assert line in render_table(KEYS, list(KEYS[0]), "group keys", width=40)


def test_a_pipe_gets_the_whole_table_one_line_a_row() -> None:
    text = render_table(KEYS, list(KEYS[0]), "group keys", width=None)
    assert text.splitlines() == [
        "group keys",
        "            display                                                   removed",
        "group key   name            data group id  setup at                   at",
        "─" * 77,
        "company_id  Company  -4468276815401387099  2026-10-03T12:00:00+00:00",
    ]


def test_a_cell_is_text_never_markup() -> None:
    assert "[bold]x[/bold]" in render_table([{"name": "[bold]x[/bold]"}], ["name"], width=None)


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604_800), ("1w", 604_800), ("12h", 43_200), ("30m", 1800),
                                               ("90s", 90), ("1.5h", 5400), (" 2d ", 172_800)])
def test_a_window_names_its_unit(text: str, seconds: int) -> None:
    assert parse_window(text) == seconds


def test_a_window_without_a_unit_is_refused() -> None:
    with pytest.raises(ValueError, match=r"expected a number with a unit, such as 7d, 1w, 12h, 30m or 90s; "
                                         r"got '7' \(seconds\? write 7s\)"):
        parse_window("7")
    for text in ("", "7x", "d", "-1d", "0s"):
        with pytest.raises(ValueError):
            parse_window(text)


def test_a_window_longer_than_366_days_is_refused() -> None:
    assert parse_window("366d") == 366 * 86_400
    for text in ("367d", "53w", "99999999999w"):  # the last overflowed Python's dates with a traceback
        with pytest.raises(ValueError, match=rf"^must be at most 366d, got '{text}'$"):
            parse_window(text)


@pytest.mark.parametrize(("seconds", "text"), [(121_950.0, "1d 9h 52m"), (1602.195, "26m 42s"), (3725, "1h 2m"),
                                               (604_800, "7d"), (90, "1m 30s"), (42.4, "42s"), (3.5, "3.5s"),
                                               (0, "0s"), (None, "")])
def test_durations_read_in_human_units(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_shares_are_percentages_with_one_decimal() -> None:
    assert [percent(0.8936170212765957), percent(1.0), percent(0.0), percent(None)] == ["89.4%", "100.0%", "0.0%", ""]


FUNNEL = {"report": "funnel", "unit": "users", "window_seconds": 604_800, "steps": [
    {"event": "Sign Up", "units": 47, "conversion_from_previous": 1.0, "conversion_from_first": 1.0,
     "median_seconds_to_convert": None},
    {"event": "Buy", "units": 42, "conversion_from_previous": 0.8936170212765957,
     "conversion_from_first": 0.8936170212765957, "median_seconds_to_convert": 121_950.0}]}


def test_a_funnel_table_shows_percentages_and_durations() -> None:
    listing = funnel_listing(FUNNEL)
    text = render_table(listing.rows, listing.columns, formats=listing.formats, headers=listing.headers, width=None)
    assert text.splitlines() == ["                                     median",
                                 "                    from    from    time to",
                                 "event    users  previous   first    convert",
                                 "─" * 43,
                                 "Sign Up     47    100.0%  100.0%",
                                 "Buy         42     89.4%   89.4%  1d 9h 52m"]


RETENTION = {"report": "retention", "unit": "users", "period": "day", "cohorts": [
    {"cohort_date": "2026-10-01", "size": 187, "retained": [146, 98, 88]},
    {"cohort_date": "2026-10-02", "size": 10, "retained": [5, 1]}]}


def test_retention_has_a_column_per_period_with_counts_and_shares() -> None:
    table = retention_listing(RETENTION, Format.table)
    assert table.columns == ["cohort_date", "size", "day_0", "day_1", "day_2"]
    assert table.rows[1]["day_0"] == "5 (50.0%)" and "day_2" not in table.rows[1]
    assert render_table(table.rows, table.columns, headers=table.headers, width=None).splitlines()[-2:] == [
        "2026-10-01   187  146 (78.1%)  98 (52.4%)  88 (47.1%)",
        "2026-10-02    10  5 (50.0%)    1 (10.0%)"]
    csv = retention_listing(RETENTION, Format.csv)
    assert csv.columns == ["cohort_date", "size", "day_0", "day_1", "day_2", "day_0_share", "day_1_share",
                           "day_2_share"]
    assert csv.rows[1] == {"breakdown": None, "cohort_date": "2026-10-02", "size": 10, "day_0": 5, "day_1": 1,
                           "day_0_share": 0.5, "day_1_share": 0.1}
    broken = retention_listing({**RETENTION, "cohorts": [{**RETENTION["cohorts"][1], "breakdown": None}]},
                               Format.csv, "plan")
    assert (broken.columns[:3], broken.csv_formats["breakdown"](None)) == (["breakdown", "cohort_date", "size"],
                                                                         "(none)")


INSIGHTS = {"report": "insights", "unit": "users", "event": "Open", "measure": "uniques", "interval": "day",
            "rows": [{"date": "2026-10-01", "breakdown": "pro", "events": 3, "uniques": 2, "value": 2},
                     {"date": "2026-10-01", "breakdown": None, "events": 1, "uniques": 1, "value": 1}]}


def test_the_null_bucket_reads_none_and_no_breakdown_has_no_column() -> None:
    listing = insights_listing(INSIGHTS, "plan", Format.table)
    assert render_table(listing.rows, listing.columns, formats=listing.formats, headers=listing.headers,
                        width=None).splitlines() == [
        "date        plan    events  uniques", "─" * 35,
        "2026-10-01  pro          3        2", "2026-10-01  (none)       1        1"]
    assert insights_listing(INSIGHTS, None, Format.table).columns == ["date", "events", "uniques"]
    assert insights_listing(INSIGHTS, None, Format.csv).columns == ["date", "breakdown", "events", "uniques", "value"]
    assert insights_listing(INSIGHTS, "plan", Format.csv).csv_formats["breakdown"](None) == "(none)"


def test_groups_show_prints_an_activity_feed_that_fits_the_terminal() -> None:
    from etl.cli.output import render_feed

    events = [{"time": "2026-10-05T14:44:19.823000+00:00", "event": "Page Viewed", "distinct_id": "u0127",
               "event_id": "cf14a53f6ca778efd8cd47c5e07ee74e",
               "properties": {"distinct_id": "u0127", "$insert_id": "u0127-1791211459823", "company_id": "c001"}}]
    assert render_feed(events, 50).splitlines() == [
        "events (time  event  distinct_id; event_id and properties below)",
        "2026-10-05T14:44:19.823000+00:00  Page Viewed  u0127",
        "    event_id cf14a53f6ca778efd8cd47c5e07ee74e",
        '    {"distinct_id": "u0127", "$insert_id":',
        '    "u0127-1791211459823", "company_id": "c001"}']
    assert render_feed(events, None).splitlines()[-1] == (
        '    {"distinct_id": "u0127", "$insert_id": "u0127-1791211459823", "company_id": "c001"}')
