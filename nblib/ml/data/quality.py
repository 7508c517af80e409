"""Data-quality checks on the raw table: missing values, duplicates, outliers,
mixed date formats, label variants and the target's balance.

:func:`check_quality` returns a plain dict (JSON-ready) with one entry per
check and ``findings``: one per *kind* of problem (all outliers in one finding,
with a row per column), each with a severity, most important first. Target
leaks are looked for on the training split only (:mod:`nblib.ml.data.leaks`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from nblib.ml.data.duplicates import duplicate_report, entity_key_columns, index_columns
from nblib.ml.data.labels import MergeRareVariants
from nblib.ml.data.parse import infer_parsers

__all__ = [
    "check_quality",
    "quality_report",
    "label_counts",
    "target_summary",
    "SEVERITIES",
    "finding",
    "findings_table",
    "warnings_of",
]

SEVERITIES = ("high", "medium", "low", "info")
LABEL_LIMIT = 200  # a string column with more distinct values is not judged for label variants


def finding(
    kind: str, severity: str, message: str, *, columns: list[str] = (), details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One finding: what kind, how serious, a sentence, the columns and optional detail rows."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    return {"kind": kind, "severity": severity, "message": message, "columns": list(columns), "details": details or []}


def findings_table(findings: list[dict[str, Any]]) -> pd.DataFrame:
    """Findings, most serious first: severity, kind, message."""
    rows = sorted(findings, key=lambda f: SEVERITIES.index(f["severity"]))
    table = pd.DataFrame(rows, columns=["severity", "kind", "message"])
    table.index = pd.RangeIndex(1, len(table) + 1)
    return table


def warnings_of(findings: list[dict[str, Any]]) -> list[str]:
    """Findings as one-line warnings (info left out), most serious first."""
    rows = sorted(findings, key=lambda f: SEVERITIES.index(f["severity"]))
    return [f"[{f['severity']}] {f['kind']}: {f['message']}" for f in rows if f["severity"] != "info"]


def check_quality(
    frame: pd.DataFrame,
    target: str,
    *,
    task: str,
    max_missing_fraction: float = 0.5,
    outlier_iqr_factor: float = 3.0,
    group: str | None = None,
) -> dict[str, Any]:
    """Run the checks that need no fitting and collect findings.

    Nothing is changed here: the findings say what the next stage will do.

    Parameters
    ----------
    frame : DataFrame
        The raw table, target included.
    target : str
    task : {"classification", "regression"}
    max_missing_fraction : float
        Columns missing more than this get a warning (they are kept, with a
        missing-value indicator).
    outlier_iqr_factor : float
        Values beyond ``factor * IQR`` outside the quartiles count as outliers.
    group : str, optional
        The entity column (``data.group``); other columns that look like entity keys are findings.
    """
    features = frame.drop(columns=[target])
    parsers = infer_parsers(features)
    rows = index_columns(features)
    dated = [c for c, p in parsers.items() if p["kind"] == "date"]  # a date repeats too, but names no entity
    y = frame[target]
    classification = task == "classification"
    stats = {
        "n_rows": len(frame),
        "n_columns": frame.shape[1],
        "missing": {c: float(v) for c, v in frame.isna().mean().items() if v > 0},
        "duplicates": duplicate_report(frame, target),
        "outliers": _outliers(features, outlier_iqr_factor),
        "parsers": parsers,
        "index_columns": rows,
        "entity_keys": entity_key_columns(features, [*dated, *rows, *([group] if group else [])]),
        "label_counts": label_counts(features.drop(columns=list(parsers))),
        "target": target_summary(
            int(y.isna().sum()),
            task,
            counts=y.value_counts() if classification else None,
            describe=None if classification else y.describe(),
        ),
    }
    return quality_report(
        stats,
        target,
        task=task,
        max_missing_fraction=max_missing_fraction,
        outlier_iqr_factor=outlier_iqr_factor,
        group=group,
    )


def quality_report(
    stats: dict[str, Any],
    target: str,
    *,
    task: str,
    max_missing_fraction: float = 0.5,
    outlier_iqr_factor: float = 3.0,
    group: str | None = None,
) -> dict[str, Any]:
    """Findings and the report of :func:`check_quality` from the measurements it took (``stats``), however
    they were taken: in memory, or partition by partition for a table bigger than memory
    (:mod:`nblib.ml.data.tables`).

    ``stats`` holds ``n_rows``, ``n_columns``, ``missing`` (column -> share), ``duplicates`` (as
    :func:`~nblib.ml.data.duplicates.duplicate_report`), ``outliers``, ``parsers``, ``index_columns``,
    ``entity_keys``, ``label_counts`` (:func:`label_counts`) and ``target`` (:func:`target_summary`).
    """
    findings: list[dict[str, Any]] = []
    n = stats["n_rows"]
    missing = {c: round(float(v), 4) for c, v in stats["missing"].items() if v > 0}
    empty = [c for c, v in missing.items() if v == 1 and c != target]
    heavy = {c: v for c, v in missing.items() if max_missing_fraction < v < 1 and c != target}
    if empty:
        findings.append(
            finding(
                "missing", "medium", f"{len(empty)} column(s) entirely empty, dropped: " + _names(empty), columns=empty
            )
        )
    if heavy:
        findings.append(
            finding(
                "missing",
                "medium",
                f"{len(heavy)} column(s) over {max_missing_fraction:.0%} missing, kept with a missing-value "
                f"indicator: " + ", ".join(f"{c!r} ({v:.0%})" for c, v in heavy.items()),
                columns=list(heavy),
                details=[{"column": c, "missing": v} for c, v in heavy.items()],
            )
        )
    light = {c: v for c, v in missing.items() if 0 < v <= max_missing_fraction and c != target}
    if light:
        findings.append(
            finding(
                "missing",
                "info",
                f"{len(light)} column(s) partly missing, imputed: " + _names(list(light)),
                columns=list(light),
            )
        )

    dup = stats["duplicates"]
    if dup["exact_duplicates"] or dup["near_duplicates"]:
        conflict = f"; {dup['conflicting_groups']} groups have differing outcomes" if dup["conflicting_groups"] else ""
        findings.append(
            finding(
                "duplicates",
                "medium" if (dup["exact_duplicates"] + dup["near_duplicates"]) > 0.01 * n else "low",
                f"{dup['exact_duplicates']} exact and {dup['near_duplicates']} near-duplicate rows in {dup['groups']} "
                f"groups{conflict}; rows are kept and each group stays on one side of the split",
                columns=dup["identifier_columns"],
            )
        )

    outliers = stats["outliers"]
    if outliers:
        total = sum(o["count"] + o["negative"] for o in outliers.values())
        findings.append(
            finding(
                "outliers",
                "low",
                f"{total} values beyond {outlier_iqr_factor}×IQR in {len(outliers)} column(s): "
                + _names(list(outliers)),
                columns=list(outliers),
                details=[{"column": c, **o} for c, o in outliers.items()],
            )
        )

    parsers, rows, keys = stats["parsers"], stats["index_columns"], stats["entity_keys"]
    if rows:
        findings.append(
            finding(
                "entities", "info", "row numbers kept as a column, not used as features: " + _names(rows), columns=rows
            )
        )
    if keys:
        findings.append(
            finding(
                "entities",
                "medium" if group is None else "low",
                "column(s) that look like the key of an entity seen in several rows (a patient, a vehicle): "
                + "; ".join(
                    f"{k['column']!r} ({k['values']:,} values, {k['rows_per_value']:.1f} rows each)" for k in keys
                )
                + ": a random split puts rows of one entity in both training and test, so the test score flatters "
                + (
                    f"the model; set data.group: {keys[0]['column']} (02_preprocess reports the overlap)"
                    if group is None
                    else f"the model; data.group is {group!r}"
                ),
                columns=[k["column"] for k in keys],
                details=keys,
            )
        )

    dates = {c: list(p["formats"]) for c, p in parsers.items() if p["kind"] == "date"}
    numbers = [c for c, p in parsers.items() if p["kind"] == "number" and p["examples"]]
    mixed = {c: f for c, f in dates.items() if len([x for x in f if x != "unreadable"]) > 1}
    if mixed:
        findings.append(
            finding(
                "dates",
                "low",
                "dates written in several formats, read value by value: "
                + "; ".join(f"{c!r} ({', '.join(f)})" for c, f in mixed.items()),
                columns=list(mixed),
            )
        )
    if numbers:
        findings.append(
            finding(
                "numbers",
                "low",
                "numbers written as text (separators, currency, percent), read as numbers: " + _names(numbers),
                columns=numbers,
            )
        )

    labels, label_proposals = _label_variants(stats["label_counts"])
    if labels or label_proposals:
        examples = "; ".join(f"{c!r}: {' / '.join(map(repr, next(iter(g.values()))))}" for c, g in labels.items())
        looks = "; ".join(
            f"{c!r}: {p['variant']!r} ~ {p['merged_into']!r}" for c, ps in label_proposals.items() for p in ps[:3]
        )
        parts = [f"labels written several ways in {len(labels)} column(s), merged: {examples}"] if labels else []
        if label_proposals:
            parts.append(
                f"look-alike labels NOT merged (they may be distinct categories; merge them in the data if "
                f"they are typos): {looks}"
            )
        findings.append(
            finding("labels", "low", "; ".join(parts), columns=list(dict.fromkeys([*labels, *label_proposals])))
        )

    target_info = stats["target"]
    if target_info["missing"]:
        findings.append(
            finding(
                "target",
                "medium",
                f"{target_info['missing']} rows have no target value; they are left out",
                columns=[target],
            )
        )
    if task == "classification" and 0 < target_info.get("minority_share", 1) < 0.2:
        findings.append(
            finding(
                "target",
                "info",
                f"target {target!r} is imbalanced: smallest class {target_info['minority_share']:.1%}",
                columns=[target],
            )
        )

    findings.sort(key=lambda f: SEVERITIES.index(f["severity"]))
    return {
        "n_rows": n,
        "n_columns": stats["n_columns"],
        "missing": missing,
        "heavily_missing_columns": list(heavy),
        "empty_columns": empty,
        "exact_duplicates": dup["exact_duplicates"],
        "near_duplicates": dup["near_duplicates"],
        "duplicates": dup,
        "outliers": outliers,
        "date_formats": dates,
        "numbers_as_text": numbers,
        "label_variants": labels,
        "label_proposals": label_proposals,
        "target": target_info,
        "findings": findings,
        "warnings": warnings_of(findings),
    }


# --------------------------------------------------------------------------- helpers


def outlier_fences(x: pd.Series, factor: float) -> tuple[bool, float, float] | None:
    """``(log_scale, low, high)``: values below ``low`` or above ``high`` (on the log scale when
    ``log_scale``: skewed non-negative amounts are judged as ``log1p``) are outliers; ``None`` for a
    column with fewer than 10 values or no spread.

    >>> outlier_fences(pd.Series(range(100)), 3.0)
    (False, -123.75, 222.75)
    """
    x = x.dropna()
    if x.nunique() < 10:
        return None
    positive = x[x >= 0]
    log_scale = bool((x >= 0).mean() > 0.99 and positive.skew() > 2)  # judge skewed amounts on log scale
    values = np.log1p(x.clip(lower=0)) if log_scale else x
    q1, q3 = np.percentile(values, [25, 75])
    iqr = q3 - q1
    if iqr == 0:
        return None
    return log_scale, float(q1 - factor * iqr), float(q3 + factor * iqr)


def beyond_fences(x: pd.Series, log_scale: bool, low: float, high: float) -> pd.Series:
    """Which values of ``x`` are outliers by :func:`outlier_fences` (missing values are not)."""
    values = np.log1p(x.clip(lower=0)) if log_scale else x
    beyond = (values < low) | (values > high)
    return beyond & (x >= 0) if log_scale else beyond


def outlier_entry(count: int, negative: int, log_scale: bool, low: float, high: float) -> dict[str, Any]:
    """One column's outliers as the report records them (fences on the values' own scale)."""
    if log_scale:
        low, high = float(np.expm1(low)), float(np.expm1(high))
    return {"count": int(count), "negative": int(negative), "log_scale": bool(log_scale), "low": low, "high": high}


def _outliers(frame: pd.DataFrame, factor: float) -> dict[str, dict[str, Any]]:
    out = {}
    for column in frame.select_dtypes("number").columns:
        x = frame[column].dropna()
        fences = outlier_fences(x, factor)
        if fences is None:
            continue
        count = int(beyond_fences(x, *fences).sum())
        negative = int((x < 0).sum()) if (x >= 0).mean() > 0.99 else 0
        if count or negative:
            out[column] = outlier_entry(count, negative, *fences)
    return out


def _names(columns: list[str], limit: int = 8) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f" and {len(columns) - limit} more" if len(columns) > limit else "")


def label_counts(frame: pd.DataFrame, max_labels: int = LABEL_LIMIT) -> dict[str, pd.Series]:
    """Counts of each label (values as text, most frequent first) of the string columns of ``frame``
    with at most ``max_labels`` distinct values: what :func:`quality_report` judges label variants by.

    >>> label_counts(pd.DataFrame({"c": ["a", "b", "a"], "x": [1, 2, 3]}))["c"].to_dict()
    {'a': 2, 'b': 1}
    """
    out = {}
    for column in frame.columns:
        s = frame[column]
        if pd.api.types.is_string_dtype(s) or s.dtype == object:
            counts = s.dropna().astype(str).value_counts()
            if len(counts) <= max_labels:
                out[column] = counts
    return out


def _label_variants(
    counts_by_column: dict[str, pd.Series],
) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[dict[str, Any]]]]:
    """Labels written several ways: case and spacing, and rare typos of a frequent label (the rule of
    :class:`nblib.ml.data.labels.MergeRareVariants`, which the preprocessor applies); and, apart, the
    look-alikes that rule only proposes (listed for a person to check, never merged). Judged from
    label counts alone (:func:`label_counts`)."""
    out, proposals = {}, {}
    for column, counts in counts_by_column.items():
        if counts.empty:
            continue
        words = np.array([len(str(label).split()) for label in counts.index])
        if (words * counts.to_numpy()).sum() / counts.sum() > 3:  # free text, not labels
            continue
        groups: dict[str, set[str]] = {}
        for label in counts.index:
            groups.setdefault(_normal(label), set()).add(label)
        normalized = counts.groupby([_normal(label) for label in counts.index], sort=False).sum()
        applied, proposed = MergeRareVariants().merges_for_counts(normalized)
        for merge in applied:
            groups.setdefault(merge["merged_into"], set()).update(groups.pop(merge["variant"], {merge["variant"]}))
        multi = {k: sorted(v) for k, v in groups.items() if len(v) > 1}
        if multi:
            out[column] = multi
        if proposed:
            proposals[column] = proposed
    return out, proposals


def _normal(label: str) -> str:
    """A label with its case and spacing set aside: ``" Home  Goods"`` -> ``"home goods"``."""
    return re.sub(r"\s+", " ", label).strip().casefold()


def target_summary(
    missing: int, task: str, *, counts: pd.Series | None = None, describe: pd.Series | None = None
) -> dict[str, Any]:
    """The target's part of the report: rows without a value, and the class counts (``counts``, most
    frequent first) or the distribution (``describe``, as :meth:`pandas.Series.describe` gives it).

    >>> target_summary(0, "classification", counts=pd.Series({"no": 9, "yes": 1}))["minority_share"]
    0.1
    """
    info: dict[str, Any] = {"missing": int(missing)}
    if task == "classification":
        info["classes"] = {str(k): int(v) for k, v in counts.items()}
        info["minority_share"] = float(counts.min() / counts.sum()) if len(counts) else 0.0
    else:
        info.update({k: float(v) for k, v in describe.items() if k != "count"})
    return info
