"""Data-quality checks on the raw table: missing values, duplicates, outliers,
mixed date formats, label noise and target leaks.

:func:`check_quality` returns a plain dict (JSON-ready) with one entry per
check and a list of human-readable warnings.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import r2_score, roc_auc_score

from nblib.ml.preprocess import near_duplicate_mask

__all__ = [
    "check_quality",
    "single_column_scores",
    "too_sparse_columns",
    "leaky_columns",
    "leak_warnings",
    "scores_table",
    "date_formats",
]

_DATE_PATTERNS = {
    "YYYY-MM-DD": r"^\d{4}-\d{2}-\d{2}$",
    "YYYY/MM/DD": r"^\d{4}/\d{2}/\d{2}$",
    "DD/MM/YYYY or MM/DD/YYYY": r"^\d{1,2}/\d{1,2}/\d{4}$",
    "DD Mon YYYY": r"^\d{1,2} [A-Za-z]{3} \d{4}$",
    "Month DD, YYYY": r"^[A-Za-z]+ \d{1,2}, \d{4}$",
}


def check_quality(
    frame: pd.DataFrame,
    target: str,
    *,
    task: str,
    max_missing_fraction: float = 0.5,
    outlier_iqr_factor: float = 3.0,
) -> dict[str, Any]:
    """Run the checks that need no fitting and collect warnings.

    Target leaks are looked for separately, on the training split only
    (:func:`single_column_scores`, :func:`leak_warnings`), so that no decision
    is made from test rows.

    Parameters
    ----------
    frame : DataFrame
        The raw table, target included.
    target : str
    task : {"classification", "regression"}
    max_missing_fraction : float
        Columns missing more than this are flagged for dropping.
    outlier_iqr_factor : float
        Values beyond ``factor * IQR`` outside the quartiles count as outliers.
    """
    warnings: list[str] = []
    n = len(frame)
    missing = frame.isna().mean().round(4)
    missing = {c: float(v) for c, v in missing.items() if v > 0}
    too_sparse = too_sparse_columns(frame, max_missing_fraction)
    for c in too_sparse:
        warnings.append(f"column {c!r} is {missing[c]:.0%} missing (limit {max_missing_fraction:.0%})")

    exact = int(frame.duplicated().sum())
    near = int(near_duplicate_mask(frame[~frame.duplicated()], exclude=[target]).sum())
    if exact:
        warnings.append(f"{exact} exact duplicate rows ({exact / n:.1%})")
    if near:
        warnings.append(f"{near} near-duplicate rows (same values up to ids, rounding, case and spacing)")

    outliers = _outliers(frame.drop(columns=[target]), outlier_iqr_factor)
    for column, info in outliers.items():
        warnings.append(f"column {column!r}: {info['count']} outliers beyond {outlier_iqr_factor}×IQR"
                        + (f", {info['negative']} negative" if info["negative"] else ""))

    dates = {c: f for c in frame.columns if c != target and len(f := date_formats(frame[c])) > 0}
    for column, formats in dates.items():
        if len(formats) > 1:
            warnings.append(f"column {column!r} mixes {len(formats)} date formats: {', '.join(formats)}")

    labels = _label_variants(frame.drop(columns=[target]))
    for column, groups in labels.items():
        example = next(iter(groups.values()))
        warnings.append(f"column {column!r}: {len(groups)} labels written several ways, e.g. {example}")

    target_info = _target_summary(frame[target], task)
    if task == "classification" and target_info.get("minority_share", 1) < 0.2:
        warnings.append(f"target {target!r} is imbalanced: minority class {target_info['minority_share']:.1%}")

    return {
        "n_rows": n,
        "n_columns": frame.shape[1],
        "missing": missing,
        "too_sparse_columns": too_sparse,
        "exact_duplicates": exact,
        "near_duplicates": near,
        "outliers": outliers,
        "date_formats": dates,
        "label_variants": labels,
        "target": target_info,
        "warnings": warnings,
    }


def too_sparse_columns(frame: pd.DataFrame, max_missing_fraction: float) -> list[str]:
    """Columns missing in more than ``max_missing_fraction`` of the rows."""
    share = frame.isna().mean()
    return share[share > max_missing_fraction].index.tolist()


def single_column_scores(
    frame: pd.DataFrame, target: str, *, task: str, random_state: int = 0, max_rows: int = 20_000
) -> dict[str, float]:
    """How well each column alone predicts the target.

    Classification: ROC-AUC of the column's values (numeric) or of its per-label
    target rate (categorical, estimated out of fold), folded so 0.5 is chance
    and 1 is perfect. Regression: R² of the same per-value mean or, for
    numeric columns, the squared rank correlation.
    """
    data = frame[frame[target].notna()]
    if len(data) > max_rows:
        data = data.sample(max_rows, random_state=random_state)
    y = data[target]
    if task == "classification":
        y = (y == y.value_counts().index[-1]).astype(int)  # minority class = positive
    scores = {}
    for column in data.columns.drop(target):
        x = data[column]
        if x.isna().all() or x.nunique() < 2:
            continue
        if pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x):
            values = x.astype(float).fillna(x.astype(float).median())
            if task == "classification":
                auc = roc_auc_score(y, values)
                scores[column] = round(float(max(auc, 1 - auc)), 4)
            else:
                rho = pd.Series(values.to_numpy()).corr(pd.Series(y.to_numpy()), method="spearman")
                scores[column] = round(float(rho**2), 4)
        elif x.nunique() <= 0.5 * len(x):
            encoded = _out_of_fold_means(x.astype(str), y.astype(float), random_state)
            if task == "classification":
                scores[column] = round(float(roc_auc_score(y, encoded)), 4)
            else:
                scores[column] = round(float(max(r2_score(y, encoded), 0.0)), 4)
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def leaky_columns(scores: dict[str, float], threshold: float) -> list[str]:
    """Columns whose single-column score (ROC-AUC or R²) reaches ``threshold``."""
    return [c for c, s in scores.items() if s >= threshold]


def scores_table(scores: dict[str, float], threshold: float) -> pd.DataFrame:
    """Single-column scores, best first, with a ``leak`` flag at ``threshold``."""
    table = pd.DataFrame({"score": pd.Series(scores, dtype=float)})
    table["leak"] = table["score"] >= threshold
    table.index.name = "column"
    return table


def leak_warnings(scores: dict[str, float], threshold: float) -> list[str]:
    return [
        f"column {c!r} alone predicts the target (score {scores[c]:.3f} ≥ {threshold}): "
        f"likely a leak, known only after the fact"
        for c in leaky_columns(scores, threshold)
    ]


def date_formats(series: pd.Series) -> list[str]:
    """Date formats found in a string column (empty if it does not hold dates)."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return []
    values = series.dropna().astype(str).str.strip()
    if values.empty:
        return []
    sample = values.sample(min(len(values), 5000), random_state=0)
    found = {name: sample.str.match(p).mean() for name, p in _DATE_PATTERNS.items()}
    if sum(found.values()) < 0.9:
        return []
    return [name for name, share in sorted(found.items(), key=lambda kv: -kv[1]) if share > 0]


# --------------------------------------------------------------------------- helpers


def _outliers(frame: pd.DataFrame, factor: float) -> dict[str, dict[str, Any]]:
    out = {}
    for column in frame.select_dtypes("number").columns:
        x = frame[column].dropna()
        if x.nunique() < 10:
            continue
        positive = x[x >= 0]
        log_scale = (x >= 0).mean() > 0.99 and positive.skew() > 2  # judge skewed amounts on log scale
        values = np.log1p(x.clip(lower=0)) if log_scale else x
        q1, q3 = np.percentile(values, [25, 75])
        iqr = q3 - q1
        if iqr == 0:
            continue
        low, high = q1 - factor * iqr, q3 + factor * iqr
        mask = ((values < low) | (values > high)) & (x >= 0 if log_scale else True)
        negative = int((x < 0).sum()) if (x >= 0).mean() > 0.99 else 0
        if log_scale:
            low, high = float(np.expm1(low)), float(np.expm1(high))
        if mask.sum() or negative:
            out[column] = {"count": int(mask.sum()), "negative": negative, "log_scale": bool(log_scale),
                           "low": float(low), "high": float(high)}
    return out


def _label_variants(frame: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    out = {}
    for column in frame.columns:
        s = frame[column]
        if not (pd.api.types.is_string_dtype(s) or s.dtype == object):
            continue
        values = s.dropna().astype(str)
        if values.nunique() > 200 or values.str.split().str.len().mean() > 3:
            continue
        groups: dict[str, set[str]] = {}
        for label in values.unique():
            key = re.sub(r"\s+", " ", label).strip().casefold()
            groups.setdefault(key, set()).add(label)
        multi = {k: sorted(v) for k, v in groups.items() if len(v) > 1}
        if multi:
            out[column] = multi
    return out


def _target_summary(y: pd.Series, task: str) -> dict[str, Any]:
    info: dict[str, Any] = {"missing": int(y.isna().sum())}
    if task == "classification":
        counts = y.value_counts()
        info["classes"] = {str(k): int(v) for k, v in counts.items()}
        info["minority_share"] = float(counts.min() / counts.sum()) if len(counts) else 0.0
    else:
        info.update({k: float(v) for k, v in y.describe().items() if k != "count"})
    return info


def _out_of_fold_means(x: pd.Series, y: pd.Series, random_state: int, folds: int = 5) -> np.ndarray:
    rng = np.random.default_rng(random_state)
    fold = rng.integers(0, folds, len(x))
    encoded = np.empty(len(x))
    prior = y.mean()
    for k in range(folds):
        train = fold != k
        means = y[train].groupby(x[train]).agg(["sum", "count"])
        smooth = (means["sum"] + 10 * prior) / (means["count"] + 10)
        encoded[~train] = x[~train].map(smooth).fillna(prior).to_numpy()
    return encoded
