"""Label typos: rare spelling variants of a frequent label ("electronis" for
"electronics", "hoe" for "home") are folded into it.

:class:`MergeRareVariants` is a transformer, so the merges are learned on the
training rows of each fold like any other fitted step, and the saved model
applies them to new rows. :func:`label_merges` reports what a fit merged.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["MergeRareVariants", "label_merges", "label_merges_on"]


class MergeRareVariants(TransformerMixin, BaseEstimator):
    """Fold rare spelling variants into the frequent label they resemble.

    A label is merged into another when it is at least ``min_ratio`` times
    rarer, at least ``min_length`` characters long, contains a letter, and
    their similarity (:class:`difflib.SequenceMatcher` ratio) reaches
    ``min_similarity``, and both hold the same numbers (codes such as
    "brand_006" and "brand_001" differ on purpose). Frequent labels are never merged into each other, so
    "male" and "female" stay apart.

    Parameters
    ----------
    min_ratio : float, default=10
        How many times more frequent the label merged into must be.
    min_similarity : float, default=0.8
    min_length : int, default=3
        Shorter labels (codes such as "IA", "IL") are left alone.

    Attributes
    ----------
    mapping_ : list of dict
        Per input column, ``variant -> label``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Input column names, when fitted on a DataFrame.

    Examples
    --------
    >>> X = pd.DataFrame({"c": ["home"] * 30 + ["hoe", "toys"] + ["toys"] * 20})
    >>> MergeRareVariants().fit(X).mapping_
    [{'hoe': 'home'}]
    """

    def __init__(self, min_ratio=10.0, min_similarity=0.8, min_length=3):
        self.min_ratio = min_ratio
        self.min_similarity = min_similarity
        self.min_length = min_length

    def fit(self, X, y=None):
        X = self._frame(X, reset=True)
        self.mapping_ = [self._column_mapping(X.iloc[:, j]) for j in range(X.shape[1])]
        return self

    def transform(self, X):
        check_is_fitted(self, "mapping_")
        X = self._frame(X, reset=False)
        out = X.to_numpy(copy=True)
        if any(self.mapping_):
            out = out.astype(object)
        for j, mapping in enumerate(self.mapping_):
            if mapping:
                column = pd.Series(out[:, j])
                out[:, j] = column.map(lambda v, m=mapping: m.get(v, v) if isinstance(v, str) else v).to_numpy()
        return out

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "mapping_")
        if input_features is None:
            input_features = getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)])
        return np.asarray(input_features, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags

    def _frame(self, X, reset: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False, skip_check_array=True)
            return X
        array = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return pd.DataFrame(array)

    def _column_mapping(self, column: pd.Series) -> dict[str, str]:
        values = column[column.map(lambda v: isinstance(v, str))]
        counts = values.value_counts()
        if len(counts) < 2:
            return {}
        frequent = counts[counts >= self.min_ratio].index.tolist()[:500]
        mapping = {}
        for label, n in counts.items():
            if len(label) < self.min_length or not any(ch.isalpha() for ch in label):
                continue
            digits = re.findall(r"\d+", label)
            targets = [f for f in frequent if counts[f] >= self.min_ratio * n and f != label
                       and re.findall(r"\d+", f) == digits]  # "brand_006" is not a typo of "brand_001"
            if not targets:
                continue
            match = difflib.get_close_matches(label, targets, n=1, cutoff=self.min_similarity)
            if match:
                mapping[label] = match[0]
        return mapping


def label_merges(fitted: MergeRareVariants, columns: list[str], counts: pd.DataFrame | None = None
                 ) -> list[dict[str, Any]]:
    """What a fitted merger folds, one row per merge: column, variant, label and (optionally) rows."""
    rows = []
    for column, mapping in zip(columns, fitted.mapping_, strict=True):
        for variant, label in mapping.items():
            row = {"column": column, "variant": variant, "merged_into": label}
            if counts is not None:
                row["rows"] = int((counts[column] == variant).sum())
            rows.append(row)
    return rows


def label_merges_on(frame: pd.DataFrame, columns: list[str], **kwargs: Any) -> pd.DataFrame:
    """The merges :class:`MergeRareVariants` learns on ``frame`` (the training split), with row counts."""
    rows: list[dict[str, Any]] = []
    columns = [c for c in columns if c in frame.columns]
    if columns:
        labels = frame[columns].astype(object).where(frame[columns].notna(), None)
        labels = labels.map(lambda v: v if v is None or isinstance(v, str) else str(v))
        rows = label_merges(MergeRareVariants(**kwargs).fit(labels), columns, labels)
    return pd.DataFrame(rows, columns=["column", "variant", "merged_into", "rows"])
