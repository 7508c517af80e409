"""What to do next: the steps a run's own evidence supports, in the order a reviewer should take them.

Values in, steps out (no params object, no files): the summary page and the model card read the
run's artifacts and pass plain values here.

- a kept *likely* leak → drop it (``quality.leaks: drop``) or declare it known before the outcome
  (``data.columns.known_before_outcome``);
- a column that looks like an entity key, with entities on both sides of the split → ``data.group``;
- a class with few rows (or few test rows) → merge it into a neighbour or drop it;
- a learning curve still rising at the full training size → more data.

>>> steps = next_steps(class_counts={"a": 500, "b": 11}, test_class_counts={"a": 150, "b": 2})
>>> [s.kind for s in steps]
['rare_class']
>>> next_steps()
[]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from nblib.ml.evaluation.scoring import lower_is_better

__all__ = ["Step", "next_steps", "learning_curve_gain", "MIN_CLASS_ROWS", "MIN_TEST_ROWS"]

#: A class with fewer rows than this cannot be learned or measured reliably.
MIN_CLASS_ROWS = 30
#: A class with fewer test rows than this has no trustworthy per-class score.
MIN_TEST_ROWS = 10


@dataclass(frozen=True)
class Step:
    """One next step: ``kind`` (``leak``, ``entity``, ``rare_class``, ``more_data``), what the
    evidence says (``why``) and what to do about it (``action``, one line naming the params key)."""

    kind: str
    why: str
    action: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def next_steps(
    *,
    learning_curve: Iterable[Mapping[str, Any]] | None = None,
    leak_suspects: Iterable[Mapping[str, Any]] = (),
    class_counts: Mapping[Any, int] | None = None,
    test_class_counts: Mapping[Any, int] | None = None,
    entity_suspects: Iterable[Mapping[str, Any]] = (),
    group: str | None = None,
    min_class_rows: int = MIN_CLASS_ROWS,
    min_test_rows: int = MIN_TEST_ROWS,
) -> list[Step]:
    """The next steps a run's evidence supports, most urgent first (empty: nothing urgent).

    Parameters
    ----------
    learning_curve : iterable of mappings, optional
        Rows of the learning curve (``cv_results.json["learning_curve"]``): ``train_size``,
        ``valid_score`` (the metric itself: RMSE positive), ``metric``; one row per size and fold.
    leak_suspects : iterable of mappings
        ``leaks.json["suspects"]``: ``columns``, ``confidence`` (likely|possible), ``action``
        (kept|dropped|...). Only likely suspects that were kept lead to a step.
    class_counts : mapping, optional
        Rows per class in the data (classification).
    test_class_counts : mapping, optional
        Rows per class in the test split.
    entity_suspects : iterable of mappings
        ``cleaning.json["entities"]["suspects"]``: ``column``, ``overlap_rows``, ``overlap_values``.
    group : str, optional
        The ``data.group`` column already in use (its suspects are then handled).
    min_class_rows, min_test_rows : int
        Below these a class is called rare.

    Returns
    -------
    list of Step
    """
    steps = _leak_steps(leak_suspects) + _entity_steps(entity_suspects, group)
    steps += _rare_class_steps(class_counts, test_class_counts, min_class_rows, min_test_rows)
    rising = _more_data_step(learning_curve)
    return steps + ([rising] if rising else [])


def _leak_steps(suspects: Iterable[Mapping[str, Any]]) -> list[Step]:
    kept = [
        s
        for s in suspects or ()
        if isinstance(s, Mapping) and s.get("confidence") == "likely" and s.get("action") == "kept"
    ]
    columns = list(dict.fromkeys(str(c) for s in kept for c in (s.get("columns") or [])))
    if not columns:
        return []
    shown = ", ".join(columns[:5]) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    listed = ", ".join(columns[:5])
    return [
        Step(
            "leak",
            f"the model keeps {len(columns)} likely leak{'s' if len(columns) > 1 else ''} ({shown}): "
            "its scores are not to be trusted",
            f"set quality.leaks: drop to train without {'them' if len(columns) > 1 else 'it'}, or, if "
            f"{'they are' if len(columns) > 1 else 'it is'} known before the outcome, declare "
            f"data.columns.known_before_outcome: [{listed}]",
        )
    ]


def _entity_steps(suspects: Iterable[Mapping[str, Any]], group: str | None) -> list[Step]:
    out = []
    for s in suspects or ():
        if not isinstance(s, Mapping) or not s.get("column") or str(s.get("column")) == str(group or ""):
            continue
        rows, values = _int(s.get("overlap_rows")), _int(s.get("overlap_values"))
        if not rows:
            continue
        what = f"{rows:,} test rows share a {s['column']} value with training rows" + (
            f" ({values:,} values on both sides)" if values else ""
        )
        out.append(
            Step(
                "entity",
                f"{s['column']} looks like an entity key: {what}, so the test score is partly "
                "measured on entities the model has seen",
                f"set data.group: {s['column']} to keep each one on one side of the split and in one CV fold",
            )
        )
    return out


def _rare_class_steps(
    counts: Mapping[Any, int] | None, test_counts: Mapping[Any, int] | None, min_rows: int, min_test: int
) -> list[Step]:
    rare = []
    for label in dict.fromkeys([*(counts or {}), *(test_counts or {})]):
        n, t = _int((counts or {}).get(label)), _int((test_counts or {}).get(label))
        if (counts and n is not None and n < min_rows) or (test_counts and t is not None and t < min_test):
            rare.append(
                f"{label!s} ({n if n is not None else '?'} rows" + (f", {t} in test" if t is not None else "") + ")"
            )
    if not rare:
        return []
    return [
        Step(
            "rare_class",
            f"{len(rare)} class{'es' if len(rare) > 1 else ''} with too few rows to learn or "
            f"measure: {', '.join(rare[:6])}{' …' if len(rare) > 6 else ''}",
            "merge each into a related class or drop its rows before training (or gather more of them)",
        )
    ]


def learning_curve_gain(rows: Iterable[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """How much the held-out score still gained over the last step of the learning curve.

    Returns ``None`` without two training sizes, else ``{"metric", "sizes": (n_prev, n_last),
    "scores": (prev, last), "gain"`` (in the better direction), ``"noise"`` (standard error of the
    last mean over folds), ``"rising"``}. Rising: the last step gained more than its noise and
    more than 0.5 % of the score.
    """
    by_size: dict[int, list[float]] = {}
    metric = None
    for row in rows or ():
        size, score = _int(row.get("train_size")), row.get("valid_score")
        if size is None or not isinstance(score, (int, float)) or not math.isfinite(score):
            continue
        by_size.setdefault(size, []).append(float(score))
        metric = metric or row.get("metric")
    if len(by_size) < 2:
        return None
    (n_prev, prev), (n_last, last) = sorted(by_size.items())[-2:]
    mean_prev, mean_last = sum(prev) / len(prev), sum(last) / len(last)
    sign = -1.0 if lower_is_better(metric) or lower_is_better(_short(metric)) else 1.0
    gain = sign * (mean_last - mean_prev)
    spread = (sum((v - mean_last) ** 2 for v in last) / (len(last) - 1)) ** 0.5 if len(last) > 1 else 0.0
    noise = spread / len(last) ** 0.5
    rising = gain > noise and gain > 0.005 * max(abs(mean_last), 1e-12)
    return {
        "metric": metric,
        "sizes": (n_prev, n_last),
        "scores": (mean_prev, mean_last),
        "gain": gain,
        "noise": noise,
        "rising": bool(rising),
    }


def _more_data_step(rows: Iterable[Mapping[str, Any]] | None) -> Step | None:
    found = learning_curve_gain(rows)
    if not found or not found["rising"]:
        return None
    (n_prev, n_last), (prev, last) = found["sizes"], found["scores"]
    metric = _short(found["metric"]) or "score"
    return Step(
        "more_data",
        f"the learning curve is still rising: held-out {metric} went from {prev:.3f} at "
        f"{n_prev:,} training rows to {last:.3f} at {n_last:,} (more than the fold noise, "
        f"{found['noise']:.3f})",
        "more labelled rows should still help: gather more data before tuning harder",
    )


_SHORT = {
    "root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "brier_score": "brier",
}


def _short(metric: Any) -> str:
    text = str(metric or "")
    return _SHORT.get(text, text)


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value)
