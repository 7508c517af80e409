"""Champion against challenger: should this run's model replace the registry's ``@champion``?

With ``evaluate.promote`` the ``05_evaluate`` stage compares the new model with the current
``@champion`` on the same test rows (:func:`challenge`; the statistics are
:func:`nblib.ml.evaluation.compare.paired_comparison`) and :func:`decide` turns the evidence into a
decision. After the run, once its model is registered, :func:`move_champion` moves the alias only
when that decision was "promote" and the champion it beat is still the champion. A model that keeps
a likely leak is never promoted, whatever the evidence says.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from nblib.engine.artifacts import read_json_or_none
from nblib.ml.evaluation.gates import check_promotion
from nblib.ml.evaluation.scoring import LOWER_IS_BETTER as _LOWER_IS_BETTER
from nblib.tracking.records import _kept_likely, _read_frame, test_rows_sha256
from nblib.tracking.registry import CHAMPION, _champion
from nblib.tracking.session import _client, _fluent, _guard, _one_line, settings

__all__ = ["challenge", "decide", "move_champion", "check_promotion"]


def challenge(
    params,
    predictions,
    metrics: dict[str, Any],
    n_boot: int = 1000,
    leaks: dict[str, Any] | None = None,
    *,
    data_sha256: str,
    reports_dir: str | Path,
    rows=None,
) -> dict[str, Any]:
    """Should this run's model replace the registry's ``@champion``? The evidence, as a record.

    The champion's test predictions are read back from its MLflow run; the comparison is paired
    on the same rows (DeLong for ROC-AUC, a paired bootstrap for other metrics) at
    ``evaluate.promote_level``. Refused, with the reason, when the champion was scored on other
    data or other test rows and cannot be scored on this run's (``rows``: the test rows the run scored, as the
    stage read them; a scheduled retrain on new data), and never promoted when the run keeps a likely leak (``leaks``:
    ``artifacts/leaks.json``). Never raises: an unreachable store is a ``"decision": "unknown"``.
    ``data_sha256`` fingerprints the run's data; ``reports_dir`` holds the default store
    (:meth:`nblib.factory.stage.StageContext.challenge` passes both).
    """
    evaluate = params.evaluate
    if not evaluate.promote:
        return {"asked": False, "decision": "not asked", "reason": "evaluate.promote is off"}
    conf = settings({"name": params.name, "tracking": params.tracking.model_dump()}, reports_dir)
    primary = metrics.get("primary_metric")
    mine = {
        "data_sha256": data_sha256,
        "test_rows_sha256": test_rows_sha256(predictions),
        "value": (metrics.get("test") or {}).get(primary),
    }
    base = {
        "asked": True,
        "model_name": conf["model_name"],
        "metric": primary,
        "level": evaluate.promote_level,
        "challenger": mine,
    }
    kept = _kept_likely(leaks)
    if kept:  # not even the first champion: no need to ask the registry
        return {**base, **decide(None, None, primary, evaluate.promote_level, leak=kept)}
    try:
        client = _client(conf["uri"])
        current = _champion(client, conf["model_name"])
        if current is None:
            return {**base, **decide(None, None, primary, evaluate.promote_level)}
        champ = {
            "version": int(current.version),
            "run_id": current.run_id,
            "label": current.tags.get("nblib.label", ""),
            "nblib_run": current.tags.get("nblib.run_id", ""),
            "data_sha256": current.tags.get("nblib.data_sha256", ""),
            "test_rows_sha256": current.tags.get("nblib.test_rows_sha256", ""),
        }
        test = None
        same = champ["data_sha256"] == mine["data_sha256"] and champ["test_rows_sha256"] == mine["test_rows_sha256"]
        if same or rows is not None:
            if same:
                compared = _paired(client, current.run_id, predictions, metrics, primary, n_boot)
            else:  # other data: the champion's model scores this run's test rows, and the pair is on them
                compared = _rescored(client, conf["uri"], current, rows, predictions, primary, n_boot)
                champ["scored_here"] = True
            if not compared["paired"]:
                return {
                    **base,
                    "champion": champ,
                    "decision": "refused",
                    "test": None,
                    "reason": f"refused: champion version {champ['version']} was trained on other data and is "
                    f"{compared['note']}"
                    if champ.get("scored_here")
                    else f"refused: champion version {champ['version']}'s test predictions do not pair "
                    f"with this run's ({compared['note']})",
                }
            test = compared["tests"].get(primary)
        return {**base, "champion": champ, **decide(champ, test, primary, evaluate.promote_level, mine)}
    except Exception as exc:  # noqa: BLE001 - never lose the run over the registry
        return {**base, "decision": "unknown", "reason": f"the tracking store failed ({_one_line(exc)})"}


def decide(
    champion: dict[str, Any] | None,
    test: dict[str, Any] | None,
    metric: str,
    level: float,
    challenger: dict[str, Any] | None = None,
    leak: list[str] = (),
) -> dict[str, Any]:
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
        what = (
            "other data (data hash differs)"
            if champion.get("data_sha256") != challenger.get("data_sha256")
            else "other test rows (the split differs)"
        )
        return {
            "decision": "refused",
            "test": None,
            "reason": f"refused: champion version {version} was scored on {what}; "
            f"a paired comparison needs the same data and split",
        }
    better = test["diff"] < 0 if metric in _LOWER_IS_BETTER else test["diff"] > 0
    p = test.get("p_value")
    significant = p is not None and p < level
    direction = "lower" if metric in _LOWER_IS_BETTER else "higher"
    words = (
        f"{metric} {test['diff']:+.4f} ({direction} is better) against champion version {version} "
        f"({test.get('test', 'paired test')}, interval {test['lo']:+.4f} to {test['hi']:+.4f}, "
        f"p = {p:.3g} at level {level:g})"
        if p is not None
        else f"{metric}: no p-value"
    )
    if champion.get("scored_here"):
        words += "; the champion's model scored this run's test rows (it was trained on other data)"
    if better and significant:
        return {"decision": "promote", "reason": f"promote: {words}", "test": test}
    why = "not better" if not better else "not significantly better"
    return {"decision": "keep", "reason": f"keep the champion: {why}: {words}", "test": test}


def move_champion(
    client, art: Path, params: dict[str, Any], record: dict[str, Any], leaks: list[str]
) -> dict[str, Any] | None:
    """Move ``@champion`` to the run's registered version (``record["model"]``) when ``05_evaluate``
    decided so (``art/promotion.json``) and the champion it beat is still the champion. Returns what
    happened, or None when promotion was not asked. A run whose promotion is required
    (``evaluate.require_promotion``) and that lost the race to another run is gated, and its new
    version is withdrawn (removed from ``record``)."""
    decision = read_json_or_none(art / "promotion.json")
    model = record.get("model")
    if not decision or not decision.get("asked"):
        return None
    out = {"decision": decision.get("decision"), "reason": decision.get("reason", ""), "promoted": False}
    required = bool((params.get("evaluate") or {}).get("require_promotion"))
    if leaks:  # whatever 05 decided: a model built on a likely leak never becomes champion
        return {**out, **_leak_decision(leaks), "gated": required}
    if decision.get("decision") != "promote":
        return out
    if model is None:
        out["reason"] = "not promoted: this run's model was not registered"
        out["gated"] = required
        return out
    with _guard("promote"):
        current = _champion(client, model["name"])
        beaten = (decision.get("champion") or {}).get("version")
        if current is not None and str(current.version) == str(model["version"]):  # registered before, same pipeline
            return {
                **out,
                "promoted": True,
                "already": True,  # the alias did not move: nothing new to announce
                "reason": f"this pipeline is the champion already (version {current.version})",
            }
        if (str(current.version) if current else None) != (str(beaten) if beaten is not None else None):
            seen = f"version {beaten}" if beaten is not None else "no champion"
            now = f"version {current.version}" if current else "none"
            out["reason"] = (
                f"not promoted: the champion changed (now {now}) while this run was being "
                f"compared with {seen}; run again to compare"
            )
            if required and not model.get("already_registered"):  # a gated run's model is not registered
                client.delete_model_version(model["name"], str(model["version"]))
                record.pop("model")
            out["gated"] = required
            return out
        client.set_registered_model_alias(model["name"], CHAMPION, str(model["version"]))
        client.set_model_version_tag(model["name"], str(model["version"]), "nblib.promoted", "true")
    out["promoted"] = True
    return out


def _leak_decision(columns: list[str]) -> dict[str, Any]:
    names = ", ".join(map(repr, columns[:5])) + (f" and {len(columns) - 5} more" if len(columns) > 5 else "")
    return {
        "decision": "leak",
        "leak_columns": list(columns),
        "reason": f"not promoted: keeps a likely leak ({names}); set quality.leaks: drop, or list the column(s) "
        f"in data.columns.known_before_outcome if known before the outcome",
    }


def _rescored(client, uri: str, current, rows, predictions, primary: str, n_boot: int) -> dict[str, Any]:
    """The champion's model (the registered version, as ``nblib serve`` loads it) on this run's test rows
    (``rows``, in the order of ``predictions``), against this run's predictions: paired on the same rows and
    truth. Not paired, with the reason, when it cannot score them (a column it needs is gone, new classes).

    A champion trained on rows that are now in this run's test part has seen them: the comparison then
    favours the champion, never the challenger."""
    import mlflow

    from nblib.ml.evaluation.compare import paired_comparison

    target = next((c for c in predictions.columns if c != "score" and not str(c).startswith("proba_")), None)
    if not hasattr(rows, "loc") or target is None or len(rows) != len(predictions):
        return {"paired": False, "note": "not paired: this run's test rows were not all read in memory"}
    try:
        rows = rows.loc[predictions.index]
    except KeyError:
        return {"paired": False, "note": "not paired: the test rows do not match this run's predictions"}
    name, version = current.name, current.version
    with tempfile.TemporaryDirectory(prefix="nblib-champion-") as tmp:
        try:
            with _fluent(uri):
                local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=tmp)
                model = mlflow.pyfunc.load_model(local)
            scored = model.predict(rows.drop(columns=[target], errors="ignore"))
            theirs = read_json_or_none(Path(client.download_artifacts(current.run_id, "artifacts/metrics.json", tmp)))
        except Exception as exc:  # noqa: BLE001 - a model that cannot score these rows is not compared
            return {"paired": False, "note": f"not paired: it cannot score this run's test rows ({_one_line(exc)})"}
    champion = predictions[[target]].copy()
    scores = [c for c in scored.columns if str(c).startswith("proba_")]
    if "proba" in scored.columns:
        champion["score"] = scored["proba"].to_numpy(float)
    elif scores:
        for column in scores:
            champion[column] = scored[column].to_numpy(float)
    else:
        champion["score"] = scored["prediction"].to_numpy(float)
    return paired_comparison(champion, predictions, theirs or {}, theirs or {}, n=n_boot, metrics=(primary,))


def _paired(client, run_id: str, predictions, metrics: dict[str, Any], primary: str, n_boot: int) -> dict[str, Any]:
    """The champion's test predictions, read back from its MLflow run, against this run's
    (:func:`nblib.ml.evaluation.compare.paired_comparison`, the primary metric only)."""
    from nblib.ml.evaluation.compare import paired_comparison

    with tempfile.TemporaryDirectory(prefix="nblib-champion-") as tmp:
        pred = _read_frame(client.download_artifacts(run_id, "artifacts/predictions.parquet", tmp))
        theirs = read_json_or_none(Path(client.download_artifacts(run_id, "artifacts/metrics.json", tmp))) or {}
    return paired_comparison(pred, predictions, theirs, metrics, n=n_boot, metrics=(primary,))
