"""HTML for reviewers: each executed notebook, a run's summary page, the index of
all runs, and the difference between two runs. Plain static HTML: no Jupyter
needed to read it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from nblib.common.locks import file_lock
from nblib.engine import artifacts as io
from nblib.engine.lock import effective_status
from nblib.factory.templating import template

__all__ = [
    "find_runs",
    "headline_metric",
    "write_index",
    "write_summary",
    "digest_lines",
    "diff_runs",
    "write_diff_html",
    "run_row",
    "run_label",
    "run_seconds",
    "run_flags",
    "compare_rows",
    "write_compare_html",
    "sweep_rows",
    "write_sweep_html",
]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#1f2328;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.3rem .7rem;border-bottom:1px solid #d0d7de;
text-align:left;vertical-align:top} th{background:#f6f8fa} .num{text-align:right;font-variant-numeric:tabular-nums}
.status{padding:.1rem .5rem;border-radius:1rem;font-size:.85rem;color:#fff}
.succeeded,.cached{background:#1a7f37} .failed{background:#cf222e} .interrupted,.gated,.abandoned{background:#9a6700}
.running,.skipped,.pending,.unknown{background:#6e7781} .muted{color:#57606a}
.warn{background:#fff8c5;padding:.4rem .7rem;
border-left:4px solid #d4a72c;margin:.3rem 0} .err{background:#ffebe9;padding:.4rem .7rem;border-left:4px solid #cf222e}
.figs{display:flex;flex-wrap:wrap;gap:1rem} .figs figure{margin:0;max-width:48%} .figs
img{max-width:100%;
border:1px solid #d0d7de} code{background:#f6f8fa;padding:0 .3rem} .added{background:#dafbe1}
.removed{background:#ffebe9}
.note{background:#ddf4ff;padding:.4rem .7rem;border-left:4px solid #54aeff;margin:.3rem 0} .leak-kept
td{background:#fff8c5}
.sev{padding:.05rem .45rem;border-radius:.6rem;font-size:.8rem;color:#fff} .sev.high{background:#cf222e}
.sev.medium{background:#bc4c00} .sev.low{background:#6e7781} ul.digest li{margin:.15rem 0}
.scroll{overflow-x:auto;max-width:100%;margin:.5rem 0} .scroll>table{margin:0}
td.label{min-width:14rem;max-width:22rem;overflow-wrap:anywhere}
.param{min-width:7rem;max-width:12rem;overflow-wrap:anywhere}
.param code{white-space:normal} .runid{font-size:.8rem} ol.next-steps li{margin:.3rem 0}
.flag{background:#cf222e;color:#fff;padding:.05rem .4rem;border-radius:.6rem;font-size:.8rem;font-weight:600;
white-space:nowrap;cursor:help}
"""


def find_runs(reports_dir: str | Path) -> list[dict[str, Any]]:
    """Manifests of every run under ``reports_dir``, newest first; each gets ``path``.

    Only dated run folders (``YYYY-MM-DD/HHMMSS-name``) count: the cache, sweep pages
    and the scratch run are not runs. A run whose manifest says ``running`` but whose
    runner is gone gets status ``abandoned`` (the manifest's own word is kept as
    ``recorded_status``).
    """
    runs = []
    for manifest in Path(reports_dir).glob("*/*/manifest.json"):
        if not _DAY.fullmatch(manifest.parent.parent.name):
            continue
        try:
            data = io.read_json(manifest)
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        data["path"] = manifest.parent
        status = effective_status(data)  # "running" by a runner that is gone reads "abandoned"
        if status != data.get("status"):
            data["recorded_status"], data["status"] = data.get("status"), status
        runs.append(data)
    return sorted(runs, key=lambda r: (r.get("started") or "", str(r["path"])), reverse=True)


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """What a list of runs shows about one run (a manifest from :func:`find_runs`, with ``path``).

    Keys: ``run_id``, ``label``, ``status``, ``started``, ``primary_metric``, ``best_model``,
    ``cv_mean``, ``cv_std`` (the best model's cross-validation), ``test``, ``test_ci`` (the primary
    metric on the test split), ``seconds`` (sum of stage seconds, else finished − started),
    ``cached`` and ``stages`` (counts), ``path``, ``flags`` (marks the app set in the manifest, e.g.
    ``leak?``; shown beside the score) and ``flag_note`` (why, one line).
    """
    folder = Path(run["path"])
    metrics = io.read_json_or_none(folder / "artifacts" / "metrics.json") or {}
    primary = metrics.get("primary_metric") or headline_metric(run)[0] or None
    best, cv = chosen_cv(metrics)
    cv["mean"] = _shown_score(cv.get("mean"), metrics.get("cv_scoring"))  # rmse positive, as every page shows it
    test = (metrics.get("test") or {}).get(primary, (run.get("metrics") or {}).get(primary))
    stages = run.get("stages") or []
    return {
        "run_id": run.get("run_id") or folder.name,
        "label": run_label(run),
        "status": run.get("status") or "?",
        "started": (run.get("started") or "")[:19].replace("T", " "),
        "primary_metric": primary,
        "best_model": best,
        "cv_mean": cv.get("mean"),
        "cv_std": cv.get("std"),
        "test": test,
        "test_ci": (metrics.get("test_ci") or {}).get(primary),
        "seconds": run_seconds(run),
        "cached": sum(s.get("status") == "cached" for s in stages),
        "stages": len(stages),
        "path": folder,
        **run_flags(run),
    }


def run_flags(run: dict[str, Any]) -> dict[str, Any]:
    """A manifest's marks: ``{"flags": [...], "flag_notes": {flag: why}, "flag_note": "all, one line"}``
    (the app writes ``flags`` and ``flag_notes`` at the end of a run; the engine only shows them)."""
    flags = [str(f) for f in run.get("flags") or [] if f]
    given = run.get("flag_notes") if isinstance(run.get("flag_notes"), dict) else {}
    notes = {f: str(given[f]) for f in flags if given.get(f)}
    return {"flags": flags, "flag_notes": notes, "flag_note": "; ".join(f"{f} {n}" for f, n in notes.items())}


def chosen_cv(metrics: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """The chosen model's name (an ensemble's when one was saved) and its CV ``{"mean", "std"}``, from
    ``metrics.json``'s ``chosen`` record; older runs without it fall back to ``best_model`` and ``cv``."""
    chosen = metrics.get("chosen") or {}
    if chosen.get("name"):
        return str(chosen["name"]), {"mean": chosen.get("cv_mean"), "std": chosen.get("cv_std")}
    best = metrics.get("best_model")
    return best, dict(((metrics.get("cv") or {}).get(best) or {}) if best else {})


def run_label(run: dict[str, Any]) -> str:
    """A run's label (e.g. ``smoke · train.cv_folds=3``), else its params name, else its folder."""
    return str(run.get("label") or run.get("name") or Path(run.get("path") or "?").name)


def run_seconds(run: dict[str, Any]) -> float | None:
    """How long a run took: the sum of its stages' seconds, else (none, or every stage reused from
    the cache) finished − started."""
    stages = [s.get("seconds") for s in run.get("stages") or [] if isinstance(s.get("seconds"), (int, float))]
    if stages and sum(stages) > 0:
        return float(sum(stages))
    try:
        from datetime import datetime

        return (datetime.fromisoformat(run["finished"]) - datetime.fromisoformat(run["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def write_index(reports_dir: str | Path) -> Path:
    """``reports/index.html``: every run, newest first (``templates/index.html.j2``).

    Runs that finish at the same time take turns (a lock file beside the
    index), so each rewrite sees every run finished before it.
    """
    reports_dir = Path(reports_dir)
    with file_lock(reports_dir / ".index.lock"):
        return _write_index(reports_dir)


def _write_index(reports_dir: Path) -> Path:
    rows = []
    for run in find_runs(reports_dir):
        row, folder = run_row(run), run["path"]
        rel = folder.relative_to(reports_dir).as_posix()
        links = [{"href": quote(f"{rel}/summary.html"), "text": "summary"}] * (folder / "summary.html").exists()
        links += [
            {"href": quote(f"{rel}/{s['name']}.html"), "text": str(s["name"])[:2], "title": s["name"]}
            for s in run.get("stages") or []
            if (folder / f"{s['name']}.html").exists()
        ]
        links += [{"href": quote(f"{rel}/model_card.html"), "text": "model card"}] * (
            folder / "model_card.html"
        ).exists()
        rows.append({**row, "links": links})
    statuses = sorted({r["status"] for r in rows})
    page = template("index.html.j2").render(css=_CSS, rows=[_Obj(r) for r in rows], statuses=statuses)
    return io.write_text(reports_dir / "index.html", page)


def write_summary(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """A run's ``summary.html``: leak suspects, headline metrics, what was done to the data and how its
    features were built, findings, key plots, timings and links (from ``templates/summary.html.j2``, every
    value escaped)."""
    run_dir = Path(run_dir)
    art = run_dir / "artifacts"
    metrics = io.read_json_or_none(art / "metrics.json") or {}
    quality = io.read_json_or_none(art / "quality.json") or {}
    cleaning = io.read_json_or_none(art / "cleaning.json") or {}
    leaks = io.read_json_or_none(art / "leaks.json") or {}
    figures = [
        {"src": quote(f.relative_to(run_dir).as_posix()), "stage": f.parent.name, "caption": f.stem.replace("_", " ")}
        for f in sorted((art / "figures").glob("*/*.png"), key=_figure_rank)
    ]
    page = template("summary.html.j2").render(
        css=_CSS,
        manifest=_Obj(manifest),
        metrics=_Obj(metrics),
        ci=metrics.get("test_ci", {}),
        level=int(round(100 * metrics.get("confidence", 0.95))),
        cv=_Obj(_shown_cv(io.read_json_or_none(art / "cv_results.json") or {})),
        leaks=_Obj(leaks),
        suspects=[_Obj(x) for x in leaks.get("suspects", [])],
        digest=[
            line
            for line in cleaning.get("digest", [])
            if not line.startswith(("LEAK SUSPECT", "POSSIBLE LEAK", "ENTITY KEY?", "LEAK?", *_LABEL_LINES))
        ],
        feature_notes=(io.read_json_or_none(art / "features.json") or {}).get("notes", []),
        label_merges=[_Obj(m) for m in cleaning.get("label_merges", [])],
        label_proposals=[_Obj(m) for m in cleaning.get("label_proposals", [])],
        entities=_Obj(cleaning.get("entities") or {}),
        entity_suspects=[
            _Obj(s) for s in (cleaning.get("entities") or {}).get("suspects", []) if s.get("overlap_rows")
        ],
        changes=[_Obj(c) for c in cleaning.get("changes", [])],
        findings=[_Obj(f) for f in quality.get("findings", []) if f.get("severity") != "info"],
        warnings=[
            w
            for w in metrics.get("warnings", [])
            if not (metrics.get("cv_vs_test") or {}).get("far") or w != metrics["cv_vs_test"].get("explanation")
        ],
        figures=figures,
        tracking=_Obj(manifest.get("tracking") or {}),
        promotion=_Obj(_promotion(art / "promotion.json")),
        next_steps=[_Obj(s) for s in _next_steps(run_dir)],
    )
    return io.write_text(run_dir / "summary.html", page)


def digest_lines(run_dir: str | Path) -> list[str]:
    """What the terminal prints after a run: the data digest of ``cleaning.json`` and evaluation warnings."""
    art = Path(run_dir) / "artifacts"
    lines = list((io.read_json_or_none(art / "cleaning.json") or {}).get("digest", []))
    lines += [f"warning: {w}" for w in (io.read_json_or_none(art / "metrics.json") or {}).get("warnings", [])]
    return lines


def diff_runs(run_a: str | Path, run_b: str | Path, significance: dict[str, Any] | None = None) -> dict[str, Any]:
    """What changed from run A to run B: params, data, CV, test metrics, best model, stages.

    ``significance`` (computed by the caller: the engine knows no statistics) is
    ``{"paired": bool, "note": str, "tests": {metric: {"diff", "lo", "hi", "p_value", "test"}}}``;
    each test metric then carries its paired test as ``test``.
    """
    a, b = Path(run_a), Path(run_b)
    ma, mb = io.read_json(a / "manifest.json"), io.read_json(b / "manifest.json")
    pa, pb = (_flatten(yaml.safe_load((r / "params.yaml").read_text()) or {}) for r in (a, b))
    params = [{"key": k, "a": pa.get(k), "b": pb.get(k)} for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
    xa, xb = (io.read_json_or_none(r / "artifacts" / "metrics.json") or {} for r in (a, b))
    ta, tb = xa.get("test") or {}, xb.get("test") or {}
    cia, cib = xa.get("test_ci") or {}, xb.get("test_ci") or {}
    tests = (significance or {}).get("tests") or {}
    metrics = [
        {
            "metric": k,
            "a": ta.get(k),
            "b": tb.get(k),
            "delta": _delta(ta.get(k), tb.get(k)),
            "ci_a": cia.get(k),
            "ci_b": cib.get(k),
            "test": tests.get(k),
            "primary": k == (xb.get("primary_metric") or xa.get("primary_metric")),
            "better": _b_better(k, _delta(ta.get(k), tb.get(k))),
        }
        for k in list(dict.fromkeys([*ta, *tb]))
    ]
    fa, fb = run_flags(ma), run_flags(mb)
    cva, cvb = (
        {
            k: {**v, "mean": _shown_score(v.get("mean"), x.get("cv_scoring"))}  # rmse positive
            for k, v in {
                **(x.get("cv") or {}),
                **({chosen_cv(x)[0]: chosen_cv(x)[1]} if x.get("chosen") else {}),
            }.items()
            if isinstance(v, dict)
        }
        for x in (xa, xb)
    )  # an ensemble that was saved gets its own CV row
    cv = [
        {
            "model": k,
            "a_mean": (cva.get(k) or {}).get("mean"),
            "a_std": (cva.get(k) or {}).get("std"),
            "b_mean": (cvb.get(k) or {}).get("mean"),
            "b_std": (cvb.get(k) or {}).get("std"),
            "delta": _delta((cva.get(k) or {}).get("mean"), (cvb.get(k) or {}).get("mean")),
        }
        for k in list(dict.fromkeys([*cva, *cvb]))
    ]
    sa = {s["name"]: s for s in ma.get("stages", [])}
    sb = {s["name"]: s for s in mb.get("stages", [])}
    stages = [
        {
            "stage": n,
            "a": sa.get(n, {}).get("seconds"),
            "b": sb.get(n, {}).get("seconds"),
            "status_a": sa.get(n, {}).get("status"),
            "status_b": sb.get(n, {}).get("status"),
        }
        for n in list(dict.fromkeys([*sa, *sb]))
    ]
    figs_a = {
        f.relative_to(a / "artifacts" / "figures").as_posix() for f in (a / "artifacts" / "figures").glob("*/*.png")
    }
    figs_b = {
        f.relative_to(b / "artifacts" / "figures").as_posix() for f in (b / "artifacts" / "figures").glob("*/*.png")
    }
    return {
        "a": str(a),
        "b": str(b),
        "label": [run_label({**ma, "path": a}), run_label({**mb, "path": b})],
        "status": [ma.get("status"), mb.get("status")],
        "flags": [fa["flags"], fb["flags"]],
        "flag_note": [fa["flag_note"], fb["flag_note"]],
        "best_model": [(x.get("chosen") or {}).get("label") or x.get("best_model") for x in (xa, xb)],
        "primary_metric": xb.get("primary_metric") or xa.get("primary_metric"),
        "cv_metric": _shown_scoring(
            (io.read_json_or_none(b / "artifacts" / "cv_results.json") or {}).get("scoring") or xb.get("cv_scoring")
        )[0]
        or xb.get("primary_metric"),
        "data_changed": ma.get("data_sha256") != mb.get("data_sha256"),
        "paired": (significance or {}).get("paired", False),
        "paired_note": (significance or {}).get("note"),
        "params": params,
        "cv": cv,
        "metrics": metrics,
        "stages": stages,
        "seconds": [run_seconds(ma), run_seconds(mb)],
        "figures": sorted(figs_a & figs_b, key=lambda f: _figure_rank(Path(f))),
    }


def write_diff_html(diff: dict[str, Any], out: str | Path) -> Path:
    """Render :func:`diff_runs` output as a page (``templates/diff.html.j2``): figures present in
    both runs side by side, links to both summaries (paths relative to ``out``)."""
    out = Path(out)
    rel = {side: _relative(Path(diff[side]), out.parent) for side in ("a", "b")}
    figures = [
        {"name": f, "a": f"{rel['a']}/artifacts/figures/{quote(f)}", "b": f"{rel['b']}/artifacts/figures/{quote(f)}"}
        for f in diff.get("figures", [])
    ]
    page = template("diff.html.j2").render(
        css=_CSS,
        d=_Obj(diff),
        params=[_Obj(p) for p in diff["params"]],
        cv=[_Obj(c) for c in diff["cv"]],
        metrics=[_Obj(m) for m in diff["metrics"]],
        stages=[_Obj(s) for s in diff["stages"]],
        summary_a=f"{rel['a']}/summary.html",
        summary_b=f"{rel['b']}/summary.html",
        figures=figures,
        lower_is_better=_lower_is_better_text(),
    )
    return io.write_text(out, page)


def _lower_is_better_text() -> str:
    """The metrics where lower is better, for the diff page's legend (from the metric registry)."""
    from nblib.ml.evaluation.registry import METRIC_REGISTRY

    names = sorted(m.label for m in METRIC_REGISTRY.values() if m.lower_is_better)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def compare_rows(run_dirs: list[str | Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """One :func:`run_row` per run folder, each with ``params`` (flattened), and the param keys
    whose values differ between the runs."""
    rows, flat = [], []
    for folder in map(Path, run_dirs):
        manifest = io.read_json(folder / "manifest.json")
        params = (
            _flatten(yaml.safe_load((folder / "params.yaml").read_text()) or {})
            if (folder / "params.yaml").exists()
            else {}
        )
        flat.append(params)
        rows.append({**run_row({**manifest, "path": folder}), "params": params})
    keys = (
        sorted(
            k for k in set().union(*flat) if len({json.dumps(p.get(k), sort_keys=True, default=str) for p in flat}) > 1
        )
        if flat
        else []
    )
    return rows, keys


def write_compare_html(
    rows: list[dict[str, Any]], keys: list[str], out: str | Path, plot_png: bytes | None = None
) -> Path:
    """The comparison page (``templates/compare.html.j2``): one sortable row per run, the params that
    differ as columns, and ``plot_png`` (the primary test metric per run) embedded."""
    import base64

    out = Path(out)
    shown = [
        {**r, "link": _relative(Path(r["path"]), out.parent) + "/summary.html", "path": str(r["path"])} for r in rows
    ]
    page = template("compare.html.j2").render(
        css=_CSS,
        rows=[_Obj(r) for r in shown],
        keys=keys,
        plot=base64.b64encode(plot_png).decode("ascii") if plot_png else None,
        primary=next((r["primary_metric"] for r in rows if r.get("primary_metric")), None),
    )
    return io.write_text(out, page)


def sweep_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run of a sweep: its label, swept values, status, primary metric (test and CV),
    other test metrics, seconds and how many stages came from the cache.

    Each run is ``{"label", "run_dir", "status", "seconds", "swept"}``; ``run_dir`` may be ``None``
    (the run never started).
    """
    rows = []
    for run in runs:
        folder = Path(run["run_dir"]) if run.get("run_dir") else None
        metrics = (io.read_json_or_none(folder / "artifacts" / "metrics.json") or {}) if folder else {}
        manifest = (io.read_json_or_none(folder / "manifest.json") or {}) if folder else {}
        primary, (best, cv) = metrics.get("primary_metric"), chosen_cv(metrics)
        cv["mean"] = _shown_score(cv.get("mean"), metrics.get("cv_scoring"))  # rmse positive
        stages = manifest.get("stages", [])
        rows.append(
            {
                "label": run["label"],
                "run_dir": str(folder) if folder else None,
                "status": manifest.get("status") or run.get("status"),
                "swept": run.get("swept", {}),
                "primary_metric": primary,
                "best_model": best,
                "test": (metrics.get("test") or {}).get(primary),
                "cv_mean": cv.get("mean"),
                "cv_std": cv.get("std"),
                "other": {k: v for k, v in (metrics.get("test") or {}).items() if k != primary},
                "seconds": run.get("seconds"),
                "cached": sum(s.get("status") == "cached" for s in stages),
                "stages": len(stages),
                **run_flags(manifest),
            }
        )
    return rows


def write_sweep_html(out: str | Path, rows: list[dict[str, Any]], keys: list[str], seconds: float) -> Path:
    """The sweep page (``templates/sweep.html.j2``): runs side by side, the best primary metric marked."""
    out = Path(out)
    from nblib.ml.evaluation.scoring import lower_is_better

    lower_better = any(lower_is_better(r["primary_metric"]) for r in rows)
    every = [r["test"] for r in rows if isinstance(r["test"], (int, float))]
    scored = [r["test"] for r in rows if isinstance(r["test"], (int, float)) and not r.get("flags")]  # leak? never wins
    # a tie marks none; a run beaten only by flagged ones is the best all the same
    best = (
        (min(scored) if lower_better else max(scored)) if len(set(scored)) > 1 or 0 < len(scored) < len(every) else None
    )
    for row in rows:
        row["link"] = (
            quote(os.path.relpath(Path(row["run_dir"]) / "summary.html", out.parent)) if row["run_dir"] else None
        )
        row["best"] = best is not None and row["test"] == best and not row.get("flags")
    others = sorted({k for r in rows for k in r["other"]})
    page = template("sweep.html.j2").render(
        css=_CSS, rows=[_Obj(r) for r in rows], keys=keys, others=others, seconds=seconds, lower_better=lower_better
    )
    return io.write_text(out, page)


# --------------------------------------------------------------------------- helpers


_LABEL_LINES = ("label typos merged", "look-alike labels proposed")  # digest lines the page shows as two lists


class _Obj(dict):
    """A JSON object whose keys a template reads as attributes; absent keys read as None."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return _Obj(value) if isinstance(value, dict) else value


# What a reviewer looks for first; any other figure follows in stage order.
_FIGURE_ORDER = ("roc", "pr", "predicted_vs_actual", "residuals", "confusion_matrix", "calibration", "cv_comparison")


def _figure_rank(path: Path) -> tuple[int, str]:
    rank = _FIGURE_ORDER.index(path.stem) if path.stem in _FIGURE_ORDER else len(_FIGURE_ORDER)
    return rank, f"{path.parent.name}/{path.stem}"


def headline_metric(run: dict[str, Any]) -> tuple[str, Any]:
    """The metric a list of runs shows: ROC-AUC or RMSE when present."""
    metrics = run.get("metrics") or {}
    for key in ("roc_auc", "rmse", "r2"):
        if key in metrics:
            return key, metrics[key]
    return next(iter(metrics.items())) if metrics else ("", None)


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _delta(a: Any, b: Any) -> float | None:
    numbers = (int, float)
    return float(b - a) if isinstance(a, numbers) and isinstance(b, numbers) else None


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start``, URL-quoted for an ``href`` or ``src``."""
    return quote(Path(os.path.relpath(path.resolve(), start.resolve())).as_posix())


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    from nblib.engine.params import flatten

    return {k: json.dumps(v) if isinstance(v, dict) else v for k, v in flatten(data).items()}


def _b_better(metric: str, delta: float | None) -> bool | None:
    """Whether B's value of ``metric`` is the better one (lower is better for the registry's
    ``"min"`` metrics: rmse, mae, brier, log_loss); ``None`` for no change or no numbers."""
    from nblib.ml.evaluation.scoring import lower_is_better

    if delta is None or delta == 0:
        return None
    return (delta < 0) == lower_is_better(metric)


def _next_steps(run_dir: Path) -> list[dict[str, str]]:
    from nblib.factory.card import run_next_steps

    return run_next_steps(run_dir)


def _shown_scoring(scoring: Any) -> tuple[str, float]:
    from nblib.ml.evaluation.scoring import shown_scoring

    return shown_scoring(scoring)


def _shown_score(value: Any, scoring: Any) -> Any:
    from nblib.ml.evaluation.scoring import shown_score

    return shown_score(value, scoring)


def _promotion(path: Path) -> dict[str, Any]:
    """``promotion.json`` read through its record (a missing ``decision`` or ``reason`` fails in a test,
    not as a blank on the page); ``{}`` when the run has none."""
    from nblib.ml.evaluation.records import Promotion

    data = io.read_json_or_none(path)
    return Promotion.from_dict(data).to_dict() if data else {}


def _shown_cv(cv: dict[str, Any]) -> dict[str, Any]:
    from nblib.ml.evaluation.scoring import shown_cv

    return shown_cv(cv)
