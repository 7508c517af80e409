"""Cleaning, column roles, the train/test split and the tabular preprocessor.

Cleaning here is stateless (it learns nothing from the data), so it may run on
the whole table before the split. Everything that learns (imputer, scaler,
encoders) lives in :func:`make_preprocessor`, an *unfitted* ColumnTransformer
that is fitted on training data or inside CV folds only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd
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

__all__ = [
    "ColumnRoles",
    "ROLE_NAMES",
    "infer_column_roles",
    "clean_frame",
    "normalize_columns",
    "near_duplicate_mask",
    "split_train_test",
    "make_preprocessor",
    "split_summary",
    "as_float",
    "as_str",
]

ROLE_NAMES = ("numeric", "categorical", "high_cardinality", "boolean", "text", "date", "ignore")


@dataclass
class ColumnRoles:
    """Which feature columns play which role. The target is never listed."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    high_cardinality: list[str] = field(default_factory=list)
    boolean: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    date: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        """All columns used as model input, in a stable order."""
        return [c for role in ROLE_NAMES[:-1] for c in getattr(self, role)]

    def table(self) -> pd.DataFrame:
        """One row per column with its role."""
        rows = [(c, role) for role in ROLE_NAMES for c in getattr(self, role)]
        return pd.DataFrame(rows, columns=["column", "role"]).set_index("column")

    def to_dict(self) -> dict[str, list[str]]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, list[str]]) -> ColumnRoles:
        return cls(**{k: list(v) for k, v in data.items() if k in ROLE_NAMES})


def infer_column_roles(
    frame: pd.DataFrame,
    target: str,
    overrides: dict[str, list[str]] | None = None,
    *,
    high_cardinality_threshold: int = 30,
    text_min_tokens: float = 4.0,
) -> ColumnRoles:
    """Assign each column a role from its dtype and content.

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
    """
    overrides = {k: list(v) for k, v in (overrides or {}).items() if v}
    fixed = {c: role for role, cols in overrides.items() for c in cols}
    roles = ColumnRoles()
    for column in frame.columns:
        if column == target:
            continue
        role = fixed.get(column) or _infer_role(
            frame[column], high_cardinality_threshold, text_min_tokens
        )
        getattr(roles, role).append(column)
    return roles


def clean_frame(
    frame: pd.DataFrame,
    roles_hint: dict[str, list[str]] | None = None,
    *,
    target: str,
    drop_columns: list[str] = (),
    drop_duplicates: bool = True,
    drop_near_duplicates: bool = True,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Stateless cleaning: drop columns, normalize labels, parse dates, de-duplicate.

    Returns the cleaned frame (original index kept, so rows can be traced back)
    and a dict counting what was changed.
    """
    report = {"rows_in": len(frame)}
    out = frame.drop(columns=[c for c in drop_columns if c in frame.columns])
    out = out[out[target].notna()]
    report["rows_missing_target"] = report["rows_in"] - len(out)
    roles_hint = dict(roles_hint or {})
    roles_hint["date"] = sorted(set(roles_hint.get("date", [])) | {
        c for c in out.columns if c != target and _is_string(out[c]) and _looks_like_dates(out[c])
    })
    before = {c: out[c].nunique() for c in out.columns if _is_string(out[c])}
    out = normalize_columns(out, roles_hint, exclude=[target])
    report["labels_merged"] = int(sum(n - out[c].nunique() for c, n in before.items()
                                      if c not in roles_hint["date"]))
    n = len(out)
    if drop_duplicates:
        out = out[~out.duplicated()]
    report["exact_duplicates_dropped"] = n - len(out)
    n = len(out)
    if drop_near_duplicates:
        out = out[~near_duplicate_mask(out, exclude=[target])]
    report["near_duplicates_dropped"] = n - len(out)
    report["rows_out"] = len(out)
    return out, report


def normalize_columns(
    frame: pd.DataFrame, roles_hint: dict[str, list[str]], exclude: list[str] = ()
) -> pd.DataFrame:
    """Parse date columns; squeeze whitespace in strings and casefold labels (not text).

    Stateless, so the same call prepares new data for prediction.
    """
    out = frame.copy()
    dates, texts = set(roles_hint.get("date", [])), set(roles_hint.get("text", []))
    for column in out.columns:
        if column in exclude:
            continue
        if column in dates:
            out[column] = pd.to_datetime(out[column], format="mixed", errors="coerce")
        elif _is_string(out[column]):
            squeezed = out[column].str.strip().str.replace(r"\s+", " ", regex=True)
            if column not in texts and _infer_role(squeezed, 30, 4.0) != "text":
                squeezed = squeezed.str.casefold()
            out[column] = squeezed
    return out


def near_duplicate_mask(frame: pd.DataFrame, exclude: list[str] = ()) -> pd.Series:
    """Mark rows equal to an earlier row once ids are ignored, numbers are
    rounded to 1 significant decimal and text is case- and space-normalized."""
    key = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        s = frame[column]
        if column in exclude or (_is_string(s) and s.nunique() > 0.95 * len(s)):
            continue  # ids make every row unique
        if pd.api.types.is_float_dtype(s):
            key[column] = s.round(1)
        elif _is_string(s):
            key[column] = s.str.casefold().str.replace(r"\s+", " ", regex=True).str.strip()
        else:
            key[column] = s
    if key.shape[1] == 0:
        return pd.Series(False, index=frame.index)
    return key.duplicated()


def split_train_test(
    frame: pd.DataFrame, target: str, *, test_size: float, stratify: bool, random_state: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split once, first: the test part is not looked at again until evaluation."""
    train, test = train_test_split(
        frame,
        test_size=test_size,
        stratify=frame[target] if stratify else None,
        random_state=random_state,
    )
    return train.sort_index(), test.sort_index()


def split_summary(train: pd.DataFrame, test: pd.DataFrame, target: str, task: str) -> pd.DataFrame:
    """Rows and target balance of each part of the split."""
    parts = {"train": train[target], "test": test[target]}
    table = pd.DataFrame({"rows": {k: len(y) for k, y in parts.items()}})
    if task == "classification":
        table["positive_share"] = [round(float(y.mean()), 4) for y in parts.values()]
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
    target_type: str = "auto",
    random_state: int = 0,
) -> ColumnTransformer:
    """Unfitted ColumnTransformer for numeric, boolean and categorical columns.

    Text and date columns are left to :func:`nblib.ml.features.make_feature_transformer`.
    """
    numeric = make_pipeline(
        SimpleImputer(strategy=numeric_impute, add_indicator=add_missing_indicator),
        StandardScaler() if scale else "passthrough",
    )
    categorical = make_pipeline(
        FunctionTransformer(as_str, feature_names_out="one-to-one"),  # numbers given this role too
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=categorical_min_frequency),
    )
    high_card = make_pipeline(
        FunctionTransformer(as_str, feature_names_out="one-to-one"),
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
    return ColumnTransformer(
        [t for t in transformers if t[2]], remainder="drop", verbose_feature_names_out=True
    )


def _folds(target_type: str, random_state: int):
    """Shuffled folds for target encoding's cross fitting (stratified for class targets)."""
    cls = KFold if target_type == "continuous" else StratifiedKFold
    return cls(n_splits=5, shuffle=True, random_state=random_state)


def as_str(values):
    """Labels as strings (object dtype), keeping missing values missing."""
    frame = pd.DataFrame(values)
    return frame.astype(object).where(frame.notna(), None).map(
        lambda v: v if v is None or isinstance(v, str) else str(v)).to_numpy(dtype=object)


def as_float(values):
    """Cast a boolean-like block to float, keeping missing values as NaN."""
    return pd.DataFrame(values).astype("float64").to_numpy()


# --------------------------------------------------------------------------- helpers


def _is_string(series: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(series) or series.dtype == object


def _looks_like_dates(series: pd.Series, min_share: float = 0.9) -> bool:
    sample = series.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d").all():
        return False
    if not sample.str.contains(r"\d{4}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2}").mean() >= min_share:
        return False
    parsed = pd.to_datetime(sample, format="mixed", errors="coerce")
    return parsed.notna().mean() >= min_share


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
    if values.str.split().str.len().mean() >= text_min_tokens:
        return "text"
    n_unique = values.nunique()
    if n_unique > 0.95 * len(values):
        return "ignore"  # an identifier: unique per row, nothing to learn
    return "high_cardinality" if n_unique > high_cardinality_threshold else "categorical"
