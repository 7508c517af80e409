"""Tables of any size: what ``01_eda`` and ``02_preprocess`` call. Each function takes a DataFrame,
and does what the in-memory modules (:mod:`~nblib.ml.data.quality`, :mod:`~nblib.ml.data.preprocess`,
:mod:`~nblib.ml.data.target`) do, or a table bigger than memory, which it reads, profiles, checks,
cleans and splits partition by partition with ``dask.dataframe``.

A table whose partitions (:func:`~nblib.ml.data.datasets.table_files`) hold more rows than
``data.in_memory_rows`` is never loaded whole. Each file is one partition, and each row keeps a
global row number (``row``: 0 … N-1 in file order), so a row can be named in a message and a sample
or a split does not depend on how the table was cut into files.

- **Exact, computed over every row:** counts, missing values, duplicates (by a hash of each row, and
  of its near-duplicate key, counted across partitions), outliers beyond the IQR fences, label
  counts, the target's classes.
- **Approximate, over every row:** distinct values (HyperLogLog) and the quartiles the outlier
  fences are drawn from (dask merges each partition's percentiles).
- **Judged on a seeded sample** (:func:`sample_rows`, the same rows whatever the partitioning):
  which text columns hold numbers or dates and in which formats, identifiers, and the plots. Row
  numbers and entity keys are judged on the first rows in order (:func:`head_rows`), where they
  read as they were written.

Work runs wherever dask computes: on the Dask cluster of ``compute.backend: dask`` (its client is
the default), else in the kernel's threads (``compute.n_jobs`` of them), a partition at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ROW",
    "SAMPLE_ROWS",
    "is_partitioned",
    "load_dataset",
    "source_line",
    "overview",
    "check_quality",
    "plot_rows",
    "clean_frame",
    "prepare_target_column",
    "split_groups",
    "split_train_test",
    "split_summary",
    "with_groups",
    "rows_to_judge",
    "Judged",
    "in_memory",
    "n_rows",
    "row_counts",
    "read_partitions",
    "open_table",
    "sample_rows",
    "head_rows",
    "uniform",
    "duplicate_stats",
    "clean_partitions",
    "encode_target",
    "split_keys",
    "hash_split",
    "Scored",
    "score_rows",
]

ROW = "row"  # the index of a partitioned table: each row's number in the whole table
SAMPLE_ROWS = 100_000  # rows the sample-based judgements and the plots see


def is_partitioned(value: Any) -> bool:
    """Whether ``value`` is a dask DataFrame or Series (a table handled partition by partition).

    >>> is_partitioned(pd.DataFrame({"x": [1]}))
    False
    """
    return type(value).__module__.startswith(("dask.", "dask_expr"))


# --------------------------------------------------------------------------- any table


def load_dataset(
    source: str, *, n_rows: int = 10_000, random_state: int = 0, in_memory_rows: int | None = None
) -> tuple[Any, pd.Series | None]:
    """:func:`nblib.ml.data.datasets.load_dataset`; a table of more than ``in_memory_rows`` rows is not
    loaded but comes back partitioned (:func:`open_table`)."""
    from nblib.ml.data import datasets

    if source != "generated" and in_memory_rows is not None:
        table = open_table(source, in_memory_rows)
        if table is not None:
            return table, None
    return datasets.load_dataset(source, n_rows=n_rows, random_state=random_state)


def source_line(source: str, frame: Any) -> str:
    """:func:`nblib.ml.data.datasets.source_line`, and for a partitioned table how it is handled."""
    from nblib.ml.data import datasets

    if not is_partitioned(frame):
        return datasets.source_line(source, frame)
    files = datasets.table_files(source)
    kind = {"parquet": "Parquet", "csv": "CSV", "tsv": "TSV"}[datasets._table_kind(files[0])]
    return (
        f"{n_rows(frame):,} rows × {len(frame.columns)} columns, from {len(files)} {kind} partitions "
        f"({files[0].name} … {files[-1].name}): more rows than data.in_memory_rows, so the table is read, "
        f"checked and cleaned partition by partition"
    )


def overview(frame: Any, examples: int = 2) -> pd.DataFrame:
    """:func:`nblib.ml.data.eda.overview`; for a partitioned table, distinct values are approximate
    (HyperLogLog) and the examples come from the first rows."""
    from nblib.ml.data import eda

    return _overview(frame, examples) if is_partitioned(frame) else eda.overview(frame, examples)


def check_quality(frame: Any, target: str, *, random_state: int = 0, **settings: Any) -> dict[str, Any]:
    """:func:`nblib.ml.data.quality.check_quality` (same ``settings``); a partitioned table is checked
    partition by partition (see the module docstring), its sample drawn with ``random_state``."""
    from nblib.ml.data import quality

    if is_partitioned(frame):
        return _check_quality(frame, target, random_state=random_state, **settings)
    return quality.check_quality(frame, target, **settings)


def plot_rows(frame: Any, random_state: int = 0) -> pd.DataFrame:
    """The rows the plots are drawn from: ``frame`` itself, or for a partitioned table a seeded sample
    (:func:`sample_rows`), with a printed line saying how many of how many.

    >>> plot_rows(pd.DataFrame({"x": [1, 2]})).shape
    (2, 1)
    """
    if not is_partitioned(frame):
        return frame
    sample = sample_rows(frame, SAMPLE_ROWS, random_state)
    print(f"The plots below are drawn from a seeded sample of {len(sample):,} of the {n_rows(frame):,} rows.")
    return sample


def clean_frame(
    frame: Any,
    roles_hint: dict[str, list[str]] | None = None,
    *,
    random_state: int = 0,
    workdir: str | Path | None = None,
    **settings: Any,
):
    """:func:`nblib.ml.data.preprocess.clean_frame` (same ``settings``), or :func:`clean_partitions`
    (``workdir``: where the cleaned partitions are written once; unused for a DataFrame)."""
    from nblib.ml.data import preprocess

    if is_partitioned(frame):
        return clean_partitions(frame, roles_hint, random_state=random_state, workdir=workdir, **settings)
    return preprocess.clean_frame(frame, roles_hint, **settings)


def prepare_target_column(frame: Any, target: str, task: str, positive_class: Any = None) -> tuple[Any, dict]:
    """:func:`nblib.ml.data.target.prepare_target_column`, or :func:`encode_target`."""
    from nblib.ml.data import target as targets

    if is_partitioned(frame):
        return encode_target(frame, target, task, positive_class)
    return targets.prepare_target_column(frame, target, task, positive_class)


def split_groups(frame: Any, duplicates: Any = None, group: str | None = None) -> Any:
    """:func:`nblib.ml.data.preprocess.split_groups`, or :func:`split_keys`."""
    from nblib.ml.data import preprocess

    if is_partitioned(frame):
        return split_keys(frame, duplicates, group)
    return preprocess.split_groups(frame, duplicates, group)


def split_train_test(frame: Any, target: str, *, groups: Any = None, **settings: Any) -> tuple[Any, Any]:
    """:func:`nblib.ml.data.preprocess.split_train_test` (same ``settings``); a partitioned table is split
    by a seeded hash of each row's group (:func:`hash_split`), its training part keeping the group."""
    from nblib.ml.data import preprocess

    if not is_partitioned(frame):
        return preprocess.split_train_test(frame, target, groups=groups, **settings)
    return hash_split(
        frame,
        groups,
        test_size=settings["test_size"],
        random_state=settings["random_state"],
        group_column=preprocess.GROUP_COLUMN,
    )


def split_summary(train: Any, test: Any, target: str, task: str, classes: list[Any] | None = None) -> pd.DataFrame:
    """:func:`nblib.ml.data.preprocess.split_summary` of either kind of split."""
    from nblib.ml.data import preprocess

    if is_partitioned(train):
        return _split_summary(train, test, target, task, classes)
    return preprocess.split_summary(train, test, target, task, classes)


def with_groups(train: Any, groups: Any) -> Any:
    """:func:`nblib.ml.data.preprocess.with_groups`; a partitioned training part has its groups already."""
    from nblib.ml.data import preprocess

    return train if is_partitioned(train) else preprocess.with_groups(train, groups)


# --------------------------------------------------------------------------- reading


def row_counts(files: Sequence[Path]) -> list[int]:
    """Rows in each file: from the Parquet footer, or by reading one CSV column."""
    import pyarrow.parquet as pq

    from nblib.ml.data.datasets import _table_kind

    counts = []
    for path in files:
        kind = _table_kind(path)
        if kind == "parquet":
            counts.append(pq.ParquetFile(path).metadata.num_rows)
        else:
            counts.append(len(pd.read_csv(path, usecols=[0], sep="\t" if kind == "tsv" else ",")))
    return counts


def read_partitions(files: Sequence[Path], counts: Sequence[int] | None = None) -> Any:
    """A dask DataFrame of ``files``, one partition per file, indexed by :data:`ROW`.

    The first file sets the columns' types. In a CSV table whole numbers are read as floats (another
    partition may miss a value). A partition whose column holds text where the first holds numbers
    stops the computation with one line naming the partition, the column and a value.
    """
    import dask.dataframe as dd

    files = [Path(f) for f in files]
    counts = list(counts) if counts is not None else row_counts(files)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(int)
    first = _read_file(files[0])
    meta = first.iloc[:0]
    if not files[0].suffix.lower().endswith(("parquet", "pq")):
        meta = meta.astype({c: "float64" for c in meta.columns if pd.api.types.is_integer_dtype(meta[c])})
        meta = meta.astype({c: object for c in meta.columns if pd.api.types.is_bool_dtype(meta[c])})
    meta.index = pd.RangeIndex(0, name=ROW)
    non_empty = [i for i, n in enumerate(counts) if n]
    if not non_empty:
        raise ValueError(f"{files[0].parent}: every partition is empty")
    divisions = [int(offsets[i]) for i in non_empty] + [int(offsets[non_empty[-1] + 1] - 1)]
    table = dd.from_map(
        _Partition(meta, files[0].name),
        [files[i] for i in non_empty],
        [int(offsets[i]) for i in non_empty],
        meta=meta,
        divisions=divisions,
        enforce_metadata=False,
    )
    _ROWS[table._name] = int(offsets[-1])
    return table


@dataclass(frozen=True)
class _Partition:
    """Reads one partition into the first partition's types (a dask ``from_map`` function)."""

    meta: pd.DataFrame
    first: str

    def __call__(self, path: Path, offset: int) -> pd.DataFrame:
        frame = _read_file(path)
        if list(frame.columns) != list(self.meta.columns):
            raise ValueError(f"{path.name}: its columns differ from {self.first}'s; every partition needs the same")
        for column in frame.columns:
            want, have = self.meta[column].dtype, frame[column].dtype
            if want == have:
                continue
            if pd.api.types.is_numeric_dtype(want) and not pd.api.types.is_numeric_dtype(have):
                text = frame[column][pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()]
                if len(text):
                    raise ValueError(
                        f"{path.name}: column {column!r} holds text ({str(text.iloc[0])[:40]!r}, row "
                        f"{offset + int(np.flatnonzero(frame.index == text.index[0])[0]):,}) where {self.first} "
                        f"holds numbers; make the partitions agree"
                    )
                frame[column] = pd.to_numeric(frame[column])
            try:
                frame[column] = frame[column].astype(want)
            except (TypeError, ValueError):
                frame[column] = frame[column].astype(object)
        frame.index = pd.RangeIndex(offset, offset + len(frame), name=ROW)
        return frame


def _read_file(path: Path) -> pd.DataFrame:
    from nblib.ml.data.datasets import _read_file as read

    return read(Path(path), None)


def open_table(source: str | Path, in_memory_rows: int) -> Any | None:
    """The table at ``source`` as a dask DataFrame when it has more than ``in_memory_rows`` rows;
    ``None`` when it fits in memory (read it with :func:`~nblib.ml.data.datasets.load_table`).

    A CSV smaller than two bytes a row cannot be over the limit, so it is not counted.
    """
    from nblib.ml.data.datasets import _table_kind, table_columns, table_files

    files = table_files(source)
    if _table_kind(files[0]) != "parquet" and sum(f.stat().st_size for f in files) < 2 * in_memory_rows:
        return None
    counts = row_counts(files)
    if sum(counts) <= in_memory_rows:
        return None
    table_columns(source)  # the partitions agree on their columns, or a line names the one that does not
    return read_partitions(files, counts)


_ROWS: dict[str, int] = {}  # rows of the partitioned tables counted so far, by dask name


def n_rows(frame: Any) -> int:
    """Rows of a DataFrame, or of a partitioned table: counted once (free for a table just read,
    from its files' row counts), then remembered."""
    if not is_partitioned(frame):
        return len(frame)
    if frame._name not in _ROWS:
        _ROWS[frame._name] = int(len(frame))
    return _ROWS[frame._name]


# --------------------------------------------------------------------------- samples


def uniform(values: Any, random_state: int, purpose: str = "") -> np.ndarray:
    """A number in [0, 1) for each value, from a seeded hash of the value alone: the same value
    always gets the same number, whichever partition holds it. Draws for different ``purpose`` s are
    independent (a sample of the training part must not see which keys the split sent to it).

    >>> a = uniform(pd.Series([1, 2, 3]), 0)
    >>> bool(((a >= 0) & (a < 1)).all()), bool((a == uniform(pd.Series([1, 2, 3]), 0)).all())
    (True, True)
    >>> bool((a == uniform(pd.Series([1, 2, 3]), 1)).all()), bool((a == uniform(pd.Series([1, 2, 3]), 0, "x")).all())
    (False, False)
    """
    seed = pd.util.hash_array(np.asarray([f"{random_state}:{purpose}"], dtype=object))[0]
    hashed = pd.util.hash_pandas_object(pd.Series(np.asarray(values)), index=False).to_numpy()
    hashed = pd.util.hash_array(hashed ^ seed)
    return (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def sample_rows(frame: Any, n: int = SAMPLE_ROWS, random_state: int = 0) -> pd.DataFrame:
    """``n`` rows drawn without replacement, seeded, in row order; the same rows however the table is
    partitioned (each row's draw is a hash of its row number). A DataFrame of ``n`` rows or fewer is
    returned whole."""
    total = n_rows(frame)
    if total <= n:
        return frame.compute() if is_partitioned(frame) else frame
    if not is_partitioned(frame):
        draw = uniform(frame.index.to_numpy(), random_state, "rows")
        return frame.iloc[np.sort(np.argsort(draw, kind="stable")[:n])]
    share = min(1.0, 1.2 * n / total + 50 / total)
    picked = frame.map_partitions(_draw, share, random_state, meta=frame._meta.assign(__draw__=0.0)).compute()
    picked = picked.nsmallest(n, "__draw__") if len(picked) > n else picked
    return picked.drop(columns="__draw__").sort_index()


def _draw(part: pd.DataFrame, share: float, random_state: int) -> pd.DataFrame:
    draw = uniform(part.index.to_numpy(), random_state, "rows")
    return part.assign(__draw__=draw)[draw < share]


def head_rows(frame: Any, n: int = SAMPLE_ROWS) -> pd.DataFrame:
    """The first ``n`` rows in order (read partition by partition until there are enough)."""
    if not is_partitioned(frame):
        return frame.head(n)
    parts, have = [], 0
    for i in range(frame.npartitions):
        part = frame.get_partition(i).compute()
        parts.append(part.head(n - have))
        have += len(parts[-1])
        if have >= n:
            break
    return pd.concat(parts)


def in_memory(frame: Any, max_rows: int | None, random_state: int, group: str | None = None) -> pd.DataFrame:
    """A partitioned training table as a DataFrame: every row when they number at most ``max_rows``,
    else about ``max_rows`` rows drawn whole by group (``group``: the rows of one group share one draw,
    so a group is kept or left out whole). A DataFrame is returned as it is."""
    if not is_partitioned(frame):
        return frame
    total = n_rows(frame)
    if not max_rows or total <= max_rows:
        return frame.compute()
    share = max_rows / total
    keep = frame.map_partitions(_by_group, group, share, random_state, meta=frame._meta)
    return keep.compute().sort_index()


def _by_group(part: pd.DataFrame, group: str | None, share: float, random_state: int) -> pd.DataFrame:
    keys = part[group].to_numpy() if group and group in part.columns else part.index.to_numpy()
    return part[uniform(keys, random_state, "groups") < share]


# --------------------------------------------------------------------------- profile and checks


def _overview(frame: Any, examples: int = 2) -> pd.DataFrame:
    """:func:`nblib.ml.data.eda.overview` for a partitioned table: distinct values are approximate
    (HyperLogLog), the examples come from the first rows."""
    import dask

    missing, distinct = dask.compute(frame.isna().sum(), {c: frame[c].nunique_approx() for c in frame.columns})
    first, total = head_rows(frame, 1000), n_rows(frame)
    rows = []
    for column in frame.columns:
        sample = first[column].dropna().drop_duplicates().head(examples).astype(str).str.slice(0, 40)
        rows.append(
            {
                "column": column,
                "dtype": str(frame[column].dtype),
                "missing": round(float(missing[column]) / total, 4),
                "distinct ≈": int(min(distinct[column], total)),
                "examples": " | ".join(sample),
            }
        )
    return pd.DataFrame(rows).set_index("column")


def row_hashes(part: pd.DataFrame) -> pd.Series:
    """One 64-bit hash per row of every value in it: equal rows, equal hashes."""
    return pd.Series(pd.util.hash_pandas_object(part, index=False).to_numpy(), index=part.index)


def near_hashes(part: pd.DataFrame, exclude: Sequence[str]) -> pd.Series:
    """One hash per row of its near-duplicate key (:func:`~nblib.ml.data.duplicates.near_duplicate_key`):
    rows that are exact or near duplicates of each other share one. Without a column to compare, each
    row is its own group (the hash of its row number)."""
    from nblib.ml.data.duplicates import near_duplicate_key

    key = near_duplicate_key(part, list(exclude))
    if key.shape[1] == 0:
        return pd.Series(pd.util.hash_array(part.index.to_numpy()), index=part.index)
    return row_hashes(key)


def duplicate_stats(frame: Any, target: str | None, ids: Sequence[str], near: Any = None) -> dict[str, Any]:
    """:func:`~nblib.ml.data.duplicates.duplicate_report` of a partitioned table, counted across
    partitions from row hashes. Returns lazy values: ``dask.compute`` them with the rest."""
    split_out = max(1, frame.npartitions // 8)
    exact = frame.map_partitions(row_hashes, meta=pd.Series(dtype="uint64"))
    exclude = [*([target] if target else []), *ids]
    if near is None:
        near = frame.map_partitions(near_hashes, exclude, meta=pd.Series(dtype="uint64"))
    exact_counts = exact.value_counts(split_out=split_out)
    sizes = near.value_counts(split_out=split_out)
    out = {
        "exact_repeats": (exact_counts - 1).sum(),
        "repeated": (sizes - 1).sum(),
        "groups": (sizes > 1).sum(),
        "largest_group": sizes.max(),
        "conflicting_groups": 0,
    }
    if target is not None:
        outcome = (
            frame[target]
            .astype(str)
            .map_partitions(
                lambda s: pd.Series(pd.util.hash_array(s.to_numpy(dtype=object)), index=s.index),
                meta=pd.Series(dtype="uint64"),
            )
        )
        pairs = near.to_frame("near").assign(outcome=outcome).drop_duplicates(split_out=split_out)
        out["conflicting_groups"] = (pairs["near"].value_counts(split_out=split_out) > 1).sum()
    return out


def _duplicate_report(computed: dict[str, Any], ids: Sequence[str]) -> dict[str, Any]:
    exact = int(computed["exact_repeats"])
    return {
        "exact_duplicates": exact,
        "near_duplicates": max(0, int(computed["repeated"]) - exact),
        "groups": int(computed["groups"]),
        "largest_group": int(computed["largest_group"]),
        "conflicting_groups": int(computed["conflicting_groups"]),
        "identifier_columns": list(ids),
    }


def _outliers(frame: Any, sample: pd.DataFrame, columns: Sequence[str], factor: float) -> dict[str, Any]:
    """The outliers of :func:`nblib.ml.data.quality.check_quality`, by the same rule: the fences from
    the seeded sample's quartiles (on 100,000 rows they are within a hair of the table's), then the
    values beyond them counted exactly over every row."""
    import dask

    from nblib.ml.data.quality import beyond_fences, outlier_entry, outlier_fences

    fences = {c: f for c in columns if (f := outlier_fences(sample[c], factor)) is not None}
    lazy = {
        c: {
            "count": frame[c].map_partitions(beyond_fences, *f, meta=(c, bool)).sum(),
            "negative": (frame[c] < 0).sum(),
            "values": frame[c].count(),
        }
        for c, f in fences.items()
    }
    (got,) = dask.compute(lazy)
    out = {}
    for column, f in fences.items():
        g = got[column]
        negative = int(g["negative"]) if g["values"] and 1 - g["negative"] / g["values"] > 0.99 else 0
        if g["count"] or negative:
            out[column] = outlier_entry(int(g["count"]), negative, *f)
    return out


def _check_quality(
    frame: Any,
    target: str,
    *,
    task: str,
    max_missing_fraction: float = 0.5,
    outlier_iqr_factor: float = 3.0,
    group: str | None = None,
    sample_size: int = SAMPLE_ROWS,
    random_state: int = 0,
) -> dict[str, Any]:
    """:func:`nblib.ml.data.quality.check_quality` for a partitioned table (see the module docstring
    for what is exact, approximate or sampled). The report adds ``partitioned``: rows, partitions,
    and the sample's size."""
    import dask

    from nblib.ml.data.duplicates import entity_key_columns, identifier_columns, index_columns
    from nblib.ml.data.parse import infer_parsers, is_string
    from nblib.ml.data.quality import LABEL_LIMIT, quality_report, target_summary

    total = n_rows(frame)
    sample = sample_rows(frame, sample_size, random_state)
    first = head_rows(frame, sample_size)
    features = [c for c in frame.columns if c != target]
    parsers = infer_parsers(sample[features])
    rows = index_columns(first[features])
    dated = [c for c, p in parsers.items() if p["kind"] == "date"]
    ids = identifier_columns(sample, [target])
    numeric = [
        c
        for c in features
        if pd.api.types.is_numeric_dtype(frame[c].dtype) and not pd.api.types.is_bool_dtype(frame[c].dtype)
    ]
    labels = [c for c in features if c not in parsers and is_string(sample[c]) and sample[c].nunique() <= LABEL_LIMIT]
    classification = task == "classification"
    y = frame[target]
    lazy = {
        "missing": frame.isna().sum(),
        "duplicates": duplicate_stats(frame, target, ids),
        "labels": {c: frame[c].dropna().astype(str).value_counts() for c in labels},
        "target": y.value_counts() if classification else y.describe(),
    }
    (got,) = dask.compute(lazy)
    label_counts = {
        c: _ordered(counts) for c, counts in got["labels"].items() if len(counts) <= LABEL_LIMIT and len(counts)
    }
    stats = {
        "n_rows": total,
        "n_columns": len(frame.columns),
        "missing": {c: float(v) / total for c, v in got["missing"].items() if v > 0},
        "duplicates": _duplicate_report(got["duplicates"], ids),
        "outliers": _outliers(frame, sample, numeric, outlier_iqr_factor),
        "parsers": parsers,
        "index_columns": rows,
        "entity_keys": entity_key_columns(first[features], [*dated, *rows, *([group] if group else [])]),
        "label_counts": label_counts,
        "target": target_summary(
            int(got["missing"].get(target, 0)),
            task,
            counts=_ordered(got["target"]) if classification else None,
            describe=None if classification else got["target"],
        ),
    }
    report = quality_report(
        stats,
        target,
        task=task,
        max_missing_fraction=max_missing_fraction,
        outlier_iqr_factor=outlier_iqr_factor,
        group=group,
    )
    from nblib.ml.data.quality import finding

    report["partitioned"] = {"rows": total, "partitions": frame.npartitions, "sample_rows": len(sample)}
    report["findings"].append(
        finding(
            "partitioned",
            "info",
            f"{total:,} rows in {frame.npartitions} partitions, checked partition by partition: counts, missing "
            f"values, duplicates, outliers, labels and the target over every row (quartiles and distinct counts "
            f"approximate); number and date formats and identifiers judged on a seeded sample of {len(sample):,} "
            f"rows, row numbers and entity keys on the first {len(first):,} rows",
        )
    )
    return report


def _ordered(counts: pd.Series) -> pd.Series:
    """Counts most frequent first, ties by label: the same order however partitions were combined."""
    frame = pd.DataFrame({"label": counts.index.astype(str), "n": counts.to_numpy()}, index=counts.index)
    return counts.loc[frame.sort_values(["n", "label"], ascending=[False, True], kind="stable").index]


# --------------------------------------------------------------------------- cleaning and the split


def clean_partitions(
    frame: Any,
    roles_hint: dict[str, list[str]] | None = None,
    *,
    target: str,
    drop_columns: Sequence[str] = (),
    drop_duplicates: bool = False,
    drop_near_duplicates: bool = False,
    sample_size: int = SAMPLE_ROWS,
    random_state: int = 0,
    workdir: str | Path | None = None,
) -> Any:
    """:func:`nblib.ml.data.preprocess.clean_frame` partition by partition: the same stateless steps,
    decided once (which columns hold numbers or dates, which hold labels to casefold: on a seeded
    sample) and applied to each partition. Returns a :class:`~nblib.ml.data.preprocess.Cleaned`
    whose ``frame`` is partitioned and whose ``groups`` is each row's duplicate-group key (a hash of
    its near-duplicate key: duplicates share one, whichever partitions hold them).

    Raises
    ------
    ValueError
        ``drop_duplicates`` or ``drop_near_duplicates``: which row of a group is first is not
        decided partition by partition; duplicate groups are kept and stay on one side of the split.
    """
    import dask

    from nblib.ml.data import preprocess as pp
    from nblib.ml.data.duplicates import identifier_columns
    from nblib.ml.data.parse import infer_parsers

    if drop_duplicates or drop_near_duplicates:
        key = "drop_duplicates" if drop_duplicates else "drop_near_duplicates"
        raise ValueError(
            f"preprocess.{key}: not available for a table over data.in_memory_rows rows; keep the rows "
            f"(each duplicate group stays on one side of the split) or drop them in the data"
        )
    hint = {k: list(v) for k, v in (roles_hint or {}).items()}
    report: dict[str, Any] = {"rows_in": n_rows(frame), "columns_in": len(frame.columns)}
    out, changes = pp.drop_declared(frame, drop_columns, hint)
    missing_target = int(out[target].isna().sum().compute())
    report["rows_missing_target"] = missing_target
    if missing_target:
        out = out[out[target].notna()]
        changes.append(pp.missing_target_change(missing_target, target))
    sample = sample_rows(out, sample_size, random_state)
    parsers = infer_parsers(sample, exclude=[target], dates=hint.get("date", []), numbers=hint.get("numeric", []))
    changes += pp.parser_changes(parsers)
    report["parsed"] = parsers
    texts = hint.get("text", [])
    normalized_sample = pp.normalize_columns(sample, {"text": texts}, exclude=[target], parsers=parsers)
    casefold = pp.casefold_columns(normalized_sample, texts, exclude=[target])
    labels = [c for c in casefold if c not in parsers and sample[c].nunique() <= 5 * SAMPLE_LABELS]
    ids = identifier_columns(normalized_sample, [target])
    step = _Clean(texts, target, parsers, casefold, [target, *ids])
    keyed = out.map_partitions(step, meta=step(out.head(50, npartitions=-1)).iloc[:0])
    if workdir is not None:  # written once, then read: the steps below do not parse every date again
        keyed = _spill(keyed, Path(workdir))
    clean, groups = keyed.drop(columns=_KEY), keyed[_KEY].rename("group")
    counts = {
        "before": {c: out[c].nunique() for c in labels},
        "after": {c: clean[c].nunique() for c in labels},
        "values": clean.count(),
        "distinct": {c: clean[c].nunique_approx() for c in clean.columns if c != target},
    }
    (got,) = dask.compute(counts)
    merged = {c: int(got["before"][c] - got["after"][c]) for c in labels if got["before"][c] > got["after"][c]}
    report["labels_normalized"] = merged
    changes += pp.label_changes(merged)
    empty = [c for c in clean.columns if c != target and not got["values"][c]]
    maybe = [c for c in clean.columns if c != target and c not in empty and got["distinct"][c] <= 1]
    (distinct,) = dask.compute({c: clean[c].nunique(dropna=False) for c in maybe})
    constant = [c for c in maybe if distinct[c] == 1]
    if empty or constant:
        clean = clean.drop(columns=[*empty, *constant])
    changes += pp.empty_changes(empty, constant)
    (dup,) = dask.compute(duplicate_stats(clean, target, ids, near=groups))
    dup = _duplicate_report(dup, ids)
    report.update({f"duplicates_{k}" if k != "identifier_columns" else k: v for k, v in dup.items()})
    changes += pp.duplicate_changes(dup, dropping=False)
    report["rows_out"] = report["rows_in"] - missing_target
    report["columns_dropped"] = [c for ch in changes if ch["step"] == "columns" for c in ch["columns"]]
    report["rows_dropped"] = missing_target
    report["partitioned"] = {"partitions": clean.npartitions, "sample_rows": len(sample)}
    return pp.Cleaned(frame=clean, groups=groups, parsers=parsers, report=report, changes=changes)


SAMPLE_LABELS = 200  # label columns: at most this many distinct values
_KEY = "__nblib_duplicate_key__"


@dataclass(frozen=True)
class _Clean:
    """One partition cleaned (:func:`~nblib.ml.data.preprocess.normalize_columns` with the decisions taken
    once) with each row's duplicate-group key (:func:`near_hashes`) in :data:`_KEY`."""

    texts: list[str]
    target: str
    parsers: dict[str, Any]
    casefold: list[str]
    exclude: list[str]

    def __call__(self, part: pd.DataFrame) -> pd.DataFrame:
        from nblib.ml.data.preprocess import normalize_columns

        clean = normalize_columns(
            part, {"text": self.texts}, exclude=[self.target], parsers=self.parsers, casefold=self.casefold
        )
        return clean.assign(**{_KEY: near_hashes(clean, self.exclude)})


def _spill(frame: Any, workdir: Path) -> Any:
    """``frame`` computed once into Parquet under ``workdir`` (a folder the workers share) and read back."""
    import dask.dataframe as dd

    folder = workdir / SCRATCH
    frame.to_parquet(folder, write_index=True, write_metadata_file=False, overwrite=True)
    return dd.read_parquet(folder, split_row_groups=False)


SCRATCH = ".cleaned-partitions"  # in the stage's artifacts folder while 02_preprocess runs; removed after


def encode_target(frame: Any, target: str, task: str, positive_class: Any = None) -> tuple[Any, dict[str, Any]]:
    """:func:`nblib.ml.data.target.prepare_target_column` for a partitioned table: the classes are found
    from the target's counts, then each partition's labels are replaced by their codes."""
    from nblib.ml.data.target import encode_target as encode
    from nblib.ml.data.target import label_key, prepare_target

    if task != "classification":
        y = frame[target].map_partitions(lambda s: prepare_target(s, task)[0], meta=(target, "float64"))
        info = {} if pd.api.types.is_numeric_dtype(frame[target].dtype) else {"read_as_numbers": True}
        return frame.assign(**{target: y}), info
    counts = _ordered(frame[target].value_counts().compute())
    scale = max(1, int(counts.sum()) // 1_000_000)  # the spellings' shares, in at most about a million rows
    labels = pd.Series(np.repeat(counts.index.to_numpy(dtype=object), np.ceil(counts.to_numpy() / scale).astype(int)))
    encoding = encode(labels)
    code_of_key = {label_key(c): i for i, c in enumerate(encoding.classes)}
    codes = {label: code_of_key[label_key(label)] for label in counts.index}  # each spelling as written
    y = frame[target].map_partitions(lambda s: s.map(codes).astype(int), meta=(target, "int64"))
    return frame.assign(**{target: y}), encoding.to_dict()


def split_keys(frame: Any, duplicates: Any, group: str | None = None) -> Any:
    """Each row's key for the split and the CV folds: its ``group`` value (``data.group``: an entity),
    else its duplicate-group key. Rows of one entity, and rows of one duplicate group, share a key."""
    if group is None:
        return duplicates.rename("group")
    if group not in frame.columns:
        raise ValueError(
            f"data.group: column {group!r} is not in the cleaned table (it was dropped: "
            f"empty or one value in every row); choose another column"
        )
    tagged = frame[[group]].assign(__dup__=duplicates)
    return tagged.map_partitions(_entity_key, group, meta=pd.Series(dtype="uint64", name="group"))


def _entity_key(part: pd.DataFrame, group: str) -> pd.Series:
    values = part[group]
    keys = pd.util.hash_pandas_object(values.astype(str), index=False).to_numpy()
    keys = np.where(values.isna().to_numpy(), part["__dup__"].to_numpy(dtype=np.uint64), keys)
    return pd.Series(keys, index=part.index, name="group")


def hash_split(frame: Any, keys: Any, *, test_size: float, random_state: int, group_column: str) -> tuple[Any, Any]:
    """Split a partitioned table by a seeded hash of each row's key (:func:`split_keys`): a key's rows
    go to one side, the same side however the table is partitioned. The training part keeps the key
    in ``group_column`` (for the CV folds). Not stratified: with this many rows, each class's share
    differs between the parts by sampling noise only (:func:`split_summary` shows them)."""
    tagged = frame.assign(**{group_column: keys})
    test = tagged.map_partitions(_side, group_column, test_size, random_state, True, meta=tagged._meta)
    train = tagged.map_partitions(_side, group_column, test_size, random_state, False, meta=tagged._meta)
    return train, test.drop(columns=group_column)


def _side(part: pd.DataFrame, column: str, test_size: float, random_state: int, test: bool) -> pd.DataFrame:
    in_test = uniform(part[column].to_numpy(), random_state, "split") < test_size
    return part[in_test if test else ~in_test]


def _split_summary(train: Any, test: Any, target: str, task: str, classes: list[Any] | None = None) -> pd.DataFrame:
    """:func:`nblib.ml.data.preprocess.split_summary` of a partitioned split."""
    import dask

    parts = {"train": train[target], "test": test[target]}
    if task == "classification":
        (counts,) = dask.compute({k: y.value_counts() for k, y in parts.items()})
        table = pd.DataFrame({"rows": {k: int(v.sum()) for k, v in counts.items()}})
        codes = sorted(set(counts["train"].index) | set(counts["test"].index))
        names = classes or codes
        for code in codes:
            table[f"share {names[int(code)]}"] = [
                round(float(counts[k].get(code, 0) / max(1, counts[k].sum())), 4) for k in parts
            ]
        return table
    (stats,) = dask.compute({k: (y.count(), y.mean(), y.std()) for k, y in parts.items()})
    return pd.DataFrame(
        {
            "rows": {k: int(s[0]) for k, s in stats.items()},
            "target_mean": {k: round(float(s[1]), 4) for k, s in stats.items()},
            "target_std": {k: round(float(s[2]), 4) for k, s in stats.items()},
        }
    )


@dataclass(frozen=True)
class Judged:
    """The rows column roles, entity keys, the leak check and label typos are judged on: the whole
    split, or for a partitioned table a seeded sample of each part (:func:`rows_to_judge`)."""

    train: pd.DataFrame
    test: pd.DataFrame
    groups: pd.Series


def rows_to_judge(train: Any, test: Any, groups: Any, random_state: int = 0) -> Judged:
    """The split itself, with each training row's group; for a partitioned table (bigger than memory)
    a seeded sample of each part, said in a printed line."""
    if not is_partitioned(train):
        return Judged(train, test, groups.loc[train.index])
    seen = sample_rows(train, SAMPLE_ROWS, random_state)
    seen_test = sample_rows(test, SAMPLE_ROWS // 4, random_state)
    print(
        f"Column roles, entity keys, the leak check and label typos are judged on a seeded sample of "
        f"{len(seen):,} of the {n_rows(train):,} training rows (and {len(seen_test):,} test rows)."
    )
    from nblib.ml.data.preprocess import GROUP_COLUMN

    return Judged(seen.drop(columns=GROUP_COLUMN), seen_test, seen[GROUP_COLUMN])


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Scored:
    """Every test row's target (``y``) and score (:func:`nblib.ml.evaluation.metrics.score_model`'s
    ``scores``, in ``y``'s order)."""

    y: pd.Series
    scores: np.ndarray

    @property
    def frame(self) -> pd.DataFrame:
        """The target as a one-column frame (what :func:`~nblib.ml.evaluation.metrics.predictions_frame` reads)."""
        return self.y.to_frame()

    def scores_of(self, index: pd.Index) -> np.ndarray:
        """The scores of the rows ``index`` names (a sample's rows), in that order."""
        return self.scores[self.y.index.get_indexer(index)]


def score_rows(model: Any, test: Any, features: Sequence[str], target: str, task: str) -> Scored:
    """Score every row of ``test``: in memory, or partition by partition (on the cluster's workers with
    ``compute.backend: dask``), each partition bringing back only its target and scores."""
    from nblib.ml.evaluation.metrics import score_model

    if not is_partitioned(test):
        return Scored(test[target], np.asarray(score_model(model, test[list(features)], task)))
    meta = _score_part(head_rows(test, 5), model, list(features), target, task).iloc[:0]
    parts = test.map_partitions(_score_part, model, list(features), target, task, meta=meta)
    scored = parts.compute().sort_index()
    columns = [c for c in scored.columns if c != target]
    values = scored[columns].to_numpy()
    return Scored(scored[target], values[:, 0] if values.shape[1] == 1 else values)


def _score_part(part: pd.DataFrame, model: Any, features: list[str], target: str, task: str) -> pd.DataFrame:
    from nblib.ml.evaluation.metrics import score_model

    scores = np.asarray(score_model(model, part[features], task), dtype=float).reshape(len(part), -1)
    out = pd.DataFrame(scores, index=part.index, columns=[f"__score_{j}" for j in range(scores.shape[1])])
    return out.assign(**{target: part[target].to_numpy()})
