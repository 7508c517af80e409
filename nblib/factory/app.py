"""Wiring: the nblib pipeline, params schema and reports joined to the generic engine.

The CLI and the notebooks' stage helper both go through here, so a run made
from a terminal and one made from JupyterLab are made the same way.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nblib.engine.errors import StageFailed
from nblib.factory.params import Params, load_params
from nblib.factory.pipeline import PIPELINE

if TYPE_CHECKING:  # the runner and the reports are imported when a run starts: refusing bad params stays fast
    from nblib.engine.runner import Runner, RunResult

__all__ = ["project_root", "reports_dir", "make_runner", "start_run", "load", "data_fingerprint"]

WARMUP = (
    "import pandas, numpy, sklearn, matplotlib.pyplot, "
    "nblib.ml.evaluation.metrics, nblib.ml.evaluation.plots, nblib.factory.stage"
)

#: What every run's manifest records the version of (each stage's record adds what its kernel imported).
VERSIONED_PACKAGES = (
    "nblib",
    "papermill",
    "nbconvert",
    "nbdime",
    "jupyterlab",
    "pandas",
    "numpy",
    "scikit-learn",
    "matplotlib",
    "pyarrow",
    "pydantic",
    "skops",
)


def project_root() -> Path:
    """The folder holding ``notebooks/`` and ``params/``.

    ``NBLIB_ROOT`` wins; else the checkout this package was installed from
    (editable install); else the nearest parent of the working directory.
    """
    if os.environ.get("NBLIB_ROOT"):
        return Path(os.environ["NBLIB_ROOT"]).resolve()
    candidates = [Path(__file__).resolve().parents[2], *Path.cwd().resolve().parents]
    candidates.insert(1, Path.cwd().resolve())
    for folder in candidates:
        if (folder / "notebooks").is_dir() and (folder / "params").is_dir():
            return folder
    raise FileNotFoundError("cannot find the nblib project folder (with notebooks/ and params/); set NBLIB_ROOT")


def reports_dir() -> Path:
    return Path(os.environ.get("NBLIB_REPORTS", project_root() / "reports")).resolve()


def make_runner(*, progress: bool = True, cell_timeout_s: float | None = None, parallel_stages: int = 2) -> Runner:
    from nblib.engine.runner import Runner

    return Runner(
        pipeline=PIPELINE,
        notebooks_dir=project_root() / "notebooks",
        reports_dir=reports_dir(),
        on_finish=_finish,
        progress=progress,
        warmup_code=WARMUP,
        code_paths=(Path(__file__).resolve().parents[1],),  # the whole nblib package
        versioned_packages=VERSIONED_PACKAGES,
        cell_timeout_s=cell_timeout_s,
        parallel_stages=parallel_stages,
    )


def start_run(
    params: Params,
    *,
    run_dir: Path | None = None,
    stages: list[str] | None = None,
    force: bool | list[str] = False,
    progress: bool = True,
    label: str | None = None,
    defer_tracking: bool = False,
) -> RunResult:
    """Run ``stages`` (default all) of ``params`` in ``run_dir`` (default: a new dated folder).

    Stages whose result is in the cache are reused unless ``force`` is ``True``
    (run everything) or names them (or a stage upstream of them).

    ``defer_tracking``: the run is one step of a run a scheduler makes stage by stage
    (``nblib export airflow``). When its stages succeed it is not logged to MLflow, and no
    model is registered or promoted: the scheduler's last step, a run of the whole pipeline
    in the same folder, does that once. A failure or a gate is logged at once, as always.

    The folder that will be written (``run_dir``, else the reports folder) is
    checked for writability first: a read-only one is one line, exit 2, before
    anything is made or run.
    """
    from nblib.engine.artifacts import check_writable
    from nblib.engine.params import dump_params, params_sha256
    from nblib.engine.runner import new_run_dir

    runner = make_runner(
        progress=progress, cell_timeout_s=params.compute.cell_timeout_s, parallel_stages=params.compute.parallel_stages
    )
    if defer_tracking:
        runner.on_finish = functools.partial(_finish, defer_tracking=True)
    check_writable(run_dir or runner.reports_dir)
    from nblib import tracking

    if params.tracking.enabled:
        tracking.prestart()
        tracking.open_store(tracking.settings(params.model_dump(), runner.reports_dir)["uri"])
    else:
        tracking.stop_helper()
    label = label or params.name or "run"
    with compute_cluster(params, runner.reports_dir if run_dir is None else run_dir.parent) as cluster:
        run_dir = run_dir or new_run_dir(runner.reports_dir, _folder_name(label))
        result = runner.run(
            run_dir,
            dump_params(params),
            params_hash=params_sha256(params),
            sections=stage_sections(params),
            data_sha256=data_fingerprint(params),
            stages=stages,
            force=force,
            label=label,
            lineage=params.name or "run",  # the why-line compares with runs of these params, not another dataset's
        )
        if isinstance(result.error, StageFailed) and cluster is not None and cluster.lost():
            where = cluster.address or "the LocalCluster"
            result.error = StageFailed(
                result.error.stage,
                f"{result.error.reason}: the Dask cluster at {where} was lost; once it answers again, run the "
                f"same command with --resume {run_dir} to run what did not finish",
            )
    return result


def _notify(run_dir: Path, manifest: dict[str, Any]) -> None:
    """``notify.on_failure`` / ``notify.on_promotion`` of the run's params: the user's commands, told what
    happened; the manifest records each call. Called at the end of :func:`_finish`, while the run holds its
    folder."""
    import yaml

    try:
        conf = (yaml.safe_load((run_dir / "params.yaml").read_text()) or {}).get("notify") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return
    commands = {"failure": conf.get("on_failure"), "promotion": conf.get("on_promotion")}
    if not any(commands.values()):
        return
    from nblib.factory.notify import notify

    done = notify(run_dir, manifest.get("status", "failed"), manifest, commands, timeout_s=conf.get("timeout_s", 60))
    if done:
        manifest["notify"] = done
        _save_manifest(run_dir, manifest)


#: The Dask cluster of the run in progress (``compute.backend: dask``), for the manifest.
_CLUSTER: list[Any] = []


@contextlib.contextmanager
def compute_cluster(params: Params, shared_dir: Path):
    """``compute.backend: dask``: the run's cluster, started or joined before anything is made or run, and
    stopped after (errors, Ctrl-C and SIGTERM included). Local backend: nothing."""
    if params.compute.backend != "dask":
        yield None
        return
    from nblib.engine.cluster import Cluster
    from nblib.engine.signals import interrupts

    conf = params.compute.dask
    cluster = Cluster(conf.address, **conf.local_cluster(), dashboard=conf.dashboard, shared_dir=shared_dir)
    with interrupts(), cluster:  # a signal while the cluster starts still stops it
        print(cluster.describe(), file=sys.stderr)
        _CLUSTER.append(cluster)
        try:
            yield cluster
        finally:
            _CLUSTER.remove(cluster)


def stage_sections(params: Params):
    """What each stage's cache key reads of the params: their sections, plus, for a stage that
    compares with the registry's champion (``tracking`` declared, ``evaluate.promote`` on),
    who the champion is now, so that a new champion makes the comparison run again. With
    ``evaluate.promote`` off the ``tracking`` section is left out of the key."""
    champion: list[str] = []

    def sections(names: tuple[str, ...]) -> dict[str, Any]:
        out = params.sections(names)
        if "tracking" in names and not params.evaluate.promote:
            del out["tracking"]  # read only to find the champion: where runs are logged changes no result
        elif "tracking" in names:
            if not champion:
                from nblib.tracking import champion_key

                champion.append(champion_key(params.tracking.model_dump(), {"name": params.name}, reports_dir()))
            out["tracking"] = {**out["tracking"], "champion": champion[0]}
        return out

    return sections


def run_label(params: Params, overrides: list[str] = ()) -> str:
    """How a run is told apart from its siblings: ``default · train.cv_folds=3``."""
    shown = [o.strip() for o in overrides if not o.strip().startswith("compute.")]  # n_jobs changes no result
    return " · ".join([params.name or "run", *shown])


def _folder_name(label: str, limit: int = 60) -> str:
    """``default · train.cv_folds=3`` -> ``default-cv_folds=3`` (the runner makes it a safe slug)."""
    name, *overrides = label.split(" · ")
    short = [o.split("=", 1)[0].rsplit(".", 1)[-1] + "=" + o.split("=", 1)[-1] for o in overrides]
    return "-".join([name, *short])[:limit]


def data_fingerprint(params: Params) -> str:
    """Hash of the input data: the file's bytes (each partition's, in order), or the generator's recipe."""
    from nblib.engine.artifacts import sha256_file

    if params.data.is_generated:
        import hashlib
        import json

        from nblib import __version__

        recipe = {
            "generator": "product_launches",
            "version": __version__,
            "n_rows": params.data.n_rows,
            "seed": params.seed,
        }
        return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    from nblib.ml.data.datasets import table_files

    files = table_files(params.data.source)
    if len(files) == 1:
        return sha256_file(files[0])
    import hashlib

    digest = hashlib.sha256()  # a table in partitions: each one's name (within the table) and bytes, in order
    for path in files:
        digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def load(paths: list[str | Path], overrides: list[str] = (), jobs: int | None = None) -> Params:
    """Load params for a run; ``jobs`` overrides ``compute.n_jobs``."""
    overrides = list(overrides) + ([f"compute.n_jobs={jobs}"] if jobs is not None else [])
    return load_params(paths, overrides)


def _finish(run_dir: Path, manifest: dict[str, Any], *, defer_tracking: bool = False):
    """After the stages: MLflow, model card, summary, index. Returns the gate error when the
    model had to become champion (``evaluate.require_promotion``) and did not, after all.

    With ``defer_tracking`` a run that succeeded is not logged (see :func:`start_run`)."""
    from nblib.factory import pages
    from nblib.factory.card import write_model_card

    if _CLUSTER:  # the backend, the workers and the tasks each ran, while they are still up
        manifest["compute"] = _CLUSTER[-1].record()
        _save_manifest(run_dir, manifest)
    _flag(run_dir, manifest)  # before anything shows the run's score: "leak?" goes wherever the score does
    deferred = defer_tracking and manifest.get("status") == "succeeded"
    tracked = not deferred and _track(run_dir, manifest)  # first: the summary and model card show it
    late = None
    promotion = (manifest.get("tracking") or {}).get("promotion") or {}
    if promotion.get("gated") and manifest.get("status") == "succeeded":
        from nblib.engine.errors import GateFailed

        late = GateFailed(f"evaluate.require_promotion: {promotion.get('reason')}")
        manifest.update(status="gated", error=str(late))
        _save_manifest(run_dir, manifest)
    write_model_card(run_dir, manifest)  # before the summary and index, which link to it
    pages.write_summary(run_dir, manifest)
    if tracked:
        from nblib import tracking

        try:
            tracking.finish(run_dir, manifest.get("status", "failed"))
        except tracking.TrackingError as exc:
            _tracking_warning(run_dir, manifest, str(exc))
            pages.write_summary(run_dir, manifest)
    if run_dir.parent.parent == reports_dir():
        pages.write_index(reports_dir())
    _notify(run_dir, manifest)
    return late


def _flag(run_dir: Path, manifest: dict[str, Any]) -> None:
    """Mark the run in its manifest (``flags``, with one line each in ``flag_notes``) when it keeps
    a likely leak (:func:`nblib.ml.data.leaks.kept_likely`): the index, ``nblib list``, ``compare``,
    ``diff`` and the sweep page show the mark beside its score without knowing ML file names."""
    from nblib.engine.artifacts import read_json_or_none
    from nblib.ml.data import leaks

    try:
        kept = leaks.kept_likely(read_json_or_none(run_dir / "artifacts" / "leaks.json"))
    except (OSError, ValueError):
        kept = []
    flags = [f for f in manifest.get("flags") or [] if f != leaks.MARK]
    notes = {k: v for k, v in (manifest.get("flag_notes") or {}).items() if k != leaks.MARK}
    if kept:
        flags.append(leaks.MARK)
        notes[leaks.MARK] = leaks.fix_hint(kept)
    if flags or "flags" in manifest:
        manifest.update(flags=flags, flag_notes=notes)
        _save_manifest(run_dir, manifest)


def _track(run_dir: Path, manifest: dict[str, Any]) -> bool:
    """Log the run to MLflow, register its model and move ``@champion`` if 05 said so; the
    record goes into the manifest. False when tracking is off or the store failed: then the
    manifest, the terminal and the summary carry a warning, and the run is complete all the same."""
    import yaml

    try:
        params = yaml.safe_load((run_dir / "params.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    if not (params.get("tracking") or {}).get("enabled", True):
        return False
    from nblib import tracking

    conf = tracking.settings(params, reports_dir())
    try:
        manifest["tracking"] = tracking.log(run_dir, manifest, params, conf)
    except tracking.TrackingError as exc:
        manifest["tracking"] = {"uri": tracking.shown_uri(conf["uri"]), "experiment": conf["experiment"]}
        _tracking_warning(run_dir, manifest, str(exc))
        return False
    if manifest["tracking"].get("model_error"):
        _tracking_warning(run_dir, manifest, manifest["tracking"]["model_error"], key="model_error")
    _save_manifest(run_dir, manifest)
    return True


def _tracking_warning(run_dir: Path, manifest: dict[str, Any], text: str, key: str = "error") -> None:
    import sys

    uri = (manifest.get("tracking") or {}).get("uri", "")
    line = f"tracking: {text} (store {uri}); the run itself is complete in {run_dir}"
    manifest.setdefault("tracking", {})[key] = text
    manifest.setdefault("warnings", []).append(line)
    print(f"warning: {line}", file=sys.stderr)
    _save_manifest(run_dir, manifest)


def _save_manifest(run_dir: Path, manifest: dict[str, Any]) -> None:
    from nblib.engine.manifest import ManifestWriter

    ManifestWriter(run_dir / "manifest.json", manifest).save()
