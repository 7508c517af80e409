"""Target leaks: columns, or groups of related columns, that carry an implausible
share of a model's skill, measured inside CV on training rows only.

A column recorded after the outcome (reviews in the first week, repayment
totals, a departure delay when predicting the arrival delay) rarely predicts the
target perfectly on its own; what gives it away is that a model *leans* on it:
without it the model loses most of its skill, or its error grows several
times. A strong honest feature usually has stand-ins among the other columns
(breast-cancer radius, perimeter and area), so dropping it costs little.

:func:`find_leaks` measures, for every column:

* ``score_alone``: out-of-fold ROC-AUC (R² for regression) of the column alone;
* ``permutation``: how much a quick gradient-boosting model's CV score falls
  when the column is shuffled in the held-out fold (``lean``: as a share of
  the model's skill above chance); columns named alike but for numbers
  (``r1`` ... ``r10``) are shuffled together;

and for the strongest few, with the columns most correlated with them (a group):

* ``skill_share``: the share of the model's skill above chance lost when the
  group is left out and the model refit;
* ``error_ratio``: how many times the model's error (1 − score) grows then.

A group is a *likely* leak when the user declared it (``data.columns.post_outcome``),
when a column alone nearly copies the target, or when the model loses at least
40 % of its skill or its error doubles without it; a *possible* leak when the
model leans on it for a quarter of its skill (``lean``) *and* a refit without it
still loses a tenth of its skill (or its error grows by half): statistics cannot
tell a strong honest feature from a post-outcome one of the same strength, so
those are listed for a person to confirm and never dropped by the policy. A
column the model leans on but can do without (a refit loses next to nothing: it
has stand-ins) is not a suspect, so the evidence of every suspect points one way.
Columns the user declares known before the outcome
(``data.columns.known_before_outcome``) are not checked. Every suspect comes with
this evidence; what happens to likely ones is the policy's call
(:func:`enforce`), and a run that keeps one is marked (:func:`kept_likely`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nblib.common.jsonsafe import jsonable

# scikit-learn is imported where the check runs: the pages and the registry read :func:`kept_likely` cheaply

__all__ = [
    "LeakReport",
    "find_leaks",
    "enforce",
    "POLICIES",
    "single_column_scores",
    "kept_likely",
    "MARK",
    "fix_hint",
    "declared_in",
    "suspect_columns",
]

POLICIES = ("warn", "drop", "fail")

#: The mark a run that keeps a likely leak carries wherever its score appears.
MARK = "leak?"


@dataclass
class LeakReport:
    """What :func:`find_leaks` found; ``to_dict`` is ``artifacts/leaks.json``."""

    policy: str
    suspects: list[dict[str, Any]] = field(default_factory=list)
    known_before: list[str] = field(default_factory=list)
    columns: pd.DataFrame = field(default_factory=pd.DataFrame)
    model_score: float | None = None
    metric: str = ""
    rows: int = 0

    @property
    def dropped(self) -> list[str]:
        return [c for s in self.suspects if s["action"] == "dropped" for c in s["columns"]]

    @property
    def table(self) -> pd.DataFrame:
        """Suspects, one row each: columns, evidence, action."""
        return pd.DataFrame(
            [
                {"columns": ", ".join(s["columns"]), "action": s["action"], "evidence": s["evidence"]}
                for s in self.suspects
            ],
            columns=["columns", "action", "evidence"],
        )

    def to_dict(self) -> dict[str, Any]:
        cols = self.columns.reset_index().to_dict("records") if not self.columns.empty else []
        return {
            "policy": self.policy,
            "metric": self.metric,
            "model_score": self.model_score,
            "rows": self.rows,
            "suspects": self.suspects,
            "known_before_outcome": list(self.known_before),
            "kept_likely": kept_likely({"suspects": self.suspects}),
            "columns": jsonable(cols),
        }

    @property
    def notes(self) -> list[str]:
        """What the check did not look at, and why (one line each)."""
        if not self.known_before:
            return []
        return [
            f"not checked: {', '.join(map(repr, self.known_before))}: declared known before the outcome "
            f"(data.columns.known_before_outcome)"
        ]


def find_leaks(
    frame: pd.DataFrame,
    y: pd.Series,
    roles: dict[str, list[str]],
    *,
    task: str,
    policy: str = "warn",
    declared: list[str] = (),
    known_before: list[str] = (),
    near_copy: float = 0.99,
    min_skill_share: float = 0.4,
    min_error_ratio: float = 2.0,
    min_lean: float = 0.25,
    min_refit_share: float = 0.1,
    top: int = 5,
    max_rows: int = 5000,
    folds: int = 3,
    groups: pd.Series | None = None,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> LeakReport:
    """Look for leaks among the feature columns of the *training* split.

    Parameters
    ----------
    frame : DataFrame
        Training rows, cleaned.
    y : Series
        The target (class codes for classification).
    roles : dict
        ``role -> columns`` (:meth:`nblib.ml.data.preprocess.ColumnRoles.to_dict`); ignored columns are not checked.
    task : {"classification", "regression"}
    policy : {"warn", "drop", "fail"}
        What becomes of suspects: kept with a warning, dropped, or the run stops
        (the caller raises). Declared columns are always dropped.
    declared : list of str
        Columns the user says are known only after the outcome.
    known_before : list of str
        Columns the user says are known before the outcome: never suspects, not checked
        (:attr:`LeakReport.notes` says so); they still count as stand-ins for other columns.
    near_copy : float, default=0.99
        A column scoring this alone (ROC-AUC, or R² for regression) is a suspect outright.
    min_skill_share, min_error_ratio : float
        A group whose removal (refit without it) costs this share of the model's
        skill, or multiplies its error by this (and costs at least 0.03), is a
        *likely* leak.
    min_lean : float, default=0.25
        A column (or columns named alike) whose shuffling costs this share of the
        model's skill is a *possible* leak (listed for a person to confirm, kept) ...
    min_refit_share : float, default=0.1
        ... provided a refit without it also costs this share of the skill, or grows the
        error by half: a column the model can do without is not a suspect.
    top : int, default=5
        How many of the most relied-on columns are refit without.
    max_rows : int, default=5000
        Rows sampled for the check (stratified for classification).
    groups : Series, optional
        Entity and duplicate groups of the rows (aligned with ``frame``): the check's folds keep
        each group in one fold, as training does, so a model that recognises a seen entity does not
        make honest columns look like leaks.
    n_jobs : int, optional
        The refits without each suspect group run side by side (joblib; the result does not depend on it).
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    from threadpoolctl import threadpool_limits

    # many small fits: one thread each is faster than OpenMP threads fighting over a busy machine
    with threadpool_limits(limits=1, user_api="openmp"):
        return _find_leaks(
            frame,
            y,
            roles,
            task=task,
            policy=policy,
            declared=declared,
            known_before=known_before,
            near_copy=near_copy,
            min_skill_share=min_skill_share,
            min_error_ratio=min_error_ratio,
            min_lean=min_lean,
            min_refit_share=min_refit_share,
            top=top,
            max_rows=max_rows,
            folds=folds,
            groups=groups,
            random_state=random_state,
            n_jobs=n_jobs,
        )


def _find_leaks(
    frame,
    y,
    roles,
    *,
    task,
    policy,
    declared,
    known_before,
    near_copy,
    min_skill_share,
    min_error_ratio,
    min_lean,
    min_refit_share,
    top,
    max_rows,
    folds,
    random_state,
    groups=None,
    n_jobs=None,
    _second_round=False,
) -> LeakReport:
    classification = task == "classification"
    data, y = _sample(frame, y, max_rows, classification, random_state)
    sampled_groups = None if groups is None else pd.Series(np.asarray(groups), index=frame.index).loc[data.index]
    features = [
        c
        for role in ("numeric", "boolean", "categorical", "high_cardinality", "date", "text")
        for c in roles.get(role, [])
        if c in data.columns
    ]
    exempt = set(known_before)  # in the model (a stand-in for others), never a candidate
    report = LeakReport(
        policy=policy,
        metric=_metric_name(y, classification),
        rows=len(data),
        known_before=[c for c in features if c in exempt],
    )
    suspects: list[dict[str, Any]] = [
        {
            "columns": [c],
            "evidence": f"{c!r}: declared known only after the outcome (data.columns.post_outcome)",
            "action": "dropped",
            "reason": "declared",
            "confidence": "declared",
        }
        for c in declared
    ]
    if not features or y.nunique() < 2:
        report.suspects = suspects
        return report

    cv = _folds(y, sampled_groups, classification, folds, random_state)
    encoded, owner = _encode(data, y, roles, features, classification, cv, random_state)
    units = _units(features)  # a column, or columns named alike (r1 ... r10)
    alone = single_column_scores(encoded, owner, y, classification, cv)
    full, _, models = _cv_model(encoded, y, classification, cv, random_state)
    chance = 0.5 if classification else 0.0
    skill = full - chance
    perm = _permutation_drop(encoded, owner, units, y, classification, models, full, random_state)
    table = pd.DataFrame(
        {
            "score_alone": pd.Series(alone),
            "permutation": pd.Series({c: perm[u] for u, cols in units.items() for c in cols}),
        }
    ).reindex(features)
    table["lean"] = table["permutation"] / skill if skill > 0 else np.nan
    table["skill_share"] = np.nan
    table["error_ratio"] = np.nan
    report.model_score = round(float(full), 4)

    checked = {u: cols for u, cols in units.items() if not exempt & set(cols)}
    ranked = sorted(checked, key=lambda u: -perm[u])
    candidates = [u for u in ranked[:top] if perm[u] > 0.002 * max(skill, 1e-9)]
    candidates += [u for u in checked if u not in candidates and max(alone[c] for c in units[u]) >= near_copy]
    correlated = _correlated_groups(encoded, owner)
    seen: set[tuple[str, ...]] = set()
    plans = []  # (unit, group, the encoded columns left when the group is taken out)
    for unit in candidates:
        members = set(units[unit]) | {p for c in units[unit] for p in correlated.get(c, ()) if p not in exempt}
        group = tuple(sorted(members, key=features.index))
        if group in seen or skill <= 0.02:
            continue
        seen.add(group)
        plans.append((unit, group, [c for c in encoded.columns if owner[c] not in group]))
    from joblib import Parallel, delayed

    refits = iter(  # the refits without each group, side by side (compute.n_jobs; on Dask, on the workers)
        Parallel(n_jobs=n_jobs)(
            delayed(_cv_score)(encoded[keep], y, classification, cv, random_state) for _, _, keep in plans if keep
        )
    )
    for unit, group, keep in plans:
        without = next(refits) if keep else chance
        share = (full - without) / skill
        ratio = (1 - without) / max(1 - full, 1e-3)
        lean = perm[unit] / skill
        head = max(units[unit], key=lambda c: alone[c])
        table.loc[list(units[unit]), ["skill_share", "error_ratio"]] = [round(share, 4), round(ratio, 3)]
        if alone[head] >= near_copy:
            reason, confidence = "near-copy", "likely"
        elif share >= min_skill_share:
            reason, confidence = "skill", "likely"
        elif ratio >= min_error_ratio and full - without >= 0.03:
            reason, confidence = "error", "likely"
        elif lean >= min_lean and (share >= min_refit_share or (ratio >= 1.5 and full - without >= 0.01)):
            reason, confidence = "leaned-on", "possible"  # shuffling and refitting both say it matters
        else:
            continue
        action = {"warn": "kept", "drop": "dropped", "fail": "stopped"}[policy] if confidence == "likely" else "kept"
        suspects.append(
            {
                "columns": list(group),
                "reason": reason,
                "confidence": confidence,
                "action": action,
                "evidence": _evidence(
                    units[unit], group, alone[head], full, without, share, ratio, lean, report.metric, confidence
                ),
                "score_alone": round(float(alone[head]), 4),
                "skill_share": round(share, 4),
                "error_ratio": round(ratio, 3),
                "lean": round(lean, 4),
            }
        )
    likely = [c for x in suspects if x["confidence"] == "likely" for c in x["columns"]]
    if likely and not _second_round:  # a strong leak can hide the next one: look again without it
        rest = {role: [c for c in cols if c not in likely] for role, cols in roles.items()}
        again = _find_leaks(
            data,
            y,
            rest,
            task=task,
            policy=policy,
            declared=(),
            known_before=known_before,
            near_copy=near_copy,
            min_skill_share=min_skill_share,
            min_error_ratio=min_error_ratio,
            min_lean=min_lean,
            min_refit_share=min_refit_share,
            top=top,
            max_rows=max_rows,
            folds=folds,
            random_state=random_state,
            groups=sampled_groups,
            n_jobs=n_jobs,
            _second_round=True,
        )
        known = {tuple(x["columns"]) for x in suspects}
        for extra in again.suspects:
            if tuple(extra["columns"]) not in known and extra["reason"] != "leaned-on":
                extra["evidence"] = f"with {', '.join(map(repr, likely))} set aside, " + extra["evidence"]
                if extra["reason"] != "near-copy":  # the remaining columns carry all skill left: only a hint
                    extra.update(
                        confidence="possible",
                        action="kept",
                        evidence=extra["evidence"].replace(
                            "Known before the outcome? If not, it leaks the target.",
                            "Possibly a leak: confirm it is known before the outcome (then ignore this), or drop it.",
                        ),
                    )
                suspects.append(extra)
    report.suspects = suspects
    report.columns = table.round(4).sort_values("permutation", ascending=False)
    report.columns.index.name = "column"
    return report


def single_column_scores(
    encoded: pd.DataFrame, owner: dict[str, str], y: pd.Series, classification: bool, cv
) -> dict[str, float]:
    """Out-of-fold score of each column alone (binned, then its per-bin target rate)."""
    scores = {}
    for column in dict.fromkeys(owner.values()):
        block = encoded[[c for c in encoded.columns if owner[c] == column]]
        pred = np.zeros((len(block), _n_outputs(y, classification)))
        for train, test in cv.split(block, y if classification else None):
            pred[test] = _bin_rates(block.iloc[train], y.iloc[train], block.iloc[test], classification)
        scores[column] = round(_score(y, pred, classification), 4)
    return scores


# --------------------------------------------------------------------------- helpers


def _sample(frame, y, max_rows, classification, random_state):
    y = pd.Series(np.asarray(y), index=frame.index)
    if len(frame) <= max_rows:
        return frame, y
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(
        np.arange(len(frame)),
        train_size=max_rows,
        random_state=random_state,
        stratify=y if classification and y.value_counts().min() >= 2 else None,
    )
    idx = np.sort(idx)
    return frame.iloc[idx], y.iloc[idx]


def _folds(y, groups, classification, folds, random_state):
    """The check's CV: stratified for classification, each group in one fold when groups are given
    (as a fixed :class:`~sklearn.model_selection.PredefinedSplit`, so every fit here sees the same folds)."""
    from sklearn.model_selection import GroupKFold, KFold, PredefinedSplit, StratifiedGroupKFold, StratifiedKFold

    if groups is None or groups.nunique() < folds:
        return (StratifiedKFold if classification else KFold)(folds, shuffle=True, random_state=random_state)
    splitter = (
        StratifiedGroupKFold(folds, shuffle=True, random_state=random_state) if classification else GroupKFold(folds)
    )
    test_fold = np.empty(len(y), dtype=int)
    for k, (_, test) in enumerate(splitter.split(np.zeros(len(y)), np.asarray(y), np.asarray(groups))):
        test_fold[test] = k
    return PredefinedSplit(test_fold)


def _metric_name(y, classification):
    if not classification:
        return "r2"
    return "roc_auc" if y.nunique() == 2 else "roc_auc_ovr"


def _n_outputs(y, classification):
    return y.nunique() if classification and y.nunique() > 2 else 1


def _score(y, pred, classification) -> float:
    from sklearn.metrics import r2_score, roc_auc_score

    y = np.asarray(y)
    if not classification:
        return float(max(r2_score(y, pred.ravel()), 0.0))
    if pred.shape[1] == 1:
        auc = roc_auc_score(y, pred[:, 0])
        return float(max(auc, 1 - auc))
    pred = np.clip(pred, 1e-9, None)
    return float(roc_auc_score(y, pred / pred.sum(axis=1, keepdims=True), multi_class="ovr", average="macro"))


def _encode(data, y, roles, features, classification, cv, random_state):
    """Every feature column as numbers a tree model can split on; ``owner`` maps back to columns."""
    out, owner = {}, {}
    text = set(roles.get("text", []))
    for column in features:
        s = data[column]
        if column in text:
            block = _text_scores(s, y, classification, cv, random_state)
            for k in range(block.shape[1]):
                out[f"{column}#{k}"] = block[:, k]
                owner[f"{column}#{k}"] = column
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[column] = s.astype("int64").where(s.notna()).astype(float).to_numpy() / 86_400e9
            owner[column] = column
        elif pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
            out[column] = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
            owner[column] = column
        else:  # labels: codes by frequency rank (missing stays missing)
            ranks = s.astype(str).where(s.notna()).map(s.astype(str).value_counts().rank(method="first"))
            out[column] = ranks.astype(float).to_numpy()
            owner[column] = column
    return pd.DataFrame(out, index=data.index), owner


def _text_scores(s, y, classification, cv, random_state):
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline

    from nblib.ml.features import TextTfidf

    model = LogisticRegression(C=1.0, max_iter=500) if classification else Ridge(alpha=1.0)
    pipe = make_pipeline(TextTfidf(max_features=2000, ngram_max=1, min_df=2), model)
    method = "predict_proba" if classification else "predict"
    pred = cross_val_predict(pipe, s.to_frame(), y, cv=cv, method=method)
    pred = np.asarray(pred, dtype=float)
    if pred.ndim == 1:
        return pred[:, None]
    return pred[:, 1:] if pred.shape[1] == 2 else pred


def _bin_rates(train, y_train, test, classification, bins: int = 20, smooth: float = 10.0):
    """Per-bin target rate (or mean) of a block learned on ``train``, applied to ``test``."""
    key_train, key_test = _bin_keys(train, test, bins)
    if classification:
        codes = np.sort(y_train.unique())
        target = pd.get_dummies(y_train).reindex(columns=codes, fill_value=0).astype(float)
        if len(codes) == 2:
            target = target.iloc[:, [1]]
    else:
        target = y_train.astype(float).to_frame()
    prior = target.mean()
    stats = target.groupby(key_train.to_numpy()).agg(["sum", "count"])
    out = np.empty((len(test), target.shape[1]))
    for j, col in enumerate(target.columns):
        rate = (stats[(col, "sum")] + smooth * prior[col]) / (stats[(col, "count")] + smooth)
        out[:, j] = key_test.map(rate).fillna(prior[col]).to_numpy()
    return out


def _bin_keys(train: pd.DataFrame, test: pd.DataFrame, bins: int):
    parts_train, parts_test = [], []
    for column in train.columns:
        a, b = train[column], test[column]
        if a.nunique() > bins:
            edges = np.unique(np.nanquantile(a.dropna(), np.linspace(0, 1, bins + 1))) if a.notna().any() else [0]
            a = pd.Series(np.searchsorted(edges, a, side="right"), index=a.index).where(train[column].notna(), -1)
            b = pd.Series(np.searchsorted(edges, b, side="right"), index=b.index).where(test[column].notna(), -1)
        parts_train.append(a.fillna(-1).astype(str))
        parts_test.append(b.fillna(-1).astype(str))
    key_train = parts_train[0] if len(parts_train) == 1 else pd.concat(parts_train, axis=1).agg("|".join, axis=1)
    key_test = parts_test[0] if len(parts_test) == 1 else pd.concat(parts_test, axis=1).agg("|".join, axis=1)
    return key_train, key_test


def _model(classification, random_state):
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if classification else HistGradientBoostingRegressor
    return cls(max_iter=150, learning_rate=0.1, max_leaf_nodes=15, early_stopping=True, random_state=random_state)


def _cv_score(X, y, classification, cv, random_state) -> float:
    return _cv_model(X, y, classification, cv, random_state)[0]


def _cv_model(X, y, classification, cv, random_state):
    pred = np.zeros((len(X), _n_outputs(y, classification)))
    models = []
    for train, test in cv.split(X, y if classification else None):
        model = _model(classification, random_state).fit(X.iloc[train], y.iloc[train])
        pred[test] = _predict(model, X.iloc[test], classification)
        models.append((model, test))
    return _score(y, pred, classification), pred, models


def _predict(model, X, classification):
    if not classification:
        return model.predict(X)[:, None]
    proba = model.predict_proba(X)
    return proba[:, 1:] if proba.shape[1] == 2 else proba


def _permutation_drop(encoded, owner, units, y, classification, models, full, random_state):
    """Fall in CV score when a unit's columns are shuffled (together) in the held-out folds."""
    rng = np.random.default_rng(random_state)
    drops = {}
    for unit, columns in units.items():
        cols = [c for c in encoded.columns if owner[c] in columns]
        pred = np.zeros((len(encoded), _n_outputs(y, classification)))
        for model, test in models:
            X = encoded.iloc[test].copy()
            X[cols] = X[cols].to_numpy()[rng.permutation(len(X))]
            pred[test] = _predict(model, X, classification)
        drops[unit] = round(float(full - _score(y, pred, classification)), 4)
    return drops


def _units(features: list[str]) -> dict[str, list[str]]:
    """Columns named alike but for numbers (``r1`` ... ``r10``, ``q1_sales`` ...) form one unit."""
    import re

    stems: dict[str, list[str]] = {}
    for column in features:
        stems.setdefault(re.sub(r"\d+", "#", str(column)), []).append(column)
    units = {}
    for stem, columns in stems.items():
        if len(columns) >= 3 and "#" in stem:
            units[stem.replace("#", "*")] = columns
        else:
            units.update({c: [c] for c in columns})
    return units


def _correlated_groups(encoded, owner, threshold: float = 0.9) -> dict[str, set[str]]:
    """Columns whose values move together (|Spearman| ≥ threshold) with each column."""
    single = [c for c in encoded.columns if sum(1 for o in owner.values() if o == owner[c]) == 1]
    if len(single) < 2:
        return {}
    corr = encoded[single].corr(method="spearman").abs()
    out: dict[str, set[str]] = {}
    for a in single:
        partners = {owner[b] for b in single if b != a and corr.loc[a, b] >= threshold}
        if partners:
            out[owner[a]] = partners
    return out


def _evidence(unit, group, alone, full, without, share, ratio, lean, metric, confidence) -> str:
    what = ", ".join(map(repr, unit)) if len(unit) <= 3 else f"{unit[0]!r} ... {unit[-1]!r} ({len(unit)} columns)"
    partners = [c for c in group if c not in unit]
    if partners:
        what += f" with the columns moving with it ({', '.join(map(repr, partners))})"
    verdict = (
        "Known before the outcome? If not, it leaks the target."
        if confidence == "likely"
        else "Possibly a leak: confirm it is known before the outcome (then ignore this), or drop it."
    )
    return (
        f"{what}: alone {metric} {alone:.3f}; shuffling it costs a model {lean:.0%} of its skill; "
        f"refit without, CV {metric} {full:.3f} → {without:.3f} ({share:.0%} of its skill, error ×{ratio:.1f}). "
        f"{verdict}"
    )


def _round(value) -> float | None:
    return None if pd.isna(value) else round(float(value), 4)


def enforce(report: LeakReport) -> None:
    """Stop the run (exit 3) when the policy is ``fail`` and a column is a *likely* leak. Declared
    columns are dropped anyway; *possible* ones are only listed for a person to confirm.

    Raises
    ------
    nblib.ml.evaluation.metrics.GateFailed
    """
    from nblib.ml.evaluation.metrics import GateFailed

    found = [s for s in report.suspects if s.get("confidence") == "likely"]
    if report.policy == "fail" and found:
        names = "; ".join(", ".join(map(repr, s["columns"])) for s in found)
        raise GateFailed(
            f"likely leaks {names} (quality.leaks: fail); drop them with quality.leaks: drop "
            f"(or data.columns.post_outcome), or, if known before the outcome, list them in "
            f"data.columns.known_before_outcome"
        )


def kept_likely(leaks: dict[str, Any] | LeakReport | None) -> list[str]:
    """The columns of *likely* leaks a run keeps (``quality.leaks: warn``): the one place that
    decides whether a run carries the :data:`MARK` and may never be promoted.

    ``leaks`` is ``artifacts/leaks.json`` (:meth:`LeakReport.to_dict`), or None (no check ran).
    Declared columns (dropped), *possible* suspects and columns declared known before the
    outcome do not count.

    >>> kept_likely({"suspects": [{"columns": ["repaid"], "confidence": "likely", "action": "kept"},
    ...                           {"columns": ["age"], "confidence": "possible", "action": "kept"},
    ...                           {"columns": ["gate"], "confidence": "declared", "action": "dropped"}]})
    ['repaid']
    >>> kept_likely(None)
    []
    """
    if isinstance(leaks, LeakReport):
        leaks = {"suspects": leaks.suspects}
    suspects = (leaks or {}).get("suspects") or []
    return list(
        dict.fromkeys(
            str(c)
            for s in suspects
            if isinstance(s, dict) and s.get("confidence") == "likely" and s.get("action") == "kept"
            for c in s.get("columns") or []
        )
    )


def fix_hint(columns: list[str]) -> str:
    """One line: what a run that keeps likely leaks ``columns`` should do about them.

    >>> fix_hint(["repaid"])
    "keeps a likely leak ('repaid'): set quality.leaks: drop, or, if it is known before the outcome, list it in ..."
    """
    names = ", ".join(map(repr, columns[:5])) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    it = "it is" if len(columns) == 1 else "they are"
    return (
        f"keeps a likely leak ({names}): set quality.leaks: drop, or, if {it} known before the outcome, "
        f"list {'it' if len(columns) == 1 else 'them'} in data.columns.known_before_outcome"
    )


def declared_in(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    """The declared post-outcome ``columns`` (``data.columns.post_outcome``) that ``frame`` holds.

    >>> declared_in(pd.DataFrame({"a": [1]}), ["a", "gone"])
    ['a']
    """
    return [c for c in columns if c in frame.columns]


def suspect_columns(report: LeakReport) -> list[str]:
    """Every column named by a suspect of ``report``, whatever its action (for the leak plot)."""
    return [c for s in report.suspects for c in s["columns"]]
