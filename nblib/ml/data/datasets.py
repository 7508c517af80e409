"""The embedded "product launches" dataset and loading of user data.

The generator is deterministic for a given ``(n_rows, random_state)`` and knows
the true probability of a hit for every row, so evaluation can report the
oracle (Bayes) ROC-AUC: the ceiling no model can beat on average.

Planted problems the quality checks must find:

* missing values (``marketing_budget``, ``discount_pct``, ``rating_preview``,
  ``release_date``),
* exact duplicate rows and near duplicates (new id, price nudged, text re-spaced),
* outliers in ``price`` (x100 entry errors and negative prices),
* mixed date formats in ``release_date``,
* label noise in ``category`` (case, whitespace and typo variants),
* ``reviews_first_week``, a column that is only known after launch and leaks
  the target.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from nblib.common.text import is_glob

__all__ = [
    "GeneratedData",
    "CATEGORIES",
    "make_product_launches",
    "generated_columns",
    "load_dataset",
    "table_columns",
    "load_table",
    "table_files",
    "table_root",
    "source_line",
    "oracle_frame",
]

CATEGORIES = ("Electronics", "Home", "Toys", "Beauty", "Sports", "Garden")

# Words whose presence in the description moves the log-odds of a hit.
_WORD_EFFECTS = {
    "wireless": 0.9,
    "limited": 0.8,
    "smart": 0.6,
    "bundle": 0.5,
    "eco": 0.4,
    "basic": -0.7,
    "refurbished": -1.1,
    "generic": -0.5,
}
_FILLER = [
    "durable",
    "compact",
    "lightweight",
    "classic",
    "modern",
    "stylish",
    "portable",
    "colorful",
    "sleek",
    "versatile",
    "reliable",
    "everyday",
    "family",
    "outdoor",
    "indoor",
    "soft",
    "sturdy",
    "elegant",
    "handy",
    "practical",
    "original",
    "fresh",
    "bright",
    "quiet",
    "fast",
    "simple",
    "new",
    "improved",
]
_NOUNS = {
    "Electronics": ["headphones", "speaker", "charger", "camera", "tablet", "keyboard", "monitor"],
    "Home": ["lamp", "blender", "kettle", "pillow", "vacuum", "organizer", "rug"],
    "Toys": ["puzzle", "robot", "doll", "blocks", "kite", "racecar", "board-game"],
    "Beauty": ["serum", "lipstick", "cream", "shampoo", "palette", "perfume", "mask"],
    "Sports": ["racket", "yoga-mat", "dumbbell", "bottle", "helmet", "tracker", "ball"],
    "Garden": ["hose", "planter", "shears", "sprinkler", "grill", "lantern", "seeds"],
}
_COLUMNS = (
    "launch_id",
    "category",
    "brand",
    "price",
    "marketing_budget",
    "n_competitors",
    "discount_pct",
    "rating_preview",
    "is_online_only",
    "has_influencer",
    "description",
    "release_date",
    "reviews_first_week",
    "is_hit",
    "revenue_k",
)
_DATE_FORMATS = ("%Y-%m-%d", "%d %b %Y", "%B %d, %Y", "%Y/%m/%d")


@dataclass(frozen=True)
class GeneratedData:
    """A generated table plus what only the generator knows.

    Attributes
    ----------
    frame : pandas.DataFrame
        The table a user would receive, planted problems included.
    true_proba : pandas.Series
        True probability of ``is_hit`` for each row (same index as ``frame``).
    """

    frame: pd.DataFrame
    true_proba: pd.Series


def make_product_launches(n_rows: int = 10_000, random_state: int = 0) -> GeneratedData:
    """Generate the "product launches" table.

    Parameters
    ----------
    n_rows : int, default=10_000
        Number of rows, planted duplicates included.
    random_state : int, default=0
        Seed; the same seed and size always give the same table.

    Returns
    -------
    GeneratedData

    Examples
    --------
    >>> data = make_product_launches(200, random_state=1)
    >>> data.frame.shape[0]
    200
    >>> bool(data.true_proba.between(0, 1).all())
    True
    """
    if n_rows < 50:
        raise ValueError(f"n_rows must be at least 50, got {n_rows}")
    rng = np.random.default_rng(random_state)
    n_dup = int(0.02 * n_rows)
    n_near = int(0.01 * n_rows)
    n = n_rows - n_dup - n_near

    category = rng.choice(CATEGORIES, size=n, p=[0.25, 0.2, 0.15, 0.15, 0.15, 0.1])
    brand_rank = np.minimum(rng.zipf(1.4, size=n), 400)
    brand = np.array([f"brand_{r:03d}" for r in brand_rank], dtype=object)
    brand_effect = _brand_effects(random_state)[brand_rank - 1]

    base_price = {"Electronics": 120, "Home": 45, "Toys": 25, "Beauty": 20, "Sports": 40, "Garden": 35}
    log_price = np.log([base_price[c] for c in category]) + rng.normal(0, 0.6, n)
    price = np.round(np.exp(log_price), 2)
    log_budget = rng.normal(9.5, 1.0, n)
    budget = np.round(np.exp(log_budget), -1)
    n_competitors = rng.poisson(4, n)
    discount = np.round(rng.uniform(0, 50, n), 1)
    rating = np.clip(rng.normal(3.6, 0.7, n), 1, 5).round(1)
    online_only = rng.random(n) < 0.3
    influencer = rng.random(n) < 0.25
    days = rng.integers(0, 6 * 365, n)
    release = pd.Timestamp("2019-01-01") + pd.to_timedelta(days, unit="D")
    month = release.month.to_numpy()

    words, word_logit = _descriptions(rng, category)

    is_elec = category == "Electronics"
    z_price = (log_price - log_price.mean()) / log_price.std()
    logit = -3.45 + 1.3 * (
        1.3 * np.tanh(1.2 * (log_budget - 9.5))
        + np.where(is_elec, 0.7, -0.6) * z_price
        + 0.9 * np.cos(2 * np.pi * (month - 12) / 12)
        + np.where(influencer, np.where(category == "Beauty", 1.4, 0.3), 0.0)
        + 0.5 * np.exp(-(((discount - 25) / 10) ** 2))
        - 0.12 * n_competitors
        - 0.35 * online_only
        + 0.25 * (rating - 3.6)
        + brand_effect
        + word_logit
    )
    proba = 1 / (1 + np.exp(-logit))
    hit = rng.random(n) < proba
    revenue = np.round(np.exp(3.0 + 0.45 * logit + rng.normal(0, 0.35, n)), 2)
    reviews = rng.poisson(np.where(hit, 60, 6) * np.exp(rng.normal(0, 0.3, n)))

    frame = pd.DataFrame(
        {
            "launch_id": [f"L{i:06d}" for i in range(n)],
            "category": category.astype(object),
            "brand": brand.astype(object),
            "price": price,
            "marketing_budget": budget,
            "n_competitors": n_competitors,
            "discount_pct": discount,
            "rating_preview": rating,
            "is_online_only": online_only,
            "has_influencer": influencer,
            "description": words,
            "release_date": _format_dates(rng, release),
            "reviews_first_week": reviews,
            "is_hit": hit.astype(int),
            "revenue_k": revenue,
        }
    )
    _plant_missing(rng, frame)
    _plant_label_noise(rng, frame)
    _plant_outliers(rng, frame)

    truth = pd.Series(proba, name="true_proba")
    frame, truth = _plant_duplicates(rng, frame, truth, n_dup, n_near)
    order = rng.permutation(len(frame))
    frame = frame.iloc[order].reset_index(drop=True)
    truth = truth.iloc[order].reset_index(drop=True)
    return GeneratedData(frame=frame, true_proba=truth)


def generated_columns() -> list[str]:
    """Column names of :func:`make_product_launches` output, without generating it."""
    return list(_COLUMNS)


def load_dataset(source: str, *, n_rows: int = 10_000, random_state: int = 0) -> tuple[pd.DataFrame, pd.Series | None]:
    """The table named by params ``data.source`` and, for generated data, the true probabilities."""
    if source == "generated":
        data = make_product_launches(n_rows, random_state=random_state)
        return data.frame, data.true_proba
    return load_table(source), None


def load_table(path: str | Path, columns: list[str] | None = None) -> pd.DataFrame:
    """Read a table (optionally only ``columns``) into a DataFrame: a CSV, TSV or Parquet file, or the
    partitions of a folder or glob (:func:`table_files`), one after the other, numbered 0 … n-1."""
    files = table_files(path)
    if len(files) == 1:
        return _read_file(files[0], columns)
    table_columns(path)  # the partitions agree on their columns, or a line names the one that does not
    return pd.concat([_read_file(f, columns) for f in files], ignore_index=True)


def source_line(source: str, frame: pd.DataFrame) -> str:
    """What was read, for the page: the shape, and for a table in partitions how many and which.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     _ = (folder / f"part-{i}.csv").write_text("x\\n1\\n")
    >>> source_line(str(folder), load_table(folder))
    '3 rows × 1 columns, from 3 CSV partitions (part-0.csv … part-2.csv)'
    """
    line = f"{frame.shape[0]:,} rows × {frame.shape[1]} columns"
    if source == "generated":
        return line + ", generated"
    files = table_files(source)
    if len(files) == 1:
        return line
    kind = {"parquet": "Parquet", "csv": "CSV", "tsv": "TSV"}[_table_kind(files[0])]
    return line + f", from {len(files)} {kind} partitions ({files[0].name} … {files[-1].name})"


def _read_file(path: Path, columns: list[str] | None) -> pd.DataFrame:
    kind = _table_kind(path)
    if kind == "parquet":
        return pd.read_parquet(path, columns=columns)
    return pd.read_csv(path, sep="\t" if kind == "tsv" else ",", usecols=columns)


def table_columns(path: str | Path) -> list[str]:
    """Column names of a table, read from headers or schemas only; every partition must have the same.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.csv").write_text("x,y\\n1,2\\n"), (folder / "b.csv").write_text("x,z\\n3,4\\n")
    >>> table_columns(folder)
    Traceback (most recent call last):
    ValueError: b.csv: its columns differ from a.csv's (z instead of y); every partition of a table needs the same
    """
    files = table_files(path)
    first = _file_columns(files[0])
    for other in files[1:]:
        columns = _file_columns(other)
        if columns != first:
            extra, missing = [c for c in columns if c not in first], [c for c in first if c not in columns]
            what = f"{', '.join(map(str, extra)) or 'nothing'} instead of {', '.join(map(str, missing)) or 'nothing'}"
            if not extra and not missing:
                what = "the same columns in another order"
            raise ValueError(
                f"{other.name}: its columns differ from {files[0].name}'s ({what}); "
                f"every partition of a table needs the same"
            )
    return first


def _file_columns(path: Path) -> list[str]:
    kind = _table_kind(path)
    if kind == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, nrows=0, sep="\t" if kind == "tsv" else ",").columns)


def table_files(source: str | Path) -> list[Path]:
    """The files of a table: one file; every CSV/TSV/Parquet file in a folder (its sub-folders too), by
    name; or a glob pattern's matches, by name. Files whose name starts with ``.`` or ``_`` (``_SUCCESS``,
    ``_metadata``, ``.crc``) are not partitions. All must be of one kind. Sub-folders named ``key=value``
    (Hive style, as Spark writes a partitioned table) hold a column in their names, which is not read:
    refused, rather than silently losing that column.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("part-1.csv", "part-0.csv", "_SUCCESS"):
    ...     _ = (folder / name).write_text("x\\n1\\n")
    >>> [p.name for p in table_files(folder)], [p.name for p in table_files(folder / "part-*.csv")]
    (['part-0.csv', 'part-1.csv'], ['part-0.csv', 'part-1.csv'])
    """
    import glob

    path = Path(source)
    if path.is_file():
        return [path]
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file()]
        where = f"folder {path}"
    elif is_glob(str(source)):
        found = [Path(p) for p in glob.glob(str(source), recursive=True) if Path(p).is_file()]
        where = f"pattern {source}"
    else:
        _table_kind(path)  # an unsupported kind says so first
        raise FileNotFoundError(f"{path}: no such file or folder")
    root = table_root(path)
    files = sorted(
        (p for p in found if not any(part.startswith((".", "_")) for part in p.relative_to(root).parts)),
        key=lambda p: p.as_posix(),
    )
    files = [p for p in files if _kind_or_none(p)]
    if not files:
        raise FileNotFoundError(f"{where}: no .csv, .tsv or .parquet files")
    hive = next((part for p in files for part in p.relative_to(root).parts[:-1] if "=" in part), None)
    if hive is not None:
        raise ValueError(
            f"{where}: sub-folder {hive!r} names a column (Hive-style partitions), which nblib does not read "
            f"as one; write the column into the files"
        )
    kinds = {_table_kind(p) for p in files}
    if len(kinds) > 1:
        raise ValueError(f"{where}: mixes {' and '.join(sorted(kinds))} files; a table's partitions are of one kind")
    return files


def table_root(path: str | Path) -> Path:
    """The folder a table's partition names are relative to: the folder itself, or a pattern's part
    before its first glob character (a file: its folder).

    >>> table_root("data/2026-*/part-*.parquet").as_posix()
    'data'
    """
    path = Path(path)
    if path.is_file():
        return path.parent
    parts = []
    for part in path.parts:
        if is_glob(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _kind_or_none(path: Path) -> str | None:
    try:
        return _table_kind(path)
    except ValueError:
        return None


def _table_kind(path: str | Path) -> str:
    suffixes = "".join(Path(path).suffixes).lower()
    for kind, endings in (("parquet", (".parquet", ".pq")), ("csv", (".csv", ".csv.gz")), ("tsv", (".tsv",))):
        if suffixes.endswith(endings):
            return kind
    raise ValueError(f"{path}: unsupported file type {suffixes!r}; expected .csv or .parquet")


# --------------------------------------------------------------------------- helpers


def _brand_effects(random_state: int) -> np.ndarray:
    rng = np.random.default_rng(random_state + 7919)
    effects = rng.normal(0, 0.15, 400)
    effects[:5] = [0.5, 0.35, -0.3, 0.25, -0.25]  # a few well-known brands matter
    return effects


def _descriptions(rng: np.random.Generator, category: np.ndarray) -> tuple[list[str], np.ndarray]:
    marker_words = np.array(list(_WORD_EFFECTS))
    marker_effect = np.array(list(_WORD_EFFECTS.values()))
    texts, logits = [], np.zeros(len(category))
    for i, cat in enumerate(category):
        has = rng.random(len(marker_words)) < 0.12
        fill = rng.choice(_FILLER, size=rng.integers(3, 7), replace=False)
        tokens = list(fill) + list(marker_words[has])
        rng.shuffle(tokens)
        noun = rng.choice(_NOUNS[cat])
        texts.append(" ".join(tokens[:2] + [noun.replace("-", " ")] + ["with"] + tokens[2:]))
        logits[i] = marker_effect[has].sum()
    return texts, logits


def _format_dates(rng: np.random.Generator, dates: pd.DatetimeIndex) -> np.ndarray:
    fmt_idx = rng.choice(len(_DATE_FORMATS), size=len(dates), p=[0.7, 0.1, 0.1, 0.1])
    out = np.empty(len(dates), dtype=object)
    for k, fmt in enumerate(_DATE_FORMATS):
        mask = fmt_idx == k
        out[mask] = dates[mask].strftime(fmt)
    return out


def _plant_missing(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    for column, rate in {
        "marketing_budget": 0.03,
        "discount_pct": 0.06,
        "rating_preview": 0.15,
        "release_date": 0.02,
    }.items():
        frame.loc[rng.random(len(frame)) < rate, column] = None


def _plant_label_noise(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    noisy = np.flatnonzero(rng.random(len(frame)) < 0.06)
    variants = (str.lower, str.upper, lambda s: s + " ", lambda s: " " + s, lambda s: s[:-2] + s[-1])
    for i in noisy:
        pick = variants[rng.integers(len(variants))]
        frame.iat[i, frame.columns.get_loc("category")] = pick(frame.iat[i, frame.columns.get_loc("category")])


def _plant_outliers(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    rows = np.flatnonzero(rng.random(len(frame)) < 0.006)
    col = frame.columns.get_loc("price")
    for j, i in enumerate(rows):
        frame.iat[i, col] = -1.0 if j % 4 == 0 else frame.iat[i, col] * 100


def _plant_duplicates(
    rng: np.random.Generator, frame: pd.DataFrame, truth: pd.Series, n_dup: int, n_near: int
) -> tuple[pd.DataFrame, pd.Series]:
    exact = rng.choice(len(frame), size=n_dup, replace=False)
    near = rng.choice(len(frame), size=n_near, replace=False)
    near_rows = frame.iloc[near].copy()
    near_rows["launch_id"] = [f"L{len(frame) + i:06d}" for i in range(n_near)]
    near_rows["price"] = (near_rows["price"] + 0.01).round(2)
    near_rows["description"] = near_rows["description"].str.replace(" ", "  ", n=1)
    frame = pd.concat([frame, frame.iloc[exact], near_rows], ignore_index=True)
    truth = pd.concat([truth, truth.iloc[exact], truth.iloc[near]], ignore_index=True)
    return frame, truth


def oracle_frame(true_proba: pd.Series | None) -> pd.DataFrame | None:
    """The oracle artifact (one ``true_proba`` column) of :func:`load_dataset`'s true
    probabilities, or ``None`` when the data has none (a user's file).

    >>> oracle_frame(None) is None
    True
    >>> list(oracle_frame(pd.Series([0.2], name="true_proba")).columns)
    ['true_proba']
    """
    return None if true_proba is None else true_proba.to_frame()
