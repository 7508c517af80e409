"""What a notebook calls: open a stage, read its inputs, write its outputs.

>>> ctx = stage.start("04_train", run_dir, params_path)      # doctest: +SKIP
>>> train = ctx.read("train")                                 # doctest: +SKIP
>>> ctx.write("model", model)                                 # doctest: +SKIP

Only the artifacts declared for the stage in :mod:`nblib.factory.pipeline` can be read
or written. With the ``parameters`` cell's defaults (empty ``run_dir``) the
stage works in a scratch run, ``reports/scratch``, and first runs whatever
upstream stages it needs, so every notebook runs top to bottom in JupyterLab.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nblib.common.text import slug
from nblib.engine import artifacts as io
from nblib.engine.dag import Stage
from nblib.engine.errors import StageFailed
from nblib.engine.runner import missing_artifacts
from nblib.factory.params import Params, load_params
from nblib.factory.pipeline import PIPELINE
from nblib.ml.saved import TRUSTED_TYPES, for_saving, restored

__all__ = ["StageContext", "start", "safe_name", "SCRATCH"]

SCRATCH = "scratch"


@dataclass
class StageContext:
    """A stage in progress: its params, run folder and declared artifacts."""

    stage: Stage
    run_dir: Path
    params: Params
    lab_key: str | None = field(default=None, repr=False)  # set when run in JupyterLab on the scratch run
    cluster: Any = field(default=None, repr=False)  # the Dask client of compute.backend: dask

    @property
    def artifacts(self) -> Path:
        return self.run_dir / "artifacts"

    @property
    def n_jobs(self) -> int:
        """Parallelism for this stage, from the params' ``compute`` section."""
        return self.params.compute.n_jobs

    def path(self, name: str) -> Path:
        """Path of a declared input or output artifact."""
        declared = {**self.stage.inputs, **self.stage.outputs}
        if name not in declared:
            from nblib.common.text import suggest

            raise KeyError(
                f"{self.stage.name} declares no artifact {name!r}{suggest(name, list(declared))}; "
                f"declare it in nblib/pipeline.py"
            )
        return self.artifacts / declared[name]

    def has(self, name: str) -> bool:
        return self.path(name).exists()

    def read_optional(self, name: str) -> Any | None:
        """:meth:`read` an optional input (``oracle``), or ``None`` when no earlier stage wrote it."""
        return self.read(name) if self.has(name) else None

    def read(self, name: str) -> Any:
        """Read a declared input: Parquet → DataFrame, JSON → data, skops → estimator."""
        if name not in self.stage.inputs:
            raise KeyError(f"{self.stage.name} does not read {name!r}; its inputs are {list(self.stage.inputs)}")
        path = self.path(name)
        if path.suffix == ".parquet":
            return io.read_frame(path)
        if path.suffix == ".json":
            return io.read_json(path)
        if path.suffix == ".skops":
            return restored(io.read_model(path, TRUSTED_TYPES))
        raise ValueError(f"no reader for {path.name}")

    def read_rows(self, name: str) -> Any:
        """:meth:`read` a table as a DataFrame. A partitioned one (bigger than memory, from ``02_preprocess``)
        is read whole when it has at most ``data.in_memory_rows`` rows, else as a seeded sample of whole
        groups of about that many rows, said in a printed line."""
        from nblib.ml.data import tables
        from nblib.ml.data.preprocess import GROUP_COLUMN

        table = self.read(name)
        if not tables.is_partitioned(table):
            return table
        limit, total = self.params.data.in_memory_rows, tables.n_rows(table)
        rows = tables.in_memory(table, limit, self.params.seed, GROUP_COLUMN)
        if len(rows) < total:
            print(f"{name}: a seeded sample of whole groups, {len(rows):,} of its {total:,} rows (data.in_memory_rows)")
        return rows

    def write(self, name: str, value: Any) -> Path | None:
        """Write a declared output atomically, by its file type.

        ``None`` for an *optional* output (the generator's ``oracle``) writes nothing
        and returns ``None``: the stage has nothing of that kind for this data.
        """
        if name not in self.stage.outputs:
            raise KeyError(f"{self.stage.name} does not write {name!r}; its outputs are {list(self.stage.outputs)}")
        if value is None and name in self.stage.optional_outputs:
            return None
        path = self.path(name)
        writers = {".parquet": io.write_frame, ".json": io.write_json, ".skops": io.write_model}
        if path.suffix not in writers:
            raise ValueError(f"no writer for {path.name}")
        writers[path.suffix](path, for_saving(value) if path.suffix == ".skops" else value)
        if self.lab_key is not None:
            self._record_lab_run()
        return path

    def _record_lab_run(self) -> None:
        """Once every declared output is written, record the stage as done in the scratch run,
        with its cache key and output hashes: the next notebook reuses it instead of running it again."""
        from nblib.engine.integrity import hash_outputs
        from nblib.engine.manifest import record_stage

        if missing_artifacts(self.stage.outputs, self.stage.optional_outputs, self.run_dir):
            return
        record_stage(
            self.run_dir,
            {
                "name": self.stage.name,
                "title": self.stage.title,
                "status": "succeeded",
                "executed_in": "JupyterLab",
                "seconds": None,
                "cache_key": self.lab_key,
                "outputs": hash_outputs(self.stage, self.run_dir),
            },
            PIPELINE.names(),
        )

    def scratch(self) -> Path:
        """A hidden folder in ``artifacts/`` for intermediate files (a partitioned table's cleaned partitions,
        which the cluster's workers must see too); :meth:`outputs` removes it."""
        folder = self.artifacts / f".scratch-{self.stage.name}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def outputs(self) -> Any:
        """Table of this stage's declared outputs: file, whether written, size (a partitioned table's: all
        its files). Removes the :meth:`scratch` folder: every output is written by now."""
        import shutil

        import pandas as pd

        shutil.rmtree(self.artifacts / f".scratch-{self.stage.name}", ignore_errors=True)
        rows = []
        for name, rel in self.stage.outputs.items():
            path = self.artifacts / rel
            files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path] if path.exists() else []
            rows.append(
                {
                    "artifact": name,
                    "file": f"artifacts/{rel}",
                    "written": path.exists(),
                    "kB": round(sum(f.stat().st_size for f in files) / 1024, 1) if path.exists() else None,
                }
            )
        return pd.DataFrame(rows).set_index("artifact")

    def progress(self, text: str) -> None:
        """Tell the terminal what the stage is doing now (one short line; shown beside the stage's name)."""
        from nblib.engine.progress import report_progress

        report_progress(self.run_dir, self.stage.name, text)

    def challenge(
        self, predictions: Any, metrics: dict[str, Any], leaks: dict[str, Any] | None = None, rows: Any = None
    ) -> dict[str, Any]:
        """:func:`nblib.tracking.challenge` for this run: its data's fingerprint and its reports folder;
        ``rows``, the test rows scored, let a champion trained on other data be scored on them."""
        from nblib import tracking
        from nblib.factory.app import data_fingerprint, reports_dir

        return tracking.challenge(
            self.params,
            predictions,
            metrics,
            leaks=leaks,
            data_sha256=data_fingerprint(self.params),
            reports_dir=reports_dir(),
            rows=rows,
        )

    def show(self, name: str, figure: Any) -> None:
        """Save a figure under ``artifacts/figures/<stage>/<name>.png`` and display it.

        ``name`` may hold anything (a column name from the user's data): it becomes
        a safe file name inside the run folder (:func:`safe_name`). Returns nothing, so
        a cell ending with it shows the figure, not a ``PosixPath(...)`` echo.
        """
        path = io.write_figure(self.artifacts / self.stage.figures_dir / f"{safe_name(name)}.png", figure)
        try:
            from IPython.display import Image, display

            display(Image(filename=str(path)))
        except ImportError:  # pragma: no cover - IPython ships with jupyter
            pass

    def show_all(self, figures: Mapping[str, Any], empty: str | None = None) -> None:
        """:meth:`show` each figure of ``figures`` (name → figure), in order; print ``empty``
        when there is none (e.g. "no hyperparameter search: ...")."""
        for name, figure in figures.items():
            self.show(name, figure)
        if not figures and empty:
            print(empty)

    @staticmethod
    def display_all(items: Iterable[Any], empty: str | None = None) -> None:
        """Display each table (or other object) of ``items``; print ``empty`` when there is none."""
        items = list(items)
        if not items:
            if empty:
                print(empty)
            return
        try:
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython ships with jupyter
            display = print
        for item in items:
            display(item)

    @staticmethod
    def say(*lines: str | None) -> None:
        """Print each line that is not empty or ``None`` (nothing at all when none is)."""
        for line in lines:
            if line:
                print(line)


def start(name: str, run_dir: str | Path = "", params_path: str | Path = "") -> StageContext:
    """Open stage ``name``.

    Parameters
    ----------
    name : str
        Stage name, e.g. ``"02_preprocess"``.
    run_dir : str or Path, default=""
        Run folder; empty means the scratch run ``reports/scratch``.
    params_path : str or Path, default=""
        Params file; empty means the run's ``params.yaml`` (an existing run) or
        ``params/default.yaml`` (scratch run).
    """
    from nblib.factory.app import project_root, reports_dir, start_run

    stage = PIPELINE[name]
    scratch = not str(run_dir)
    run = _resolve(run_dir) if not scratch else reports_dir() / SCRATCH
    if params_path:
        params_file = _resolve(params_path)
    elif not scratch and (run / "params.yaml").exists():
        params_file = run / "params.yaml"
    else:  # the notebook's defaults: always the default params, whatever ran in scratch before
        params_file = project_root() / "params" / "default.yaml"
    # a run's own params.yaml was validated, data included, when the run was made
    params = load_params(params_file, check_data=params_file != run / "params.yaml")
    if scratch:
        upstream = [s.name for s in PIPELINE.upstream(name)]
        if upstream:
            result = start_run(params, run_dir=run, stages=upstream, force=False, progress=True)
            if result.error is not None:
                raise result.error
    missing = missing_artifacts(stage.inputs, stage.optional_inputs, run)
    if missing:
        raise StageFailed(
            name,
            f"{run}: missing input artifacts {missing}; run the upstream stages first "
            f"(nblib run PARAMS) or leave run_dir empty for a scratch run",
        )
    (run / "artifacts").mkdir(parents=True, exist_ok=True)
    ctx = StageContext(stage=stage, run_dir=run, params=params.declared(stage.name, stage.sections))
    if params.compute.backend == "dask":
        from nblib.engine.cluster import connect

        conf = params.compute.dask
        ctx.cluster = connect(conf.address, **conf.local_cluster())
    if scratch:
        ctx.lab_key = _lab_key(stage, run, params)
    return ctx


def _lab_key(stage: Stage, run: Path, params: Params) -> str | None:
    """The cache key the runner would give this stage now; the stage's old record is withdrawn
    (its outputs are about to be rewritten)."""
    from nblib.engine.manifest import record_stage
    from nblib.factory.app import data_fingerprint, make_runner, stage_sections

    key = make_runner(progress=False).cache_key(
        stage, run, stage_sections(params)(stage.sections), data_fingerprint(params)
    )
    record_stage(
        run,
        {
            "name": stage.name,
            "title": stage.title,
            "status": "running",
            "executed_in": "JupyterLab",
            "seconds": None,
            "cache_key": key,
        },
        PIPELINE.names(),
    )
    return key


def _resolve(path: str | Path) -> Path:
    """A path as given (absolute, or existing from the working directory), else from the project root."""
    from nblib.factory.app import project_root

    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (project_root() / path).resolve()


def safe_name(name: str, limit: int = 80) -> str:
    """A file name made from anything: letters, digits, ``-`` and ``_`` only, never empty or hidden.

    A short hash of the original keeps two names apart once their other characters are gone.

    >>> safe_name("by_../../../../tmp/x")
    'by__tmp_x-5b10ae'
    >>> safe_name("price")
    'price'
    """
    return slug(name, limit=limit, default="figure", unique=True)
