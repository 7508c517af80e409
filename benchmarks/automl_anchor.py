"""One AutoML anchor on one train/test split; runs in ``.venv-automl`` (``make automl-venv``), not in nblib's venv.

    .venv-automl/bin/python benchmarks/automl_anchor.py --tool autogluon|flaml --train T.parquet \
        --test T.parquet --target Y --task classification|regression --time-limit 60 --out PRED.parquet --seed 0

Writes ``--out``: for classification one probability column per class, named ``str(class)``;
for regression one column ``prediction``. Rows in the order of ``--test``. Prints one JSON line
(tool, version, fit and predict seconds, what it chose). Settings as the issue fixed them:
AutoGluon-Tabular ``presets="medium_quality"`` without neural nets (NN_TORCH, FASTAI excluded);
FLAML ``AutoML`` with the default estimators. Both get the time limit, 2 CPU cores, and every
column of the split except the target.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings

import numpy as np
import pandas as pd


def _metric(tool: str, task: str, n_classes: int) -> str:
    if task == "regression":
        return "r2"
    if n_classes == 2:
        return "roc_auc"
    return "log_loss"


def autogluon(train, test, target, task, limit, seed, threads):
    import autogluon.tabular
    from autogluon.tabular import TabularPredictor

    n_classes = train[target].nunique()
    problem = "regression" if task == "regression" else ("binary" if n_classes == 2 else "multiclass")
    with tempfile.TemporaryDirectory(prefix="ag-") as path:
        started = time.perf_counter()
        predictor = TabularPredictor(
            label=target,
            problem_type=problem,
            eval_metric=_metric("autogluon", task, n_classes),
            path=path,
            verbosity=0,
        ).fit(
            train,
            time_limit=limit,
            presets="medium_quality",
            excluded_model_types=["NN_TORCH", "FASTAI"],
            num_cpus=threads,
            num_gpus=0,
        )
        fit_s = time.perf_counter() - started
        started = time.perf_counter()
        X = test.drop(columns=[target])
        if task == "regression":
            out = pd.DataFrame({"prediction": np.asarray(predictor.predict(X), dtype=float)})
        else:
            proba = predictor.predict_proba(X, as_multiclass=True)
            out = pd.DataFrame({str(c): proba[c].to_numpy(dtype=float) for c in proba.columns})
        predict_s = time.perf_counter() - started
        info = {"version": autogluon.tabular.__version__, "best": predictor.model_best}
    return out, fit_s, predict_s, info


def _flaml_frame(frame: pd.DataFrame, categories: dict) -> pd.DataFrame:
    frame = frame.copy()
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            if getattr(s.dt, "tz", None) is not None:
                s = s.dt.tz_convert(None)
            frame[c] = (s - pd.Timestamp(0)).dt.total_seconds() / 86_400  # days since 1970
        elif pd.api.types.is_bool_dtype(s):
            frame[c] = s.astype(float)
        elif not pd.api.types.is_numeric_dtype(s):
            frame[c] = pd.Categorical(
                s.astype(object).where(s.notna()).map(lambda v: v if pd.isna(v) else str(v)), categories=categories[c]
            )
    return frame


def flaml(train, test, target, task, limit, seed, threads):
    import flaml as flaml_pkg
    from flaml import AutoML

    X_train, y = train.drop(columns=[target]), train[target]
    X_test = test.drop(columns=[target])
    categories = {}
    for c in X_train.columns:
        s = X_train[c]
        if not (
            pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s)
        ):
            categories[c] = sorted({str(v) for v in pd.concat([s, X_test[c]]).dropna()})
    X_train, X_test = _flaml_frame(X_train, categories), _flaml_frame(X_test, categories)
    n_classes = y.nunique()
    if task == "classification":
        y = y.astype(object).map(str)
    automl = AutoML()
    started = time.perf_counter()
    automl.fit(
        X_train,
        y,
        task="regression" if task == "regression" else "classification",
        time_budget=limit,
        metric=_metric("flaml", task, n_classes),
        seed=seed,
        n_jobs=threads,
        verbose=0,
    )
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    if task == "regression":
        out = pd.DataFrame({"prediction": np.asarray(automl.predict(X_test), dtype=float)})
    else:
        proba = np.asarray(automl.predict_proba(X_test), dtype=float)
        out = pd.DataFrame({str(c): proba[:, i] for i, c in enumerate(automl.classes_)})
    predict_s = time.perf_counter() - started
    return out, fit_s, predict_s, {"version": flaml_pkg.__version__, "best": automl.best_estimator}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", choices=("autogluon", "flaml"), required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--task", choices=("classification", "regression"), required=True)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    train, test = pd.read_parquet(args.train), pd.read_parquet(args.test)
    train = train[train[args.target].notna()].reset_index(drop=True)
    run = autogluon if args.tool == "autogluon" else flaml
    out, fit_s, predict_s, info = run(train, test, args.target, args.task, args.time_limit, args.seed, args.threads)
    assert len(out) == len(test)
    out.to_parquet(args.out, index=False)
    print(json.dumps({"tool": args.tool, "fit_s": round(fit_s, 2), "predict_s": round(predict_s, 2), **info}))


if __name__ == "__main__":
    main()
