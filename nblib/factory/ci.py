"""CI for a model project: the GitHub Actions workflow ``nblib export ci`` writes, and the steps it runs.

The workflow (:func:`export_ci`, from ``templates/ci_workflow.yml.j2``) calls one make target,
``make ci-model``, which is :func:`ci_model` (``python -m nblib.factory.ci``), so that a laptop runs
what CI runs. For each params file, one after the other in one reports folder:

1. who is ``@champion`` of its registered model now (:func:`champion_before`);
2. ``nblib run PARAMS --run-dir OUT/<time>-<name>`` with the params' gates (exit 3 when one says no);
   with ``promote`` (the main branch) also ``-p evaluate.promote=true``: 05_evaluate compares the new
   model with the champion on the same test rows and the alias moves only when it is significantly better;
3. ``nblib diff CHAMPION_RUN NEW_RUN --html OUT/diff-<name>.html``: params, CV and test metrics with the
   paired test (DeLong for ROC-AUC, a paired bootstrap otherwise) on the rows both runs scored;
4. a Markdown section (status, metrics, champion, promotion, the diff) appended to ``summary``, which
   in GitHub Actions is ``$GITHUB_STEP_SUMMARY``, the job's summary page.

The exit code is the first run's that was not 0 (so a gate fails the job), else 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from nblib.common.text import slug
from nblib.engine.errors import NblibError, ParamsError

__all__ = ["ACTIONS", "WORKFLOW", "export_ci", "render_workflow", "ci_model", "champion_before", "main"]

#: The file ``nblib export ci`` writes into its output folder (``.github/workflows/`` in a project).
WORKFLOW = "nblib-model.yml"

#: The actions the workflows use, pinned by commit (read from each action's repository at its tag).
ACTIONS = {
    "checkout": {"tag": "v7.0.1", "sha": "3d3c42e5aac5ba805825da76410c181273ba90b1"},
    "setup_python": {"tag": "v7.0.0", "sha": "5fda3b95a4ea91299a34e894583c3862153e4b97"},
    "cache": {"tag": "v5.0.5", "sha": "27d5ce7f107fe9357f9df03efb73ab90386fccae"},
    "upload_artifact": {"tag": "v7.0.0", "sha": "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"},
}

#: What a change to triggers the workflow on a pull request (and on a push to main).
_WATCHED = ("notebooks/**", "nblib/**", "params/**", "pyproject.toml")


def export_ci(paths: list[Path], overrides: list[str], output: Path) -> list[Path]:
    """Write the GitHub Actions workflow for ``paths`` (with ``overrides``) into ``output``; return it.

    Every params file is loaded and validated first: a bad one is one line, exit 2, and nothing is
    written. The workflow names each params file by its path inside the project (it runs in a
    checkout), so a params file and the data it reads must lie inside the project folder.

    Raises
    ------
    ParamsError
        A params file, an override or its data is bad, or lies outside the project (exit code 2).
    NotWritable
        ``output`` cannot be written (exit code 2).
    """
    from nblib.engine.artifacts import check_writable, write_text
    from nblib.factory.app import project_root
    from nblib.factory.params import load_params

    for value in [*map(str, paths), *overrides]:
        if any(c in value for c in "\n\r`$"):
            raise ParamsError(f"export ci: {value!r}: a line break, $ or ` cannot travel in the workflow's env")
    root = project_root()
    inside: list[str] = []
    for path in paths:
        params = load_params([path], overrides)
        inside.append(_in_project(Path(path), root, "params file"))
        if not params.data.is_generated:
            _in_project(Path(params.data.source), root, f"{path}: data.source")
    check_writable(output)
    return [write_text(Path(output) / WORKFLOW, render_workflow(inside, overrides))]


def render_workflow(params: list[str], overrides: list[str] = (), *, python: str = "3.11", timeout_minutes: int = 120):
    """The workflow's text for ``params`` (paths inside the project, as the checkout sees them).

    >>> text = render_workflow(["params/smoke.yaml"], ["train.cv_folds=3"])
    >>> "CI_PARAMS: \\"params/smoke.yaml\\"" in text, "CI_ARGS: \\"-p train.cv_folds=3\\"" in text
    (True, True)
    """
    from nblib import __version__

    watched = list(_WATCHED) + [p for p in params if not p.startswith(("params/", "notebooks/", "nblib/"))]
    return (
        _environment()
        .get_template("ci_workflow.yml.j2")
        .render(
            sources=" ".join(shlex.quote(p) for p in params),
            version=__version__,
            paths=watched,
            ci_params=" ".join(shlex.quote(p) for p in params),
            ci_args=" ".join(f"-p {shlex.quote(o)}" for o in overrides),
            python=python,
            timeout_minutes=timeout_minutes,
            pins=ACTIONS,
        )
    )


# --------------------------------------------------------------------------- the steps (make ci-model)


def champion_before(params) -> dict[str, Any] | None:
    """The registry's ``@champion`` of the model ``params`` registers into, before the run:
    ``{"model", "version", "nblib_run", "label"}``, None when there is none (or tracking is off), or
    ``{"error": ...}`` when the store cannot be read."""
    if not params.tracking.enabled:
        return None
    from nblib.factory.app import reports_dir
    from nblib.tracking import settings
    from nblib.tracking.registry import _champion
    from nblib.tracking.session import _client, _one_line

    conf = settings({"name": params.name, "tracking": params.tracking.model_dump()}, reports_dir())
    if conf["uri"].startswith("sqlite:///") and not Path(conf["uri"][len("sqlite:///") :]).exists():
        return None  # no store yet: nothing to ask (and no empty store made here)
    try:
        current = _champion(_client(conf["uri"]), conf["model_name"])
    except Exception as exc:  # noqa: BLE001 - the run itself reports an unreachable store; the summary says so
        return {"model": conf["model_name"], "error": _one_line(exc)}
    if current is None:
        return None
    return {
        "model": conf["model_name"],
        "version": int(current.version),
        "nblib_run": current.tags.get("nblib.run_id", ""),
        "label": current.tags.get("nblib.label", ""),
    }


def ci_model(
    paths: list[Path],
    overrides: list[str] = (),
    *,
    out: Path | None = None,
    summary: Path | None = None,
    promote: bool = False,
) -> int:
    """Run each params file with its gates, compare it with ``@champion``, append the summary; the exit code.

    ``out`` (default ``REPORTS/ci-<UTC time>``) holds the run folders and the diff pages; it must lie in
    the reports folder, so the runs appear in ``nblib list`` and the index. ``summary`` (default
    ``OUT/summary.md``) is appended to. ``promote`` adds ``-p evaluate.promote=true`` (the main branch).
    """
    from nblib.factory.app import reports_dir
    from nblib.factory.params import load_params

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    out = Path(out or reports_dir() / f"ci-{stamp}").absolute()
    summary = Path(summary or out / "summary.md")
    loaded = [(Path(path), load_params([path], overrides)) for path in paths]  # every file checked first
    out.mkdir(parents=True, exist_ok=True)
    code = 0
    for path, params in loaded:
        before = champion_before(params)
        name = slug(params.name or path.stem, allowed=r"\w.", sep="-", default="run")
        run_dir = _free(out / f"{stamp[9:]}-{name}")
        command = [*_nblib(), "run", str(path), "--run-dir", str(run_dir), "--quiet"]
        command += [arg for o in overrides for arg in ("-p", o)]
        command += ["-p", "evaluate.promote=true"] if promote else []
        print(f"[ci] {shlex.join(command[2:])}", flush=True)
        rc = subprocess.run(command, check=False).returncode
        rc = 128 - rc if rc < 0 else rc  # killed by a signal: as a shell says it (143 for SIGTERM)
        diff = _diff(before, run_dir, out) if rc in (0, 3) else None
        _append(summary, _section(path, run_dir, rc, before, diff, promote))
        code = code or rc
    print(f"[ci] summary: {summary}", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """``python -m nblib.factory.ci PARAMS... [-p KEY=VALUE] [--out DIR] [--summary FILE] [--promote]``
    (``make ci-model``)."""
    parser = argparse.ArgumentParser(prog="python -m nblib.factory.ci", description=__doc__.splitlines()[0])
    parser.add_argument("params", nargs="+", type=Path)
    parser.add_argument("-p", "--param", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--out", type=Path, default=None, help="folder for the run folders (inside the reports)")
    parser.add_argument("--summary", type=Path, default=None, help="Markdown file to append to")
    parser.add_argument("--promote", action="store_true", help="evaluate.promote=true (the main branch)")
    args = parser.parse_args(argv)
    try:
        return ci_model(args.params, args.param, out=args.out, summary=args.summary, promote=args.promote)
    except NblibError as exc:
        print(f"nblib: error: {exc}", file=sys.stderr)
        if args.summary is not None:  # the job's summary page says it too
            _append(args.summary, f"### nblib — refused before anything ran (exit {exc.exit_code})\n\n{_code(exc)}\n")
        return exc.exit_code


# --------------------------------------------------------------------------- helpers


def _nblib() -> list[str]:
    return [sys.executable, "-m", "nblib"]


def _free(path: Path) -> Path:
    """``path``, or ``path-2``, ``path-3`` ... when it is taken."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def _in_project(path: Path, root: Path, what: str) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        raise ParamsError(
            f"export ci: {what} {path} lies outside the project {root}: the workflow runs in a checkout of it"
        ) from None


def _diff(before: dict[str, Any] | None, run_dir: Path, out: Path) -> dict[str, Any] | None:
    """``nblib diff CHAMPION_RUN RUN``'s text and page, or why there is none."""
    from nblib.factory.app import reports_dir

    if not before or "error" in before:
        return None
    champion = reports_dir() / before["nblib_run"] if before.get("nblib_run") else None
    if champion is None or not (champion / "manifest.json").is_file():
        return {"missing": before.get("nblib_run") or "(no nblib.run_id tag)"}
    page = out / f"diff-{run_dir.name}.html"
    done = subprocess.run(
        [*_nblib(), "diff", str(champion), str(run_dir), "--html", str(page)],
        capture_output=True,
        text=True,
        check=False,
    )
    return {"text": done.stdout + done.stderr, "rc": done.returncode, "page": page, "champion": champion}


def _section(
    path: Path, run_dir: Path, rc: int, before: dict[str, Any] | None, diff: dict[str, Any] | None, promote: bool
) -> str:
    """One run's part of the job summary (Markdown; every value from a file shown as code)."""
    manifest = _read(run_dir / "manifest.json") or {}
    status = manifest.get("status", "not run")
    lines = [f"### nblib · {_code(manifest.get('label') or path.name)} — {status} (exit {rc})", ""]
    if rc == 2:
        lines.append(f"The params or the data were refused before anything ran: see the job log ({_code(path)}).")
        return "\n".join(lines) + "\n"
    lines.append(f"- run folder: {_code(run_dir.parent.name + '/' + run_dir.name)} (uploaded as the job's artifact)")
    metrics = manifest.get("metrics") or {}
    if metrics:
        shown = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
        lines.append(f"- test: {_code(shown)}")
    if manifest.get("error"):
        lines.append(f"- why: {_code(manifest['error'])}")
    if before is None:
        lines.append("- champion before this run: none (the first registered model becomes @champion)")
    elif "error" in before:
        lines.append(f"- champion: the MLflow store could not be read ({_code(before['error'])})")
    else:
        lines.append(
            f"- champion before this run: {_code(before['model'])} version {before['version']} "
            f"(run {_code(before['nblib_run'])})"
        )
    lines.append(f"- promotion: {_promotion(run_dir, manifest, promote)}")
    if diff and "missing" in diff:
        lines.append(f"- no diff: the champion's run folder {_code(diff['missing'])} is not in this reports folder")
    elif diff:
        fence = "~" * max(3, 1 + max((len(m) for m in re.findall(r"~+", diff["text"])), default=0))
        lines += [
            "",
            "<details open><summary>nblib diff champion → this run</summary>",
            "",
            f"{fence}text",
            diff["text"].rstrip(),
            fence,
            "",
            "</details>",
        ]
    return "\n".join(lines) + "\n"


def _promotion(run_dir: Path, manifest: dict[str, Any], promote: bool) -> str:
    """What 05_evaluate decided (``artifacts/promotion.json``) and whether the alias moved after the run."""
    if not promote:
        return "not asked (a pull request compares only; the main branch promotes when the champion is beaten)"
    decided = _read(run_dir / "artifacts" / "promotion.json") or {}
    moved = (manifest.get("tracking") or {}).get("promotion") or {}
    if not decided and not moved:
        return "not decided (the run did not get that far)"
    reason = decided.get("reason") or moved.get("reason") or decided.get("decision", "")
    if moved.get("promoted"):
        return f"**promoted**, now @champion: {_code(reason)}"
    after = moved.get("reason", "")
    return f"not promoted: {_code(reason)}" + (f"; {_code(after)}" if after and after != reason else "")


def _append(summary: Path, text: str) -> None:
    summary.parent.mkdir(parents=True, exist_ok=True)
    with open(summary, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _code(value: Any) -> str:
    """``value`` as inline Markdown code on one line, with a fence longer than any run of backticks in it.

    >>> _code("a`b")
    '``a`b``'
    """
    text = " ".join(str(value).split())
    ticks = "`" * (1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _environment():
    """Jinja for YAML (:func:`nblib.factory.templating.source_environment`): ``[[ ]]`` and ``[% %]``; every
    value goes through ``q`` (a double-quoted YAML scalar)."""
    from nblib.factory.templating import source_environment

    return source_environment("yaml", {"q": lambda value: json.dumps(str(value), ensure_ascii=False)})


if __name__ == "__main__":
    sys.exit(main())
