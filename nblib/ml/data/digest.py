"""The few lines a person reads at the end of a run: what was changed in their
data and why, leak suspects, label merges, the positive class.

Stage ``02_preprocess`` stores them in ``cleaning.json`` (``digest``); the
command line prints them after the run and the summary page shows them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["cleaning_digest", "entity_lines", "cleaning_record"]


def cleaning_digest(
    report: dict[str, Any],
    changes: list[dict[str, Any]],
    *,
    target: dict[str, Any],
    leaks: dict[str, Any],
    merges: pd.DataFrame,
    roles: dict[str, Any],
    quality: dict[str, Any] | None = None,
    entities: dict[str, Any] | None = None,
    proposals: pd.DataFrame | None = None,
) -> list[str]:
    """One line per thing a reviewer must know, most important first.

    Parameters
    ----------
    report, changes : from :class:`nblib.ml.data.preprocess.Cleaned`
    target : :func:`nblib.ml.data.target.prepare_target` info (``classes``, ``positive_class``)
    leaks : :meth:`nblib.ml.data.leaks.LeakReport.to_dict`
    merges, proposals : :func:`nblib.ml.data.labels.label_merges_on`'s ``applied`` and ``proposed`` tables: label
        merges made, with their evidence, and look-alikes only proposed (never applied)
    roles : :meth:`nblib.ml.data.preprocess.ColumnRoles.to_dict`
    quality : ``quality.json`` of stage 01 (its high and medium findings are repeated)
    entities : :func:`nblib.ml.data.preprocess.entity_report` (row numbers, ``data.group``, entity-key suspects)
    """
    lines = []
    for suspect in leaks.get("suspects", []):
        kind = "POSSIBLE LEAK" if suspect.get("confidence") == "possible" else "LEAK SUSPECT"
        lines.append(f"{kind} ({suspect['action']}): {suspect['evidence']}")
    from nblib.ml.data.leaks import MARK, fix_hint, kept_likely

    if kept_likely(leaks):  # the run is marked wherever its score appears, and never promoted
        lines.append(
            f"{MARK.upper()} this run {fix_hint(kept_likely(leaks))}; until then it is marked {MARK} and never promoted"
        )
    if leaks.get("known_before_outcome"):
        lines.append(
            f"not checked for leaks: {', '.join(map(repr, leaks['known_before_outcome']))} "
            f"(data.columns.known_before_outcome)"
        )
    lines += entity_lines(entities or {}, roles.get("notes", {}))
    said = set((entities or {}).get("index_columns", [])) | {(entities or {}).get("group")}
    dropped_rows = report.get("rows_dropped", 0)
    lines.append(
        f"rows: {report.get('rows_in', '?')} in, {report.get('rows_out', '?')} used"
        + (
            f" ({dropped_rows} dropped: "
            + "; ".join(f"{c['rows']} {c['why']}" for c in changes if c["step"] == "rows" and c["what"] == "dropped")
            + ")"
            if dropped_rows
            else " (none dropped)"
        )
    )
    for change in changes:
        if change["step"] == "rows" and change["what"] == "duplicates found":
            lines.append(f"duplicates: {change['why']}")
        if change["step"] == "columns":
            lines.append(f"columns dropped: {', '.join(map(repr, change['columns']))} ({change['why']})")
        if change["step"] == "values" and change["what"] != "labels written with other case or spacing merged":
            lines.append(f"{change['what']}: {', '.join(map(repr, change['columns']))} ({change['why']})")
    ignored = [c for c in roles.get("ignore", []) if c not in said]
    if ignored:
        notes = roles.get("notes", {})
        lines.append("columns not used: " + "; ".join(f"{c!r} ({notes.get(c, 'ignored')})" for c in ignored))
    if len(merges):
        shown = "; ".join(
            f"{r['column']!r}: {r['variant']!r} → {r['merged_into']!r}" + _merge_evidence(r)
            for r in merges.head(6).to_dict("records")
        )
        lines.append(f"label typos merged ({len(merges)}): {shown}" + (" ..." if len(merges) > 6 else ""))
    if proposals is not None and len(proposals):
        shown = "; ".join(
            f"{r['column']!r}: {r['variant']!r} ~ {r['merged_into']!r}" + _merge_evidence(r)
            for r in proposals.head(6).to_dict("records")
        )
        lines.append(
            f"look-alike labels proposed, not applied ({len(proposals)}; merge them in the data if they are "
            f"typos): {shown}" + (" ..." if len(proposals) > 6 else "")
        )
    if target.get("classes") is not None:
        classes = target["classes"]
        if target.get("positive_class") is not None:
            lines.append(f"positive class: {target['positive_class']!r} (of {', '.join(map(repr, classes))})")
        else:
            lines.append(
                f"{len(classes)} classes: {', '.join(map(repr, classes[:10]))}" + (" ..." if len(classes) > 10 else "")
            )
        if target.get("merged_spellings"):
            lines.append(
                "target labels written several ways, merged: "
                + "; ".join(f"{k!r} ← {', '.join(map(repr, v))}" for k, v in target["merged_spellings"].items())
            )
    for item in (quality or {}).get("findings", []):
        if item["severity"] in ("high", "medium") and item["kind"] not in ("duplicates", "entities"):
            lines.append(f"{item['kind']}: {item['message']}")
    return lines


def _merge_evidence(merge: dict[str, Any]) -> str:
    """' (1 letter dropped ('m'); 2 rows vs 30)': what a label merge rests on, when known."""
    evidence = [str(merge["edit"])] if merge.get("edit") else []
    if merge.get("rows") is not None and merge.get("label_rows") is not None:
        evidence.append(f"{merge['rows']} row{'s' if merge['rows'] != 1 else ''} vs {merge['label_rows']}")
    if merge.get("why_not"):
        evidence.append(f"not applied: {merge['why_not']}")
    return f" ({'; '.join(evidence)})" if evidence else ""


def entity_lines(entities: dict[str, Any], notes: dict[str, str] | None = None) -> list[str]:
    """What the terminal and the page say about row numbers, ``data.group`` and entity keys.

    An undeclared entity key that put the same entity in training and test comes first,
    as ``ENTITY KEY?``, with the overlap and the params line that fixes it.
    """
    lines = []
    group, test_rows = entities.get("group"), entities.get("test_rows")
    of_test = f" of {test_rows:,}" if isinstance(test_rows, int) else ""
    for s in entities.get("suspects", []):
        if not s.get("overlap_rows"):
            continue
        role = s.get("role")
        used = f"; it is used as a feature ({role})" if role and role != "ignore" else ""
        fix = (
            f"set data.group: {s['column']}"
            if group is None
            else f"it is not data.group ({group!r}); if its rows belong together, group by it instead"
        )
        lines.append(
            f"ENTITY KEY? {s['column']!r}: {s['overlap_values']:,} values in both train and test "
            f"({s['overlap_rows']:,}{of_test} test rows share one with training rows), so the test score is "
            f"partly measured on entities the model has seen; {fix} ({s['why']}{used})"
        )
    if group is not None:
        lines.append(
            f"entities: data.group {group!r} keeps each entity's rows on one side of the split and in one "
            f"CV fold; test rows whose {group!r} value also occurs in training: "
            f"{entities.get('overlap_rows', 0):,}; "
            + (
                "a feature as data.columns says"
                if (notes or {}).get(group) == "set in data.columns"
                else "not used as a feature"
            )
        )
    for column in entities.get("index_columns", []):
        note = (notes or {}).get(column) or "row number (unique, monotone): not used as a feature"
        lines.append(f"{column!r} is a {note}")
    return lines


def cleaning_record(
    report: dict[str, Any],
    changes: list[dict[str, Any]],
    merges: dict[str, list[dict[str, Any]]],
    digest: list[str],
    entities: dict[str, Any],
) -> dict[str, Any]:
    """What ``cleaning.json`` holds: the cleaning counts (``report``), the ``changes``, the label
    merges and proposals (``LabelMerges.records()``), the ``digest`` lines and the entity check."""
    return {**report, "changes": changes, **merges, "digest": digest, "entities": entities}
