"""What the model relies on and where it errs, on the held-out test split.

Everything here takes values (a fitted pipeline, the raw test frame, scores),
never the params object, and is seeded. Importance and partial dependence work
on the *raw* input columns: the fitted pipeline includes its preprocessing, so
shuffling one raw column (a text, a date, a category) moves everything derived
from it at once, and the names a reader sees are the columns of their own file.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from nblib.ml.evaluation.metrics import (
    LOWER_IS_BETTER,
    PRIMARY_METRIC,
    bootstrap_intervals,
    classification_metrics,
    regression_metrics,
)

__all__ = [
    "SLICE_METRICS",
    "conclusion",
    "explain_record",
    "gate_outcome",
    "grouped_permutation_importance",
    "lift_table",
    "md",
    "partial_dependence_curves",
    "sample_rows",
    "scoring_for",
    "segments",
    "slice_metrics",
    "slice_tables",
    "importance_sample",
    "task_scoring",
    "columns_by_importance",
    "partial_dependence_note",
    "decision_threshold",
    "slices_note",
    "slices_frame",
    "lift_for",
]

#: The two metrics each slice reports: the primary one and one other.
SLICE_METRICS = {"classification": ("roc_auc", "f1"), "regression": ("rmse", "mae")}

#: Test rows partial dependence averages over (a seeded sample): each grid point predicts them all.
PARTIAL_DEPENDENCE_ROWS = 400
_SCORING = {"roc_auc": "roc_auc", "rmse": "neg_root_mean_squared_error"}


def scoring_for(task: str, n_classes: int = 2) -> str:
    """The scikit-learn scorer name of the task's primary metric.

    >>> scoring_for("classification"), scoring_for("classification", 3), scoring_for("regression")
    ('roc_auc', 'roc_auc_ovr', 'neg_root_mean_squared_error')
    """
    if task == "classification" and n_classes > 2:
        return "roc_auc_ovr"
    return _SCORING[PRIMARY_METRIC[task]]


def sample_rows(
    X: pd.DataFrame, y, max_rows: int | None, random_state: int = 0, *, stratify: bool = False
) -> tuple[pd.DataFrame, Any]:
    """At most ``max_rows`` rows of ``X`` and ``y``, drawn without replacement (seeded); all when fewer.

    With ``stratify`` (classification) each class keeps its share of the rows and
    every class of ``y`` keeps at least one row (when ``max_rows`` allows), so a
    rare class is never dropped from the sample.

    >>> X = pd.DataFrame({"x": range(1000)}); y = pd.Series([1] * 3 + [0] * 997)
    >>> int(sample_rows(X, y, 100, stratify=True)[1].sum())
    1
    """
    if max_rows is None or len(X) <= max_rows:
        return X, y
    rng = np.random.default_rng(random_state)
    if stratify:
        idx = _stratified_choice(np.asarray(y), max_rows, rng)
    else:
        idx = np.sort(rng.choice(len(X), size=max_rows, replace=False))
    return X.iloc[idx], (y.iloc[idx] if isinstance(y, pd.Series) else np.asarray(y)[idx])


def grouped_permutation_importance(
    model,
    X_test: pd.DataFrame,
    y_test,
    *,
    scoring: str,
    n_repeats: int = 5,
    random_state: int = 0,
    n_jobs: int | None = None,
    top: int = 20,
) -> pd.DataFrame:
    """Drop of the test score when one raw input column is shuffled, mean ± std over ``n_repeats``.

    ``model`` is the whole fitted pipeline and ``X_test`` the raw frame, so each
    original column (text, date, category, number) is permuted as a whole and
    goes through the pipeline's own preprocessing: a one-hot or TF-IDF column
    group counts once, under the user's column name. With ``scoring="roc_auc_ovr"``
    (three or more classes) the score is the macro one-vs-rest ROC-AUC over the
    classes present in ``y_test`` (:func:`nblib.ml.evaluation.metrics.ovr_roc_auc`), so a rare
    class missing from the rows does not fail the whole evaluation.

    Returns
    -------
    DataFrame indexed by column name (the ``top`` largest mean drops), columns
    ``mean`` and ``std``; ``attrs`` hold ``scoring``, ``n_rows``, ``n_repeats``
    and ``n_columns``. Empty when ``n_repeats`` is 0.
    """
    from sklearn.inspection import permutation_importance

    empty = pd.DataFrame({"mean": [], "std": []}, index=pd.Index([], name="column"))
    if n_repeats <= 0 or X_test.shape[1] == 0:
        result = empty
    else:
        scorer = _present_classes_auc if scoring == "roc_auc_ovr" else scoring
        r = permutation_importance(
            model,
            X_test,
            np.asarray(y_test),
            scoring=scorer,
            n_repeats=n_repeats,
            random_state=random_state,
            n_jobs=n_jobs,
        )
        result = (
            pd.DataFrame(
                {"mean": r.importances_mean, "std": r.importances_std},
                index=pd.Index([str(c) for c in X_test.columns], name="column"),
            )
            .sort_values("mean", ascending=False, kind="stable")
            .head(top)
        )
    result.attrs.update(scoring=scoring, n_rows=len(X_test), n_repeats=int(n_repeats), n_columns=int(X_test.shape[1]))
    return result


def partial_dependence_curves(
    model,
    X: pd.DataFrame,
    columns: list[str],
    *,
    limit: int | None = None,
    grid_resolution: int = 20,
    classes: list[Any] | None = None,
) -> list[dict[str, Any]]:
    """Average prediction as each numeric column is set to a grid of values (``kind="average"``).

    The grid is the 5th–95th percentiles of the column's non-missing values in
    ``X`` (the test rows); non-numeric and constant columns are skipped, and
    at most ``limit`` curves are made (in the order of ``columns``). The
    response is the positive-class probability (two classes), one probability
    per class (three or more) or the prediction (regression).

    Returns one dict per column: ``column``, ``grid`` (list), ``average``
    (list of lists: one curve per output) and ``outputs`` (their names).
    """
    from sklearn.inspection import partial_dependence

    curves: list[dict[str, Any]] = []
    for column in columns:
        if limit is not None and len(curves) >= limit:
            break
        values = X[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        finite = values.dropna().astype(float)
        grid = np.unique(np.quantile(finite, np.linspace(0.05, 0.95, grid_resolution))) if len(finite) else []
        if len(grid) < 2:
            continue
        frame = X.assign(**{column: values.astype(float)}) if pd.api.types.is_integer_dtype(values) else X
        pd_result = partial_dependence(
            model, frame, [column], kind="average", method="brute", custom_values={column: grid}
        )
        average = np.atleast_2d(pd_result["average"])
        outputs = (
            [str(c) for c in classes] if classes is not None and len(average) == len(classes) > 2 else ["prediction"]
        )
        curves.append(
            {
                "column": str(column),
                "grid": [float(g) for g in grid],
                "average": average.round(6).tolist(),
                "outputs": outputs,
            }
        )
    return curves


def segments(values: pd.Series, top: int = 10, bins: int = 4) -> pd.Series:
    """Segment label of each row: quartile bins for a numeric column, the ``top`` most
    frequent values plus ``"other"`` otherwise; missing values are ``"missing"``.

    >>> segments(pd.Series(["a", "a", "b", None, "c"]), top=1).tolist()
    ['a', 'a', 'other', 'missing', 'other']
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values) and values.nunique() > top:
        binned = pd.qcut(values.astype(float), bins, duplicates="drop")
        names = [f"{iv.left:.4g} – {iv.right:.4g}" for iv in binned.cat.categories]
        labels = binned.cat.rename_categories(names).cat.add_categories(["missing"]).fillna("missing")
        return labels.cat.remove_unused_categories()
    text = values.astype(object).where(values.notna(), None)
    text = text.map(lambda v: "missing" if v is None else str(v))
    keep = text[text != "missing"].value_counts().head(top).index
    return text.where(text.isin(keep) | (text == "missing"), "other")


def slice_tables(
    frame: pd.DataFrame,
    y_true,
    scores,
    columns: list[str],
    *,
    task: str,
    threshold: float = 0.5,
    n_boot: int = 200,
    confidence: float = 0.95,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> list[pd.DataFrame]:
    """:func:`slice_metrics` of each of ``columns`` that ``frame`` holds, its rows cut by
    :func:`segments`: one table per column (``evaluate.slices``), in the order given."""
    return [
        slice_metrics(
            y_true,
            scores,
            segments(frame[column]),
            task=task,
            column=column,
            threshold=threshold,
            n_boot=n_boot,
            confidence=confidence,
            random_state=random_state,
            n_jobs=n_jobs,
        )
        for column in columns
        if column in frame
    ]


def slice_metrics(
    y_true,
    scores,
    segment_labels: pd.Series,
    *,
    task: str,
    column: str,
    threshold: float = 0.5,
    n_boot: int = 200,
    confidence: float = 0.95,
    min_rows: int = 30,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Per segment: rows, positives (classification) and two metrics (:data:`SLICE_METRICS`)
    with percentile bootstrap intervals: the same resamples and values as
    :func:`nblib.ml.evaluation.metrics.bootstrap_intervals`, computed for the two metrics
    only and vectorized (about 30 times faster; three or more classes use it directly).

    A segment with fewer than ``min_rows`` rows, or a single class (ROC-AUC
    undefined), gets no number but a ``note`` saying why. Segments are ordered
    by size, ``other`` and ``missing`` last.
    """
    y_true, scores = np.asarray(y_true), np.asarray(scores, dtype=float)
    labels = np.asarray(segment_labels, dtype=object)
    names = SLICE_METRICS[task]
    counts = pd.Series(labels).value_counts()
    if isinstance(segment_labels.dtype, pd.CategoricalDtype):  # bins: in their own order
        order = [c for c in segment_labels.cat.categories if c in counts.index]
    else:
        order = [s for s in counts.index if s not in ("other", "missing")] + [
            s for s in ("other", "missing") if s in counts.index
        ]
    rows = []
    for segment in order:
        mask = labels == segment
        y, s = y_true[mask], scores[mask]
        row: dict[str, Any] = {"slice": str(column), "segment": str(segment), "n": int(mask.sum())}
        if task == "classification":
            row["positives"] = int((y == 1).sum()) if s.ndim == 1 else None
        note = ""
        values: dict[str, float] = {}
        ci: dict[str, tuple[float, float]] = {}
        if mask.sum() < min_rows:
            note = f"too few rows (fewer than {min_rows})"
        elif task == "classification" and len(np.unique(y)) < 2:
            note = "one class only: ROC-AUC undefined"
        else:
            values = classification_metrics(y, s, threshold) if task == "classification" else regression_metrics(y, s)
            ci = (
                _slice_intervals(y, s, task, names, n_boot, confidence, threshold, random_state)
                if s.ndim == 1
                else bootstrap_intervals(
                    y,
                    s,
                    task,
                    n_boot=n_boot,
                    confidence=confidence,
                    threshold=threshold,
                    random_state=random_state,
                    n_jobs=n_jobs,
                )
            )
        for name in names:
            row[name] = values.get(name, np.nan)
            low, high = ci.get(name, (np.nan, np.nan))
            row[f"{name}_low"], row[f"{name}_high"] = low, high
        row["note"] = note
        rows.append(row)
    return pd.DataFrame(rows)


def lift_table(y_true, proba, n_bins: int = 10) -> pd.DataFrame:
    """Cumulative gain and lift by score decile (two classes; highest scores first).

    Columns: ``decile``, ``rows``, ``positives``, ``rate`` (positive rate in the
    decile), ``share_rows`` and ``share_positives`` (cumulative: the gain curve)
    and ``lift`` (``share_positives / share_rows``; 1 is no better than random).
    """
    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    order = np.argsort(-proba, kind="stable")
    parts = np.array_split(y_true[order], n_bins)
    total = max(int(y_true.sum()), 1)
    rows, seen_rows, seen_pos = [], 0, 0
    for i, part in enumerate(parts, start=1):
        if len(part) == 0:
            continue
        seen_rows += len(part)
        seen_pos += int(part.sum())
        share_rows = seen_rows / len(y_true)
        share_pos = seen_pos / total
        rows.append(
            {
                "decile": i,
                "rows": len(part),
                "positives": int(part.sum()),
                "rate": float(part.mean()),
                "share_rows": share_rows,
                "share_positives": share_pos,
                "lift": share_pos / share_rows,
            }
        )
    return pd.DataFrame(rows)


def explain_record(
    importance: pd.DataFrame | None,
    curves: list[dict[str, Any]] | None,
    slices: list[pd.DataFrame] | None,
    lift: pd.DataFrame | None,
) -> dict[str, Any]:
    """What ``explain.json`` holds, JSON-ready (missing values as ``null``): ``importance``
    (``scoring``, ``n_rows``, ``n_repeats``, ``columns``: rows of column/mean/std),
    ``partial_dependence``, ``slices`` (rows of every slice table) and ``lift``."""

    def rows(frame):
        return (
            None
            if frame is None
            else [
                {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                for r in frame.to_dict("records")
            ]
        )

    record: dict[str, Any] = {"importance": None, "partial_dependence": curves or [], "slices": [], "lift": rows(lift)}
    if importance is not None:
        record["importance"] = {
            **{k: v for k, v in importance.attrs.items()},
            "columns": rows(importance.reset_index()),
        }
    for table in slices or []:
        record["slices"].extend(rows(table))
    return record


def gate_outcome(
    test: dict[str, float],
    gates: dict[str, float],
    promotion: dict[str, Any] | None = None,
    require_promotion: bool = False,
) -> dict[str, Any]:
    """Whether the test metrics pass their gates (and, with ``require_promotion``, whether the
    model becomes champion), without raising: ``{"passed", "message"}``.

    >>> gate_outcome({"roc_auc": 0.8}, {"roc_auc": 0.9})["passed"]
    False
    >>> gate_outcome({}, {}, {"decision": "keep", "reason": "not better"}, require_promotion=True)["message"]
    'evaluate.require_promotion: the model does not become champion: not better'
    """
    from nblib.ml.evaluation.metrics import GateFailed, check_gates, check_promotion

    if not gates and not require_promotion:
        return {"passed": True, "message": "no gates set"}
    try:
        check_gates(test, gates)
        if require_promotion:
            check_promotion(promotion or {}, True)
    except GateFailed as exc:
        return {"passed": False, "message": str(exc)}
    passed = [f"{k} {'≤' if k in LOWER_IS_BETTER else '≥'} {v:g}" for k, v in gates.items()]
    if require_promotion:
        passed.append("becomes champion")
    return {"passed": True, "message": "all gates passed (" + ", ".join(passed) + ")"}


def conclusion(
    metrics: dict[str, Any],
    importance: pd.DataFrame | None = None,
    gate: dict[str, Any] | None = None,
    promotion: dict[str, Any] | None = None,
) -> str:
    """The evaluation in a few Markdown sentences: model, threshold, headline metric with its
    interval, the top 3 columns by importance, the champion decision and the gate result.
    Names from data are escaped."""
    primary = metrics.get("primary_metric", "")
    value = metrics.get("test", {}).get(primary)
    chosen = metrics.get("chosen") or {}
    if chosen:
        what = md(chosen.get("label") or chosen.get("name", "unknown"))
        lines = [
            f"**Model:** {what}, chosen by cross-validation ({md(chosen.get('scoring', ''))} "
            f"{_num(chosen.get('cv_mean'))} ± {_num(chosen.get('cv_std'))}; {md(chosen.get('cv_note', ''))})."
        ]
    else:
        lines = [f"**Model:** {md(metrics.get('best_model', 'unknown'))}, chosen by cross-validation."]
    if "threshold" in metrics:
        lines.append(
            f"**Threshold:** {metrics['threshold']:.3f}, chosen by `{metrics.get('threshold_by', 'fixed')}` "
            "on out-of-fold training predictions (never on the test split)."
        )
    if value is not None:
        low_high = metrics.get("test_ci", {}).get(primary)
        interval = (
            f" ({metrics.get('confidence', 0.95):.0%} interval {low_high[0]:.4f}–{low_high[1]:.4f})"
            if low_high
            else " (no interval: bootstrap off)"
        )
        lines.append(f"**Test {primary}:** {value:.4f}{interval} on {metrics.get('n_test', '?')} rows.")
    if importance is not None and len(importance):
        top = ", ".join(f"{md(name)} ({row['mean']:+.4f})" for name, row in importance.head(3).iterrows())
        lines.append(f"**Most important columns** (score drop when shuffled): {top}.")
    else:
        lines.append("**Most important columns:** not computed (evaluate.importance_repeats is 0).")
    if promotion is not None and promotion.get("asked"):
        lines.append(f"**Champion:** {md(promotion.get('reason', ''))}.")
    elif promotion is not None:
        lines.append("**Champion:** not compared (evaluate.promote is off).")
    if gate is not None:
        lines.append(f"**Gates:** {'passed' if gate['passed'] else 'FAILED'}: {md(gate['message'])}.")
    for warning in metrics.get("warnings", [])[:3]:
        lines.append(f"*Warning:* {md(warning)}")
    return "## Conclusion\n\n" + "\n\n".join(lines)


def _num(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "?"


def _slice_intervals(
    y, s, task: str, names, n_boot: int, confidence: float, threshold: float, random_state: int
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of the two slice metrics only, vectorized over resamples
    (same resamples rule as :func:`nblib.ml.evaluation.metrics.bootstrap_intervals`: a two-class resample
    missing a class is skipped). Scores are one column (two classes) or predictions (regression)."""
    if n_boot <= 0:
        return {}
    rng = np.random.default_rng(random_state)
    block = max(1, 2_000_000 // max(len(y), 1))  # resamples drawn per block: bounded memory on big test splits
    parts = []
    for start in range(0, n_boot, block):
        idx = rng.integers(0, len(y), (min(block, n_boot - start), len(y)))
        parts.append(_resample_metrics(y[idx], s[idx], task, threshold))
    values = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    alpha = (1 - confidence) / 2
    return {
        k: (float(np.quantile(v, alpha)), float(np.quantile(v, 1 - alpha)))
        for k, v in values.items()
        if k in names and len(v)
    }


def _resample_metrics(yb, sb, task: str, threshold: float) -> dict[str, np.ndarray]:
    from scipy.stats import rankdata

    yb = yb.astype(float)
    if task != "classification":
        err = sb - yb
        return {"rmse": np.sqrt((err**2).mean(axis=1)), "mae": np.abs(err).mean(axis=1)}
    n = yb.shape[1]
    pos = yb.sum(axis=1)
    keep = (pos > 0) & (pos < n)
    yb, sb, pos = yb[keep], sb[keep], pos[keep]
    ranks = rankdata(sb, axis=1)
    pred = sb >= threshold
    tp = (pred & (yb == 1)).sum(axis=1)
    denom = pred.sum(axis=1) + pos
    return {
        "roc_auc": ((ranks * yb).sum(axis=1) - pos * (pos + 1) / 2) / (pos * (n - pos)),
        "f1": np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0),
    }


def _present_classes_auc(estimator, X, y) -> float:
    """Scorer: macro one-vs-rest ROC-AUC of ``estimator`` on ``X`` over the classes present in ``y``."""
    from nblib.ml.evaluation.metrics import ovr_roc_auc

    proba = estimator.predict_proba(X)
    known = np.asarray(estimator.classes_)
    codes = np.searchsorted(known, np.asarray(y))
    if (codes >= len(known)).any() or not (known[np.minimum(codes, len(known) - 1)] == np.asarray(y)).all():
        raise ValueError("y holds a class the model was not trained on")
    return ovr_roc_auc(codes, proba)


def _stratified_choice(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of ``size`` rows drawn per class in proportion, at least one per class."""
    values, inverse, counts = np.unique(y.astype(str), return_inverse=True, return_counts=True)
    share = counts * size / len(y)
    take = np.minimum(counts, np.maximum(1, np.floor(share).astype(int)))
    order = np.argsort(-(share - np.floor(share)), kind="stable")  # largest remainders first
    while take.sum() < size:
        for k in order:
            if take.sum() >= size:
                break
            if take[k] < counts[k]:
                take[k] += 1
    while take.sum() > size:  # more classes than rows asked, or the minimum of one tipped it over
        k = int(np.argmax(take))
        take[k] -= 1
    picked = [rng.choice(np.flatnonzero(inverse == k), size=int(n), replace=False) for k, n in enumerate(take) if n]
    return np.sort(np.concatenate(picked))


def md(value: Any) -> str:
    """Text from data made inert in Markdown: HTML, table pipes and emphasis characters escaped.

    >>> md("<script>a|b</script>*x*")
    '&lt;script&gt;a\\\\|b&lt;/script&gt;\\\\*x\\\\*'
    """
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#$":
        text = text.replace(ch, "\\" + ch)
    return text


def importance_sample(
    X: pd.DataFrame, y, task: str, random_state: int = 0, max_rows: int = 2000
) -> tuple[pd.DataFrame, Any]:
    """The rows permutation importance is measured on: at most ``max_rows`` (:func:`sample_rows`),
    stratified for classification so that a rare class keeps its rows."""
    return sample_rows(X, y, max_rows, random_state, stratify=task == "classification")


def task_scoring(task: str, classes: list[Any] | None = None) -> str:
    """:func:`scoring_for` the task and its classes (``None`` for regression).

    >>> task_scoring("classification", ["a", "b", "c"]), task_scoring("regression")
    ('roc_auc_ovr', 'neg_root_mean_squared_error')
    """
    return scoring_for(task, len(classes or []))


def columns_by_importance(importance: pd.DataFrame, columns: list[str]) -> list[str]:
    """``columns`` ranked by ``importance`` (its index, most important first), then the columns
    it does not list, in their order: the order partial dependence curves are drawn in.

    >>> imp = pd.DataFrame({"mean": [0.2, 0.1]}, index=["b", "c"])
    >>> columns_by_importance(imp, ["a", "b", "c", "d"])
    ['b', 'c', 'a', 'd']
    """
    ranked = [str(c) for c in importance.index]
    return ranked + [c for c in columns if c not in ranked]


def partial_dependence_note(curves: list[dict[str, Any]]) -> str:
    """One line: how many columns the partial dependence shows, or why none.

    >>> partial_dependence_note([])
    'no partial dependence: no numeric column or 0 asked'
    """
    return f"{len(curves)} numeric column(s) shown" if curves else "no partial dependence: no numeric column or 0 asked"


def decision_threshold(metrics: dict[str, Any], default: float = 0.5) -> float:
    """The decision threshold the evaluation used (``metrics.json``'s ``threshold``), else ``default``.

    >>> decision_threshold({"threshold": 0.3}), decision_threshold({})
    (0.3, 0.5)
    """
    return metrics.get("threshold", default)


def slices_note(asked: list[str]) -> str | None:
    """What to print when no slice column was asked (``evaluate.slices``); ``None`` otherwise."""
    return None if asked else "no slices: set evaluate.slices (a list of columns) to see metrics per segment"


def slices_frame(slices: list[pd.DataFrame]) -> pd.DataFrame | None:
    """Every slice table as one frame (``None`` when there is none)."""
    return pd.concat(slices, ignore_index=True) if slices else None


def lift_for(task: str, classes: list[Any] | None, y_true, scores) -> pd.DataFrame | None:
    """:func:`lift_table` of two-class scores; ``None`` for regression or three or more classes."""
    if task != "classification" or classes is None or len(classes) != 2:
        return None
    return lift_table(y_true, scores)
