"""``nblib export airflow``: an Apache Airflow (3.x) DAG file for a params file.

The DAG has one task per stage of :data:`~nblib.factory.pipeline.PIPELINE`, in its order and with its
dependencies, plus a last task (:data:`FINAL_TASK`) that runs the whole pipeline in the DAG run's folder,
every stage reused: it logs the run to MLflow, registers the model, moves ``@champion`` when the
evaluation said so, and writes the run's pages. Every task calls the ``nblib`` command,

``nblib run PARAMS --run-dir FOLDER [--stages STAGE --defer-tracking] [-p KEY=VALUE ...]``

with one folder per DAG run, so a retried task repeats no finished stage. The DAG file does not import
nblib (schedulers parse DAG files constantly, and Airflow's environment need not hold nblib); it carries:

- the params, validated and resolved here (``data.source`` absolute), as YAML text;
- the ``nblib`` executable, the reports folder and the project root of the exporting environment, as
  defaults that ``NBLIB_EXECUTABLE``, ``NBLIB_REPORTS`` and ``NBLIB_ROOT`` on the workers override
  (``NBLIB_EXECUTABLE`` set when exporting names the command to bake in);
- the ``schedule`` section: cron, retries, retry delay, timeout per task, catchup.

A trigger's ``dag_run.conf`` becomes ``-p`` overrides (``{"train.cv_folds": 3}`` or nested sections), which
nblib validates: a bad one fails the first task with exit 2, not retried, as does a gate (exit 3).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from nblib.common.text import slug
from nblib.engine.errors import ParamsError
from nblib.factory.params import Params, load_params
from nblib.factory.pipeline import PIPELINE

__all__ = ["FINAL_TASK", "export_airflow", "render_dag", "dag_id", "nblib_executable"]

#: The id of the DAG's last task: MLflow, registry, ``@champion``, the run's pages.
FINAL_TASK = "promote"


def export_airflow(paths: list[Path], overrides: list[str], output: Path) -> list[Path]:
    """Write one DAG file per params file into ``output``; return the files written.

    Every params file is loaded and validated first (with ``overrides``): a bad one is one line,
    exit 2, and nothing is written. Each file is written atomically (temp file + rename), named
    after its DAG id (``nblib_<params name>.py``).

    Raises
    ------
    ParamsError
        A params file, an override or the data it names is bad, two params files make the same
        DAG id, or no ``nblib`` command can be found (exit code 2).
    NotWritable
        ``output`` cannot be written (exit code 2).
    """
    from nblib import __version__
    from nblib.engine.artifacts import check_writable, write_text
    from nblib.factory.app import project_root, reports_dir

    settings = {
        "nblib": nblib_executable(),
        "reports": str(reports_dir()),
        "root": str(project_root()),
        "version": __version__,
        "exported": dt.datetime.now(dt.timezone.utc),
    }
    dags: dict[str, tuple[Path, str]] = {}
    for path in paths:
        params = load_params([path], overrides)
        name = dag_id(params.name)
        if name in dags:
            raise ParamsError(f"{path}: makes the DAG {name}, as {dags[name][0]} does; give one of them another name:")
        dags[name] = (path, render_dag(params, source=Path(path).resolve(), **settings))
    check_writable(output)
    return [write_text(Path(output) / f"{name}.py", text) for name, (_, text) in dags.items()]


def render_dag(
    params: Params,
    *,
    nblib: str,
    reports: str,
    root: str,
    source: str | Path = "",
    version: str = "",
    exported: dt.datetime | None = None,
) -> str:
    """The DAG file's text for validated ``params``; ``nblib``, ``reports`` and ``root`` are the defaults
    the workers' ``NBLIB_EXECUTABLE``, ``NBLIB_REPORTS`` and ``NBLIB_ROOT`` override.

    >>> text = render_dag(load_params("params/smoke.yaml"), nblib="/opt/nblib/bin/nblib", reports="/r", root="/p")
    >>> 'DAG_ID = "nblib_smoke"' in text and '("05_evaluate", ["01_eda", "02_preprocess", "04_train"])' in text
    True
    """
    from nblib.engine.params import dump_params

    exported = exported or dt.datetime.now(dt.timezone.utc)
    schedule = params.schedule
    timeout = "None" if schedule.timeout_s is None else f"dt.timedelta(seconds={schedule.timeout_s!r})"
    return (
        _environment()
        .get_template("airflow_dag.py.j2")
        .render(
            dag_id=dag_id(params.name),
            name=params.name or "run",
            folder=slug(params.name or "run", allowed=r"\w.", sep="-", limit=60, default="run"),
            final_task=FINAL_TASK,
            stages=[(s.name, sorted(PIPELINE.dependencies(s.name))) for s in PIPELINE],
            params_lines=dump_params(params).splitlines(keepends=True),
            description=(params.description or f"nblib pipeline on params {params.name}")[:1000],
            nblib=nblib,
            reports=reports,
            root=root,
            source=str(source),
            version=version,
            exported=exported.strftime("%Y-%m-%d %H:%M UTC"),
            start=exported.date(),
            cron=schedule.cron,
            catchup=schedule.catchup,
            retries=schedule.retries,
            retry_delay_s=schedule.retry_delay_s,
            timeout=timeout,
        )
    )


def dag_id(name: str | None) -> str:
    """``nblib_<params name>``, made of what Airflow allows in an id (a name changed to fit gets a hash of
    itself, so that two names stay two ids).

    >>> dag_id("smoke"), dag_id("churn v2")
    ('nblib_smoke', 'nblib_churn_v2-92fbbc')
    """
    return "nblib_" + slug(name or "run", allowed="A-Za-z0-9_", sep="_", limit=200, default="run", unique=True)


def nblib_executable() -> str:
    """The ``nblib`` command the DAG calls by default: ``NBLIB_EXECUTABLE``, else the one beside this
    Python (the exporting environment's), else the one on ``PATH``; absolute."""
    named = os.environ.get("NBLIB_EXECUTABLE")
    candidates = [named] if named else [str(Path(sys.executable).parent / "nblib"), shutil.which("nblib")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(Path(candidate).absolute())
    where = f"NBLIB_EXECUTABLE={named}: not an executable file" if named else "no nblib command beside this Python"
    raise ParamsError(f"export airflow: {where}; set NBLIB_EXECUTABLE to the nblib command the workers run")


# --------------------------------------------------------------------------- helpers


def _environment():
    """Jinja for Python source (:func:`nblib.factory.templating.source_environment`): every value goes through
    ``py`` (a Python literal) or ``doc`` (text safe inside the module's docstring)."""
    from nblib.factory.templating import source_environment

    return source_environment("python", {"py": _py, "doc": _doc})


def _py(value: Any) -> str:
    r"""A Python literal of ``value`` (str, number, bool, None, and lists or tuples of them), strings in double
    quotes (escaped as in JSON, which Python reads alike).

    >>> print(_py("it's \"x\""), _py(None), _py(["01_eda"]), _py(1.5))
    "it's \"x\"" None ["01_eda"] 1.5
    """
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_py(v) for v in value) + "]"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value)
    raise TypeError(f"no Python literal for {type(value).__name__}")


def _doc(value: Any) -> str:
    r"""``value`` as text that can neither end the module's docstring nor start an escape in it: quotes,
    backslashes and line breaks escaped as in a JSON string.

    >>> print(_doc('say "hi"\\n'))
    say \"hi\"\\n
    """
    return json.dumps(str(value), ensure_ascii=False)[1:-1]
