import pandas as pd
import pytest

from nblib.ml.data.parse import apply_parsers, date_format_counts, infer_parsers, parse_dates, parse_numbers


@pytest.mark.parametrize(
    "text, value",
    [("116,270.00", 116270.0), ("$1,200", 1200.0), ("45%", 45.0), ("(3.5)", -3.5), ("€ 12.50", 12.5), ("-7", -7.0)],
)
def test_numbers_as_people_write_them(text, value):
    assert parse_numbers(pd.Series([text])).iloc[0] == value


def test_unreadable_numbers_become_missing():
    assert parse_numbers(pd.Series(["abc", "", None])).isna().all()


def test_mixed_date_formats_read_value_by_value():
    s = pd.Series(["2021-03-04", "04 Mar 2021", "March 4, 2021", "2021/03/04", "05-Mar-21", None, "garbage"])
    out = parse_dates(s)
    assert out.iloc[:4].nunique() == 1 and out.iloc[0] == pd.Timestamp("2021-03-04")
    assert out.iloc[4] == pd.Timestamp("2021-03-05") and out.iloc[5:].isna().all()
    counts = date_format_counts(s)
    assert counts["unreadable"] == 1 and counts["YYYY-MM-DD"] == 1


def test_day_first_decided_by_the_column():
    day_first = pd.Series(["13/02/2020", "03/04/2020"])
    month_first = pd.Series(["02/13/2020", "03/04/2020"])
    assert parse_dates(day_first).iloc[1] == pd.Timestamp("2020-04-03")
    assert parse_dates(month_first).iloc[1] == pd.Timestamp("2020-03-04")


def test_infer_parsers_finds_numbers_and_dates_but_not_labels():
    frame = pd.DataFrame(
        {
            "amount": ["1,234.50", "$99", "12%"] * 10,
            "when": ["2020-01-05", "5 Jan 2020", "Jan 6, 2020"] * 10,
            "code": ["A1", "B2", "C3"] * 10,
            "y": [0, 1, 0] * 10,
        }
    )
    parsers = infer_parsers(frame, exclude=["y"])
    assert parsers["amount"]["kind"] == "number" and parsers["when"]["kind"] == "date"
    assert "code" not in parsers and "y" not in parsers
    out = apply_parsers(frame, parsers)
    assert out["amount"].dtype == float and pd.api.types.is_datetime64_any_dtype(out["when"])
    assert frame["amount"].iloc[0] == "1,234.50"  # the input is not modified
