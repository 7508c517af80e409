"""``nblib`` command line: run, list, diff, compare, predict, verify.

Exit codes: 0 success · 1 a stage failed · 2 bad usage, params or input data
(nothing run) · 3 a quality or evaluation gate said no · 130 / 143 interrupted
by SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from nblib.common.text import is_glob, one_line
from nblib.engine.errors import NblibError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nblib", description="Jupyter-first model factory.")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run the notebook pipeline into a dated report folder",
        description="Run the pipeline. Stages whose inputs did not change are reused from "
        "the cache (reports/.cache). Several params files, or --sweep, make "
        "one run each and a sweep page comparing them.",
    )
    run.add_argument("params", nargs="*", type=Path, help="params YAML file(s): one run per file")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one param, e.g. -p train.cv_folds=3 (repeatable)",
    )
    run.add_argument(
        "--sweep",
        action="append",
        default=[],
        metavar="SECTION.KEY=V1,V2,...",
        help="one run per value (repeatable: every combination), e.g. --sweep train.cv_folds=3,5",
    )
    run.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="one run: parallel workers (sets compute.n_jobs); several runs: runs at a time",
    )
    run.add_argument("--stages", default=None, help="comma-separated stage names to run (default: all)")
    run.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="re-run in an existing run folder, reusing stages whose inputs did not change "
        "(a folder that does not exist yet, or an empty one, starts a new run there)",
    )
    run.add_argument(
        "--defer-tracking",
        action="store_true",
        help="one step of a run made stage by stage (a scheduler's task): when the stages succeed, leave MLflow "
        "logging, registration and promotion to the last step, a run of the whole pipeline in the same --run-dir",
    )
    run.add_argument(
        "--require-tracking",
        action="store_true",
        help="exit 1 when a run that succeeded could not be logged to MLflow (the store failed), so that a "
        "scheduler tries again; without it that is a warning",
    )
    run.add_argument(
        "--force",
        action="append",
        nargs="?",
        const="*",
        default=[],
        metavar="STAGE",
        help="run every stage, or (with a name) STAGE and every stage after it, even if cached (repeatable)",
    )
    run.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="RUN",
        help="pick up an interrupted or abandoned run with its own params, reusing finished stages",
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    run.add_argument("--label", default=None, help=argparse.SUPPRESS)  # set by a sweep for its runs

    cache = sub.add_parser("cache", help="the cache of stage results shared by runs (reports/.cache)")
    cache.add_argument("action", choices=["info", "prune"], help="info: what it holds; prune: make it smaller")
    cache.add_argument(
        "--max-size",
        default=None,
        metavar="SIZE",
        help="prune: keep at most SIZE (e.g. 500M, 2G; 0 empties it), least recently used go first",
    )

    sub.add_parser("list", help="list runs, newest first")

    verify = sub.add_parser("verify", help="check a run's artifacts against the hashes in its manifest")
    verify.add_argument("run", type=Path, help="a run folder or run id")

    diff = sub.add_parser("diff", help="what changed between two runs")
    diff.add_argument("run_a", type=Path)
    diff.add_argument("run_b", type=Path)
    diff.add_argument("--html", type=Path, default=None, help="also write the diff as an HTML page")

    compare = sub.add_parser(
        "compare",
        help="several runs side by side: one sortable row per run",
        description="Compare runs: the params that differ, CV and test metrics with "
        "intervals, durations, and a plot of the primary test metric.",
    )
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run folders or run ids")
    compare.add_argument("--html", type=Path, default=None, help="the page to write (default: reports/compare.html)")

    predict = sub.add_parser("predict", help="score a CSV/Parquet file with a run's model")
    predict.add_argument("model", type=Path, help="a run folder or a model.skops file")
    predict.add_argument(
        "data",
        type=Path,
        help="CSV or Parquet file with the training columns, or a folder or glob of such partitions",
    )
    predict.add_argument(
        "-o", "--output", type=Path, required=True, help="output .csv or .parquet (a new folder for partitions)"
    )
    predict.add_argument(
        "--jobs",
        type=int,
        default=-1,
        help="partitions scored side by side (default: every core; with --scheduler: every worker thread)",
    )
    predict.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="score the partitions on this Dask scheduler's workers (tcp://HOST:8786)",
    )
    predict.add_argument(
        "--on-bad-rows",
        choices=["fail", "skip"],
        default="fail",
        help="a row with a cell that cannot be read as its column's number or date: refuse the "
        "file (fail, the default) or score the other rows and write it, with the reason, "
        "to OUT.rejects.csv beside -o (skip)",
    )
    predict.add_argument(
        "--allow-unfinished",
        action="store_true",
        help="score with the model of a run that did not succeed (failed, gated, interrupted)",
    )
    export = sub.add_parser(
        "export",
        help="write what runs these params elsewhere: an Airflow DAG, a CI workflow",
        description="airflow: one DAG file per params file (one task per stage, schedule from the params' "
        "schedule section). ci: a GitHub Actions workflow for a model project that runs the params with their "
        "gates on pull requests and promotes on the main branch.",
    )
    export.add_argument("target", choices=["airflow", "ci"], help="what to write")
    export.add_argument("params", nargs="+", type=Path, help="params YAML file(s)")
    export.add_argument(
        "-o", "--output", type=Path, required=True, help="the folder to write into (dags/, .github/workflows/)"
    )
    export.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one param in what is exported, e.g. -p schedule.cron=@daily (repeatable)",
    )
    serve = sub.add_parser(
        "serve",
        help="answer HTTP with a registered model (MLflow's scoring protocol: POST /invocations, GET /ping)",
        description="Serve a registered model on MLflow's scoring protocol: POST /invocations with JSON "
        "(dataframe_split, dataframe_records) or CSV rows as the training file had them answers "
        '{"predictions": [...]}, what nblib predict writes; GET /ping, /health, /version, /metadata. '
        "The version is resolved at start: a new @champion is served from the next start.",
    )
    serve.add_argument(
        "model",
        nargs="?",
        default=None,
        metavar="MODEL_URI",
        help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model, a run folder or run id (the version "
        "it registered), or a registered model's NAME (its @champion); default: models:/<name>@champion, the "
        "name from --params (tracking.model_name, else nblib-<params name>), else the only model registered "
        "in the store",
    )
    serve.add_argument(
        "--params",
        type=Path,
        default=None,
        metavar="PARAMS.yaml",
        help="params file whose model name and tracking.uri say which model and store",
    )
    serve.add_argument(
        "--tracking-uri",
        default=None,
        metavar="URI",
        help="the MLflow store (default: the params' tracking.uri, else the SQLite store in the reports "
        "folder, $NBLIB_REPORTS/.mlflow/mlflow.db)",
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 in a container)"
    )
    serve.add_argument("--port", type=int, default=5001, help="port (default 5001; 0 takes a free one, printed)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes, each with its own model (default 1)")
    serve.add_argument(
        "--max-body-mb",
        type=float,
        default=100,
        metavar="MB",
        help="the largest request body read, in MB (default 100); a larger one is answered 413",
    )
    serve.add_argument("--access-log", action="store_true", help="log one line per request")
    return parser


def main(argv: list[str] | None = None) -> int:
    """The ``nblib`` command; returns its exit code.

    A reader that goes away early (``nblib list | head``) ends the command quietly with
    141 (128 + SIGPIPE, as a shell tool killed by it), never with a traceback.
    """
    try:
        code = _main(argv)
        sys.stdout.flush()  # buffered output meets a closed pipe here, not at interpreter exit
        return code
    except BrokenPipeError:
        if not _stdout_gone():  # another pipe or socket broke: a real error
            raise
        _silence_stdout()
        return 141


def _stdout_gone() -> bool:
    """Whether nobody reads stdout any more (the reading end of its pipe was closed)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (captured, closed): nothing to silence
        pass


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from nblib import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    commands = {
        "run": _run,
        "list": _list,
        "diff": _diff,
        "compare": _compare,
        "predict": _predict,
        "verify": _verify,
        "cache": _cache,
        "export": _export,
        "serve": _serve,
    }
    try:
        return commands[args.command](args)
    except NblibError as exc:
        print(f"nblib: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # Ctrl-C before or after a run (a run itself records it and exits 130/143)
        print("nblib: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from nblib.engine.errors import ParamsError
    from nblib.factory import app

    force = _force_arg(args)
    if args.resume is not None:
        if args.run_dir is not None:
            raise ParamsError("--resume RUN already names the run folder; drop --run-dir")
        args.run_dir = _run_folder(args.resume)
        args.params = args.params or [args.run_dir / "params.yaml"]
    if not args.params:
        raise ParamsError("run: give a params file, e.g. nblib run params/default.yaml (or --resume RUN)")
    stages = _stages_arg(args.stages)
    if len(args.params) > 1 or args.sweep:
        if args.run_dir is not None:
            raise ParamsError("--run-dir names one run folder; a sweep makes one folder per run")
        from nblib.factory.sweep import run_sweep

        return run_sweep(
            args.params, args.param, args.sweep, jobs=args.jobs, stages=stages, force=force, quiet=args.quiet
        )
    from nblib import tracking

    # MLflow's imports, on the other core, while params load and stages run
    tracking.prestart(tracking.settings({}, app.reports_dir())["uri"])
    params = app.load(args.params, args.param, jobs=args.jobs)
    if args.run_dir is not None and not (args.run_dir / "manifest.json").exists() and not _unused(args.run_dir):
        raise ParamsError(f"--run-dir: {args.run_dir} is not a run folder (no manifest.json) and not empty")
    result = app.start_run(
        params,
        run_dir=args.run_dir,
        stages=stages,
        force=force,
        progress=not args.quiet,
        label=args.label or _kept_label(args.run_dir, params, args.param) or app.run_label(params, args.param),
        defer_tracking=args.defer_tracking,
    )
    from nblib.factory.pages import digest_lines

    for line in digest_lines(result.run_dir):  # what was done to the user's data, leak suspects, warnings
        print(f"  {line}")
    metrics = result.manifest.get("metrics", {})
    shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items() if isinstance(v, float))
    print(
        f"{result.status}: {result.run_dir}"
        + (f" ({shown})" if shown else "")
        + _marks(result.manifest.get("flags") or [])
    )
    print(f"summary: {result.run_dir / 'summary.html'}")
    tracked = tracking.describe(result.manifest.get("tracking"))
    if tracked:
        print(f"mlflow: {tracked}")
    elif args.defer_tracking and result.error is None:
        print("mlflow: not logged yet (--defer-tracking): the last step, a whole run in this folder, logs it")
    if result.error is not None:
        print(f"nblib: error: {result.error}", file=sys.stderr)
    elif args.require_tracking and params.tracking.enabled and (not tracked or _untracked(result.manifest)):
        said = _untracked(result.manifest) or "the run was not logged"
        print(
            f"nblib: error: --require-tracking: {said}; the run itself is complete in {result.run_dir}", file=sys.stderr
        )
        return 1
    return result.exit_code


def _untracked(manifest: dict) -> str | None:
    """What tracking could not do for the run (log it, register its model), from its manifest."""
    record = manifest.get("tracking") or {}
    return record.get("error") or record.get("model_error")


def _unused(folder: Path) -> bool:
    """Whether a new run may start in ``folder``: it does not exist, or holds nothing but what a run that
    stopped before writing its manifest leaves (its lock, ``params.yaml``, an empty ``artifacts/``)."""
    from nblib.engine.lock import LOCK_NAME

    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    left = {p.name: p for p in folder.iterdir()}
    artifacts = left.pop("artifacts", None)
    return set(left) <= {LOCK_NAME, "params.yaml"} and (
        artifacts is None or (artifacts.is_dir() and not any(artifacts.iterdir()))
    )


def _kept_label(run_dir: Path | None, params, overrides: list[str]) -> str | None:
    """The label of the run already in ``run_dir`` (``--resume``, ``--run-dir``), so that a re-run keeps
    ``hotel · seed=4`` rather than becoming ``hotel``; new ``-p`` overrides are added after it.
    ``None`` when there is no such folder, or it holds a run of other params (another name)."""
    if run_dir is None:
        return None
    from nblib.engine.manifest import read_manifest
    from nblib.factory import app

    label = (read_manifest(run_dir) or {}).get("label")
    if not isinstance(label, str) or not label or label.split(" · ")[0] != (params.name or "run"):
        return None
    kept = label.split(" · ")
    return " · ".join([*kept, *(o for o in app.run_label(params, overrides).split(" · ")[1:] if o not in kept)])


def _force_arg(args: argparse.Namespace) -> bool | list[str]:
    """``--force`` alone: everything; ``--force STAGE``: that stage and those after it.

    ``nblib run --force params.yaml`` reads as a bare ``--force`` followed by a params file.
    """
    from nblib.factory import app

    names = []
    for value in args.force:
        if value == "*":
            return True
        if value not in app.PIPELINE.names() and (Path(value).suffix in (".yaml", ".yml") or Path(value).exists()):
            args.params.append(Path(value))
            return True
        names.append(value)
    _stages_arg(",".join(names), option="--force")
    return names


def _stages_arg(text: str | None, option: str = "--stages") -> list[str] | None:
    from nblib.engine.errors import ParamsError
    from nblib.factory import app

    if not text:
        return None
    known = app.PIPELINE.names()
    for name in text.split(","):
        if name not in known:
            from nblib.common.text import suggest

            raise ParamsError(f"{option}: unknown stage {name!r}{suggest(name, known)}; stages: {', '.join(known)}")
    return text.split(",")


def _export(args: argparse.Namespace) -> int:
    """``nblib export airflow|ci PARAMS... -o DIR``: the files written, one line each."""
    if args.target == "airflow":
        from nblib.factory.airflow import export_airflow as export
    else:
        from nblib.factory.ci import export_ci as export
    for path in export(args.params, args.param, args.output):
        print(f"wrote {path}")
    return 0


def _cache(args: argparse.Namespace) -> int:
    from nblib.engine.cache import StageCache, human_size, parse_size
    from nblib.engine.errors import ParamsError
    from nblib.factory.app import reports_dir

    store = StageCache(reports_dir() / ".cache")
    if args.action == "prune":
        if args.max_size is None:
            raise ParamsError("cache prune: give --max-size, e.g. --max-size 2G (0 empties the cache)")
        try:
            limit = parse_size(args.max_size)
        except ValueError as exc:
            raise ParamsError(f"--max-size: {exc}") from None
        removed, freed, left = store.prune(limit)
        print(f"removed {removed} cached stage results ({human_size(freed)}); {human_size(left)} left in {store.root}")
        return 0
    entries = store.entries()
    by_stage: dict[str, list[int]] = {}
    for folder, _, size in entries:
        by_stage.setdefault(folder.parent.name, []).append(size)
    print(f"{store.root}: {len(entries)} cached stage results, {human_size(sum(s for _, _, s in entries))}")
    for stage, sizes in sorted(by_stage.items()):
        print(f"  {stage:<20} {len(sizes):>4} results  {human_size(sum(sizes)):>10}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from nblib.factory.app import reports_dir
    from nblib.factory.pages import find_runs, run_row

    rows = [run_row(run) for run in find_runs(reports_dir())]
    if not rows:
        print("no runs yet")
        return 0
    table = [["RUN", "LABEL", "STATUS", "MODEL", "CV", "TEST", "DURATION", "CACHED"]]
    for r in rows:
        metric = f"{r['primary_metric']} " if r["primary_metric"] else ""
        table.append(
            [
                r["run_id"],
                r["label"],
                r["status"],
                r["best_model"] or "—",
                f"{metric}{r['cv_mean']:.4f}" if isinstance(r["cv_mean"], float) else "—",
                f"{metric}{_show(r['test'])}{_marks(r['flags'])}"
                if r["test"] is not None
                else "—" + _marks(r["flags"]),
                f"{r['seconds']:.1f} s" if r["seconds"] is not None else "—",
                f"{r['cached']}/{r['stages']}",
            ]
        )
    widths = [max(len(str(row[i])) for row in table) for i in range(len(table[0]))]
    right = {4, 5, 6, 7}
    for row in table:
        print(
            "  ".join(
                str(v).rjust(w) if i in right else str(v).ljust(w)
                for i, (v, w) in enumerate(zip(row, widths, strict=False))
            ).rstrip()
        )
    for flag, note in dict.fromkeys((f, _flag_note(r, f)) for r in rows for f in r["flags"]):
        print(f"{flag}: {note}" if note else flag)
    return 0


def _marks(flags: list[str]) -> str:
    """`` leak?``: the marks a run carries beside its score (see :func:`nblib.factory.pages.run_flags`)."""
    return "".join(f" {f}" for f in flags)


def _flag_note(row: dict, flag: str) -> str:
    """What a mark means, without the run's particulars: ``keeps a likely leak``."""
    note = (row.get("flag_notes") or {}).get(flag, "")
    return note.split(" (", 1)[0] + ": see the run's summary" if note else ""


def _diff(args: argparse.Namespace) -> int:
    from nblib.factory.pages import diff_runs, write_diff_html

    run_a, run_b = _run_folder(args.run_a), _run_folder(args.run_b)
    diff = diff_runs(run_a, run_b, significance=_significance(run_a, run_b))
    print(f"A: {diff['label'][0]}  ({run_a})")
    print(f"B: {diff['label'][1]}  ({run_b})")
    print(
        f"status: {diff['status'][0]}{_marks(diff['flags'][0])} -> {diff['status'][1]}{_marks(diff['flags'][1])}; "
        f"best model: {diff['best_model'][0]} -> "
        f"{diff['best_model'][1]}; data: {'different' if diff['data_changed'] else 'same'}"
    )
    print("params:" if diff["params"] else "params: identical")
    for p in diff["params"]:
        print(f"  {p['key']}: {_show(p['a'])} -> {_show(p['b'])}")
    if diff["cv"]:
        print(f"cv {diff['cv_metric']} (mean ± sd):")
        width = max(len(c["model"]) for c in diff["cv"])
        for c in diff["cv"]:
            delta = f"  ({c['delta']:+.4f})" if c["delta"] is not None else ""
            print(
                f"  {c['model']:<{width}}  {_mean_sd(c['a_mean'], c['a_std'])} -> "
                f"{_mean_sd(c['b_mean'], c['b_std'])}{delta}"
            )
    print(
        f"test ({diff['paired_note']}):"
        if diff["paired"]
        else f"test ({diff['paired_note'] or 'not paired: no predictions to compare'}; intervals only):"
    )
    width = max([len(m["metric"]) for m in diff["metrics"]] or [0])
    for m in diff["metrics"]:
        delta = f"  ({m['delta']:+.4f})" if m["delta"] is not None else ""
        fa, fb = (_marks(diff["flags"][i]) if m.get("primary") else "" for i in (0, 1))
        line = (
            f"  {m['metric']:<{width}}  {_show(m['a'])}{fa}{_ci(m['ci_a'])} -> "
            f"{_show(m['b'])}{fb}{_ci(m['ci_b'])}{delta}"
        )
        t = m.get("test")
        if t:
            verdict = (
                "not significant"
                if t["p_value"] is None or t["p_value"] >= 0.05
                else "significant" + {True: ", B better", False: ", B worse"}.get(m.get("better"), "")
            )
            line += f"  {verdict}: p={t['p_value']:.3g}, B-A in [{t['lo']:+.4f}, {t['hi']:+.4f}] ({t['test']})"
        print(line)
    print("stages (status, seconds):")
    width = max([len(s["stage"]) for s in diff["stages"]] or [0])
    for s in diff["stages"]:
        print(
            f"  {s['stage']:<{width}}  {s['status_a'] or '—':<10} {_secs(s['a']):>7}  ->  "
            f"{s['status_b'] or '—':<10} {_secs(s['b']):>7}"
        )
    if args.html:
        print(f"html: {write_diff_html(diff, args.html)}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from nblib.factory.app import reports_dir
    from nblib.factory.pages import compare_rows, write_compare_html

    folders = [_run_folder(run) for run in args.runs]
    rows, keys = compare_rows(folders)
    out = args.html or reports_dir() / "compare.html"
    page = write_compare_html(rows, keys, out, plot_png=_compare_plot(rows))
    for r in rows:
        shown = ", ".join(f"{k}={_show(r['params'].get(k))}" for k in keys)
        print(
            f"  {r['label']}: {r['status']}, {r['best_model'] or '?'}, "
            f"test {r['primary_metric'] or ''} {_show(r['test'])}{_marks(r['flags'])}"
            + (f" ({shown})" if shown else "")
        )
    print(f"html: {page}")
    return 0


def _significance(run_a: Path, run_b: Path) -> dict:
    """Paired tests of every test metric when both runs scored the same test rows
    (same index, same truth); otherwise a note saying why not."""
    try:
        import pandas as pd

        pred_a, pred_b = (pd.read_parquet(r / "artifacts" / "predictions.parquet") for r in (run_a, run_b))
    except (OSError, ValueError, ImportError):
        return {"paired": False, "note": "not paired: a run has no predictions.parquet"}
    from nblib.engine.artifacts import read_json_or_none
    from nblib.ml.evaluation.compare import paired_comparison

    xa, xb = (read_json_or_none(r / "artifacts" / "metrics.json") or {} for r in (run_a, run_b))
    return paired_comparison(pred_a, pred_b, xa, xb)


def _compare_plot(rows: list[dict]) -> bytes | None:
    """The primary test metric of each run with its interval, as PNG bytes."""
    import io as _io

    shown = [r for r in rows if isinstance(r["test"], (int, float))]
    if not shown:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.5 * len(shown) + 1.2))
    for i, r in enumerate(shown):
        lo, hi = (r["test_ci"] or [r["test"], r["test"]])[:2]
        ax.errorbar(r["test"], i, xerr=[[r["test"] - lo], [hi - r["test"]]], fmt="o", capsize=4, color="#0969da")
    ax.set_yticks(range(len(shown)), [r["label"].replace("$", r"\$") for r in shown])  # no math text from labels
    ax.invert_yaxis()
    ax.set_xlabel(f"test {shown[0]['primary_metric'] or ''} (95% interval)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _predict(args: argparse.Namespace) -> int:
    from nblib.engine.errors import InputDataError, ParamsError
    from nblib.factory.predict import predict_file, rejects_path
    from nblib.ml.predict import BadRows, check_output_path

    if args.model.suffix == ".skops":
        model = args.model
    else:
        run = _run_folder(args.model)
        model = run / "artifacts" / "model.skops"
        if not model.exists():
            status = json.loads((run / "manifest.json").read_text()).get("status", "?")
            raise ParamsError(f"{args.model}: this run has no model (its status is {status})")
    if not model.exists():
        raise ParamsError(f"{args.model}: model file not found")
    if not (model.parent / "columns.json").exists():
        raise ParamsError(f"{model}: no columns.json beside the model (use a run's artifacts/ folder)")
    _check_recorded_model(model)
    _check_finished_run(model, args.allow_unfinished)
    if args.data.is_dir() or (not args.data.exists() and is_glob(str(args.data))):
        return _predict_partitions(args, model)
    if not args.data.exists():
        raise ParamsError(f"{args.data}: data file not found")
    try:
        check_output_path(args.data, args.output)
    except ValueError as exc:
        raise ParamsError(f"-o {exc}") from None
    try:
        result = predict_file(model, args.data, args.output, on_bad_rows=args.on_bad_rows)
    except NblibError:  # an unreadable model or columns.json: already one line naming the file
        raise
    except BadRows as exc:
        if args.on_bad_rows == "skip":  # every row was bad: they are all in the rejects file
            raise InputDataError(f"{args.data}: {exc} (see {rejects_path(args.output)})") from None
        raise InputDataError(f"{args.data}: {exc}") from None
    except (KeyError, ValueError) as exc:
        where = model if "untrusted" in str(exc) else args.data
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError's str is a repr
        raise InputDataError(f"{where}: {one_line(text)}") from None
    print(f"wrote {args.output} · {result.digest()}")
    if args.on_bad_rows == "skip":
        print(f"rejected rows ({len(result.rejects)}), with the reason: {rejects_path(args.output)}")
    return 0


def _predict_partitions(args: argparse.Namespace, model: Path) -> int:
    """``nblib predict RUN FOLDER_OR_GLOB -o NEW_FOLDER``: one output partition per input partition."""
    import contextlib

    from nblib.engine.errors import InputDataError, ParamsError
    from nblib.factory.predict import predict_partitions
    from nblib.ml.predict import BadRows

    if args.output.suffix.lower() in (".csv", ".parquet"):
        raise ParamsError(f"-o {args.output}: partitions are written into a folder; name a new folder")
    if args.jobs == 0:
        raise ParamsError("--jobs: 0 partitions at a time; give a positive number or -1 for all cores")
    with contextlib.ExitStack() as stack:
        if args.scheduler:
            from joblib import parallel_config

            from nblib.engine.cluster import Cluster, connect

            shared = args.output.resolve().parent
            cluster = stack.enter_context(Cluster(args.scheduler, shared_dir=shared, label="--scheduler"))
            print(cluster.describe(), file=sys.stderr)
            stack.enter_context(parallel_config())  # connect() sets joblib's backend inside this block only
            stack.callback(connect(args.scheduler).close)
        try:
            results = predict_partitions(model, args.data, args.output, on_bad_rows=args.on_bad_rows, n_jobs=args.jobs)
        except BadRows as exc:
            raise InputDataError(f"{args.data}: {exc}") from None
        except (OSError, KeyError, ValueError) as exc:
            text = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            raise InputDataError(f"{args.data}: {one_line(text)}") from None
        except Exception as exc:  # noqa: BLE001 -- a worker or the scheduler lost: one line, not a traceback
            if not args.scheduler:
                raise
            raise NblibError(f"--scheduler: scoring on the cluster failed: {type(exc).__name__}: {exc}") from None
    scored = sum(len(r.scored) for _, r in results)
    rejected = sum(len(r.rejects) for _, r in results)
    print(
        f"wrote {args.output} · {len(results)} partitions · scored {scored} rows"
        + (f", rejected {rejected} (in each partition's .rejects.csv)" if rejected else "")
    )
    return 0


def _check_finished_run(model: Path, allow: bool) -> None:
    """Refuse the model of a run that did not succeed (failed, gated, interrupted, still running) unless ``allow``."""
    from nblib.engine.errors import ParamsError
    from nblib.engine.manifest import read_manifest

    artifacts = model.resolve().parent
    manifest = read_manifest(artifacts.parent) if artifacts.name == "artifacts" else None
    status = (manifest or {}).get("status", "succeeded")
    if status != "succeeded" and not allow:
        why = {
            "gated": "a quality or evaluation gate said no",
            "failed": "a stage failed",
            "interrupted": "it was interrupted",
            "running": "it has not finished",
        }.get(status, "it did not succeed")
        raise ParamsError(
            f"{artifacts.parent}: this run's status is {status} ({why}), so its model is not for use; "
            f"pass --allow-unfinished to score with it anyway"
        )


def _verify(args: argparse.Namespace) -> int:
    from nblib.engine.errors import ParamsError
    from nblib.engine.integrity import verify_run
    from nblib.engine.manifest import read_manifest

    run = _run_folder(args.run)
    manifest = read_manifest(run)
    if manifest is None:
        raise ParamsError(f"{run / 'manifest.json'}: not a readable manifest")
    checked, problems = verify_run(run, manifest)
    for line in problems:
        print(f"nblib: {run}: {line}", file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {run}: {checked} artifacts match manifest.json")
    return 0


def _check_recorded_model(model: Path) -> None:
    """Refuse a run's model or columns whose bytes differ from what the run recorded (the threshold is the model's)."""
    from nblib.engine.integrity import check_recorded
    from nblib.engine.manifest import read_manifest

    artifacts = model.resolve().parent
    manifest = read_manifest(artifacts.parent) if artifacts.name == "artifacts" else None
    if manifest is not None:
        check_recorded(artifacts.parent, manifest, [f"artifacts/{name}" for name in (model.name, "columns.json")])


def _serve(args: argparse.Namespace) -> int:
    """``nblib serve [MODEL_URI]``: resolve the model, say which version is served, answer until stopped."""
    from nblib.engine.manifest import read_manifest
    from nblib.factory.app import reports_dir
    from nblib.tracking import server, settings

    conf = settings({}, reports_dir())
    if args.params is not None:
        from nblib.engine.params import plain
        from nblib.factory.params import load_params

        conf = settings(plain(load_params([args.params], check_data=False)), reports_dir())
    store = args.tracking_uri or conf["uri"]
    folder = _maybe_run_folder(args.model)
    if folder is not None:
        served = server.from_run(folder, read_manifest(folder) or {})
    else:
        served = server.resolve(args.model, store=store, name=conf["model_name"] if args.params else None)
    return server.serve(
        served,
        host=args.host,
        port=args.port,
        workers=args.workers,
        max_body_mb=args.max_body_mb,
        access_log=args.access_log,
        say=lambda line: print(f"nblib: {line}", file=sys.stderr, flush=True),
    )


def _maybe_run_folder(arg: str | None) -> Path | None:
    """The run folder ``arg`` names (a path or a run id), or None when it names none (a URI, a model name)."""
    from nblib.factory.app import reports_dir

    if not arg or arg.startswith(("models:/", "runs:/")):
        return None
    for candidate in (Path(arg), reports_dir() / arg):
        if (candidate / "manifest.json").exists():
            return candidate
    return None


def _run_folder(arg: Path) -> Path:
    """A run folder given as a path or as the run id ``nblib list`` prints."""
    from nblib.engine.errors import ParamsError
    from nblib.factory.app import reports_dir

    for candidate in (arg, reports_dir() / arg):
        if (candidate / "manifest.json").exists():
            return candidate
    raise ParamsError(f"{arg}: not a run folder or run id (no manifest.json); see nblib list")


def _mean_sd(mean, sd) -> str:
    return "—" if mean is None else f"{mean:.4f} ± {sd:.4f}" if sd is not None else f"{mean:.4f}"


def _ci(ci) -> str:
    return f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""


def _secs(value) -> str:
    return "—" if value is None else f"{value:.1f}"


def _show(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
