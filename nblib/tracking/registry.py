"""A run's model in the MLflow model registry: the logged pyfunc, its pinned requirements, the
registered version with its tags, and the ``@champion`` alias that names the model in service.

A succeeded run's final pipeline is logged as a pyfunc model from code (:mod:`nblib.tracking.serving`,
which loads the skops file with the trusted types) and registered as a new version of
``tracking.model_name`` (:func:`register_model`); a pipeline logged before byte for byte (a cached
``04_train``) is not logged again. The first version registered under a name becomes ``@champion``
by itself (:func:`first_champion`), unless it keeps a likely leak; after that only a promotion moves
the alias (:mod:`nblib.tracking.promotion`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

from nblib.tracking.records import _chosen
from nblib.tracking.session import TrackingError, _client, _fluent, _sessions, helper, serves, settings

__all__ = ["CHAMPION", "register_model", "first_champion", "champion_key"]

CHAMPION = "champion"
#: Always required by the logged model: MLflow, skops and the scientific stack its pipeline is made of.
_BASE_REQUIREMENTS = ("mlflow", "scikit-learn", "imbalanced-learn", "skops", "pandas", "numpy", "scipy", "pyarrow")
#: The distribution of each top-level module a saved model may name, where the two differ or are known.
_IMPORTED_AS = {
    "sklearn": "scikit-learn",
    "imblearn": "imbalanced-learn",
    "numpy": "numpy",
    "scipy": "scipy",
    "pandas": "pandas",
    "skops": "skops",
    "pyarrow": "pyarrow",
    "torch": "torch",
    "skorch": "skorch",
}
#: nblib classes (or modules) whose packages their modules import only when fitting, so that the
#: classes a model file names do not show them.
_NEEDS = {"nblib.ml.training.nn": ("torch", "skorch"), "nblib.ml.training.imbalance.ConditionalGANSampler": ("torch",)}


def register_model(
    client,
    conf: dict[str, Any],
    *,
    run_id: str,
    art: Path,
    manifest: dict[str, Any],
    rows_hash: str | None,
    metrics: dict[str, Any] | None,
    leaks: list[str],
) -> dict[str, Any]:
    """Log the pipeline in ``art`` as a pyfunc model from code in the MLflow run ``run_id`` and register
    a new version of ``conf["model_name"]``: ``{"name", "version", "uri"}``. A pipeline already logged
    byte for byte (a cached ``04_train``) is not logged again: its version is returned, with
    ``"already_registered": True``."""
    from nblib import __version__

    name, metrics = conf["model_name"], metrics or {}
    digest = _model_digest(art, metrics)
    registered = _registered(client, name)
    same = None
    if registered and "'" not in name:
        found = client.search_model_versions(
            f"name = '{name}' and tags.`nblib.model_sha256` = '{digest}'", max_results=1
        )
        same = found[0] if found else None
    if same is not None:  # the same pipeline (a cached 04_train): its version, not one more
        return {
            "name": name,
            "version": int(same.version),
            "uri": f"models:/{name}/{same.version}",
            "already_registered": True,
        }
    import mlflow

    with _fluent(conf["uri"]), mlflow.start_run(run_id=run_id, log_system_metrics=False):
        source = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("serving.py")),
            artifacts={
                "model": str(art / "model.skops"),
                "columns": str(art / "columns.json"),
                "metrics": str(art / "metrics.json"),
            },
            pip_requirements=_requirements(metrics, art / "model.skops"),
            metadata={
                "nblib_version": __version__,
                "run_id": manifest.get("run_id", ""),
                "loads_with": "skops, nblib.ml.saved.TRUSTED_TYPES",
            },
        ).model_uri
    primary = str(metrics.get("primary_metric", ""))
    tags = {
        "nblib.run_id": manifest.get("run_id", ""),
        "nblib.label": manifest.get("label", ""),
        "nblib.data_sha256": manifest.get("data_sha256") or "",
        "nblib.test_rows_sha256": rows_hash or "",
        "nblib.model_sha256": digest,
        "nblib.primary_metric": primary,
        "nblib.test_value": str((metrics.get("test") or {}).get(primary, "")),
        "nblib.leak_suspect": "true" if leaks else "false",
    }
    description = (
        f"{manifest.get('label', '')}: {_chosen(metrics).get('label', '')} from nblib run {manifest.get('run_id', '')}"
    )
    with _fluent(conf["uri"]):  # a models:/ source is resolved through MLflow's module-level URI
        version = _register(client, name, registered, source, run_id, tags, description)
    return {"name": name, "version": int(version.version), "uri": f"models:/{name}/{version.version}"}


def _register(client, name: str, registered: bool, source: str, run_id: str, tags: dict[str, str], description: str):
    if not registered:
        try:
            client.create_registered_model(name)
        except Exception:  # registered by a concurrent run (a sweep) in the meantime
            if not _registered(client, name):
                raise
    return client.create_model_version(name, source, run_id=run_id, tags=tags, description=description)


def first_champion(client, model: dict[str, Any], leaks: list[str]) -> None:
    """Make the new version ``model`` (``{"name", "version"}``) ``@champion`` when the model has never
    had one, so that ``models:/NAME@champion`` resolves after the first run; later versions become
    champion only through promotion. A version that keeps a likely leak (``leaks``) never does (the
    next clean version becomes the first champion instead), nor does a pipeline registered before.
    Sets ``model["champion"] = "first"`` when it moved the alias."""
    name = model["name"]
    if model.get("already_registered") or leaks or _champion(client, name) is not None:
        return
    if "'" in name or client.search_model_versions(
        f"name = '{name}' and tags.`nblib.promoted` = 'true'", max_results=1
    ):
        return  # a champion existed and its alias was removed on purpose: only a promotion sets one again
    client.set_registered_model_alias(name, CHAMPION, str(model["version"]))
    client.set_model_version_tag(name, str(model["version"]), "nblib.promoted", "true")
    model["champion"] = "first"


def champion_key(tracking: dict[str, Any], params: dict[str, Any], reports_dir: str | Path) -> str:
    """Who the champion is now (name, version, run): part of ``05_evaluate``'s cache key when it
    promotes, so that a new champion makes the comparison run again."""
    running = helper()
    if running is not None and running.alive() and not _sessions:
        with contextlib.suppress(TrackingError):
            return running.call("champion_key", tracking=tracking, params=params, reports_dir=str(reports_dir))
    return _champion_key_here(tracking, params, reports_dir)


@serves("champion_key")
def _champion_key_here(tracking: dict[str, Any], params: dict[str, Any], reports_dir: str | Path) -> str:
    conf = settings({**params, "tracking": tracking}, reports_dir)
    try:
        client = _client(conf["uri"])
        current = _champion(client, conf["model_name"])
    except Exception as exc:  # noqa: BLE001 - an unreachable store: compare again next time
        return f"unknown ({type(exc).__name__})"
    return f"{conf['model_name']} v{current.version} ({current.run_id})" if current else "none"


def _registered(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException:
        return False


def _champion(client, name: str):
    """The model version ``@champion`` of ``name``, or None (no such model, or no alias yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def _model_digest(art: Path, metrics: dict[str, Any]) -> str:
    """What a logged model is made of: the skops file, the column roles, the decision threshold."""
    from nblib.engine.artifacts import sha256_file

    parts = [sha256_file(art / "model.skops"), sha256_file(art / "columns.json"), repr(metrics.get("threshold"))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


# --------------------------------------------------------------------------- requirements


def _requirements(metrics: dict[str, Any] | None, model_path: str | Path | None = None) -> list[str]:
    """``name==version`` of every installed distribution the logged model needs: the base stack, the
    distributions whose classes ``model_path`` (a skops file) names, and torch and skorch when the
    chosen model or a member of it is an MLP (from the ``metrics.json`` record or the file).

    >>> [line.split("==")[0] for line in _requirements({"chosen": {"name": "logistic_regression"}})][:3]
    ['mlflow', 'scikit-learn', 'imbalanced-learn']
    """
    from importlib.metadata import PackageNotFoundError, version

    names = list(_BASE_REQUIREMENTS)
    chosen = _chosen(metrics)
    if any(str(name).startswith("mlp") for name in [chosen.get("name", ""), *chosen.get("members", [])]):
        names += ["torch", "skorch"]
    if model_path is not None:
        names += _file_requirements(model_path)
    out = []
    for name in dict.fromkeys(names):
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return out


def _file_requirements(model_path: str | Path) -> list[str]:
    """The distributions of the classes a skops file names (:func:`_model_types`) outside the standard
    library and nblib, and those nblib's classes among them need (:data:`_NEEDS`). A file that cannot be
    read gives none: the model is logged as before, from the record alone."""
    from nblib.ml import MOVED

    try:
        types = _model_types(model_path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return []
    out: list[str] = []
    roots = set()
    for path in sorted(types):
        module, _, attr = path.rpartition(".")
        module = MOVED.get(module, module)  # a file saved before the house move names the old module
        out += [need for where, needs in _NEEDS.items() if where in (module, f"{module}.{attr}") for need in needs]
        roots.add(module.partition(".")[0])
    roots -= {"", "nblib", *sys.stdlib_module_names}
    for root in sorted(roots):
        out += [_IMPORTED_AS[root]] if root in _IMPORTED_AS else _distributions().get(root, [])
    return out


def _model_types(model_path: str | Path) -> set[str]:
    """Every class path (``module.Class``) a skops file names: the ``__module__`` and ``__class__`` of each
    node of its ``schema.json``, read without importing skops, scikit-learn or torch (seconds each)."""
    with zipfile.ZipFile(model_path) as archive:
        schema = json.loads(archive.read("schema.json"))
    found: set[str] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("__module__"), str) and isinstance(node.get("__class__"), str):
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _distributions() -> dict[str, list[str]]:
    """Top-level module → the installed distributions that provide it (about 1 s: only for a module
    that :data:`_IMPORTED_AS` does not name)."""
    from importlib.metadata import packages_distributions

    return packages_distributions()
