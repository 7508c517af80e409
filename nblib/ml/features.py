"""Feature engineering: date parts and TF-IDF text features.

:func:`make_feature_transformer` returns the *unfitted* ColumnTransformer that
turns a cleaned table into a model matrix. TF-IDF output stays sparse; models
that need dense input switch on the ``text__svd`` step (latent semantic
analysis) and set ``sparse_threshold=0`` through :func:`densify_for`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from nblib.ml.preprocess import ColumnRoles

__all__ = [
    "DateFeatures",
    "make_text_vectorizer",
    "make_feature_transformer",
    "densify_for",
    "describe_features",
    "term_associations",
]

_PARTS = ("year", "quarter", "month", "day", "dayofweek", "dayofyear", "is_weekend")
_ACCESSOR = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
_PERIODS = {"month": 12, "dayofweek": 7, "dayofyear": 366, "quarter": 4}


class DateFeatures(TransformerMixin, BaseEstimator):
    """Expand date columns into numeric parts, optionally with sine/cosine encoding.

    Parameters
    ----------
    parts : tuple of str, default=("year", "month", "dayofweek", "dayofyear")
        Calendar parts to extract; any of year, quarter, month, day, dayofweek,
        dayofyear, is_weekend.
    cyclical : bool, default=True
        Encode periodic parts (month, dayofweek, dayofyear, quarter) as a
        sine/cosine pair so December sits next to January.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Input column names, when fitted on a DataFrame.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"d": pd.to_datetime(["2024-01-31", "2024-12-01"])})
    >>> DateFeatures(parts=("year", "month"), cyclical=False).fit_transform(X).tolist()
    [[2024.0, 1.0], [2024.0, 12.0]]
    """

    def __init__(self, parts=("year", "month", "dayofweek", "dayofyear"), cyclical=True):
        self.parts = parts
        self.cyclical = cyclical

    def fit(self, X, y=None):
        unknown = sorted(set(self.parts) - set(_PARTS))
        if unknown or not self.parts:
            raise ValueError(
                f"The 'parts' parameter of DateFeatures must be a non-empty subset of {_PARTS}. "
                f"Got {tuple(self.parts)!r} instead."
            )
        X = self._as_frame(X, reset=True)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = self._as_frame(X, reset=False)
        blocks = []
        for column in X.columns:
            dates = _to_datetime(X[column])
            for part in self.parts:
                values = _date_part(dates, part)
                if self.cyclical and part in _PERIODS:
                    angle = 2 * np.pi * values / _PERIODS[part]
                    blocks += [np.sin(angle), np.cos(angle)]
                else:
                    blocks.append(values)
        return np.column_stack(blocks).astype(float)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        if input_features is None:
            input_features = getattr(
                self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)]
            )
        names = []
        for column in input_features:
            for part in self.parts:
                if self.cyclical and part in _PERIODS:
                    names += [f"{column}_{part}_sin", f"{column}_{part}_cos"]
                else:
                    names.append(f"{column}_{part}")
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True  # dates may arrive as strings in any common format
        return tags

    def _as_frame(self, X, reset: bool) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False,
                          skip_check_array=True)
            return X
        array = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return pd.DataFrame(array)


def make_text_vectorizer(
    *, max_features: int | None = 5000, ngram_max: int = 2, min_df: int = 2, sublinear_tf: bool = True
) -> TfidfVectorizer:
    """TF-IDF over one text column; the vocabulary is learned in ``fit`` only."""
    return TfidfVectorizer(
        max_features=max_features,
        ngram_range=(1, ngram_max),
        min_df=min_df,
        sublinear_tf=sublinear_tf,
        strip_accents="unicode",
        dtype=np.float32,
    )


def make_feature_transformer(
    preprocessor: ColumnTransformer,
    roles: ColumnRoles,
    *,
    text: TfidfVectorizer | None = None,
    date_parts: tuple[str, ...] = ("year", "month", "dayofweek", "dayofyear"),
    cyclical: bool = True,
) -> ColumnTransformer:
    """Add text and date branches to the tabular ``preprocessor``.

    Each text column gets its own TF-IDF pipeline ``text_<column>`` with an
    ``svd`` slot that is ``"passthrough"`` (sparse output) until
    :func:`densify_for` switches it on.
    """
    transformers = list(clone(preprocessor).transformers)
    text = text if text is not None else make_text_vectorizer()
    for column in roles.text:
        branch = Pipeline(
            [
                ("fill", FunctionTransformer(_fill_text, feature_names_out="one-to-one")),
                ("tfidf", clone(text)),
                ("svd", "passthrough"),
            ]
        )
        transformers.append((f"text_{column}", branch, [column]))
    if roles.date:
        dates = make_pipeline(
            DateFeatures(parts=tuple(date_parts), cyclical=cyclical),
            SimpleImputer(strategy="median", add_indicator=True),
            StandardScaler(),
        )
        transformers.append(("date", dates, list(roles.date)))
    # sparse_threshold=1: output stays sparse whenever a branch (TF-IDF, one-hot) is sparse
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=1.0)


def densify_for(features: ColumnTransformer, *, svd_components: int, random_state: int) -> ColumnTransformer:
    """Return a copy whose text branches end in TruncatedSVD and whose output is dense."""
    dense = clone(features)
    updates = {"sparse_threshold": 0.0}
    for name, _, _ in dense.transformers:
        if name.startswith("text_"):
            updates[f"{name}__svd"] = TruncatedSVD(n_components=svd_components, random_state=random_state)
    return dense.set_params(**updates)


def describe_features(fitted: ColumnTransformer, Xt) -> pd.DataFrame:
    """Output width and sparsity of each branch of a fitted feature transformer."""
    import scipy.sparse as sp

    rows = []
    for name, sl in fitted.output_indices_.items():
        if sl.stop == sl.start:
            continue
        block = Xt[:, sl]
        nnz = block.nnz if sp.issparse(block) else int(np.count_nonzero(block))
        rows.append({"branch": name, "features": sl.stop - sl.start,
                     "nonzero_share": round(nnz / max(1, block.shape[0] * block.shape[1]), 4),
                     "sparse": sp.issparse(block)})
    return pd.DataFrame(rows).set_index("branch")


def term_associations(fitted: ColumnTransformer, Xt, y, column: str, top: int = 12) -> pd.Series:
    """Terms whose mean TF-IDF differs most between positive and negative rows.

    Positive values mark words more common in the positive class. Computed on
    the sparse matrix without densifying it.
    """
    sl = fitted.output_indices_[f"text_{column}"]
    terms = fitted.named_transformers_[f"text_{column}"].named_steps["tfidf"].get_feature_names_out()
    block = Xt[:, sl]
    y = np.asarray(y)
    pos = np.asarray(block[y == 1].mean(axis=0)).ravel()
    neg = np.asarray(block[y != 1].mean(axis=0)).ravel()
    diff = pd.Series(pos - neg, index=terms)
    order = diff.abs().sort_values(ascending=False).index[:top]
    return diff[order]


# --------------------------------------------------------------------------- helpers


def _fill_text(values):
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    return series.fillna("").astype(str).to_numpy()


def _to_datetime(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    if pd.api.types.is_numeric_dtype(values):
        return pd.to_datetime(values, unit="s", errors="coerce")
    return pd.to_datetime(values, format="mixed", errors="coerce")


def _date_part(dates: pd.Series, part: str) -> np.ndarray:
    accessor = dates.dt
    if part == "is_weekend":
        values = accessor.day_of_week >= 5
        return np.where(dates.isna(), np.nan, values).astype(float)
    return getattr(accessor, _ACCESSOR.get(part, part)).astype(float).to_numpy()
