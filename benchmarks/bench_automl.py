"""nblib beside AutoGluon-Tabular and FLAML on real tables: same split, same time limit, paired bootstrap.

    python benchmarks/bench_automl.py [TABLE ...] [--budget 60] [--quick] [--keep DIR] [--out JSON]

Tables: :mod:`automl_tables` (data shipped inside installed packages; nothing is downloaded).
Per table:

1. the table is written as a file and nblib runs on it with the params a new user writes
   (source, target, task, the positive class only when not obvious, seed 0) plus
   ``train.time_budget_s: BUDGET`` and ``compute.n_jobs: 2`` — nblib's own defaults otherwise;
2. on nblib's own ``train.parquet`` / ``test.parquet`` (the same rows, the same columns, nblib's
   group column excepted) the anchors run in ``.venv-automl`` (``make automl-venv``) through
   ``automl_anchor.py`` with the same time limit: AutoGluon-Tabular ``medium_quality`` without
   neural nets, FLAML ``AutoML``; plus a plain HistGradientBoosting (``bench_real.baseline_on_split``);
3. every tool is scored on the test rows — ROC-AUC (binary, nblib's positive class), macro
   one-vs-rest ROC-AUC (multiclass), R² (regression) — with a 95% percentile interval from 1000
   seeded bootstrap resamples of the test rows, and nblib minus each other tool on the same
   resamples (interval and two-sided bootstrap p-value).

Anchor predictions are cached in ``benchmarks/results/automl_cache/`` keyed by table, tool,
budget and a hash of the split's contents, so a rerun after nblib's training changes reruns
only nblib (unless the split changed). Results: ``benchmarks/results/automl.json`` and a
markdown table in ``benchmarks/results/automl.md`` (also printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
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
CACHE = RESULTS / "automl_cache"
ANCHOR_PY = ROOT / ".venv-automl" / "bin" / "python"
ANCHORS = ("autogluon", "flaml")
TOOLS = ("nblib", *ANCHORS, "hgb")
N_BOOT = 1000
ON_PAR, NEVER_BEHIND = 0.003, 0.01
sys.path.insert(0, str(Path(__file__).resolve().parent))

from automl_tables import HIGH_CARD_IDS, QUICK, TABLES  # noqa: E402
from bench_real import baseline_on_split, params_for  # noqa: E402
from real_tables import Table  # noqa: E402


def log(msg: str) -> None:
    print(f"{dt.datetime.now(dt.timezone.utc):%H:%M:%S} {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- scoring


def _auc(y01: np.ndarray, s: np.ndarray) -> float:
    """ROC-AUC via ranks (ties averaged); nan when one class is absent."""
    from scipy.stats import rankdata

    n1 = int(y01.sum())
    n0 = len(y01) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[y01].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def score(task: str, y: np.ndarray, pred: np.ndarray, classes: list, positive) -> float:
    """ROC-AUC (binary: column of the positive class), macro OvR ROC-AUC (multiclass), R² (regression)."""
    if task == "regression":
        ss = ((y - y.mean()) ** 2).sum()
        return float(1 - ((y - pred) ** 2).sum() / ss) if ss > 0 else float("nan")
    if len(classes) == 2:
        k = classes.index(positive)
        return _auc(y == positive, pred[:, k])
    aucs = [_auc(y == c, pred[:, k]) for k, c in enumerate(classes)]
    return float(np.mean(aucs)) if not any(np.isnan(aucs)) else float("nan")


def bootstrap(task, y, preds: dict[str, np.ndarray], classes, positive, seed=0, n=N_BOOT) -> dict:
    """Point score, 95% interval per tool; nblib minus each other tool on the same resamples."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n, len(y)))
    point = {t: score(task, y, p, classes, positive) for t, p in preds.items()}
    boot = {t: np.array([score(task, y[i], p[i], classes, positive) for i in idx]) for t, p in preds.items()}
    out = {"scores": {}, "vs": {}}
    for t in preds:
        b = boot[t][~np.isnan(boot[t])]
        out["scores"][t] = {
            "score": round(point[t], 4),
            "ci": [round(float(q), 4) for q in np.percentile(b, [2.5, 97.5])],
        }
    if "nblib" in preds:
        for t in preds:
            if t == "nblib":
                continue
            d = boot["nblib"] - boot[t]
            d = d[~np.isnan(d)]
            p = min(1.0, 2 * min(float((d <= 0).mean()), float((d >= 0).mean())))
            out["vs"][t] = {
                "diff": round(point["nblib"] - point[t], 4),
                "ci": [round(float(q), 4) for q in np.percentile(d, [2.5, 97.5])],
                "p": round(p, 4),
            }
    return out


# --------------------------------------------------------------------------- nblib


def run_nblib(table: Table, path: Path, folder: Path, budget: float) -> dict:
    params = params_for(table, path)
    params["name"] = f"automl-{table.name}"
    params["train"] = {"time_budget_s": budget}  # nblib's defaults otherwise (cv_folds, models)
    params.pop("evaluate", None)
    yml = folder / f"{table.name}.yaml"
    yml.write_text(yaml.safe_dump(params, sort_keys=False))
    reports = folder / "reports"
    env = {**os.environ, "NBLIB_REPORTS": str(reports), "PYTHONWARNINGS": "ignore"}
    started = time.perf_counter()
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "nblib", "run", str(yml), "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    runs = sorted(reports.glob(f"*/*-automl-{table.name}"))
    out = {"exit_code": proc.returncode, "seconds": round(seconds, 1)}
    if proc.returncode not in (0, 3) or not runs:
        out["error"] = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["?"])[-1][:300]
    if not runs:
        return out
    run = runs[-1]  # a failed run may still have made its split: the anchors then run on it
    manifest = json.loads((run / "manifest.json").read_text())
    out["run"] = str(run)
    out["stage_seconds"] = {s["name"]: s.get("seconds") for s in manifest.get("stages", [])}
    out["train_seconds"] = out["stage_seconds"].get("04_train")
    return out


def split_of(run: Path) -> dict:
    """nblib's split with the target in the user's labels (checked against predictions.parquet), its classes etc.

    When nblib failed after making its split (no predictions.parquet), the split alone (``nblib`` None).
    """
    art = run / "artifacts"
    columns = json.loads((art / "columns.json").read_text())
    finished = (art / "predictions.parquet").exists() and (art / "metrics.json").exists()
    metrics = json.loads((art / "metrics.json").read_text()) if finished else {}
    target, task = columns["target"], columns["task"]
    train, test = pd.read_parquet(art / "train.parquet"), pd.read_parquet(art / "test.parquet")
    pred = pd.read_parquet(art / "predictions.parquet") if finished else None
    group = columns.get("group_column")
    extra = [c for c in train.columns if c not in test.columns or c == group]
    train = train.drop(columns=[c for c in extra if c in train.columns])
    test = test.drop(columns=[c for c in extra if c in test.columns])
    assert list(train.columns) == list(test.columns), (list(train.columns), list(test.columns))
    assert pred is None or pred.index.equals(test.index), "predictions.parquet rows are not test.parquet rows"
    classes = columns.get("classes") or []
    positive = columns.get("positive_class")
    if task == "classification":
        labels = np.asarray(classes, dtype=object)

        def decode(s: pd.Series) -> pd.Series:
            if pd.api.types.is_integer_dtype(s) and set(s.dropna().unique()) <= set(range(len(classes))):
                return pd.Series(labels[s.to_numpy()], index=s.index, dtype=object)
            return s.astype(object)

        train[target], test[target] = decode(train[target]), decode(test[target])
        assert pred is None or (test[target].astype(str).to_numpy() == pred[target].astype(str).to_numpy()).all(), (
            "test.parquet labels do not match predictions.parquet"
        )
        classes = [str(c) for c in classes]
        train[target], test[target] = train[target].map(str), test[target].map(str)
        y = test[target].to_numpy(dtype=object)
        if len(classes) == 2:
            positive = str(positive if positive is not None else classes[1])
        if pred is None:
            p = None
        elif len(classes) == 2:
            s = pred["score"].to_numpy(dtype=float)
            p = np.column_stack([1 - s, s]) if classes.index(positive) == 1 else np.column_stack([s, 1 - s])
        else:
            p = pred[[f"proba_{c}" for c in classes]].to_numpy(dtype=float)
        metric = "roc_auc"
    else:
        y = test[target].to_numpy(dtype=float)
        p = pred["score"].to_numpy(dtype=float) if pred is not None else None
        metric = "r2"
    if p is not None:  # the benchmark's scoring must reproduce nblib's own test metric, or the labels are misaligned
        ours, theirs = score(task, y, p, classes, positive), metrics["test"][metric]
        assert abs(ours - theirs) < 1e-6, f"rescored nblib {metric} {ours} != nblib's {theirs}: labels misaligned"
    return {
        "train": train,
        "test": test,
        "target": target,
        "task": task,
        "classes": classes,
        "positive": positive,
        "y": y,
        "nblib": p,
        "columns": columns,
        "metrics": metrics,
    }


# --------------------------------------------------------------------------- anchors


def content_hash(*frames: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for f in frames:
        h.update(json.dumps([[str(c), str(t)] for c, t in f.dtypes.items()]).encode())
        h.update(pd.util.hash_pandas_object(f, index=True).to_numpy().tobytes())
    return h.hexdigest()


def run_anchor(tool: str, table: str, split: dict, budget: float, folder: Path, refresh: bool) -> dict:
    key = f"{table}-{tool}-{budget:g}s-{split['hash'][:16]}"
    cached_pred, cached_meta = CACHE / f"{key}.parquet", CACHE / f"{key}.json"
    if cached_pred.exists() and cached_meta.exists() and not refresh:
        return {**json.loads(cached_meta.read_text()), "pred": pd.read_parquet(cached_pred), "cached": True}
    train_p, test_p, out_p = (
        folder / f"{table}-train.parquet",
        folder / f"{table}-test.parquet",
        folder / f"{key}.parquet",
    )
    if not train_p.exists():
        split["train"].to_parquet(train_p)
        split["test"].to_parquet(test_p)
    cmd = [str(ANCHOR_PY), str(ROOT / "benchmarks" / "automl_anchor.py"), "--tool", tool, "--train", str(train_p),
           "--test", str(test_p), "--target", split["target"], "--task", split["task"], "--time-limit", f"{budget:g}",
           "--out", str(out_p), "--seed", "0", "--threads", "2"]  # fmt: skip
    started = time.perf_counter()
    try:
        # cwd: FLAML's catboost leaves a catboost_*/ folder in it
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=max(4 * budget, budget + 600), cwd=folder)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {max(4 * budget, budget + 600):g} s"}
    seconds = time.perf_counter() - started
    if proc.returncode != 0 or not out_p.exists():
        return {"error": (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:300]}
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    meta = {"seconds": round(seconds, 1), "fit_predict_seconds": round(info["fit_s"] + info["predict_s"], 1), **info}
    CACHE.mkdir(parents=True, exist_ok=True)
    shutil.copy(out_p, cached_pred)
    cached_meta.write_text(json.dumps(meta, indent=1) + "\n")
    return {**meta, "pred": pd.read_parquet(out_p), "cached": False}


def anchor_matrix(pred: pd.DataFrame, split: dict) -> np.ndarray:
    if split["task"] == "regression":
        return pred["prediction"].to_numpy(dtype=float)
    missing = set(split["classes"]) - set(pred.columns)
    assert not missing, f"anchor has no probability for classes {sorted(missing)}"
    return pred[split["classes"]].to_numpy(dtype=float)


def hgb(run: Path, split: dict) -> np.ndarray:
    text = split["columns"]["roles"]["text"] + split.get("drop", [])  # the columns it leaves out
    _, pred = baseline_on_split(run, split["target"], split["task"], text, predictions=True)
    if split["task"] == "regression":
        return np.asarray(pred, dtype=float)
    codes = list(pred.columns)  # class codes of train.parquet (or labels, if nblib kept them)
    labels = [split["classes"][c] if isinstance(c, (int, np.integer)) else str(c) for c in codes]
    return pred.set_axis(labels, axis=1)[split["classes"]].to_numpy(dtype=float)


# --------------------------------------------------------------------------- one table


def covers(table: Table, columns: dict) -> list[str]:
    df, roles = table.frame, columns["roles"]
    features = df.drop(columns=[table.target])
    out = []
    if table.text_columns or roles.get("text"):
        out.append("text")
    if table.date_columns or roles.get("date"):
        out.append("dates")
    objects = [
        c
        for c in features.columns
        if not pd.api.types.is_numeric_dtype(features[c])
        and c not in table.row_index + table.text_columns + table.date_columns
        and not features[c].dropna().astype(str).str.fullmatch(r"[^\d]{0,3}[\d,.]+[^\d]{0,3}").mean() > 0.9
    ]  # labels, not numbers written as text ('$1,234.50', '13.2%') or dates
    if (
        roles.get("high_cardinality")
        or HIGH_CARD_IDS.get(table.name)
        or any(features[c].nunique() > 100 for c in objects)
    ):
        out.append("high-card")
    if len(df) >= 100_000:
        out.append(">=100k")
    if table.task == "regression":
        out.append("regression")
    elif df[table.target].nunique() > 2:
        out.append("multiclass")
    if features.isna().mean().max() >= 0.5:
        out.append("missing")
    if len(df) <= 1000:
        out.append("small")
    return out


def bench_table(table: Table, path: Path, folder: Path, budget: float, refresh: bool) -> dict:
    row = {
        "table": table.name,
        "source": table.source,
        "description": table.description,
        "rows": len(table.frame),
        "columns": table.frame.shape[1] - 1,
        "task": table.task,
        "dropped_or_changed": table.planted,
        "post_outcome_kept": table.post_outcome,
    }
    nb = run_nblib(table, path, folder, budget)
    row["wall_seconds"] = {"nblib": nb["seconds"], "nblib_04_train": nb.get("train_seconds")}
    errors = {}
    if "error" in nb:
        errors["nblib"] = nb["error"]
        row["errors"] = dict(errors)
        log(f"{table.name:16} nblib FAILED ({nb['seconds']:.0f} s): {nb['error']}")
        art = Path(nb.get("run", "/nonexistent")) / "artifacts"
        if not all((art / f).exists() for f in ("train.parquet", "test.parquet", "columns.json")):
            return row
    run = Path(nb["run"])
    split = split_of(run)
    row.update(
        {
            "covers": covers(table, split["columns"]),
            "metric": "r2"
            if split["task"] == "regression"
            else ("roc_auc" if len(split["classes"]) == 2 else "roc_auc_ovr_macro"),
            "positive_class": split["positive"] if len(split["classes"]) == 2 else None,
            "classes": len(split["classes"]) or None,
            "train_rows": len(split["train"]),
            "test_rows": len(split["test"]),
            "nblib_model": split["metrics"].get("best_model"),
            "nblib_run": str(run),
            "stage_seconds": nb["stage_seconds"],
        }
    )
    if split["nblib"] is not None:
        log(
            f"{table.name:16} nblib {nb['seconds']:.0f} s (04_train {nb['train_seconds']} s): "
            f"{split['metrics']['test'][row['metric'].replace('_ovr_macro', '')]:.4f} {row['nblib_model']}"
        )
    # R's row names (Table.row_index) are not given to the anchors or HGB: on tables sorted by the target they leak
    # it (diamonds: HGB R² 0.89 -> 0.9997 with them), a score no new row would get; nblib ignores them itself
    drop = [c for c in table.row_index if c in split["train"].columns]
    split["train"], split["test"], split["drop"] = (
        split["train"].drop(columns=drop),
        split["test"].drop(columns=drop),
        drop,
    )
    row["not_given_to_anchors"] = drop
    split["hash"] = content_hash(split["train"], split["test"])
    row["split_sha256"] = split["hash"]
    preds, versions = ({"nblib": split["nblib"]} if split["nblib"] is not None else {}), {}
    for tool in ANCHORS:
        a = run_anchor(tool, table.name, split, budget, folder, refresh)
        if "error" in a:
            errors[tool] = a["error"]
            log(f"{table.name:16} {tool} FAILED: {a['error']}")
            continue
        try:
            preds[tool] = anchor_matrix(a["pred"], split)
        except AssertionError as e:
            errors[tool] = str(e)
            continue
        row["wall_seconds"][tool] = a["seconds"]
        row["wall_seconds"][f"{tool}_fit_predict"] = a["fit_predict_seconds"]
        row.setdefault("anchor_models", {})[tool] = a.get("best")
        versions[tool] = a.get("version")
        log(
            f"{table.name:16} {tool} {a['seconds']:.0f} s{' (cached)' if a['cached'] else ''}: "
            f"{score(split['task'], split['y'], preds[tool], split['classes'], split['positive']):.4f} {a.get('best')}"
        )
    try:
        started = time.perf_counter()
        preds["hgb"] = hgb(run, split)
        row["wall_seconds"]["hgb"] = round(time.perf_counter() - started, 1)
    except Exception as e:  # noqa: BLE001 — recorded, the benchmark goes on
        errors["hgb"] = f"{type(e).__name__}: {e}"[:300]
    stats = bootstrap(split["task"], split["y"], preds, split["classes"], split["positive"])
    row["scores"], row["nblib_minus"] = stats["scores"], stats["vs"]
    best = [stats["scores"][t]["score"] for t in ANCHORS if t in stats["scores"]]
    if best and "nblib" in stats["scores"]:
        gap = stats["scores"]["nblib"]["score"] - max(best)
        row["verdict"] = {
            "gap_to_best_anchor": round(gap, 4),
            "on_par_or_ahead": bool(gap >= -ON_PAR),
            "within_0.01": bool(gap >= -NEVER_BEHIND),
        }
    if errors:
        row["errors"] = errors
    row["versions"] = versions
    return row


# --------------------------------------------------------------------------- report


def summary(rows: list[dict], budget: float) -> dict:
    judged = [r for r in rows if "verdict" in r]
    gaps = [r["verdict"]["gap_to_best_anchor"] for r in judged]
    slow = [r["table"] for r in rows if (r["wall_seconds"].get("nblib_04_train") or 0) > budget * 1.1]
    small_slow = [
        r["table"] for r in rows if r["rows"] <= 10_000 and (r["wall_seconds"].get("nblib_04_train") or 0) > 15
    ]
    return {
        "tables": len(rows),
        "judged": len(judged),
        "on_par_or_ahead": sum(r["verdict"]["on_par_or_ahead"] for r in judged),
        "share_on_par_or_ahead": round(sum(r["verdict"]["on_par_or_ahead"] for r in judged) / len(judged), 3)
        if judged
        else None,
        "within_0.01": sum(r["verdict"]["within_0.01"] for r in judged),
        "worst_gap": min(gaps) if gaps else None,
        "worst_table": judged[int(np.argmin(gaps))]["table"] if gaps else None,
        "train_over_budget_x1.1": slow,
        "small_tables_train_over_15s": small_slow,
        "failed": {r["table"]: r["errors"] for r in rows if r.get("errors")},
    }


def markdown(rows: list[dict], summ: dict, budget: float) -> str:
    def s(r, t):
        v = r.get("scores", {}).get(t)
        return f"{v['score']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]" if v else "failed"

    def d(r, t):
        v = r.get("nblib_minus", {}).get(t)
        return f"{v['diff']:+.3f} (p={v['p']:.2f})" if v else "—"

    def w(r, t):
        v = r["wall_seconds"].get(t)
        return f"{v:.0f}" if v is not None else "—"

    lines = [
        f"Budget {budget:g} s per tool (nblib `train.time_budget_s`, AutoGluon `time_limit`, FLAML `time_budget`), "
        "2 cores; scores on nblib's test rows with 95% bootstrap intervals (1000 resamples); "
        "Δ = nblib − tool, paired, two-sided bootstrap p.",
        "",
        "| table | rows | task | covers | nblib | AutoGluon | FLAML | HGB | Δ AutoGluon | Δ FLAML "
        "| seconds nblib (train) / AG / FLAML | verdict |",
        "|---|---:|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        v = r.get("verdict")
        verdict = (
            "failed"
            if not v
            else ("on par/ahead" if v["on_par_or_ahead"] else ("behind <0.01" if v["within_0.01"] else "behind"))
        )
        if v:
            verdict += f" ({v['gap_to_best_anchor']:+.3f})"
        lines.append(
            f"| {r['table']} | {r['rows']:,} | {r.get('metric', r['task'])} | {', '.join(r.get('covers', []))} | "
            f"{s(r, 'nblib')} | "
            f"{s(r, 'autogluon')} | {s(r, 'flaml')} | {s(r, 'hgb')} | {d(r, 'autogluon')} | {d(r, 'flaml')} | "
            f"{w(r, 'nblib')} ({w(r, 'nblib_04_train')}) / {w(r, 'autogluon')} / {w(r, 'flaml')} | {verdict} |"
        )
    lines += [
        "",
        f"On par or ahead (≥ best anchor − {ON_PAR}): {summ['on_par_or_ahead']}/{summ['judged']}; "
        f"within {NEVER_BEHIND}: {summ['within_0.01']}/{summ['judged']}; "
        f"worst gap {summ['worst_gap']} ({summ['worst_table']}); "
        f"04_train over budget×1.1: {summ['train_over_budget_x1.1'] or 'none'}; "
        f"≤10k-row tables with 04_train > 15 s: {summ['small_tables_train_over_15s'] or 'none'}.",
    ]
    return "\n".join(lines) + "\n"


def git_commit() -> str:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return head + ("+dirty" if dirty else "")


def versions() -> dict:
    from importlib.metadata import version

    out = {"nblib": version("nblib"), "scikit-learn": version("scikit-learn"), "python": platform.python_version()}
    packages = ("autogluon.tabular", "flaml", "lightgbm", "catboost", "xgboost", "torch")
    code = (
        f"from importlib.metadata import version as v; import json; print(json.dumps({{p: v(p) for p in {packages}}}))"
    )
    proc = subprocess.run([str(ANCHOR_PY), "-c", code], capture_output=True, text=True)
    if proc.returncode == 0:
        out.update(json.loads(proc.stdout))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="*", help=f"default: all of {', '.join(TABLES)}")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per tool (nblib train.time_budget_s)")
    parser.add_argument("--quick", action="store_true", help=f"smoke test: {', '.join(QUICK)} (writes automl_quick.*)")
    parser.add_argument("--keep", type=Path, default=None, help="keep tables, params, splits and runs in this folder")
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default benchmarks/results/automl.json)")
    parser.add_argument("--refresh-anchors", action="store_true", help="ignore the anchor cache")
    args = parser.parse_args(argv)
    names = args.tables or (list(QUICK) if args.quick else list(TABLES))
    unknown = sorted(set(names) - set(TABLES))
    if unknown:
        parser.error(f"unknown tables {unknown}; choose from {', '.join(TABLES)}")
    if not ANCHOR_PY.exists():
        parser.error(f"{ANCHOR_PY} missing: make automl-venv")
    out = args.out or RESULTS / ("automl_quick.json" if args.quick else "automl.json")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nblib-automl-"))
    folder.mkdir(parents=True, exist_ok=True)
    log(f"{len(names)} tables, budget {args.budget:g} s, work folder {folder}")
    rows = []
    for i, name in enumerate(names, 1):
        table = TABLES[name]()
        path = folder / f"{name}.{table.file_format}"
        if table.file_format == "parquet":
            table.frame.to_parquet(path, index=False)
        else:
            table.frame.to_csv(path, index=False)
        log(f"[{i}/{len(names)}] {name}: {len(table.frame):,} rows, {table.task}")
        try:
            row = bench_table(table, path, folder, args.budget, args.refresh_anchors)
        except Exception as e:  # noqa: BLE001 — recorded, the benchmark goes on
            row = {"table": name, "rows": len(table.frame), "task": table.task, "wall_seconds": {},
                   "errors": {"benchmark": f"{type(e).__name__}: {e}"[:300]}}  # fmt: skip
            log(f"{name:16} FAILED: {row['errors']['benchmark']}")
        rows.append(row)
        write(out, rows, args, names)
    write(out, rows, args, names, final=True)


def write(out: Path, rows: list[dict], args, names, final: bool = False) -> None:
    """Write after every table, so a long run leaves what it measured; merge with earlier tables of the same budget."""
    previous = json.loads(out.read_text()) if out.exists() else {}
    keep = previous.get("tables", []) if previous.get("budget_s") == args.budget and args.tables else []
    merged = {r["table"]: r for r in keep} | {r["table"]: r for r in rows}
    tables = list(merged.values())
    summ = summary(tables, args.budget)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "complete": final,
                "machine": f"{os.cpu_count()} cores, {platform.platform()}",
                "budget_s": args.budget,
                "nblib_commit": git_commit(),
                "versions": versions() if final or len(rows) == 1 else previous.get("versions"),
                "settings": {
                    "nblib": "params: source, target, task (positive_class when not obvious), seed 0, "
                    "train.time_budget_s = budget, compute.n_jobs 2; defaults otherwise",
                    "autogluon": "TabularPredictor(eval_metric roc_auc | log_loss | r2)"
                    '.fit(time_limit=budget, presets="medium_quality", '
                    'excluded_model_types=["NN_TORCH", "FASTAI"], num_cpus=2)',
                    "flaml": "AutoML().fit(time_budget=budget, metric roc_auc | log_loss | r2, seed=0, n_jobs=2); "
                    "object columns as category, dates as days since 1970",
                    "hgb": "bench_real.baseline_on_split: HistGradientBoosting, ordinal-encoded objects, text dropped",
                    "row_names": "R's row names (rownames, Table.row_index) are not given to the anchors or HGB: on "
                    "tables sorted by the target (diamonds) they leak it; nblib sees them and ignores them itself",
                    "bootstrap": f"{N_BOOT} seeded resamples of the test rows, "
                    "percentile 95% intervals, paired differences",
                },
                "summary": summ,
                "tables": tables,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    md = markdown(tables, summ, args.budget)
    out.with_suffix(".md").write_text(md)
    if final:
        print(md)
        log(f"wrote {out} and {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
