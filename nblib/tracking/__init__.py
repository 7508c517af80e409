"""MLflow tracking, the model registry and champion/challenger promotion.

Each pipeline run becomes one MLflow run, logged explicitly (no autologging) from what
the run folder holds, after the stages:

- **params**: the resolved params, flattened (``train.models.random_forest.n_estimators``);
- **metrics**: test metrics with their interval (``test.roc_auc``, ``test.roc_auc.ci_low``,
  ``test.roc_auc.ci_high``), every family's CV mean and spread, the threshold, stage seconds;
  the learning curve and per-iteration / per-epoch curves as step metrics;
- **child runs**: one per CV candidate (fold scores as steps), and under a searched family
  one per search trial;
- **artifacts**: summary, model card, stage notebooks and HTML, figures, the JSON records and
  the test predictions;
- **tags**: run folder, label, git commit, data hash, test-rows hash, status.

A succeeded run's final pipeline is logged as a pyfunc model from code (:mod:`nblib.tracking.serving`,
which loads the skops file with the trusted types) and registered as a new version of
``tracking.model_name``. With ``evaluate.promote`` the ``05_evaluate`` stage compares the new
model with the current ``@champion`` on the same test rows (:func:`challenge`); the alias moves
only when that paired test says the new one is better. The first version registered under a name
becomes ``@champion`` by itself (:meth:`Session._first_champion`), unless it keeps a likely leak.

A store that cannot be reached costs a warning (terminal, manifest, summary), never the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nblib.engine.artifacts import read_json_or_none
from nblib.ml.evaluation.metrics import check_promotion  # noqa: F401 (the notebooks' and tests' tracking.check_promotion)
from nblib.ml.evaluation.scoring import LOWER_IS_BETTER as _LOWER_IS_BETTER

__all__ = [
    "CHAMPION",
    "TrackingError",
    "settings",
    "prestart",
    "open_store",
    "stop_helper",
    "log",
    "finish",
    "describe",
    "challenge",
    "champion_key",
    "decide",
    "kept_leaks",
    "check_promotion",
    "test_rows_sha256",
    "flatten_params",
]

CHAMPION = "champion"
STORE_DIR = ".mlflow"
_STATUS = {"succeeded": "FINISHED", "gated": "FAILED", "failed": "FAILED", "interrupted": "KILLED"}
_QUIET = ("alembic", "mlflow", "urllib3", "git")
_KEY = re.compile(r"[^\w\-. /]")
_MAX_PARAM = 6000
_EVIDENCE = ("predictions.parquet", "metrics.json")
_helper: "_Helper | None" = None
_sessions: dict[str, "Session"] = {}
_clients: dict[str, Any] = {}


class TrackingError(Exception):
    """The tracking store could not be reached or refused a write (one line, said as a warning)."""


# --------------------------------------------------------------------------- settings


def settings(params: dict[str, Any], reports_dir: str | Path) -> dict[str, Any]:
    """Where a run is tracked: ``{"enabled", "uri", "experiment", "model_name", "artifact_location",
    "register_model"}`` from the params' ``tracking`` section (a dict, as in ``params.yaml``).

    >>> s = settings({"name": "churn v2", "tracking": {}}, "/r")
    >>> s["uri"], s["model_name"], s["artifact_location"]
    ('sqlite:////r/.mlflow/mlflow.db', 'nblib-churn-v2', 'file:///r/.mlflow/artifacts')
    """
    tracking = dict(params.get("tracking") or {})
    store = Path(reports_dir) / STORE_DIR
    uri = tracking.get("uri") or f"sqlite:///{store / 'mlflow.db'}"
    location = None
    if uri.startswith("sqlite:///"):  # MLflow's default would be ./mlruns under whatever folder the run started in
        location = (Path(uri[len("sqlite:///"):]).parent / "artifacts").resolve().as_uri()
    name = tracking.get("model_name") or "nblib-" + (re.sub(r"[^\w.-]+", "-", str(params.get("name") or "run"))
                                                     .strip("-") or "run")
    return {"enabled": tracking.get("enabled", True), "uri": uri, "experiment": tracking.get("experiment") or "nblib",
            "model_name": name, "artifact_location": location,
            "register_model": tracking.get("register_model", True)}


def prestart(uri: str | None = None) -> None:
    """Start the tracking helper process now, so that importing MLflow (about 3 s with the store)
    happens on the other core while params load and stages run; ``uri`` is opened at once.
    Idempotent; never raises."""
    global _helper
    if _helper is None and os.environ.get("NBLIB_TRACKING_HELPER", "1") != "0":
        import atexit

        try:
            _helper = _Helper(uri)
        except OSError:
            _helper = None
        else:
            atexit.register(stop_helper)


def open_store(uri: str) -> None:
    """Have the helper open (and if need be create: about 2 s) the store now, while the stages run;
    returns at once. Nothing happens without a helper: the store is then opened when logging."""
    if _helper is not None and _helper.alive():
        _helper.send("open", uri=uri)


def stop_helper() -> None:
    """Stop the helper (tracking turned out to be off, or the process ends)."""
    global _helper
    if _helper is not None:
        _helper.close()
        _helper = None


def log(run_dir: str | Path, manifest: dict[str, Any], params: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    """Log the run (:meth:`Session.start`), register its model and move ``@champion`` if ``05`` said so.

    Returns the tracking record for the manifest. Goes through the helper process when one was
    started (:func:`prestart`), else runs here. Raises :class:`TrackingError` when the store fails.
    """
    run_dir = str(Path(run_dir).resolve())
    if _helper is not None and _helper.alive():
        return _helper.call("log", run_dir=run_dir, manifest=manifest, params=params, conf=conf)
    return _handle({"op": "log", "run_dir": run_dir, "manifest": manifest, "params": params, "conf": conf})


def finish(run_dir: str | Path, status: str) -> None:
    """Log the run's pages and end its MLflow run with ``status`` (see :meth:`Session.finish`)."""
    run_dir = str(Path(run_dir).resolve())
    if run_dir in _sessions:
        _handle({"op": "finish", "run_dir": run_dir, "status": status})
    elif _helper is not None:
        _helper.call("finish", run_dir=run_dir, status=status)


def describe(record: dict[str, Any] | None) -> str | None:
    """One line for the terminal: ``run 1a2b… in nblib · model nblib-smoke v3 · @champion``.

    >>> describe({"run_id": "0123456789abcdef", "experiment": "nblib", "model": {"name": "m", "version": 2}})
    'run 0123456789ab in experiment nblib · model m version 2'
    """
    if not record or record.get("error"):
        return None
    text = f"run {str(record.get('run_id', ''))[:12]} in experiment {record.get('experiment')}"
    if record.get("model"):
        text += f" · model {record['model']['name']} version {record['model']['version']}"
    if record.get("model", {}).get("already_registered"):
        text += " (already registered)"
    promotion = record.get("promotion")
    if record.get("model", {}).get("champion") == "first" and not (promotion or {}).get("promoted"):
        text += " · @champion (the first version)"
    if promotion:
        text += " · now @champion" if promotion.get("promoted") else " · " + {
            "keep": "the champion stays", "refused": "not compared with the champion",
            "leak": "not promoted: keeps a likely leak",
            "unknown": "no champion decision"}.get(promotion.get("decision"), "not promoted")
    return text


def _handle(request: dict[str, Any]) -> Any:
    """One request, in whichever process holds the sessions."""
    op = request["op"]
    if op == "log":
        session = Session(Path(request["run_dir"]), request["manifest"], request["params"], request["conf"])
        _sessions[request["run_dir"]] = session
        try:
            with _guard("log the run"):
                session.start()
        except TrackingError as exc:
            session.abandon(request["manifest"].get("status", "failed"))
            _sessions.pop(request["run_dir"], None)
            if session.run_id:
                raise TrackingError(f"{exc} (MLflow run {session.run_id} is incomplete)") from None
            raise
        try:
            promotion = session.promote()
        except TrackingError as exc:  # only a promote decision reaches the store: the alias did not move
            required = bool((request["params"].get("evaluate") or {}).get("require_promotion"))
            promotion = {"decision": "promote", "promoted": False, "reason": f"not promoted: {exc}", "gated": required}
        if promotion is not None:
            session.record["promotion"] = promotion
        return session.record
    if op == "finish":
        session = _sessions.pop(request["run_dir"], None)
        if session is not None:
            session.finish(request["status"])
        return None
    if op == "open":
        _client(request["uri"])
        return None
    if op == "champion_key":
        return champion_key(request["tracking"], request["params"], request["reports_dir"])
    raise ValueError(f"unknown request {op!r}")


class _Helper:
    """``python -m nblib.tracking``: a process that imports MLflow at once, then serves requests,
    one JSON line each way (its own stdout is sent to stderr so MLflow's prints cannot mix in)."""

    def __init__(self, uri: str | None = None):
        import subprocess
        import sys

        self.unread = 0
        self.proc = subprocess.Popen([sys.executable, "-m", "nblib.tracking", *([uri] if uri else [])],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=True)  # Ctrl-C stops the run, not its logging

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, op: str, **kwargs: Any) -> None:
        """A request whose reply is not waited for (read and dropped before the next call's)."""
        try:
            self.proc.stdin.write(json.dumps({"op": op, **kwargs}, default=str) + "\n")
            self.proc.stdin.flush()
            self.unread += 1
        except (OSError, ValueError):
            pass

    def call(self, op: str, **kwargs: Any) -> Any:
        try:
            self.proc.stdin.write(json.dumps({"op": op, **kwargs}, default=str) + "\n")
            self.proc.stdin.flush()
            for _ in range(self.unread):  # replies to send(): an error there shows again where it matters
                self.proc.stdout.readline()
            self.unread = 0
            line = self.proc.stdout.readline()
        except (OSError, ValueError) as exc:
            raise TrackingError(f"the tracking process is gone ({_one_line(exc)})") from None
        if not line:
            raise TrackingError(f"the tracking process stopped (exit code {self.proc.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise TrackingError(reply["error"])
        return reply.get("result")

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        with contextlib.suppress(OSError):
            self.proc.kill()  # it holds nothing once its sessions finished; don't wait for its imports


def _serve() -> None:
    """The helper's loop (see :class:`_Helper`)."""
    import sys

    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run it serves decides when it ends (EOF on stdin)
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _quiet()
    with contextlib.suppress(Exception):
        import mlflow.pyfunc  # noqa: F401

        if len(sys.argv) > 1 and Path(sys.argv[1][len("sqlite:///"):]).is_file():
            _client(sys.argv[1])  # the store a run uses by default, opened before it is asked for (never made)
        import select
        import threading

        from mlflow.utils import requirements_utils

        # MLflow maps every installed package to its modules (about 1 s) to check a logged model's
        # requirements: done beside the stages, off the run's critical path, unless the run is asking
        # already (all stages cached: its model is logged already, too)
        if not select.select([sys.stdin], [], [], 1.0)[0]:
            threading.Thread(target=requirements_utils._init_packages_to_modules_map, daemon=True).start()
    for line in sys.stdin:
        try:
            reply = {"result": _handle(json.loads(line))}
        except TrackingError as exc:
            reply = {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the main process turns it into a warning
            reply = {"error": f"{type(exc).__name__}: {_one_line(exc)}"}
        channel.write(json.dumps(reply, default=str) + "\n")
        channel.flush()


# --------------------------------------------------------------------------- logging a run


class Session:
    """One pipeline run being logged: :meth:`start`, then :meth:`finish` once the pages exist."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any], params: dict[str, Any], conf: dict[str, Any]):
        self.run_dir, self.manifest, self.params, self.conf = run_dir, manifest, params, conf
        self.art = run_dir / "artifacts"
        self.leaks = kept_leaks(self.art)  # likely leaks the run keeps: marked, never promoted
        self.client = None
        self.run_id: str | None = None
        self.record: dict[str, Any] = {"uri": shown_uri(conf["uri"]), "experiment": conf["experiment"]}

    # the MLflow run, its params, metrics, children and model ----------------------------------------
    def start(self) -> None:
        client = self.client = _client(self.conf["uri"])
        experiment = _experiment(client, self.conf)
        metrics, cv = read_json_or_none(self.art / "metrics.json"), read_json_or_none(self.art / "cv_results.json")
        predictions = self.art / "predictions.parquet"
        rows_hash = test_rows_sha256(_read_frame(predictions)) if predictions.exists() else None
        tags = {
            "mlflow.runName": self.manifest.get("label") or self.manifest.get("name", "run"),
            "mlflow.source.type": "LOCAL",
            "mlflow.source.name": "nblib run",
            "nblib.run_id": self.manifest.get("run_id", ""),
            "nblib.run_dir": str(self.run_dir),
            "nblib.label": self.manifest.get("label", ""),
            "nblib.status": self.manifest.get("status", ""),
            "nblib.data_sha256": self.manifest.get("data_sha256") or "",
            "nblib.params_sha256": self.manifest.get("params_sha256", ""),
        }
        if self.manifest.get("git_commit"):
            tags["mlflow.source.git.commit"] = self.manifest["git_commit"]
        if rows_hash:
            tags["nblib.test_rows_sha256"] = rows_hash
        if metrics:
            chosen = _chosen(metrics, cv)
            tags["nblib.best_model"] = chosen.get("name", "")
            tags["nblib.model_kind"] = chosen.get("kind", "")
            if chosen.get("members"):
                tags["nblib.model_members"] = ",".join(chosen["members"])
            tags["nblib.primary_metric"] = str(metrics.get("primary_metric", ""))
        if self.params.get("description"):
            tags["mlflow.note.content"] = str(self.params["description"])[:5000]
        if (self.art / "leaks.json").is_file():  # a run that keeps a likely leak is marked here too
            tags["nblib.leak_suspect"] = "true" if self.leaks else "false"
            if self.leaks:
                tags["nblib.leak_columns"] = ", ".join(self.leaks)[:5000]
        run = client.create_run(experiment, start_time=_millis(self.manifest.get("started")), tags=tags,
                                run_name=tags["mlflow.runName"])
        self.run_id = run.info.run_id
        self.record.update(run_id=self.run_id, experiment_id=experiment)
        _batch(client, self.run_id, params=flatten_params(self.params), metrics=run_metrics(self.manifest, metrics, cv))
        if cv:
            self.record["children"] = _log_candidates(client, experiment, self.run_id, cv, self.params)
        for name in _EVIDENCE:  # what a later challenger compares with: in the store before this can be champion
            if (self.art / name).is_file():
                client.log_artifact(self.run_id, str(self.art / name), "artifacts")
        if self.manifest.get("status") == "succeeded" and self.conf.get("register_model", True) and (self.art / "model.skops").exists():
            try:
                self.record["model"] = self._log_model(rows_hash, metrics)
            except Exception as exc:  # noqa: BLE001 - the run is logged; only its model is not registered
                self.record["model_error"] = f"cannot register the model: {_one_line(exc)}"
        if self.record.get("model"):
            try:
                self._first_champion()
            except Exception as exc:  # noqa: BLE001 - the version is registered; only the alias did not move
                self.record["champion_error"] = f"cannot make it the first @champion: {_one_line(exc)}"

    def _first_champion(self) -> None:
        """Make this run's new version ``@champion`` when the model has never had one, so that
        ``models:/NAME@champion`` resolves after the first run; later versions become champion only
        through promotion (:meth:`promote`). A run that keeps a likely leak never does (the next clean
        version becomes the first champion instead), nor does a pipeline registered before."""
        model = self.record["model"]
        name = model["name"]
        if model.get("already_registered") or self.leaks or _champion(self.client, name) is not None:
            return
        if "'" in name or self.client.search_model_versions(
                f"name = '{name}' and tags.`nblib.promoted` = 'true'", max_results=1):
            return  # a champion existed and its alias was removed on purpose: only a promotion sets one again
        self.client.set_registered_model_alias(name, CHAMPION, str(model["version"]))
        self.client.set_model_version_tag(name, str(model["version"]), "nblib.promoted", "true")
        model["champion"] = "first"

    def _log_model(self, rows_hash: str | None, metrics: dict[str, Any] | None) -> dict[str, Any]:
        """Log the pipeline as a pyfunc model from code and register a new version of it. A pipeline
        already logged byte for byte (a cached ``04_train``) is not logged again: the new version
        points at the same logged model."""
        from nblib import __version__

        name, metrics = self.conf["model_name"], metrics or {}
        digest = _model_digest(self.art, metrics)
        registered = _registered(self.client, name)
        same = None
        if registered and "'" not in name:
            found = self.client.search_model_versions(
                f"name = '{name}' and tags.`nblib.model_sha256` = '{digest}'", max_results=1)
            same = found[0] if found else None
        if same is not None:  # the same pipeline (a cached 04_train): its version, not one more
            return {"name": name, "version": int(same.version), "uri": f"models:/{name}/{same.version}",
                    "already_registered": True}
        else:
            import mlflow

            with _fluent(self.conf["uri"]), mlflow.start_run(run_id=self.run_id, log_system_metrics=False):
                source = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=str(Path(__file__).with_name("serving.py")),
                    artifacts={"model": str(self.art / "model.skops"), "columns": str(self.art / "columns.json"),
                               "metrics": str(self.art / "metrics.json")},
                    pip_requirements=_requirements(metrics),
                    metadata={"nblib_version": __version__, "run_id": self.manifest.get("run_id", ""),
                              "loads_with": "skops, nblib.ml.saved.TRUSTED_TYPES"},
                ).model_uri
        primary = str(metrics.get("primary_metric", ""))
        with _fluent(self.conf["uri"]):  # a models:/ source is resolved through MLflow's module-level URI
            version = self._register(name, registered, source, rows_hash, digest, primary, metrics)
        return {"name": name, "version": int(version.version), "uri": f"models:/{name}/{version.version}"}

    def _register(self, name: str, registered: bool, source: str, rows_hash: str | None, digest: str, primary: str,
                  metrics: dict[str, Any]):
        if not registered:
            try:
                self.client.create_registered_model(name)
            except Exception:  # registered by a concurrent run (a sweep) in the meantime
                if not _registered(self.client, name):
                    raise
        return self.client.create_model_version(
            name, source, run_id=self.run_id,
            tags={"nblib.run_id": self.manifest.get("run_id", ""), "nblib.label": self.manifest.get("label", ""),
                  "nblib.data_sha256": self.manifest.get("data_sha256") or "",
                  "nblib.test_rows_sha256": rows_hash or "", "nblib.model_sha256": digest,
                  "nblib.primary_metric": primary, "nblib.test_value": str((metrics.get("test") or {}).get(primary, "")),
                  "nblib.leak_suspect": "true" if self.leaks else "false"},
            description=f"{self.manifest.get('label', '')}: {_chosen(metrics).get('label', '')} "
                        f"from nblib run {self.manifest.get('run_id', '')}")

    # champion -------------------------------------------------------------------------------------------
    def promote(self) -> dict[str, Any] | None:
        """Move ``@champion`` to this run's version when ``05_evaluate`` decided so and the champion
        it beat is still the champion. Returns what happened, or None when promotion was not asked."""
        decision = read_json_or_none(self.art / "promotion.json")
        model = self.record.get("model")
        if not decision or not decision.get("asked"):
            return None
        out = {"decision": decision.get("decision"), "reason": decision.get("reason", ""), "promoted": False}
        required = bool((self.params.get("evaluate") or {}).get("require_promotion"))
        if self.leaks:  # whatever 05 decided: a model built on a likely leak never becomes champion
            return {**out, **_leak_decision(self.leaks), "gated": required}
        if decision.get("decision") != "promote":
            return out
        if model is None:
            out["reason"] = "not promoted: this run's model was not registered"
            out["gated"] = required
            return out
        with _guard("promote"):
            current = _champion(self.client, model["name"])
            beaten = (decision.get("champion") or {}).get("version")
            if current is not None and str(current.version) == str(model["version"]):  # the same pipeline, registered before
                return {**out, "promoted": True, "reason": f"this pipeline is the champion already (version {current.version})"}
            if (str(current.version) if current else None) != (str(beaten) if beaten is not None else None):
                seen = f"version {beaten}" if beaten is not None else "no champion"
                now = f"version {current.version}" if current else "none"
                out["reason"] = (f"not promoted: the champion changed (now {now}) while this run was being "
                                 f"compared with {seen}; run again to compare")
                if required and not model.get("already_registered"):  # a gated run's model is not registered
                    self.client.delete_model_version(model["name"], str(model["version"]))
                    self.record.pop("model")
                out["gated"] = required
                return out
            self.client.set_registered_model_alias(model["name"], CHAMPION, str(model["version"]))
            self.client.set_model_version_tag(model["name"], str(model["version"]), "nblib.promoted", "true")
        out["promoted"] = True
        return out

    # the pages, then the end --------------------------------------------------------------------------
    def finish(self, status: str) -> None:
        """Log the pages and records, and end the MLflow run with the pipeline run's status."""
        with _guard("log the run's files"):
            for path in _files(self.run_dir):
                rel = path.relative_to(self.run_dir)
                folder = str(rel.parent) if str(rel.parent) != "." else None
                if rel.parts[0] == "artifacts" and len(rel.parts) > 2 and rel.parts[1] == "figures":
                    folder = "figures/" + "/".join(rel.parts[2:-1])
                self.client.log_artifact(self.run_id, str(path), folder)
            self.client.set_tag(self.run_id, "nblib.status", status)
            self.client.set_terminated(self.run_id, _STATUS.get(status, "FAILED"),
                                       end_time=_millis(self.manifest.get("finished")))

    def abandon(self, status: str) -> None:
        if self.client is not None and self.run_id is not None:
            with contextlib.suppress(Exception):
                self.client.set_terminated(self.run_id, _STATUS.get(status, "FAILED"))


def run_metrics(manifest: dict[str, Any], metrics: dict[str, Any] | None, cv: dict[str, Any] | None
                ) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` of the parent run: test metrics and intervals, CV per family,
    threshold, stage seconds, the learning curve and per-iteration curves (steps)."""
    out: list[tuple[str, float, int]] = []
    metrics = metrics or {}
    for name, value in (metrics.get("test") or {}).items():
        out.append((f"test.{name}", value, 0))
        low_high = (metrics.get("test_ci") or {}).get(name)
        if low_high:
            out += [(f"test.{name}.ci_low", low_high[0], 0), (f"test.{name}.ci_high", low_high[1], 0)]
    for family, score in (metrics.get("cv") or {}).items():
        out += [(f"cv.{family}.mean", score.get("mean"), 0), (f"cv.{family}.std", score.get("std"), 0)]
    if metrics.get("threshold") is not None:
        out.append(("threshold", metrics["threshold"], 0))
    for name, value in (metrics.get("oracle") or {}).items():
        out.append((f"oracle.{name}", value, 0))
    for stage in manifest.get("stages", []):
        if stage.get("seconds") is not None:
            out.append((f"seconds.{stage['name']}", stage["seconds"], 0))
    cv = cv or {}
    chosen = _chosen(metrics, cv)
    best = {"mean": chosen.get("cv_mean"), "std": chosen.get("cv_std")}
    if best.get("mean") is not None:
        out += [("cv.best.mean", best["mean"], 0), ("cv.best.std", best.get("std"), 0)]
    for size, group in _groups(cv.get("learning_curve") or [], "train_size"):
        for col in ("train_score", "valid_score"):
            values = [r[col] for r in group if _finite(r.get(col))]
            if values:
                out.append((f"learning_curve.{col}", sum(values) / len(values), int(size)))
    for row in cv.get("curves") or []:
        for col in ("train_loss", "valid_loss", "train_score", "valid_score", "lr"):
            if _finite(row.get(col)) and row.get("iteration") is not None:
                out.append((f"curve.{_key(str(row.get('model')))}.{col}", row[col], int(row["iteration"])))
    return [(k, float(v), s) for k, v, s in out if _finite(v)]


def _log_candidates(client, experiment: str, parent: str, cv: dict[str, Any], params: dict[str, Any]) -> int:
    """One child run per CV candidate and per ensemble candidate (fold scores as steps), a
    grandchild per search trial. Returns how many runs were made."""
    count = 0
    hyper = ((params.get("train") or {}).get("models") or {})
    searches = cv.get("search") or {}
    for family, score in (cv.get("models") or {}).items():
        found = searches.get(family) or {}
        chosen = {**(hyper.get(family) or {}), **(found.get("best_params") or {})}
        child = _child(client, experiment, parent, family, "candidate", family == cv.get("best_model"), score,
                       {"family": family, **{f"model.{k}": _text(v) for k, v in chosen.items()}})
        for trial in found.get("trials") or []:
            _log_trial(client, experiment, child, family, found.get("method", ""), trial)
            count += 1
        client.set_terminated(child, "FINISHED")
        count += 1
    for name, row in ((cv.get("ensemble") or {}).get("candidates") or {}).items():
        child = _child(client, experiment, parent, name, "ensemble", bool(row.get("winner")), row,
                       {"kind": str(row.get("kind", "")), "verdict": _text(row.get("verdict", ""))},
                       extra=[("gain", row.get("gain"), 0), ("noise", row.get("noise"), 0)])
        client.set_terminated(child, "FINISHED")
        count += 1
    return count


def _child(client, experiment: str, parent: str, name: str, kind: str, best: bool, score: dict[str, Any],
           params: dict[str, str], extra: list | None = None) -> str:
    """A candidate's child run: CV mean and sd, fit seconds, fold scores as steps (left running)."""
    child = client.create_run(experiment, run_name=name, tags={"mlflow.parentRunId": parent, "nblib.kind": kind,
                                                               "nblib.best": str(best).lower()}).info.run_id
    steps = [("cv.fold_score", s, i) for i, s in enumerate(score.get("scores") or [])]
    _batch(client, child, params=params, metrics=[("cv.mean", score.get("mean"), 0), ("cv.std", score.get("std"), 0),
                                                  ("fit_seconds", score.get("fit_seconds"), 0), *steps, *(extra or [])])
    return child


def _log_trial(client, experiment: str, parent: str, family: str, method: str, trial: dict[str, Any]) -> None:
    fixed = {"trial", "mean", "std", "fit_seconds", "elapsed_s", "state", "rounds", "rows"}
    state = str(trial.get("state", "complete"))
    child = client.create_run(experiment, run_name=f"{family} trial {trial.get('trial')}",
                              tags={"mlflow.parentRunId": parent, "nblib.kind": "trial", "nblib.search": method,
                                    "nblib.trial_state": state}).info.run_id
    _batch(client, child, params={f"model.{k}": _text(v) for k, v in trial.items() if k not in fixed},
           metrics=[(f"cv.{k}" if k in ("mean", "std") else k, trial.get(k), 0)
                    for k in ("mean", "std", "fit_seconds", "elapsed_s", "rounds", "rows")])
    client.set_terminated(child, {"complete": "FINISHED", "pruned": "KILLED"}.get(state, "FAILED"))


# --------------------------------------------------------------------------- champion / challenger


def test_rows_sha256(predictions) -> str:
    """Which test rows with which truth: a hash of ``predictions.parquet``'s index and truth column.

    Two runs compare paired only when this and the data hash are equal.
    """
    import pandas as pd

    truth = [c for c in predictions.columns if c != "score" and not str(c).startswith("proba_")]
    frame = predictions[truth].astype(str) if truth else pd.DataFrame(index=predictions.index)
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(hashed.tobytes() + str(len(frame)).encode()).hexdigest()


def champion_key(tracking: dict[str, Any], params: dict[str, Any], reports_dir: str | Path) -> str:
    """Who the champion is now (name, version, run): part of ``05_evaluate``'s cache key when it
    promotes, so that a new champion makes the comparison run again."""
    if _helper is not None and _helper.alive() and not _sessions:
        with contextlib.suppress(TrackingError):
            return _helper.call("champion_key", tracking=tracking, params=params, reports_dir=str(reports_dir))
    conf = settings({**params, "tracking": tracking}, reports_dir)
    try:
        client = _client(conf["uri"])
        current = _champion(client, conf["model_name"])
    except Exception as exc:  # noqa: BLE001 - an unreachable store: compare again next time
        return f"unknown ({type(exc).__name__})"
    return f"{conf['model_name']} v{current.version} ({current.run_id})" if current else "none"


def challenge(params, predictions, metrics: dict[str, Any], n_boot: int = 1000,
              leaks: dict[str, Any] | None = None, *, data_sha256: str, reports_dir: str | Path) -> dict[str, Any]:
    """Should this run's model replace the registry's ``@champion``? The evidence, as a record.

    The champion's test predictions are read back from its MLflow run; the comparison is paired
    on the same rows (DeLong for ROC-AUC, a paired bootstrap for other metrics) at
    ``evaluate.promote_level``. Refused, with the reason, when the champion was scored on other
    data or other test rows, and never promoted when the run keeps a likely leak (``leaks``:
    ``artifacts/leaks.json``). Never raises: an unreachable store is a ``"decision": "unknown"``.
    ``data_sha256`` fingerprints the run's data; ``reports_dir`` holds the default store
    (:meth:`nblib.factory.stage.StageContext.challenge` passes both).
    """
    evaluate = params.evaluate
    if not evaluate.promote:
        return {"asked": False, "decision": "not asked", "reason": "evaluate.promote is off"}
    conf = settings({"name": params.name, "tracking": params.tracking.model_dump()}, reports_dir)
    primary = metrics.get("primary_metric")
    mine = {"data_sha256": data_sha256, "test_rows_sha256": test_rows_sha256(predictions),
            "value": (metrics.get("test") or {}).get(primary)}
    base = {"asked": True, "model_name": conf["model_name"], "metric": primary, "level": evaluate.promote_level,
            "challenger": mine}
    kept = _kept_likely(leaks)
    if kept:  # not even the first champion: no need to ask the registry
        return {**base, **decide(None, None, primary, evaluate.promote_level, leak=kept)}
    try:
        client = _client(conf["uri"])
        current = _champion(client, conf["model_name"])
        if current is None:
            return {**base, **decide(None, None, primary, evaluate.promote_level)}
        champ = {"version": int(current.version), "run_id": current.run_id,
                 "label": current.tags.get("nblib.label", ""), "nblib_run": current.tags.get("nblib.run_id", ""),
                 "data_sha256": current.tags.get("nblib.data_sha256", ""),
                 "test_rows_sha256": current.tags.get("nblib.test_rows_sha256", "")}
        test = None
        if champ["data_sha256"] == mine["data_sha256"] and champ["test_rows_sha256"] == mine["test_rows_sha256"]:
            compared = _paired(client, current.run_id, predictions, metrics, primary, n_boot)
            if not compared["paired"]:
                return {**base, "champion": champ, "decision": "refused", "test": None,
                        "reason": f"refused: champion version {champ['version']}'s test predictions do not pair "
                                  f"with this run's ({compared['note']})"}
            test = compared["tests"].get(primary)
        return {**base, "champion": champ, **decide(champ, test, primary, evaluate.promote_level, mine)}
    except Exception as exc:  # noqa: BLE001 - never lose the run over the registry
        return {**base, "decision": "unknown", "reason": f"the tracking store failed ({_one_line(exc)})"}


def decide(champion: dict[str, Any] | None, test: dict[str, Any] | None, metric: str, level: float,
           challenger: dict[str, Any] | None = None, leak: list[str] = ()) -> dict[str, Any]:
    """The decision from the evidence: ``{"decision": promote|keep|refused|leak, "reason", "test"}``.

    ``test`` is the paired test of challenger − champion (``diff``, ``lo``, ``hi``, ``p_value``).
    ``leak``: the likely leaks the challenger keeps (:func:`nblib.ml.data.leaks.kept_likely`); any of them
    and it is never promoted, not even as the first champion.

    >>> decide(None, None, "roc_auc", 0.05)["decision"]
    'promote'
    >>> t = {"diff": 0.03, "lo": 0.01, "hi": 0.05, "p_value": 0.004, "test": "DeLong"}
    >>> decide({"version": 3}, t, "roc_auc", 0.05)["decision"]
    'promote'
    >>> decide({"version": 3}, {**t, "diff": -0.03}, "roc_auc", 0.05)["decision"]
    'keep'
    >>> decide({"version": 3}, {**t, "diff": 0.03, "lo": -0.01, "hi": 0.05, "p_value": 0.2}, "rmse", 0.05)["decision"]
    'keep'
    >>> decide(None, None, "roc_auc", 0.05, leak=["repaid"])["reason"]
    "not promoted: keeps a likely leak ('repaid'); set quality.leaks: drop, or list ..."
    """
    if leak:
        return {**_leak_decision(list(leak)), "test": None}
    if champion is None:
        return {"decision": "promote", "reason": "no champion yet: this model becomes the first", "test": None}
    version = champion.get("version")
    if test is None:
        challenger = challenger or {}
        what = ("other data (data hash differs)" if champion.get("data_sha256") != challenger.get("data_sha256")
                else "other test rows (the split differs)")
        return {"decision": "refused", "test": None,
                "reason": f"refused: champion version {version} was scored on {what}; "
                          f"a paired comparison needs the same data and split"}
    better = test["diff"] < 0 if metric in _LOWER_IS_BETTER else test["diff"] > 0
    p = test.get("p_value")
    significant = p is not None and p < level
    direction = "lower" if metric in _LOWER_IS_BETTER else "higher"
    words = (f"{metric} {test['diff']:+.4f} ({direction} is better) against champion version {version} "
             f"({test.get('test', 'paired test')}, interval {test['lo']:+.4f} to {test['hi']:+.4f}, "
             f"p = {p:.3g} at level {level:g})" if p is not None else f"{metric}: no p-value")
    if better and significant:
        return {"decision": "promote", "reason": f"promote: {words}", "test": test}
    why = "not better" if not better else "not significantly better"
    return {"decision": "keep", "reason": f"keep the champion: {why}: {words}", "test": test}


def kept_leaks(run_art: str | Path) -> list[str]:
    """The likely leaks a run keeps, from its ``artifacts/leaks.json`` (none when there is none)."""
    return _kept_likely(read_json_or_none(Path(run_art) / "leaks.json"))


def _kept_likely(leaks: dict[str, Any] | None) -> list[str]:
    from nblib.ml.data.leaks import kept_likely

    return kept_likely(leaks)


def _leak_decision(columns: list[str]) -> dict[str, Any]:
    names = ", ".join(map(repr, columns[:5])) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    return {"decision": "leak", "leak_columns": list(columns),
            "reason": f"not promoted: keeps a likely leak ({names}); set quality.leaks: drop, or list the column(s) "
                      f"in data.columns.known_before_outcome if known before the outcome"}


def _paired(client, run_id: str, predictions, metrics: dict[str, Any], primary: str, n_boot: int) -> dict[str, Any]:
    """The champion's test predictions, read back from its MLflow run, against this run's
    (:func:`nblib.ml.evaluation.compare.paired_comparison`, the primary metric only)."""
    from nblib.ml.evaluation.compare import paired_comparison

    with tempfile.TemporaryDirectory(prefix="nblib-champion-") as tmp:
        pred = _read_frame(client.download_artifacts(run_id, "artifacts/predictions.parquet", tmp))
        theirs = read_json_or_none(Path(client.download_artifacts(run_id, "artifacts/metrics.json", tmp))) or {}
    return paired_comparison(pred, predictions, theirs, metrics, n=n_boot, metrics=(primary,))


# --------------------------------------------------------------------------- helpers


def flatten_params(params: dict[str, Any]) -> dict[str, str]:
    """Dotted keys (:func:`nblib.engine.params.flatten`), text values (lists as JSON), cut to MLflow's
    6,000 characters.

    >>> flatten_params({"train": {"cv_folds": 5, "models": {"rf": {}}}, "data": {"drop_columns": ["a"]}})
    {'train.cv_folds': '5', 'train.models.rf': '{}', 'data.drop_columns': '["a"]'}
    """
    from nblib.engine.params import flatten

    return {_key(str(key))[:250]: _text(value) for key, value in flatten(params).items()}


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 1] + "…"


def _key(text: str) -> str:
    return _KEY.sub("_", text)


def _batch(client, run_id: str, params: dict[str, str] | None = None, metrics: list | None = None) -> None:
    from mlflow.entities import Metric, Param

    now = _millis(None)
    ps = [Param(k, v) for k, v in (params or {}).items()]
    ms = [Metric(_key(k), float(v), now, int(s)) for k, v, s in (metrics or []) if _finite(v)]
    for i in range(0, len(ps), 100):
        client.log_batch(run_id, params=ps[i:i + 100])
    for i in range(0, len(ms), 1000):
        client.log_batch(run_id, metrics=ms[i:i + 1000])


def _client(uri: str):
    """An MLflow client of ``uri`` that has reached the store (a bad URI fails here, in one place)."""
    if uri in _clients:
        return _clients[uri]
    _quiet()
    with warnings.catch_warnings():  # e.g. tqdm's "IProgress not found" when imported in a kernel
        warnings.simplefilter("ignore")
        from mlflow import MlflowClient

    _quiet()  # again: importing MLflow sets its own logger's level
    with _store_lock(uri):  # two runs of a sweep creating one new SQLite store would race its migrations
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.search_experiments(max_results=1)
    _clients[uri] = client
    return client


@contextlib.contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """An exclusive lock beside a SQLite store while it is opened (and perhaps created)."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    folder = Path(uri[len("sqlite:///"):]).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".nblib-open.lock", "a")
    except OSError:  # a read-only store can still be read (who is champion): go on unlocked
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _experiment(client, conf: dict[str, Any]) -> str:
    found = client.get_experiment_by_name(conf["experiment"])
    if found is not None:
        return found.experiment_id
    try:  # the kind makes MLflow's UI open on its training runs, not on GenAI traces
        return client.create_experiment(conf["experiment"], artifact_location=conf.get("artifact_location"),
                                        tags={"mlflow.experimentKind": "custom_model_development"})
    except Exception:  # created by a concurrent run in the meantime
        found = client.get_experiment_by_name(conf["experiment"])
        if found is None:
            raise
        return found.experiment_id


def _registered(client, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException:
        return False


def _champion(client, name: str):
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:  # no such model, or no alias yet
        return None


def _model_digest(art: Path, metrics: dict[str, Any]) -> str:
    """What a logged model is made of: the skops file, the column roles, the decision threshold."""
    from nblib.engine.artifacts import sha256_file

    parts = [sha256_file(art / "model.skops"), sha256_file(art / "columns.json"), repr(metrics.get("threshold"))]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _chosen(metrics: dict[str, Any] | None, cv: dict[str, Any] | None = None) -> dict[str, Any]:
    """The chosen model's record (``metrics.json``'s, else ``cv_results.json``'s ``chosen``); older runs
    without one give ``{"name", "label", "kind": "single"}`` from ``best_model`` and the CV of that family."""
    record = (metrics or {}).get("chosen") or (cv or {}).get("chosen")
    if record:
        return {"members": [], "label": record.get("name", ""), **record}
    name = str((metrics or {}).get("best_model") or (cv or {}).get("best_model") or "")
    family = ((cv or {}).get("models") or {}).get(name) or {}
    return {"name": name, "label": name, "kind": "single" if name else "", "members": [],
            "cv_mean": family.get("mean"), "cv_std": family.get("std")}


def _requirements(metrics: dict[str, Any] | None) -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["mlflow", "scikit-learn", "imbalanced-learn", "skops", "pandas", "numpy", "scipy", "pyarrow"]
    chosen = _chosen(metrics)
    if any(name.startswith("mlp") or "nn" in name for name in [chosen.get("name", ""), *chosen.get("members", [])]):
        names += ["torch", "skorch"]
    out = []
    for name in names:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return out


@contextlib.contextmanager
def _fluent(uri: str) -> Iterator[None]:
    """MLflow's module-level tracking and registry URIs set to ``uri`` for a moment, then restored."""
    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


@contextlib.contextmanager
def _guard(what: str) -> Iterator[None]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except TrackingError:
        raise
    except Exception as exc:  # noqa: BLE001 - any store failure becomes one line
        raise TrackingError(f"cannot {what}: {_one_line(exc)}") from exc


def _quiet() -> None:
    """MLflow's and alembic's INFO lines and retries stay out of the terminal; an unreachable
    server fails in seconds, not after minutes of retries (unless the user set these)."""
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # a run sends nothing anywhere
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _files(run_dir: Path) -> list[Path]:
    """What a reviewer wants beside the model: pages, notebooks, records, figures, test predictions."""
    keep: list[Path] = []
    for path in sorted(run_dir.iterdir()):
        if path.is_file() and path.suffix in (".html", ".ipynb", ".md", ".json", ".yaml"):
            keep.append(path)
    art = run_dir / "artifacts"
    if art.is_dir():
        keep += sorted(p for p in art.glob("*.json") if p.is_file() and p.name not in _EVIDENCE)  # those are in
        keep += sorted(p for p in (art / "figures").rglob("*.png") if p.is_file())
    return keep


def _groups(rows: list[dict[str, Any]], key: str):
    grouped: dict[Any, list] = {}
    for row in rows:
        if row.get(key) is not None:
            grouped.setdefault(row[key], []).append(row)
    return sorted(grouped.items())


def _finite(value: Any) -> bool:
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _millis(stamp: str | None) -> int:
    import datetime as dt
    import time

    if stamp:
        with contextlib.suppress(ValueError):
            return int(dt.datetime.fromisoformat(stamp).timestamp() * 1000)
    return int(time.time() * 1000)



def _read_frame(path):
    import pandas as pd

    return pd.read_parquet(path)


def shown_uri(uri: str) -> str:
    """The URI without a password."""
    return re.sub(r"//([^/@:]+):[^/@]+@", r"//\1:***@", uri)


def _one_line(exc: BaseException) -> str:
    """One line, at most 300 characters: the start and the end (where 'Connection refused' is)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 300 else text[:170] + " … " + text[-127:]


if __name__ == "__main__":
    _serve()
