"""HTML for reviewers: each executed notebook, a run's summary page, the index of
all runs, and the difference between two runs. Plain static HTML: no Jupyter
needed to read it.
"""

from __future__ import annotations

import html
import json
import os
from urllib.parse import quote
from pathlib import Path
from typing import Any

import yaml

from nblib.engine import artifacts as io
from nblib.engine.lock import effective_status, file_lock

__all__ = [
    "render_notebook_html",
    "find_runs",
    "headline_metric",
    "write_index",
    "write_summary",
    "digest_lines",
    "diff_runs",
    "write_diff_html",
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
.running,.skipped,.pending,.unknown{background:#6e7781} .muted{color:#57606a} .warn{background:#fff8c5;padding:.4rem .7rem;
border-left:4px solid #d4a72c;margin:.3rem 0} .err{background:#ffebe9;padding:.4rem .7rem;border-left:4px solid #cf222e}
.figs{display:flex;flex-wrap:wrap;gap:1rem} .figs figure{margin:0;max-width:48%} .figs img{max-width:100%;
border:1px solid #d0d7de} code{background:#f6f8fa;padding:0 .3rem} .added{background:#dafbe1} .removed{background:#ffebe9}
.note{background:#ddf4ff;padding:.4rem .7rem;border-left:4px solid #54aeff;margin:.3rem 0} .leak-kept td{background:#fff8c5}
.sev{padding:.05rem .45rem;border-radius:.6rem;font-size:.8rem;color:#fff} .sev.high{background:#cf222e}
.sev.medium{background:#bc4c00} .sev.low{background:#6e7781} ul.digest li{margin:.15rem 0}
"""


def render_notebook_html(notebook: str | Path, out: str | Path) -> Path:
    """Render an executed notebook to standalone HTML (images embedded)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(notebook), as_version=4)
    body, _ = _exporter(HTMLExporter).from_notebook_node(nb)
    return io.write_text(out, body)


def find_runs(reports_dir: str | Path) -> list[dict[str, Any]]:
    """Manifests of every run under ``reports_dir``, newest first; each gets ``path``.

    A run whose manifest says ``running`` but whose runner is gone gets status
    ``abandoned`` (the manifest's own word is kept as ``recorded_status``).
    """
    runs = []
    for manifest in Path(reports_dir).glob("*/*/manifest.json"):
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


def write_index(reports_dir: str | Path) -> Path:
    """``reports/index.html``: every run, newest first.

    Runs that finish at the same time take turns (a lock file beside the
    index), so each rewrite sees every run finished before it.
    """
    reports_dir = Path(reports_dir)
    with file_lock(reports_dir / ".index.lock"):
        return _write_index(reports_dir)


def _write_index(reports_dir: Path) -> Path:
    rows = []
    for run in find_runs(reports_dir):
        rel = run["path"].relative_to(reports_dir).as_posix()
        metric, value = headline_metric(run)
        links = [f'<a href="{rel}/summary.html">summary</a>'] * (run["path"] / "summary.html").exists() + [
            f'<a href="{rel}/{s["name"]}.html">{s["name"][:2]}</a>'
            for s in run.get("stages", []) if (run["path"] / f'{s["name"]}.html').exists()
        ]
        rows.append(
            f"<tr><td>{_e((run.get('started') or '')[:19].replace('T', ' '))}</td>"
            f"<td>{_e(run.get('name', ''))}</td><td>{_status(run.get('status', '?'))}</td>"
            f"<td>{_e(metric)}</td><td class=num>{_fmt(value)}</td>"
            f"<td class=num>{_total_seconds(run):.1f} s</td><td>{' · '.join(links)}</td></tr>"
        )
    table = (
        "<table><tr><th>started</th><th>params</th><th>status</th><th>metric</th><th>test</th>"
        "<th>time</th><th>reports</th></tr>" + "".join(rows) + "</table>"
        if rows else "<p class=muted>No runs yet: <code>make run</code> makes one.</p>"
    )
    return io.write_text(reports_dir / "index.html", _page("nblib runs", f"<h1>nblib runs</h1>{table}"))


def write_summary(run_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """A run's ``summary.html``: leak suspects, headline metrics, what was done to the data, findings,
    key plots, timings and links (from ``templates/summary.html.j2``, every value escaped)."""
    run_dir = Path(run_dir)
    art = run_dir / "artifacts"
    metrics = _read(art / "metrics.json") or {}
    quality = _read(art / "quality.json") or {}
    cleaning = _read(art / "cleaning.json") or {}
    leaks = _read(art / "leaks.json") or {}
    figures = [
        {"src": quote(f.relative_to(run_dir).as_posix()), "stage": f.parent.name, "caption": f.stem.replace("_", " ")}
        for f in sorted((art / "figures").glob("*/*.png"), key=_figure_rank)
    ]
    page = _template("summary.html.j2").render(
        css=_CSS, manifest=_Obj(manifest), metrics=_Obj(metrics), ci=metrics.get("test_ci", {}),
        level=int(round(100 * metrics.get("confidence", 0.95))), cv=_Obj(_read(art / "cv_results.json") or {}),
        leaks=_Obj(leaks), suspects=[_Obj(x) for x in leaks.get("suspects", [])],
        digest=[line for line in cleaning.get("digest", []) if not line.startswith(("LEAK SUSPECT", "POSSIBLE LEAK"))],
        changes=[_Obj(c) for c in cleaning.get("changes", [])],
        findings=[_Obj(f) for f in quality.get("findings", []) if f.get("severity") != "info"],
        warnings=[w for w in metrics.get("warnings", []) if not (metrics.get("cv_vs_test") or {}).get("far")
                  or w != metrics["cv_vs_test"].get("explanation")],
        figures=figures,
    )
    return io.write_text(run_dir / "summary.html", page)


def digest_lines(run_dir: str | Path) -> list[str]:
    """What the terminal prints after a run: the data digest of ``cleaning.json`` and evaluation warnings."""
    art = Path(run_dir) / "artifacts"
    lines = list((_read(art / "cleaning.json") or {}).get("digest", []))
    lines += [f"warning: {w}" for w in (_read(art / "metrics.json") or {}).get("warnings", [])]
    return lines


def diff_runs(run_a: str | Path, run_b: str | Path) -> dict[str, Any]:
    """What changed from run A to run B: params, test metrics, best model, stage times."""
    a, b = Path(run_a), Path(run_b)
    ma, mb = io.read_json(a / "manifest.json"), io.read_json(b / "manifest.json")
    pa = _flatten(yaml.safe_load((a / "params.yaml").read_text()) or {})
    pb = _flatten(yaml.safe_load((b / "params.yaml").read_text()) or {})
    params = [
        {"key": k, "a": pa.get(k), "b": pb.get(k)}
        for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)
    ]
    xa, xb = (_read(r / "artifacts" / "metrics.json") or {} for r in (a, b))
    ta, tb = xa.get("test", {}), xb.get("test", {})
    metrics = [
        {"metric": k, "a": ta.get(k), "b": tb.get(k),
         "delta": (tb[k] - ta[k]) if isinstance(ta.get(k), (int, float)) and isinstance(tb.get(k), (int, float)) else None}
        for k in sorted(set(ta) | set(tb))
    ]
    sa = {s["name"]: s for s in ma.get("stages", [])}
    sb = {s["name"]: s for s in mb.get("stages", [])}
    stages = [
        {"stage": n, "a": sa.get(n, {}).get("seconds"), "b": sb.get(n, {}).get("seconds"),
         "status_a": sa.get(n, {}).get("status"), "status_b": sb.get(n, {}).get("status")}
        for n in sorted(set(sa) | set(sb))
    ]
    return {
        "a": str(a), "b": str(b), "status": [ma.get("status"), mb.get("status")],
        "best_model": [xa.get("best_model"), xb.get("best_model")],
        "data_changed": ma.get("data_sha256") != mb.get("data_sha256"),
        "params": params, "metrics": metrics, "stages": stages,
    }


def write_diff_html(diff: dict[str, Any], out: str | Path) -> Path:
    """Render :func:`diff_runs` output as a page."""
    rows_p = "".join(f"<tr><td><code>{_e(p['key'])}</code></td><td class=removed>{_e(p['a'])}</td>"
                     f"<td class=added>{_e(p['b'])}</td></tr>" for p in diff["params"])
    rows_m = "".join(f"<tr><td>{_e(m['metric'])}</td><td class=num>{_fmt(m['a'])}</td><td class=num>{_fmt(m['b'])}</td>"
                     f"<td class=num>{_fmt(m['delta'], signed=True)}</td></tr>" for m in diff["metrics"])
    rows_s = "".join(f"<tr><td>{_e(s['stage'])}</td><td class=num>{_secs(s['a'])}</td><td class=num>{_secs(s['b'])}</td></tr>"
                     for s in diff["stages"])
    body = (
        f"<h1>Run diff</h1><p>A: <code>{_e(diff['a'])}</code><br>B: <code>{_e(diff['b'])}</code></p>"
        f"<p>best model: {_e(diff['best_model'][0])} → {_e(diff['best_model'][1])} · data changed: "
        f"{'yes' if diff['data_changed'] else 'no'}</p>"
        f"<h2>Params</h2>" + (f"<table><tr><th>key</th><th>A</th><th>B</th></tr>{rows_p}</table>" if rows_p
                              else "<p class=muted>identical</p>")
        + f"<h2>Test metrics</h2><table><tr><th>metric</th><th>A</th><th>B</th><th>B − A</th></tr>{rows_m}</table>"
        + f"<h2>Stage seconds</h2><table><tr><th>stage</th><th>A</th><th>B</th></tr>{rows_s}</table>"
    )
    return io.write_text(out, _page("nblib diff", body))


def sweep_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per run of a sweep: its label, swept values, status, primary metric (test and CV),
    other test metrics, seconds and how many stages came from the cache.

    Each run is ``{"label", "run_dir", "status", "seconds", "swept"}``; ``run_dir`` may be ``None``
    (the run never started).
    """
    rows = []
    for run in runs:
        folder = Path(run["run_dir"]) if run.get("run_dir") else None
        metrics = (_read(folder / "artifacts" / "metrics.json") or {}) if folder else {}
        manifest = (_read(folder / "manifest.json") or {}) if folder else {}
        primary, best = metrics.get("primary_metric"), metrics.get("best_model")
        cv = (metrics.get("cv") or {}).get(best) or {}
        stages = manifest.get("stages", [])
        rows.append({
            "label": run["label"], "run_dir": str(folder) if folder else None,
            "status": manifest.get("status") or run.get("status"), "swept": run.get("swept", {}),
            "primary_metric": primary, "best_model": best,
            "test": (metrics.get("test") or {}).get(primary), "cv_mean": cv.get("mean"), "cv_std": cv.get("std"),
            "other": {k: v for k, v in (metrics.get("test") or {}).items() if k != primary},
            "seconds": run.get("seconds"),
            "cached": sum(s.get("status") == "cached" for s in stages), "stages": len(stages),
        })
    return rows


def write_sweep_html(out: str | Path, rows: list[dict[str, Any]], keys: list[str], seconds: float) -> Path:
    """The sweep page (``templates/sweep.html.j2``): runs side by side, the best primary metric marked."""
    out = Path(out)
    lower_better = any(r["primary_metric"] in ("rmse", "mae", "brier", "log_loss") for r in rows)
    scored = [r["test"] for r in rows if isinstance(r["test"], (int, float))]
    best = (min(scored) if lower_better else max(scored)) if len(set(scored)) > 1 else None  # a tie marks none
    for row in rows:
        row["link"] = (quote(os.path.relpath(Path(row["run_dir"]) / "summary.html", out.parent))
                       if row["run_dir"] else None)
        row["best"] = best is not None and row["test"] == best
    others = sorted({k for r in rows for k in r["other"]})
    page = _template("sweep.html.j2").render(css=_CSS, rows=[_Obj(r) for r in rows], keys=keys, others=others,
                                             seconds=seconds, lower_better=lower_better)
    return io.write_text(out, page)


# --------------------------------------------------------------------------- helpers


class _Obj(dict):
    """A JSON object whose keys a template reads as attributes; absent keys read as None."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return _Obj(value) if isinstance(value, dict) else value


def _template(name: str):
    import jinja2

    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("nblib.engine", "templates"),
            autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True, lstrip_blocks=True,
        )
        _ENV.filters["fmt"] = _fmt_plain
        _ENV.filters["secs"] = _secs
    return _ENV.get_template(name)


_ENV = None


def _fmt_plain(value: Any) -> str:
    """Like :func:`_fmt` without escaping (the template escapes)."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1000 else f"{value:.4f}"
    return str(value)


_EXPORTERS: dict[type, Any] = {}


def _exporter(cls):
    if cls not in _EXPORTERS:
        _EXPORTERS[cls] = cls(template_name="lab")
    return _EXPORTERS[cls]


# What a reviewer looks for first; any other figure follows in stage order.
_FIGURE_ORDER = ("roc", "pr", "predicted_vs_actual", "residuals", "confusion_matrix", "calibration",
                 "cv_comparison")


def _figure_rank(path: Path) -> tuple[int, str]:
    rank = _FIGURE_ORDER.index(path.stem) if path.stem in _FIGURE_ORDER else len(_FIGURE_ORDER)
    return rank, f"{path.parent.name}/{path.stem}"


def headline_metric(run: dict[str, Any]) -> tuple[str, Any]:
    """The metric a list of runs shows: ROC-AUC or RMSE when present."""
    metrics = run.get("metrics") or {}
    for key in ("roc_auc", "rmse", "r2"):
        if key in metrics:
            return key, metrics[key]
    return (next(iter(metrics.items())) if metrics else ("", None))


def _total_seconds(run: dict[str, Any]) -> float:
    return sum(s.get("seconds") or 0 for s in run.get("stages", []))


def _read(path: Path) -> Any:
    try:
        return io.read_json(path)
    except (OSError, ValueError):
        return None


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, name + "."))
        else:
            out[name] = json.dumps(value) if isinstance(value, dict) else value
    return out


def _status(status: str) -> str:
    return f"<span class='status {_e(status)}'>{_e(status)}</span>"


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:+.4f}" if signed else f"{value:.4g}" if abs(value) >= 1000 else f"{value:.4f}"
    return _e(value)


def _secs(value: Any) -> str:
    return "—" if value is None else f"{value:.1f}"


def _e(value: Any) -> str:
    return html.escape(str(value))


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<meta name=viewport content='width=device-width, initial-scale=1'><style>{_CSS}</style></head>"
            f"<body>{body}</body></html>\n")
