"""The few lines a person reads at the end of a run: what was changed in their
data and why, leak suspects, label merges, the positive class.

Stage ``02_preprocess`` stores them in ``cleaning.json`` (``digest``); the
command line prints them after the run and the summary page shows them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["cleaning_digest"]


def cleaning_digest(
    report: dict[str, Any],
    changes: list[dict[str, Any]],
    *,
    target: dict[str, Any],
    leaks: dict[str, Any],
    merges: pd.DataFrame,
    roles: dict[str, Any],
    quality: dict[str, Any] | None = None,
) -> list[str]:
    """One line per thing a reviewer must know, most important first.

    Parameters
    ----------
    report, changes : from :class:`nblib.ml.preprocess.Cleaned`
    target : :func:`nblib.ml.target.prepare_target` info (``classes``, ``positive_class``)
    leaks : :meth:`nblib.ml.leaks.LeakReport.to_dict`
    merges : :func:`nblib.ml.labels.label_merges_on` table
    roles : :meth:`nblib.ml.preprocess.ColumnRoles.to_dict`
    quality : ``quality.json`` of stage 01 (its high and medium findings are repeated)
    """
    lines = []
    for suspect in leaks.get("suspects", []):
        kind = "POSSIBLE LEAK" if suspect.get("confidence") == "possible" else "LEAK SUSPECT"
        lines.append(f"{kind} ({suspect['action']}): {suspect['evidence']}")
    dropped_rows = report.get("rows_dropped", 0)
    lines.append(f"rows: {report.get('rows_in', '?')} in, {report.get('rows_out', '?')} used"
                 + (f" ({dropped_rows} dropped: " + "; ".join(
                     f"{c['rows']} {c['why']}" for c in changes if c["step"] == "rows" and c["what"] == "dropped")
                    + ")" if dropped_rows else " (none dropped)"))
    for change in changes:
        if change["step"] == "rows" and change["what"] == "duplicates found":
            lines.append(f"duplicates: {change['why']}")
        if change["step"] == "columns":
            lines.append(f"columns dropped: {', '.join(map(repr, change['columns']))} ({change['why']})")
        if change["step"] == "values" and change["what"] != "labels written with other case or spacing merged":
            lines.append(f"{change['what']}: {', '.join(map(repr, change['columns']))} ({change['why']})")
    ignored = [c for c in roles.get("ignore", [])]
    if ignored:
        notes = roles.get("notes", {})
        lines.append("columns not used: " + "; ".join(f"{c!r} ({notes.get(c, 'ignored')})" for c in ignored))
    if len(merges):
        shown = "; ".join(f"{r.column!r}: {r.variant!r} → {r.merged_into!r}" for r in merges.head(6).itertuples())
        lines.append(f"label typos merged ({len(merges)}): {shown}" + (" ..." if len(merges) > 6 else ""))
    if target.get("classes") is not None:
        classes = target["classes"]
        if target.get("positive_class") is not None:
            lines.append(f"positive class: {target['positive_class']!r} (of {', '.join(map(repr, classes))})")
        else:
            lines.append(f"{len(classes)} classes: {', '.join(map(repr, classes[:10]))}"
                         + (" ..." if len(classes) > 10 else ""))
        if target.get("merged_spellings"):
            lines.append("target labels written several ways, merged: " + "; ".join(
                f"{k!r} ← {', '.join(map(repr, v))}" for k, v in target["merged_spellings"].items()))
    for item in (quality or {}).get("findings", []):
        if item["severity"] in ("high", "medium") and item["kind"] not in ("duplicates",):
            lines.append(f"{item['kind']}: {item['message']}")
    return lines
