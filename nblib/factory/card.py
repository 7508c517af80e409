"""The model card of a run: what the model is for, what it learned from, how well it does and where not.

:func:`write_model_card` reads a run folder's files (``params.yaml`` and the JSON
artifacts of the stages) and writes ``model_card.md`` and ``model_card.html``
beside ``summary.html``. A failed or partial run still gets a card: a section
whose file is missing says "not available".

Both pages come from Jinja2 templates (``nblib/factory/templates/model_card.*.j2``).
Every value printed in them is escaped by the environment, not call by call:
HTML escaping for the HTML page, and for the Markdown page an escaping that
makes HTML inert and keeps a ``|`` in a column or category name from breaking
a table (:func:`nblib.ml.evaluation.explain.md`). Values from users' data are untrusted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nblib.engine.artifacts import read_json_or_none
from nblib.factory.templating import template
from nblib.ml.evaluation.scoring import shown_score, shown_scoring

__all__ = ["card_context", "write_model_card", "run_next_steps"]

NOT_AVAILABLE = "not available"


def write_model_card(run_dir: str | Path, manifest: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """Write ``RUN/model_card.md`` and ``RUN/model_card.html``; return their paths.

    ``manifest`` is the run's manifest (read from ``RUN/manifest.json`` when None).
    Missing or unreadable files make their sections say "not available"; nothing raises for them.
    """
    from nblib.engine.artifacts import write_text

    run_dir = Path(run_dir)
    if manifest is None:
        manifest = read_json_or_none(run_dir / "manifest.json") or {}
    context = card_context(run_dir, manifest)
    md_path = write_text(run_dir / "model_card.md", template("model_card.md.j2").render(**context))
    html_path = write_text(run_dir / "model_card.html", template("model_card.html.j2").render(**context))
    return Path(md_path), Path(html_path)


def card_context(run_dir: str | Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Everything the card templates show, read from the run folder (None where a file is missing)."""
    run_dir = Path(run_dir)
    art = run_dir / "artifacts"
    params = _yaml(run_dir / "params.yaml") or {}
    metrics = read_json_or_none(art / "metrics.json")
    quality = read_json_or_none(art / "quality.json")
    cleaning = read_json_or_none(art / "cleaning.json")
    leaks = read_json_or_none(art / "leaks.json")
    cv = read_json_or_none(art / "cv_results.json")
    explain = read_json_or_none(art / "explain.json")
    columns = read_json_or_none(art / "columns.json")
    data = params.get("data") or {}
    metrics = metrics or None
    return {
        "manifest": manifest,
        "name": manifest.get("label") or manifest.get("name") or run_dir.name,
        "description": (params.get("description") or "").strip(),
        "data": {
            "source": data.get("source"),
            "rows": (quality or {}).get("n_rows") if quality else None,
            "columns": (quality or {}).get("n_columns") if quality else None,
            "target": data.get("target"),
            "task": (metrics or {}).get("task") or (columns or {}).get("task") or data.get("task"),
            "positive_class": _first(
                (metrics or {}).get("positive_class"), (columns or {}).get("positive_class"), data.get("positive_class")
            ),
        },
        "cleaning": _cleaning(cleaning),
        "findings": [f for f in (quality or {}).get("findings", [])][:5] if quality else None,
        "training": _training(params, cv, metrics),
        "metrics": _metrics(metrics),
        "slices": (explain or {}).get("slices") if explain else None,
        "importance": (((explain or {}).get("importance") or {}).get("columns") or [])[:10] if explain else None,
        "importance_meta": (explain or {}).get("importance") or {},
        "caveats": _caveats(metrics, manifest),
        "next_steps": run_next_steps(run_dir),
        "registry": _registry(manifest.get("tracking"), read_json_or_none(art / "promotion.json")),
        "leaks": leaks,
        # marks beside the score (e.g. "leak?": keeps a likely leak), with why and how to fix it
        "flags": [
            {"mark": str(f), "note": str((manifest.get("flag_notes") or {}).get(f) or "")}
            for f in manifest.get("flags") or []
        ],
        "stages": manifest.get("stages", []),
        "na": NOT_AVAILABLE,
    }


def run_next_steps(run_dir: str | Path) -> list[dict[str, str]]:
    """The next steps a run's artifacts support (:func:`nblib.ml.evaluation.next_steps.next_steps`), as dicts
    ``{"kind", "why", "action"}``; absent or unreadable files just give no step."""
    from nblib.ml.evaluation.next_steps import next_steps

    art = Path(run_dir) / "artifacts"
    metrics = read_json_or_none(art / "metrics.json") or {}
    cv = read_json_or_none(art / "cv_results.json") or {}
    entities = (read_json_or_none(art / "cleaning.json") or {}).get("entities") or {}
    counts = test_counts = None
    if metrics.get("task") == "classification" or metrics.get("classes"):
        target = (read_json_or_none(art / "quality.json") or {}).get("target") or {}
        counts = target.get("classes") if isinstance(target.get("classes"), dict) else None
        classes, matrix = metrics.get("classes") or [], metrics.get("confusion_matrix") or []
        if len(classes) == len(matrix):
            test_counts = {str(c): sum(row) for c, row in zip(classes, matrix, strict=False) if isinstance(row, list)}
    try:
        steps = next_steps(
            learning_curve=cv.get("learning_curve") if isinstance(cv.get("learning_curve"), list) else None,
            leak_suspects=(read_json_or_none(art / "leaks.json") or {}).get("suspects") or [],
            class_counts=counts,
            test_class_counts=test_counts,
            entity_suspects=entities.get("suspects") or [] if isinstance(entities, dict) else [],
            group=entities.get("group") if isinstance(entities, dict) else None,
        )
    except (TypeError, ValueError, AttributeError):  # a file of another shape: no advice rather than no page
        return []
    return [s.to_dict() for s in steps]


def _registry(tracking: dict[str, Any] | None, promotion: dict[str, Any] | None) -> dict[str, Any] | None:
    """Where the run is tracked, its registered version, and the champion decision with its evidence."""
    if not tracking and not (promotion or {}).get("asked"):
        return None
    tracking = tracking or {}
    promoted = (tracking.get("promotion") or {}).get("promoted")
    champion = None
    if (promotion or {}).get("asked"):
        champion = ("promoted to @champion: " if promoted else "") + str(
            (tracking.get("promotion") or {}).get("reason") or promotion.get("reason", "")
        )
    return {
        "uri": tracking.get("uri"),
        "experiment": tracking.get("experiment"),
        "run_id": tracking.get("run_id"),
        "model": tracking.get("model"),
        "error": tracking.get("error") or tracking.get("model_error"),
        "champion": champion,
    }


def _cleaning(cleaning: dict[str, Any] | None) -> dict[str, Any] | None:
    if not cleaning:
        return None
    changes = [
        {"what": c.get("what", ""), "columns": ", ".join(map(str, c.get("columns") or [])), "why": c.get("why", "")}
        for c in cleaning.get("changes", [])
    ][:8]
    return {
        "rows_in": cleaning.get("rows_in"),
        "rows_out": cleaning.get("rows_out"),
        "rows_dropped": cleaning.get("rows_dropped"),
        "changes": changes,
    }


def _training(
    params: dict[str, Any], cv: dict[str, Any] | None, metrics: dict[str, Any] | None
) -> dict[str, Any] | None:
    if not cv:
        return None
    train = params.get("train") or {}
    threshold = cv.get("threshold") or {}
    search = train.get("search")
    chosen = (metrics or {}).get("chosen") or cv.get("chosen") or {}
    return {
        "best_model": chosen.get("name") or (metrics or {}).get("best_model") or cv.get("best_model"),
        "chosen": _chosen(chosen, cv),
        "folds": cv.get("folds"),
        "scoring": shown_scoring(cv.get("scoring"))[0] or None,  # rmse, not neg_root_mean_squared_error
        "families": sorted((cv.get("models") or {}).keys()),
        "search": search if isinstance(search, str) else (search or {}).get("method", "none") if search else "none",
        "imbalance": ((params.get("imbalance") or {}).get("strategy")) or "none",
        "threshold": _first((metrics or {}).get("threshold"), threshold.get("threshold")),
        "threshold_by": _first((metrics or {}).get("threshold_by"), threshold.get("by")),
    }


def _chosen(chosen: dict[str, Any], cv: dict[str, Any]) -> dict[str, Any] | None:
    """What the card says about the saved model: its kind, members, CV and which CV that is."""
    if not chosen:
        return None
    verdict = (((cv.get("ensemble") or {}).get("candidates") or {}).get(chosen.get("name")) or {}).get("verdict")
    return {
        "name": chosen.get("name"),
        "kind": chosen.get("kind", "single"),
        "label": chosen.get("label"),
        "members": list(chosen.get("members") or []),
        "cv_mean": shown_score(chosen.get("cv_mean"), chosen.get("scoring") or cv.get("scoring")),  # rmse positive
        "cv_std": chosen.get("cv_std"),
        "scoring": shown_scoring(chosen.get("scoring") or cv.get("scoring"))[0],
        "cv_note": chosen.get("cv_note") or "",
        "searched": bool(chosen.get("searched")),
        "verdict": verdict,
    }


def _metrics(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if not metrics or "test" not in metrics:
        return None
    ci = metrics.get("test_ci") or {}
    rows = [
        {
            "name": k,
            "value": v,
            "low": (ci.get(k) or [None, None])[0],
            "high": (ci.get(k) or [None, None])[1],
            "primary": k == metrics.get("primary_metric"),
            "oracle": (metrics.get("oracle") or {}).get(k),
        }
        for k, v in metrics["test"].items()
    ]
    return {
        "rows": rows,
        "n_test": metrics.get("n_test"),
        "confidence": metrics.get("confidence", 0.95),
        "best_model": (metrics.get("chosen") or {}).get("label") or metrics.get("best_model"),
        "primary": metrics.get("primary_metric"),
    }


def _caveats(metrics: dict[str, Any] | None, manifest: dict[str, Any]) -> list[str]:
    out = []
    if manifest.get("status") == "gated":
        out.append("the run was gated: a test metric missed its gate (evaluate.gates); do not ship this model as is")
    elif manifest.get("status") and manifest["status"] != "succeeded":
        out.append(f"the run did not succeed (status {manifest['status']}): parts of this card may be missing")
    if manifest.get("error"):
        out.append(str(manifest["error"]))
    if metrics:
        out.extend(str(w) for w in metrics.get("warnings", []))
        cvt = metrics.get("cv_vs_test")
        if cvt and not cvt.get("far"):
            out.append(cvt.get("explanation", ""))
        oracle, test = (metrics.get("oracle") or {}).get("roc_auc"), (metrics.get("test") or {}).get("roc_auc")
        gap = (metrics.get("oracle_gap") or {}).get("roc_auc")
        if gap is not None and gap <= 0.03 and oracle is not None and test is not None:
            out.append(
                f"oracle gap: the true probabilities of this generated data score ROC-AUC {oracle:.3f} on the "
                f"test rows, the model {test:.3f} "
                f"({'within 0.03 of the ceiling' if gap >= 0 else 'above it: chance on a small test split'})"
            )
    return [c for c in out if c]


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
