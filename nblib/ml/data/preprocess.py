"""Cleaning, column roles, the train/test split and the tabular preprocessor.

Cleaning here is stateless (it learns nothing from the data), so it may run on
the whole table before the split: it reads numbers and dates as they were
written, normalizes spacing and case of labels, and finds duplicate records.
It drops a column only when it carries nothing (constant or empty) or the params
say so, and a row only when its target is missing or the params opt in to
dropping duplicates; every change is listed in :attr:`Cleaned.changes`.

Everything that learns (imputer, scaler, encoders, label-typo merges) lives in
:func:`make_preprocessor`, an *unfitted* ColumnTransformer fitted on training
data or inside CV folds only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    OneHotEncoder,
    StandardScaler,
    TargetEncoder,
)

from nblib.ml.data.duplicates import (
    duplicate_groups,
    duplicate_report,
    entity_key_columns,
    entity_overlap,
    identifier_columns,
    index_columns,
    row_number_note,
)
from nblib.ml.data.labels import MergeRareVariants
from nblib.ml.data.parse import apply_parsers, infer_parsers, is_string

__all__ = [
    "ColumnRoles",
    "Cleaned",
    "ROLE_NAMES",
    "GROUP_COLUMN",
    "infer_column_roles",
    "clean_frame",
    "normalize_columns",
    "split_train_test",
    "split_groups",
    "entity_report",
    "make_preprocessor",
    "split_summary",
    "changes_table",
    "target_type",
    "as_float",
    "as_str",
    "stratify_for",
    "with_groups",
    "groups_of",
    "columns_record",
]

ROLE_NAMES = ("numeric", "categorical", "high_cardinality", "boolean", "text", "date", "ignore")
#: Column of train.parquet holding each row's group: its duplicate group joined with its entity
#: (``data.group``); rows of a group stay in one CV fold (:func:`split_groups`).
GROUP_COLUMN = "__nblib_group__"
#: Why the ``data.group`` column has no role.
GROUP_NOTE = (
    "the entity of each row (data.group): keeps an entity's rows on one side of the split and in one "
    "CV fold; not a feature"
)


@dataclass
class ColumnRoles:
    """Which feature columns play which role. The target is never listed.

    ``notes`` says why a column is ignored or how its role was decided, when
    that is not obvious from its values.
    """

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    high_cardinality: list[str] = field(default_factory=list)
    boolean: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    date: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def features(self) -> list[str]:
        """All columns used as model input, in a stable order."""
        return [c for role in ROLE_NAMES[:-1] for c in getattr(self, role)]

    def table(self) -> pd.DataFrame:
        """One row per column with its role and, where there is one, the reason."""
        rows = [(c, role, self.notes.get(c, "")) for role in ROLE_NAMES for c in getattr(self, role)]
        return pd.DataFrame(rows, columns=["column", "role", "note"]).set_index("column")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def drop(self, columns: list[str], note: str) -> None:
        """Move ``columns`` to ``ignore`` with ``note``."""
        for column in columns:
            for role in ROLE_NAMES[:-1]:
                if column in getattr(self, role):
                    getattr(self, role).remove(column)
                    self.ignore.append(column)
                    self.notes[column] = note

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnRoles:
        roles = cls(**{k: list(v) for k, v in data.items() if k in ROLE_NAMES})
        roles.notes = dict(data.get("notes", {}))
        return roles


@dataclass
class Cleaned:
    """What :func:`clean_frame` returns.

    Attributes
    ----------
    frame : DataFrame
        The cleaned table; the original index is kept so rows can be traced back.
    groups : Series
        Duplicate group of each row (see :mod:`nblib.ml.data.duplicates`).
    parsers : dict
        How text columns were read as numbers or dates (applied again by ``predict``).
    report : dict
        Counts: rows in and out, duplicates, columns dropped, labels normalized.
    changes : list of dict
        One row per change made to the user's table: ``step``, ``what``,
        ``rows``, ``columns``, ``why``.
    """

    frame: pd.DataFrame
    groups: pd.Series
    parsers: dict[str, dict[str, Any]]
    report: dict[str, Any]
    changes: list[dict[str, Any]]

    def changes_table(self) -> pd.DataFrame:
        return changes_table(self.changes)


def infer_column_roles(
    frame: pd.DataFrame,
    target: str,
    overrides: dict[str, list[str]] | None = None,
    *,
    high_cardinality_threshold: int = 30,
    text_min_tokens: float = 4.0,
    group: str | None = None,
) -> ColumnRoles:
    """Assign each column a role from its dtype and content.

    Row numbers (:func:`nblib.ml.data.duplicates.index_columns`), identifiers unique per row and
    the entity column ``group`` are never features: they are ignored with a note saying why.

    Parameters
    ----------
    frame : DataFrame
        The cleaned table (dates already parsed).
    target : str
        Target column; never given a role.
    overrides : dict, optional
        ``role -> [columns]`` fixed by the user; they win over inference.
    high_cardinality_threshold : int, default=30
        String columns with more distinct values are encoded by target encoding.
    text_min_tokens : float, default=4.0
        String columns whose values have at least this many words on average are text.
    group : str, optional
        The entity column (``data.group``): ignored unless ``overrides`` give it a role.
    """
    overrides = {k: list(v) for k, v in (overrides or {}).items() if v and k in ROLE_NAMES}
    fixed = {c: role for role, cols in overrides.items() for c in cols}
    candidates = frame.drop(columns=[c for c in [*fixed, target, GROUP_COLUMN, group] if c in frame.columns])
    ids = set(identifier_columns(candidates))
    rows = set(index_columns(candidates))
    roles = ColumnRoles()
    for column in frame.columns:
        if column in (target, GROUP_COLUMN):
            continue
        if column in fixed:
            role = fixed[column]
            roles.notes[column] = "set in data.columns"
        elif column == group:
            role = "ignore"
            roles.notes[column] = GROUP_NOTE
        elif column in rows:
            role = "ignore"
            roles.notes[column] = row_number_note(frame[column])
        elif column in ids:
            role = "ignore"
            roles.notes[column] = "an identifier: unique per row, nothing to learn"
        else:
            role = _infer_role(frame[column], high_cardinality_threshold, text_min_tokens)
            if role == "ignore":
                roles.notes[column] = "unique per row and a single word: an identifier, nothing to learn"
            elif role == "text" and frame[column].dropna().astype(str).str.split().str.len().mean() < text_min_tokens:
                roles.notes[column] = "short but unique per row (names, titles): read as text"
        getattr(roles, role).append(column)
    return roles


def clean_frame(
    frame: pd.DataFrame,
    roles_hint: dict[str, list[str]] | None = None,
    *,
    target: str,
    drop_columns: list[str] = (),
    drop_duplicates: bool = False,
    drop_near_duplicates: bool = False,
) -> Cleaned:
    """Stateless cleaning; see the module docstring.

    Parameters
    ----------
    frame : DataFrame
        The raw table, target included; it is not modified.
    roles_hint : dict, optional
        ``data.columns`` from the params: ``role -> [columns]``.
    target : str
    drop_columns : list of str
        Columns the params drop.
    drop_duplicates, drop_near_duplicates : bool, default=False
        Opt in to keeping only the first row of each exact (or near) duplicate
        group. By default every row is kept and groups stay together in the split.
    """
    hint = {k: list(v) for k, v in (roles_hint or {}).items()}
    report: dict[str, Any] = {"rows_in": len(frame), "columns_in": frame.shape[1]}
    out, changes = drop_declared(frame, drop_columns, hint)

    missing_target = out[target].isna()
    out = out[~missing_target]
    report["rows_missing_target"] = int(missing_target.sum())
    if missing_target.any():
        changes.append(missing_target_change(int(missing_target.sum()), target))

    parsers = infer_parsers(out, exclude=[target], dates=hint.get("date", []), numbers=hint.get("numeric", []))
    changes += parser_changes(parsers)
    report["parsed"] = parsers
    before = {c: out[c].nunique() for c in out.columns if c != target and is_string(out[c]) and c not in parsers}
    out = normalize_columns(apply_parsers(out, parsers), {"text": hint.get("text", [])}, exclude=[target])
    merged = {
        c: int(n - out[c].nunique())
        for c, n in before.items()
        if n > out[c].nunique() and _infer_role(out[c], 30, 4.0) != "text"
    }
    report["labels_normalized"] = merged
    changes += label_changes(merged)

    empty = [c for c in out.columns if c != target and out[c].isna().all()]
    constant = [c for c in out.columns if c != target and c not in empty and out[c].nunique(dropna=False) == 1]
    out = out.drop(columns=[*empty, *constant])
    changes += empty_changes(empty, constant)

    dup = duplicate_report(out, target)
    report.update({f"duplicates_{k}" if k != "identifier_columns" else k: v for k, v in dup.items()})
    groups = duplicate_groups(out, [target], ids=dup["identifier_columns"])
    changes += duplicate_changes(dup, dropping=drop_duplicates or drop_near_duplicates)
    n = len(out)
    if drop_duplicates and dup["exact_duplicates"]:
        keep = ~out.duplicated()
        out, groups = out[keep], groups[keep]
        changes.append(
            _change("rows", "dropped", rows=n - len(out), why="exact duplicates (preprocess.drop_duplicates: true)")
        )
    n = len(out)
    if drop_near_duplicates and dup["near_duplicates"]:
        keep = ~groups.duplicated()
        out, groups = out[keep], groups[keep]
        changes.append(
            _change(
                "rows",
                "dropped",
                rows=n - len(out),
                why="near duplicates: first row of each group kept (preprocess.drop_near_duplicates: true)",
            )
        )
    report["rows_out"] = len(out)
    report["columns_dropped"] = [c for ch in changes if ch["step"] == "columns" for c in ch["columns"]]
    report["rows_dropped"] = report["rows_in"] - len(out)
    return Cleaned(frame=out, groups=groups.rename("group"), parsers=parsers, report=report, changes=changes)


def drop_declared(frame: Any, drop_columns: list[str], hint: dict[str, list[str]]) -> tuple[Any, list[dict[str, Any]]]:
    """``frame`` without the columns the params drop (``data.drop_columns``, ``data.columns.post_outcome``),
    and the changes that say so."""
    changes = []
    named = [c for c in drop_columns if c in frame.columns]
    if named:
        changes.append(_change("columns", "dropped", columns=named, why="listed in data.drop_columns"))
    post = [c for c in hint.get("post_outcome", []) if c in frame.columns and c not in named]
    if post:
        why = "declared known only after the outcome (data.columns.post_outcome)"
        changes.append(_change("columns", "dropped", columns=post, why=why))
    return (frame.drop(columns=[*named, *post]) if named or post else frame), changes


def missing_target_change(rows: int, target: str) -> dict[str, Any]:
    """The change that drops the rows without a target value."""
    why = f"no value in the target {target!r}: nothing to learn from or score"
    return _change("rows", "dropped", rows=rows, why=why)


def parser_changes(parsers: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One change per column read as numbers or dates (:func:`~nblib.ml.data.parse.infer_parsers`)."""
    changes = []
    for column, rule in parsers.items():
        if rule["kind"] == "number":
            shown = ", ".join(repr(v) for v in rule["examples"]) or "plain numbers"
            changes.append(_change("values", "read as numbers", columns=[column], why=f"written as text ({shown})"))
        else:
            formats = ", ".join(f"{k} ({v})" for k, v in rule["formats"].items())
            changes.append(_change("values", "read as dates", columns=[column], why=f"formats: {formats}"))
    return changes


def label_changes(merged: dict[str, int]) -> list[dict[str, Any]]:
    """The change for labels folded by case and spacing (``column -> spellings folded``)."""
    if not merged:
        return []
    what = "labels written with other case or spacing merged"
    return [_change("values", what, columns=list(merged), why=f"{sum(merged.values())} spellings folded")]


def empty_changes(empty: list[str], constant: list[str]) -> list[dict[str, Any]]:
    """The changes for columns dropped as entirely missing or constant."""
    return [
        _change("columns", "dropped", columns=columns, why=f"{why}: carries nothing")
        for columns, why in ((empty, "entirely missing"), (constant, "one value in every row"))
        if columns
    ]


def duplicate_changes(dup: dict[str, Any], dropping: bool) -> list[dict[str, Any]]:
    """The change that reports duplicate groups (:func:`~nblib.ml.data.duplicates.duplicate_report`)."""
    if not dup["groups"]:
        return []
    why = f"{dup['exact_duplicates']} exact and {dup['near_duplicates']} near duplicates in {dup['groups']} groups" + (
        f", {dup['conflicting_groups']} with differing outcomes" if dup["conflicting_groups"] else ""
    )
    kept = "kept; each group stays on one side of the split and in one CV fold"
    rows = dup["exact_duplicates"] + dup["near_duplicates"]
    return [_change("rows", "duplicates found", rows=rows, why=why if dropping else f"{why}: {kept}")]


def casefold_columns(frame: pd.DataFrame, texts: list[str] = (), exclude: list[str] = ()) -> list[str]:
    """The string columns :func:`normalize_columns` casefolds: labels, not free text (``texts`` are text).

    >>> casefold_columns(pd.DataFrame({"c": ["Home", "home"], "x": [1, 2]}))
    ['c']
    """
    out = []
    for column in frame.columns:
        s = frame[column]
        if column in exclude or column in texts or not is_string(s) or pd.api.types.is_datetime64_any_dtype(s):
            continue
        if _infer_role(s.dropna().astype(str).str.strip().str.replace(r"\s+", " ", regex=True), 30, 4.0) != "text":
            out.append(column)
    return out


def normalize_columns(
    frame: pd.DataFrame,
    roles_hint: dict[str, list[str]],
    exclude: list[str] = (),
    parsers: dict[str, dict[str, Any]] | None = None,
    casefold: list[str] | None = None,
) -> pd.DataFrame:
    """Read numbers and dates (``parsers``), squeeze whitespace in strings and casefold labels (not text).

    Stateless, so the same call prepares new data for prediction. ``casefold`` names the label
    columns to casefold (decided once for a table cleaned partition by partition); by default each
    string column that does not read as text (:func:`casefold_columns`).
    """
    out = apply_parsers(frame, parsers) if parsers else frame.copy()
    dates, texts = set(roles_hint.get("date", [])), set(roles_hint.get("text", []))
    for column in out.columns:
        if column in exclude:
            continue
        s = out[column]
        if column in dates and not pd.api.types.is_datetime64_any_dtype(s):
            from nblib.ml.data.parse import parse_dates

            out[column] = parse_dates(s)
        elif is_string(s) and not pd.api.types.is_datetime64_any_dtype(s):
            # each distinct value once (a label column repeats a few spellings over every row); not for a
            # column mixing text with numbers or booleans, where factorize would take 1, 1.0 and True as one
            mixed = pd.api.types.infer_dtype(s, skipna=True) not in ("string", "empty")
            codes, distinct = pd.factorize(s.astype(str).where(s.notna()) if mixed else s, use_na_sentinel=True)
            text = pd.Series(distinct, dtype=object).map(lambda v: v if isinstance(v, str) else str(v))
            squeezed = text.str.strip().str.replace(r"\s+", " ", regex=True)
            if casefold is not None:
                folded = column in casefold
            else:
                seen = pd.Series(squeezed.to_numpy()[codes[codes >= 0]], dtype=object)
                folded = column not in texts and _infer_role(seen, 30, 4.0) != "text"
            if folded:
                squeezed = squeezed.str.casefold()
            lookup = np.append(squeezed.to_numpy(dtype=object), [np.nan])
            out[column] = pd.Series(lookup[codes], index=s.index, dtype=object).astype(s.dtype)  # -1: missing
    return out


def split_train_test(
    frame: pd.DataFrame,
    target: str,
    *,
    test_size: float,
    stratify: bool,
    random_state: int,
    groups: pd.Series | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split once, first: the test part is not looked at again until evaluation.

    With ``groups`` (duplicate groups and entities: :func:`split_groups`), whole
    groups go to one side, stratified on each group's most common target value
    (unstratified when some value is the mode of a single group: too few to share).
    """
    if groups is None or groups.nunique() == len(frame):
        train, test = train_test_split(
            frame,
            test_size=test_size,
            stratify=frame[target] if stratify else None,
            random_state=random_state,
        )
        return train.sort_index(), test.sort_index()
    groups = groups.loc[frame.index]
    per_group = group_modes(frame[target], groups)
    counts = per_group.value_counts()
    n_test = int(np.ceil(test_size * len(per_group)))
    can_stratify = stratify and counts.min() >= 2 and len(counts) <= min(n_test, len(per_group) - n_test)
    train_groups, _ = train_test_split(
        per_group.index.to_numpy(),
        test_size=test_size,
        stratify=per_group.to_numpy() if can_stratify else None,
        random_state=random_state,
    )
    in_train = groups.isin(train_groups).to_numpy()
    return frame[in_train].sort_index(), frame[~in_train].sort_index()


def group_modes(values: pd.Series, groups: pd.Series) -> pd.Series:
    """Each group's most common value (the smallest of those tied, as ``Series.mode``), indexed by group in
    sorted order: what ``values.groupby(groups).agg(lambda s: s.mode().iloc[0])`` gives, with no Python call
    per group (a table of a million rows in near-duplicate groups took minutes that way).

    >>> group_modes(pd.Series(["b", "a", "a", "c", "b"]), pd.Series([2, 2, 2, 1, 1])).to_dict()  # 1: a tie
    {1: 'b', 2: 'a'}
    """
    pairs = pd.DataFrame({"group": groups.to_numpy(), "value": values.to_numpy()})
    counts = pairs.value_counts(sort=False, dropna=True).reset_index(name="n")
    counts = counts.sort_values(["group", "n", "value"], ascending=[True, False, True], kind="stable")
    return counts.drop_duplicates("group").set_index("group")["value"].rename(values.name)


def split_groups(frame: pd.DataFrame, duplicates: pd.Series | None = None, group: str | None = None) -> pd.Series:
    """Each row's group for the split and the CV folds: its duplicate group joined with its entity.

    Two rows share a group when they are duplicates (``duplicates``, from
    :func:`clean_frame`) or share a value of the column ``group`` (``data.group``),
    directly or through other rows (connected components). A row with no value in
    ``group`` is its own entity. The id is the position of the group's first row.

    Raises
    ------
    ValueError
        ``group`` is not a column of ``frame`` (cleaning dropped it, being empty or constant).
    """
    n = len(frame)
    links = [np.arange(n)]
    if duplicates is not None:
        links.append(
            pd.Series(np.arange(n)).groupby(duplicates.loc[frame.index].to_numpy()).transform("min").to_numpy()
        )
    if group is not None:
        if group not in frame.columns:
            raise ValueError(
                f"data.group: column {group!r} is not in the cleaned table (it was dropped: "
                f"empty or one value in every row); choose another column"
            )
        values = frame[group].reset_index(drop=True)
        first = pd.Series(np.arange(n)).groupby(values, dropna=True).transform("min")
        links.append(first.fillna(pd.Series(np.arange(n))).to_numpy(dtype=np.int64))
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rows = np.concatenate([np.arange(n)] * len(links))
    cols = np.concatenate(links)
    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    first = pd.Series(np.arange(n)).groupby(labels).transform("min").to_numpy()
    return pd.Series(first, index=frame.index, name="group")


def entity_report(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    target: str,
    roles: ColumnRoles,
    group: str | None = None,
) -> dict[str, Any]:
    """Row numbers, the declared entity and columns that look like entity keys, with the split's overlap.

    Returns
    -------
    dict
        ``group`` (``data.group`` or None); ``overlap_rows`` and ``overlap_values``: test rows
        (and distinct values) of ``group`` whose value also occurs in training (0 when the
        split kept entities apart; 0 without a group); ``index_columns``: row numbers left out
        of the features; ``suspects``: columns that look like entity keys but are not declared
        (``column``, ``values``, ``rows_per_value``, ``overlap_rows``, ``overlap_values``,
        ``why``, ``role``); ``test_rows``.
    """
    overlap_rows, overlap_values = entity_overlap(train[group], test[group]) if group else (0, 0)
    present = [c for c in train.columns if c not in (target, GROUP_COLUMN)]
    rows = [c for c in index_columns(train[present]) if c in roles.ignore]
    ids = set(identifier_columns(train[present]))
    role_of = {c: role for role in ROLE_NAMES for c in getattr(roles, role)}
    suspects = []
    for found in entity_key_columns(train[present], [*rows, *ids, *([group] if group else [])]):
        column = found["column"]
        rows_in, values_in = entity_overlap(train[column], test[column])
        suspects.append(
            {
                "column": column,
                "values": found["values"],
                "rows_per_value": found["rows_per_value"],
                "overlap_rows": rows_in,
                "overlap_values": values_in,
                "why": found["why"],
                "role": role_of.get(column),
            }
        )
    return {
        "group": group,
        "overlap_rows": overlap_rows,
        "overlap_values": overlap_values,
        "index_columns": rows,
        "suspects": suspects,
        "test_rows": len(test),
    }


def split_summary(
    train: pd.DataFrame, test: pd.DataFrame, target: str, task: str, classes: list[Any] | None = None
) -> pd.DataFrame:
    """Rows and target balance of each part of the split.

    ``classes`` names the class codes of a classification target (share of each class).
    """
    parts = {"train": train[target], "test": test[target]}
    table = pd.DataFrame({"rows": {k: len(y) for k, y in parts.items()}})
    if task == "classification":
        codes = sorted(pd.concat(parts.values()).unique())
        names = classes or codes
        for code in codes:
            table[f"share {names[int(code)]}"] = [round(float((y == code).mean()), 4) for y in parts.values()]
    else:
        table["target_mean"] = [round(float(y.mean()), 4) for y in parts.values()]
        table["target_std"] = [round(float(y.std()), 4) for y in parts.values()]
    return table


def make_preprocessor(
    roles: ColumnRoles,
    *,
    numeric_impute: str = "median",
    scale: bool = True,
    add_missing_indicator: bool = True,
    categorical_min_frequency: float | int = 10,
    merge_label_variants: bool = True,
    target_type: str = "auto",
    random_state: int = 0,
) -> ColumnTransformer:
    """Unfitted ColumnTransformer for numeric, boolean and categorical columns.

    Numeric columns are imputed with a missing-value indicator (a mostly empty
    column still says *whether* it was recorded); label columns get their rare
    spelling variants merged (:class:`nblib.ml.data.labels.MergeRareVariants`) unless
    ``merge_label_variants`` is off. Text and date columns are left to
    :func:`nblib.ml.features.make_feature_transformer`.
    """
    merge = MergeRareVariants() if merge_label_variants else "passthrough"
    numeric = make_pipeline(
        SimpleImputer(strategy=numeric_impute, add_indicator=add_missing_indicator),
        StandardScaler() if scale else "passthrough",
    )
    categorical = make_pipeline(
        FunctionTransformer(as_str, feature_names_out="one-to-one"),  # numbers given this role too
        merge,
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=categorical_min_frequency),
    )
    high_card = make_pipeline(
        FunctionTransformer(as_str, feature_names_out="one-to-one"),
        clone(merge) if merge != "passthrough" else merge,
        SimpleImputer(strategy="constant", fill_value="missing"),
        TargetEncoder(target_type=target_type, cv=_folds(target_type, random_state)),
    )
    boolean = make_pipeline(
        FunctionTransformer(as_float, feature_names_out="one-to-one"),
        SimpleImputer(strategy="most_frequent"),
    )
    transformers = [
        ("numeric", numeric, roles.numeric),
        ("boolean", boolean, roles.boolean),
        ("categorical", categorical, roles.categorical),
        ("high_cardinality", high_card, roles.high_cardinality),
    ]
    return ColumnTransformer([t for t in transformers if t[2]], remainder="drop", verbose_feature_names_out=True)


def target_type(task: str, target_info: dict[str, Any]) -> str:
    """What TargetEncoder calls this target: ``binary``, ``multiclass`` or ``continuous``."""
    if task != "classification":
        return "continuous"
    return "binary" if len(target_info.get("classes", [])) <= 2 else "multiclass"


def _folds(target_type: str, random_state: int):
    """Shuffled folds for target encoding's cross fitting (stratified for class targets)."""
    cls = KFold if target_type == "continuous" else StratifiedKFold
    return cls(n_splits=5, shuffle=True, random_state=random_state)


def as_str(values):
    """Labels as strings (object dtype), keeping missing values missing."""
    frame = pd.DataFrame(values)
    return (
        frame.astype(object)
        .where(frame.notna(), None)
        .map(lambda v: v if v is None or isinstance(v, str) else str(v))
        .to_numpy(dtype=object)
    )


def as_float(values):
    """Cast a boolean-like block to float, keeping missing values as NaN."""
    return pd.DataFrame(values).astype("float64").to_numpy()


# --------------------------------------------------------------------------- helpers


def changes_table(changes: list[dict[str, Any]]) -> pd.DataFrame:
    """What cleaning did, one row per change (empty table when nothing changed)."""
    columns = ["step", "what", "rows", "columns", "why"]
    if not changes:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(changes, columns=columns)
    table["columns"] = table["columns"].map(lambda cs: ", ".join(map(str, cs)) if cs else "")
    table["rows"] = table["rows"].map(lambda n: "" if n is None else n)
    return table


def _change(step: str, what: str, *, rows: int | None = None, columns: list[str] = (), why: str) -> dict[str, Any]:
    return {"step": step, "what": what, "rows": rows, "columns": list(columns), "why": why}


def _infer_role(series: pd.Series, high_cardinality_threshold: int, text_min_tokens: float) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    values = series.dropna().astype(str)
    if values.empty:
        return "ignore"
    counts = values.value_counts(sort=False)  # each distinct value's words counted once
    tokens = float((counts.index.str.split().str.len().to_numpy() * counts.to_numpy()).sum() / counts.sum())
    if tokens >= text_min_tokens:
        return "text"
    n_unique = values.nunique()
    if n_unique > 0.95 * len(values):
        # unique per row: names and titles are text, single words are identifiers
        return "text" if tokens >= 1.5 else "ignore"
    return "high_cardinality" if n_unique > high_cardinality_threshold else "categorical"


def stratify_for(task: str, asked: bool) -> bool:
    """Whether the train/test split is stratified: when asked (``preprocess.stratify``) and
    the task has classes to stratify on.

    >>> stratify_for("classification", True), stratify_for("regression", True)
    (True, False)
    """
    return bool(asked) and task == "classification"


def with_groups(train: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """``train`` with each row's group (:func:`split_groups`) in :data:`GROUP_COLUMN`,
    as ``train.parquet`` stores it for the CV folds of ``04_train``."""
    return train.assign(**{GROUP_COLUMN: groups.loc[train.index]})


def groups_of(train: pd.DataFrame, columns: dict[str, Any]) -> pd.Series | None:
    """The group column ``columns.json`` names (``group_column``) in ``train``, or ``None``
    (runs made before groups were stored).

    >>> groups_of(pd.DataFrame({"x": [1]}), {}) is None
    True
    """
    return train.get(columns.get("group_column", ""))


def columns_record(
    *, target: str, task: str, roles: ColumnRoles, parsers: dict[str, Any], target_info: dict[str, Any]
) -> dict[str, Any]:
    """What ``columns.json`` holds: target, task, roles, parsers, what the target encoding
    found (``classes``, ``positive_class``, ...) and the group column's name."""
    return {
        "target": target,
        "task": task,
        "roles": roles.to_dict(),
        "parsers": parsers,
        **target_info,
        "group_column": GROUP_COLUMN,
    }
