"""Logging one pipeline run to MLflow, explicitly (no autologging), from what its run folder holds:

- **params**: the resolved params, flattened (``train.models.random_forest.n_estimators``);
- **metrics**: test metrics with their interval (``test.roc_auc``, ``test.roc_auc.ci_low``,
  ``test.roc_auc.ci_high``), every family's CV mean and spread, the threshold, stage seconds;
  the learning curve and per-iteration / per-epoch curves as step metrics (:func:`run_metrics`);
- **child runs**: one per CV candidate (fold scores as steps), and under a searched family
  one per search trial;
- **artifacts**: summary, model card, stage notebooks and HTML, figures, the JSON records and
  the test predictions;
- **tags**: run folder, label, git commit, data hash, test-rows hash, status.

:func:`log` starts the MLflow run (:meth:`Session.start`), registers the model
(:mod:`nblib.tracking.registry`) and moves ``@champion`` if ``05_evaluate`` said so
(:mod:`nblib.tracking.promotion`); :func:`finish` logs the pages once they exist and ends it.
Both go through the helper process when one runs (:mod:`nblib.tracking.session`).
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from nblib.engine.artifacts import read_json_or_none
from nblib.tracking.promotion import move_champion
from nblib.tracking.records import _chosen, _read_frame, kept_leaks, test_rows_sha256
from nblib.tracking.registry import first_champion, register_model
from nblib.tracking.session import TrackingError, _client, _guard, _one_line, _sessions, helper, serves, shown_uri

__all__ = ["Session", "log", "finish", "describe", "run_metrics", "flatten_params"]

_STATUS = {"succeeded": "FINISHED", "gated": "FAILED", "failed": "FAILED", "interrupted": "KILLED"}
_KEY = re.compile(r"[^\w\-. /]")
_MAX_PARAM = 6000
_EVIDENCE = ("predictions.parquet", "metrics.json")


def log(run_dir: str | Path, manifest: dict[str, Any], params: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    """Log the run (:meth:`Session.start`), register its model and move ``@champion`` if ``05`` said so.

    Returns the tracking record for the manifest. Goes through the helper process when one was
    started (:func:`nblib.tracking.session.prestart`), else runs here. Raises
    :class:`~nblib.tracking.session.TrackingError` when the store fails.
    """
    run_dir = str(Path(run_dir).resolve())
    running = helper()
    if running is not None and running.alive():
        return running.call("log", run_dir=run_dir, manifest=manifest, params=params, conf=conf)
    return _log_here(run_dir, manifest, params, conf)


def finish(run_dir: str | Path, status: str) -> None:
    """Log the run's pages and end its MLflow run with ``status`` (see :meth:`Session.finish`)."""
    run_dir = str(Path(run_dir).resolve())
    running = helper()
    if run_dir in _sessions:
        _finish_here(run_dir, status)
    elif running is not None:
        running.call("finish", run_dir=run_dir, status=status)


@serves("log")
def _log_here(run_dir: str, manifest: dict[str, Any], params: dict[str, Any], conf: dict[str, Any]) -> dict[str, Any]:
    session = Session(Path(run_dir), manifest, params, conf)
    _sessions[run_dir] = session
    try:
        with _guard("log the run"):
            session.start()
    except TrackingError as exc:
        session.abandon(manifest.get("status", "failed"))
        _sessions.pop(run_dir, None)
        if session.run_id:
            raise TrackingError(f"{exc} (MLflow run {session.run_id} is incomplete)") from None
        raise
    try:
        promotion = session.promote()
    except TrackingError as exc:  # only a promote decision reaches the store: the alias did not move
        required = bool((params.get("evaluate") or {}).get("require_promotion"))
        promotion = {"decision": "promote", "promoted": False, "reason": f"not promoted: {exc}", "gated": required}
    if promotion is not None:
        session.record["promotion"] = promotion
    return session.record


@serves("finish")
def _finish_here(run_dir: str, status: str) -> None:
    session = _sessions.pop(run_dir, None)
    if session is not None:
        session.finish(status)


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
        text += (
            " · now @champion"
            if promotion.get("promoted")
            else " · "
            + {
                "keep": "the champion stays",
                "refused": "not compared with the champion",
                "leak": "not promoted: keeps a likely leak",
                "unknown": "no champion decision",
            }.get(promotion.get("decision"), "not promoted")
        )
    return text


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
        tags = self._tags(metrics, cv, rows_hash)
        run = client.create_run(
            experiment, start_time=_millis(self.manifest.get("started")), tags=tags, run_name=tags["mlflow.runName"]
        )
        self.run_id = run.info.run_id
        self.record.update(run_id=self.run_id, experiment_id=experiment)
        _batch(client, self.run_id, params=flatten_params(self.params), metrics=run_metrics(self.manifest, metrics, cv))
        if cv:
            self.record["children"] = _log_candidates(client, experiment, self.run_id, cv, self.params)
        for name in _EVIDENCE:  # what a later challenger compares with: in the store before this can be champion
            if (self.art / name).is_file():
                client.log_artifact(self.run_id, str(self.art / name), "artifacts")
        registers = self.conf.get("register_model", True) and (self.art / "model.skops").exists()
        if self.manifest.get("status") == "succeeded" and registers:
            try:
                self.record["model"] = register_model(
                    client,
                    self.conf,
                    run_id=self.run_id,
                    art=self.art,
                    manifest=self.manifest,
                    rows_hash=rows_hash,
                    metrics=metrics,
                    leaks=self.leaks,
                )
            except Exception as exc:  # noqa: BLE001 - the run is logged; only its model is not registered
                self.record["model_error"] = f"cannot register the model: {_one_line(exc)}"
        if self.record.get("model"):
            try:
                self._first_champion()
            except Exception as exc:  # noqa: BLE001 - the version is registered; only the alias did not move
                self.record["champion_error"] = f"cannot make it the first @champion: {_one_line(exc)}"

    def _tags(self, metrics: dict[str, Any] | None, cv: dict[str, Any] | None, rows_hash: str | None) -> dict[str, str]:
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
        return tags

    def _first_champion(self) -> None:
        """This run's new version becomes ``@champion`` if the model never had one
        (:func:`nblib.tracking.registry.first_champion`)."""
        first_champion(self.client, self.record["model"], self.leaks)

    # champion -------------------------------------------------------------------------------------------
    def promote(self) -> dict[str, Any] | None:
        """Move ``@champion`` to this run's version when ``05_evaluate`` decided so
        (:func:`nblib.tracking.promotion.move_champion`). None when promotion was not asked."""
        return move_champion(self.client, self.art, self.params, self.record, self.leaks)

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
            self.client.set_terminated(
                self.run_id, _STATUS.get(status, "FAILED"), end_time=_millis(self.manifest.get("finished"))
            )

    def abandon(self, status: str) -> None:
        if self.client is not None and self.run_id is not None:
            with contextlib.suppress(Exception):
                self.client.set_terminated(self.run_id, _STATUS.get(status, "FAILED"))


def run_metrics(
    manifest: dict[str, Any], metrics: dict[str, Any] | None, cv: dict[str, Any] | None
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
    hyper = (params.get("train") or {}).get("models") or {}
    searches = cv.get("search") or {}
    for family, score in (cv.get("models") or {}).items():
        found = searches.get(family) or {}
        chosen = {**(hyper.get(family) or {}), **(found.get("best_params") or {})}
        child = _child(
            client,
            experiment,
            parent,
            family,
            "candidate",
            family == cv.get("best_model"),
            score,
            {"family": family, **{f"model.{k}": _text(v) for k, v in chosen.items()}},
        )
        for trial in found.get("trials") or []:
            _log_trial(client, experiment, child, family, found.get("method", ""), trial)
            count += 1
        client.set_terminated(child, "FINISHED")
        count += 1
    ensemble = cv.get("ensemble") or {}
    weights = {f"weight.{n}": _text(round(float(w), 4)) for n, w in (ensemble.get("weights") or {}).items()}
    for name, row in (ensemble.get("candidates") or {}).items():
        if row.get("kind") == "single":
            continue  # the families' own children above
        child = _child(
            client,
            experiment,
            parent,
            name,
            "ensemble",
            bool(row.get("winner")),
            row,
            {
                "kind": str(row.get("kind", "")),
                "verdict": _text(row.get("verdict", "")),
                **(weights if name == "selection" else {}),
            },
            extra=[("gain", row.get("gain"), 0), ("noise", row.get("noise"), 0)],
        )
        client.set_terminated(child, "FINISHED")
        count += 1
    return count


def _child(
    client,
    experiment: str,
    parent: str,
    name: str,
    kind: str,
    best: bool,
    score: dict[str, Any],
    params: dict[str, str],
    extra: list | None = None,
) -> str:
    """A candidate's child run: CV mean and sd, fit seconds, fold scores as steps (left running)."""
    child = client.create_run(
        experiment,
        run_name=name,
        tags={"mlflow.parentRunId": parent, "nblib.kind": kind, "nblib.best": str(best).lower()},
    ).info.run_id
    steps = [("cv.fold_score", s, i) for i, s in enumerate(score.get("scores") or [])]
    _batch(
        client,
        child,
        params=params,
        metrics=[
            ("cv.mean", score.get("mean"), 0),
            ("cv.std", score.get("std"), 0),
            ("fit_seconds", score.get("fit_seconds"), 0),
            *steps,
            *(extra or []),
        ],
    )
    return child


def _log_trial(client, experiment: str, parent: str, family: str, method: str, trial: dict[str, Any]) -> None:
    fixed = {"trial", "mean", "std", "fit_seconds", "elapsed_s", "state", "rounds", "rows"}
    state = str(trial.get("state", "complete"))
    child = client.create_run(
        experiment,
        run_name=f"{family} trial {trial.get('trial')}",
        tags={"mlflow.parentRunId": parent, "nblib.kind": "trial", "nblib.search": method, "nblib.trial_state": state},
    ).info.run_id
    _batch(
        client,
        child,
        params={f"model.{k}": _text(v) for k, v in trial.items() if k not in fixed},
        metrics=[
            (f"cv.{k}" if k in ("mean", "std") else k, trial.get(k), 0)
            for k in ("mean", "std", "fit_seconds", "elapsed_s", "rounds", "rows")
        ],
    )
    client.set_terminated(child, {"complete": "FINISHED", "pruned": "KILLED"}.get(state, "FAILED"))


def _experiment(client, conf: dict[str, Any]) -> str:
    found = client.get_experiment_by_name(conf["experiment"])
    if found is not None:
        return found.experiment_id
    try:  # the kind makes MLflow's UI open on its training runs, not on GenAI traces
        return client.create_experiment(
            conf["experiment"],
            artifact_location=conf.get("artifact_location"),
            tags={"mlflow.experimentKind": "custom_model_development"},
        )
    except Exception:  # created by a concurrent run in the meantime
        found = client.get_experiment_by_name(conf["experiment"])
        if found is None:
            raise
        return found.experiment_id


# --------------------------------------------------------------------------- params and metrics as MLflow takes them


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
        client.log_batch(run_id, params=ps[i : i + 100])
    for i in range(0, len(ms), 1000):
        client.log_batch(run_id, metrics=ms[i : i + 1000])


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
