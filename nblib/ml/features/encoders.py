"""Feature engineering: date parts and TF-IDF text features.

:func:`make_feature_transformer` returns the *unfitted* ColumnTransformer that
turns a cleaned table into a model matrix. TF-IDF output stays sparse; models
that need dense input switch on the ``text__svd`` step (latent semantic
analysis) and set ``sparse_threshold=0`` through :func:`densify_for`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from nblib.common.text import slug
from nblib.ml.data.preprocess import ColumnRoles

__all__ = [
    "DateFeatures",
    "DenseWhenNarrow",
    "TextTfidf",
    "LSA",
    "LinearTextScore",
    "TextStats",
    "IntegerCodes",
    "integer_code_columns",
    "integer_code_evidence",
    "code_notes",
    "make_text_vectorizer",
    "make_feature_transformer",
    "densify_for",
    "native_categories_for",
    "NATIVE_MAX_CATEGORIES",
    "describe_features",
    "term_associations",
    "text_branch",
    "fit_describe",
    "text_notes",
    "target_rate",
]

_PARTS = ("year", "quarter", "month", "day", "dayofweek", "dayofyear", "is_weekend", "hour", "days_since_1970")
_ACCESSOR = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}
_PERIODS = {"month": 12, "dayofweek": 7, "dayofyear": 366, "quarter": 4, "hour": 24}


class DateFeatures(TransformerMixin, BaseEstimator):
    """Expand date columns into numeric parts, optionally with sine/cosine encoding.

    Parameters
    ----------
    parts : tuple of str, default=("year", "month", "dayofweek", "dayofyear")
        Calendar parts to extract; any of year, quarter, month, day, dayofweek,
        dayofyear, is_weekend, hour (of the day: 0 for dates without a time) and
        days_since_1970 (time itself, in days, fractional with the time of day).
    cyclical : bool, default=True
        Encode periodic parts (month, dayofweek, dayofyear, quarter, hour) as a
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
    >>> DateFeatures(parts=("days_since_1970",)).fit_transform(X).ravel().tolist()
    [19753.0, 20058.0]
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
            input_features = getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)])
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
            validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False, skip_check_array=True)
            return X
        array = validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False)
        return pd.DataFrame(array)


class TextTfidf(TransformerMixin, BaseEstimator):
    """TF-IDF over free text that adapts to the data it is given.

    Missing values are empty texts; cells longer than ``max_chars`` are cut
    (memory stays bounded on huge cells); with several input columns their texts
    are joined. When ``min_df`` leaves no term (few or short documents), the
    vocabulary is learned again with ``min_df=1``; when no document holds any
    term at all, the output is one all-zero column instead of an error.

    Parameters
    ----------
    max_features : int or None, default=5000
    ngram_max : int, default=2
    min_df : int, default=2
    sublinear_tf : bool, default=True
    max_chars : int, default=20000
        Characters of each cell that are read.

    Attributes
    ----------
    vectorizer_ : TfidfVectorizer or None
        The fitted vectorizer (None when the texts hold no term).
    min_df_ : int
        The ``min_df`` that was used.
    n_capped_ : int
        Training cells cut at ``max_chars``.
    n_features_in_ : int

    Examples
    --------
    >>> X = pd.DataFrame({"t": ["red wine", "white wine", None]})
    >>> TextTfidf(min_df=1).fit(X).get_feature_names_out().tolist()
    ['t__red', 't__red wine', 't__white', 't__white wine', 't__wine']
    """

    def __init__(self, max_features=5000, ngram_max=2, min_df=2, sublinear_tf=True, max_chars=20_000):
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.sublinear_tf = sublinear_tf
        self.max_chars = max_chars

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        docs, self.n_capped_ = self._documents(X, reset=True)
        for min_df in dict.fromkeys((min(self.min_df, max(1, len(docs))), 1)):
            vectorizer = self._vectorizer(min_df)
            try:
                Xt = vectorizer.fit_transform(docs)
            except ValueError:  # no term survives min_df (or no term at all)
                continue
            self.vectorizer_, self.min_df_ = vectorizer, min_df
            return Xt
        self.vectorizer_, self.min_df_ = None, 1
        return sp.csr_matrix((len(docs), 1), dtype=np.float32)

    def transform(self, X):
        check_is_fitted(self, "min_df_")
        docs, _ = self._documents(X, reset=False)
        if self.vectorizer_ is None:
            return sp.csr_matrix((len(docs), 1), dtype=np.float32)
        return self.vectorizer_.transform(docs)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "min_df_")
        prefix = "_".join(map(str, getattr(self, "feature_names_in_", ["text"])))
        terms = self.vectorizer_.get_feature_names_out() if self.vectorizer_ is not None else ["(no terms)"]
        return np.asarray([f"{prefix}__{t}" for t in terms], dtype=object)

    def terms(self) -> np.ndarray:
        """The vocabulary, in output order."""
        check_is_fitted(self, "min_df_")
        return self.vectorizer_.get_feature_names_out() if self.vectorizer_ is not None else np.array(["(no terms)"])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.transformer_tags.preserves_dtype = ["float32"]  # TF-IDF weights are float32 whatever comes in
        return tags

    def _vectorizer(self, min_df: int) -> TfidfVectorizer:
        return TfidfVectorizer(
            max_features=self.max_features,
            ngram_range=(1, self.ngram_max),
            min_df=min_df,
            sublinear_tf=self.sublinear_tf,
            strip_accents="unicode",
            dtype=np.float32,
        )

    def _documents(self, X, reset: bool) -> tuple[np.ndarray, int]:
        if isinstance(X, pd.DataFrame):
            validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False, skip_check_array=True)
            frame = X
        else:
            frame = pd.DataFrame(validate_data(self, X, reset=reset, dtype=None, ensure_all_finite=False))
        cells = frame.astype(object).where(frame.notna(), "").astype(str)
        lengths = cells.apply(lambda c: c.str.len())
        capped = int((lengths > self.max_chars).to_numpy().sum())
        if capped:
            cells = cells.apply(lambda c: c.str.slice(0, self.max_chars))
        docs = cells.iloc[:, 0] if cells.shape[1] == 1 else cells.agg(" ".join, axis=1)
        return docs.to_numpy(dtype=object), capped


class DenseWhenNarrow(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """A sparse matrix of at most ``max_columns`` columns made dense; anything else passed on as it is.

    Forests split a dense matrix about three times faster than a sparse one of a few dozen one-hot and
    numeric columns, and grow the same trees (the same splits and predictions); a wide TF-IDF matrix
    stays sparse, where sparse splitting is the faster and a dense copy would be large.

    Parameters
    ----------
    max_columns : int, default=512

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> type(DenseWhenNarrow().fit_transform(sp.csr_matrix([[0.0, 1.0]]))).__name__
    'ndarray'
    >>> sp.issparse(DenseWhenNarrow(max_columns=1).fit_transform(sp.csr_matrix([[0.0, 1.0]])))
    True
    """

    def __init__(self, max_columns=512):
        self.max_columns = max_columns

    def fit(self, X, y=None):
        validate_data(self, X, accept_sparse=True, ensure_all_finite=False)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, accept_sparse=True, ensure_all_finite=False, reset=False)
        return X.toarray() if sp.issparse(X) and X.shape[1] <= self.max_columns else X

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.allow_nan = True
        return tags


class LSA(TransformerMixin, BaseEstimator):
    """Latent semantic analysis (TruncatedSVD) that fits the matrix it is given.

    ``n_components`` is an upper bound: a vocabulary of 18 terms gets at most
    17 components rather than an error. With a single input column the column
    is passed on as it is (densified).

    Parameters
    ----------
    n_components : int, default=48
    random_state : int, default=None

    Attributes
    ----------
    n_components_ : int
        Components used.
    svd_ : TruncatedSVD or None
    n_features_in_ : int
    """

    def __init__(self, n_components=48, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        X = validate_data(self, X, accept_sparse="csr", reset=True)
        k = min(self.n_components, X.shape[1] - 1, X.shape[0] - 1)
        if k < 1:
            self.svd_, self.n_components_ = None, X.shape[1]
            return X.toarray() if sp.issparse(X) else np.asarray(X)
        self.svd_ = TruncatedSVD(n_components=k, random_state=self.random_state)
        self.n_components_ = k
        return self.svd_.fit_transform(X)

    def transform(self, X):
        check_is_fitted(self, "n_components_")
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        if self.svd_ is None:
            return X.toarray() if sp.issparse(X) else np.asarray(X)
        return self.svd_.transform(X)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_components_")
        return np.asarray([f"lsa{i}" for i in range(self.n_components_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class LinearTextScore(TransformerMixin, BaseEstimator):
    """What a linear model makes of one text column's TF-IDF matrix, as dense feature(s) for trees.

    Trees see text through a few LSA components; a linear model on the sparse n-grams reads every
    term. Its prediction is stacked as a feature: the positive-class probability (two classes),
    every class's probability (more), or the predicted value (regression). In ``fit_transform``
    (the training rows) the values are **out-of-fold**, from ``cv`` seeded folds, so a row's feature
    never saw its own target; ``transform`` uses the model fitted on all training rows. Targets too
    small to cross-fit (a class with fewer than ``cv`` rows) give no column-by-column leak either:
    the score is then a constant.

    Parameters
    ----------
    task : {"classification", "regression"}
    cv : int, default=5
    C : float, default=1.0
        Inverse L2 strength (``LogisticRegression``); regression uses ``Ridge(alpha=1 / C)``.
    random_state : int, default=None

    >>> import numpy as np, scipy.sparse as sp
    >>> X = sp.csr_matrix(np.eye(40)[np.arange(80) % 40] + 0.0)
    >>> y = np.arange(80) % 2
    >>> LinearTextScore("classification", random_state=0).fit_transform(X, y).shape
    (80, 1)
    """

    def __init__(self, task="classification", cv=5, C=1.0, random_state=None):
        self.task = task
        self.cv = cv
        self.C = C
        self.random_state = random_state

    def _model(self):
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.task == "classification":
            return LogisticRegression(C=self.C, max_iter=1000)
        return Ridge(alpha=1.0 / self.C)

    def _scores(self, model, X) -> np.ndarray:
        if self.task != "classification":
            return np.asarray(model.predict(X), dtype=float).reshape(-1, 1)
        proba = model.predict_proba(X)
        return proba[:, 1:] if proba.shape[1] == 2 else proba

    def fit(self, X, y):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        from sklearn.model_selection import KFold, StratifiedKFold, cross_val_predict

        X = validate_data(self, X, accept_sparse="csr", reset=True)
        y = np.asarray(y)
        self.model_ = self._model().fit(X, y)
        self.n_outputs_ = self._scores(self.model_, X[:1]).shape[1]
        if self.task == "classification":
            counts = np.unique(y, return_counts=True)[1]
            if len(counts) < 2 or counts.min() < self.cv:
                return np.full((X.shape[0], self.n_outputs_), 1.0 / max(len(counts), 1))
            folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
            method = "predict_proba"
        else:
            folds, method = KFold(self.cv, shuffle=True, random_state=self.random_state), "predict"
        oof = cross_val_predict(self._model(), X, y, cv=folds, method=method)
        if self.task != "classification":
            return np.asarray(oof, dtype=float).reshape(-1, 1)
        return oof[:, 1:] if oof.shape[1] == 2 else oof

    def transform(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        return self._scores(self.model_, X)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "model_")
        return np.asarray([f"linear_score{i}" for i in range(self.n_outputs_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


#: An integer-code candidate is kept when its cross-fitted target encoding explains this much more of the
#: target (R², averaged over classes) than the same encoding of its value cut into quantile bins.
CODE_MARGIN = 0.003
#: ... and explains at least this much of it on its own (flights' day of month and flight number, 1.2 % and
#: 1.4 %, made a forest win on a 20k-row sample that then lost on all rows);
CODE_FLOOR = 0.02
#: ... or when it looks like sequentially assigned ids: this many distinct values filling 90 % of their range
#: (student or patient numbers), whose single-column evidence understates them.
ID_LIKE_VALUES = 500


def integer_code_columns(
    frame: pd.DataFrame,
    y=None,
    *,
    task: str | None = None,
    min_values: int = 30,
    min_rows_per_value: float = 5.0,
    random_state: int = 0,
) -> list[str]:
    """Numeric columns that hold integer *codes* (a student, lecturer, flight or route number).

    Candidates are whole numbers only, with more than ``min_values`` distinct values and at least
    ``min_rows_per_value`` rows per value on average. Without ``y`` every candidate is returned. With
    the training target ``y``, a candidate is kept when :func:`integer_code_evidence` finds that its codes
    say more than a smooth function of its value (a quantity such as an amount or a year is left
    alone), or when it looks like sequentially assigned ids. Only training rows are read.

    >>> frame = pd.DataFrame({"student": np.arange(400) % 40, "score": np.linspace(0, 1, 400)})
    >>> integer_code_columns(frame)
    ['student']
    """
    candidates = []
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy(dtype=float)
        if len(values) == 0 or not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            continue
        distinct = len(np.unique(values))
        if distinct > min_values and len(values) / distinct >= min_rows_per_value:
            candidates.append(str(column))
    if y is None or not candidates:
        return candidates
    evidence = integer_code_evidence(frame[candidates], y, task=task, random_state=random_state)
    return [c for c in candidates if evidence[c]["kept"]]


def integer_code_evidence(frame: pd.DataFrame, y, *, task: str | None = None, random_state: int = 0) -> dict:
    """Per column: the out-of-fold R² of its codes' target encoding (``codes``), of the same encoding
    of its value cut into 16 quantile bins (``smooth``: what a model reading it as a number gets
    anyway), whether it looks like sequentially assigned ids (``id_like``: many values filling 90 % of their
    range, whose value alone says little) and whether it is ``kept`` (:data:`CODE_MARGIN`,
    :data:`CODE_FLOOR`, :data:`ID_LIKE_VALUES`). Class targets are scored per class and averaged.
    """
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import TargetEncoder

    target = pd.Series(np.asarray(y))
    if task == "classification" or (task is None and target.dtype.kind not in "fc"):
        Y = pd.get_dummies(target).to_numpy(dtype=float)
        Y = Y[:, 1:] if Y.shape[1] == 2 else Y
    else:
        Y = target.to_numpy(dtype=float).reshape(-1, 1)

    def oof_r2(labels: np.ndarray) -> float:
        scores = []
        for k in range(Y.shape[1]):
            folds = KFold(5, shuffle=True, random_state=random_state)
            pred = TargetEncoder(target_type="continuous", cv=folds).fit_transform(labels, Y[:, k]).ravel()
            total = ((Y[:, k] - Y[:, k].mean()) ** 2).sum()
            scores.append(1.0 - ((Y[:, k] - pred) ** 2).sum() / total if total else 0.0)
        return float(np.mean(scores))

    out = {}
    for column in frame.columns:
        values = pd.to_numeric(frame[column], errors="coerce").astype(float)
        codes = values.fillna(-0.5).astype(str).to_numpy(dtype=object).reshape(-1, 1)
        bins = pd.qcut(values.rank(method="first"), 16, labels=False).fillna(-1).astype(int)
        smooth = bins.astype(str).to_numpy(dtype=object).reshape(-1, 1)
        distinct = values.dropna().nunique()
        span = values.max() - values.min() + 1
        by_codes, by_value = oof_r2(codes), oof_r2(smooth)
        # ids are numbered in order of arrival, so their value says next to nothing (a clock time is not one)
        id_like = bool(distinct >= ID_LIKE_VALUES and distinct >= 0.9 * span and by_value < CODE_FLOOR)
        out[str(column)] = {
            "codes": round(by_codes, 4),
            "smooth": round(by_value, 4),
            "id_like": id_like,
            "kept": bool(id_like or (by_codes > by_value + CODE_MARGIN and by_codes > CODE_FLOOR)),
        }
    return out


class IntegerCodes(TransformerMixin, BaseEstimator):
    """A cross-fitted target encoding of numeric columns that hold integer codes, added beside their value.

    A model reads a student or flight number as a quantity: a tree needs a split for every code to learn
    what one student gives. The code's target encoding (:class:`~sklearn.preprocessing.TargetEncoder`)
    says it in one column; ``fit_transform`` cross-fits it (``cv`` shuffled, seeded folds), so a training
    row never sees its own target, and ``transform`` uses the encoding of all training rows (an unseen
    code gets the target mean). :func:`integer_code_columns` says which columns are codes.

    Parameters
    ----------
    target_type : {"auto", "continuous", "binary", "multiclass"}, default="auto"
    cv : int, default=5
    random_state : int, default=None

    >>> X = pd.DataFrame({"student": np.arange(400) % 40})
    >>> IntegerCodes(target_type="continuous", random_state=0).fit_transform(X, np.arange(400) % 40 / 40).shape
    (400, 1)
    """

    def __init__(self, target_type="auto", cv=5, random_state=None):
        self.target_type = target_type
        self.cv = cv
        self.random_state = random_state

    def _labels(self, X) -> np.ndarray:
        values = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype="numeric")
        return pd.DataFrame(values).fillna(-0.5).astype(str).to_numpy(dtype=object)

    def fit(self, X, y):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None):
        from sklearn.model_selection import KFold, StratifiedKFold
        from sklearn.preprocessing import TargetEncoder

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        validate_data(self, X, reset=True, ensure_all_finite="allow-nan", dtype="numeric")
        kind = KFold if self.target_type == "continuous" else StratifiedKFold
        folds = kind(self.cv, shuffle=True, random_state=self.random_state)
        self.encoder_ = TargetEncoder(target_type=self.target_type, cv=folds)
        return self.encoder_.fit_transform(self._labels(X), np.asarray(y))

    def transform(self, X):
        check_is_fitted(self, "encoder_")
        return self.encoder_.transform(self._labels(X))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "encoder_")
        names = getattr(self, "feature_names_in_", None)
        names = [str(n) for n in names] if names is not None else [f"x{i}" for i in range(self.n_features_in_)]
        return np.asarray([f"{name}_code" for name in self.encoder_.get_feature_names_out(names)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags


class TextStats(TransformerMixin, BaseEstimator):
    """Simple statistics of one text column, for models that see text only through LSA components.

    Per document: characters and words (log1p), mean word length, the share of upper-case letters,
    digits and punctuation, and counts of ``!``, ``?``, quotation marks, links, ``@`` and ``#``.
    Stateless: nothing is learned from the rows. Missing text is the empty string.

    >>> import pandas as pd
    >>> TextStats().fit_transform(pd.DataFrame({"t": ["Hi!! see https://x.io", None]})).shape
    (2, 11)
    """

    _NAMES = (
        "chars_log",
        "words_log",
        "word_length",
        "upper_share",
        "digit_share",
        "punct_share",
        "exclamations",
        "questions",
        "quotes",
        "links",
        "at_or_hash",
    )

    def fit(self, X, y=None):
        validate_data(self, X, dtype=None, ensure_all_finite=False, reset=True)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        values = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=False)
        docs = pd.Series(_fill_text(values[:, 0]), dtype=object).astype(str)
        chars = docs.str.len().to_numpy(dtype=float)
        words = docs.str.split().str.len().fillna(0).to_numpy(dtype=float)
        safe = np.maximum(chars, 1.0)
        letters = np.maximum(docs.str.count(r"[A-Za-z]").to_numpy(dtype=float), 1.0)
        return np.column_stack(
            [
                np.log1p(chars),
                np.log1p(words),
                chars / np.maximum(words, 1.0),
                docs.str.count(r"[A-Z]").to_numpy(dtype=float) / letters,
                docs.str.count(r"[0-9]").to_numpy(dtype=float) / safe,
                docs.str.count(r"[^\w\s]").to_numpy(dtype=float) / safe,
                docs.str.count("!").to_numpy(dtype=float),
                docs.str.count(r"\?").to_numpy(dtype=float),
                docs.str.count('["\u201c\u201d]').to_numpy(dtype=float),
                docs.str.count(r"https?://|www\.").to_numpy(dtype=float),
                docs.str.count(r"[@#]\w").to_numpy(dtype=float),
            ]
        )

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "n_features_in_")
        return np.asarray(list(self._NAMES), dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def make_text_vectorizer(
    *,
    max_features: int | None = 5000,
    ngram_max: int = 2,
    min_df: int = 2,
    sublinear_tf: bool = True,
    max_chars: int = 20_000,
) -> TextTfidf:
    """TF-IDF over one text column; the vocabulary is learned in ``fit`` only."""
    return TextTfidf(
        max_features=max_features, ngram_max=ngram_max, min_df=min_df, sublinear_tf=sublinear_tf, max_chars=max_chars
    )


def make_feature_transformer(
    preprocessor: ColumnTransformer,
    roles: ColumnRoles,
    *,
    text: TextTfidf | None = None,
    date_parts: tuple[str, ...] = ("year", "month", "dayofweek", "dayofyear"),
    cyclical: bool = True,
    code_columns: list[str] = (),
    task: str | None = None,
    random_state: int = 0,
) -> ColumnTransformer:
    """Add text and date branches to the tabular ``preprocessor``.

    Each text column gets its own TF-IDF pipeline ``text_<column>`` with an
    ``svd`` slot that is ``"passthrough"`` (sparse output) until
    :func:`densify_for` switches it on. ``code_columns`` (numeric columns holding integer codes,
    :func:`integer_code_columns`) also get a cross-fitted target encoding, :class:`IntegerCodes`
    (``task`` says which kind of target).
    """
    transformers = list(clone(preprocessor).transformers)
    if code_columns:
        kind = "continuous" if task == "regression" else "auto"
        codes = IntegerCodes(target_type=kind, random_state=random_state)
        transformers.append(("integer_codes", codes, list(code_columns)))
    text = text if text is not None else make_text_vectorizer()
    for i, column in enumerate(roles.text):
        branch = Pipeline([("tfidf", clone(text)), ("svd", "passthrough")])
        transformers.append((f"text_{_safe(column)}_{i}", branch, [column]))
    if roles.date:
        dates = make_pipeline(
            DateFeatures(parts=tuple(date_parts), cyclical=cyclical),
            SimpleImputer(strategy="median", add_indicator=True),
            StandardScaler(),
        )
        transformers.append(("date", dates, list(roles.date)))
    # sparse_threshold=1: output stays sparse whenever a branch (TF-IDF, one-hot) is sparse
    return ColumnTransformer(transformers, remainder="drop", sparse_threshold=1.0)


def densify_for(
    features: ColumnTransformer, *, svd_components: int, random_state: int, task: str | None = None
) -> ColumnTransformer:
    """Return a copy whose text branches end in TruncatedSVD and whose output is dense.

    With ``task``, each text branch also gives a :class:`LinearTextScore` (the out-of-fold
    prediction of a linear model on that column's sparse TF-IDF) beside its LSA components, and
    the column's :class:`TextStats`.
    """
    from sklearn.pipeline import FeatureUnion

    dense = clone(features)
    updates = {"sparse_threshold": 0.0}
    stats = []
    for name, _, columns in dense.transformers:
        if name.startswith("text_"):
            lsa = LSA(n_components=svd_components, random_state=random_state)
            if task is not None:
                lsa = FeatureUnion([("lsa", lsa), ("linear", LinearTextScore(task, random_state=random_state))])
                stats.append((f"stats_{name}", TextStats(), columns))
            updates[f"{name}__svd"] = lsa
    dense.set_params(**updates)
    dense.transformers = [*dense.transformers, *stats]
    return dense


#: Categories a native-categorical column keeps (the rest share one "infrequent" code); below the
#: 255 bins of scikit-learn's histogram gradient boosting.
NATIVE_MAX_CATEGORIES = 250


def native_categories_for(features: ColumnTransformer) -> tuple[ColumnTransformer, int]:
    """A copy whose label branches come first and give ordinal codes instead of one-hot columns.

    Returns the transformer and ``k``: its first ``k`` output columns are category codes (missing
    and unseen categories are NaN), for a gradient-boosting model's native categorical splits
    (``categorical_features=range(k)``), which split a category set in one node where one-hot
    columns need one split per category. Categories seen fewer times than the one-hot branch's
    ``min_frequency`` share one code, as they share one column there. High-cardinality columns keep
    their cross-fitted target encoding and gain a code column too (the
    :data:`NATIVE_MAX_CATEGORIES` most frequent values; the rest share one code).
    """
    from sklearn.pipeline import FeatureUnion
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder

    def ordinal(min_frequency=None):
        return OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            min_frequency=min_frequency,
            max_categories=NATIVE_MAX_CATEGORIES,
        )

    native = clone(features)
    coded, rest, k = [], [], 0
    for name, branch, columns in native.transformers:
        last = branch.steps[-1][1] if isinstance(branch, Pipeline) else None
        if name == "categorical" and isinstance(last, OneHotEncoder):
            coded.insert(0, (name, Pipeline([*branch.steps[:-1], ("ordinal", ordinal(last.min_frequency))]), columns))
        elif name == "high_cardinality" and last is not None:
            both = FeatureUnion([("codes", ordinal()), ("target", last)])
            coded.append((name, Pipeline([*branch.steps[:-1], ("codes_and_target", both)]), columns))
        else:
            rest.append((name, branch, columns))
            continue
        k += len(columns)
    native.transformers = [*coded, *rest]
    return native, k


def describe_features(fitted: ColumnTransformer, Xt) -> pd.DataFrame:
    """Output width and sparsity of each branch of a fitted feature transformer."""
    import scipy.sparse as sp

    rows = []
    for name, sl in fitted.output_indices_.items():
        if sl.stop == sl.start:
            continue
        block = Xt[:, sl]
        nnz = block.nnz if sp.issparse(block) else int(np.count_nonzero(block))
        rows.append(
            {
                "branch": name,
                "features": sl.stop - sl.start,
                "nonzero_share": round(nnz / max(1, block.shape[0] * block.shape[1]), 4),
                "sparse": sp.issparse(block),
            }
        )
    return pd.DataFrame(rows).set_index("branch")


def term_associations(fitted: ColumnTransformer, Xt, y, column: str, top: int = 12) -> pd.Series:
    """Terms whose mean TF-IDF differs most between positive and negative rows.

    Positive values mark words more common in the positive class. Computed on
    the sparse matrix without densifying it.
    """
    branch = text_branch(fitted, column)
    sl = fitted.output_indices_[branch]
    terms = fitted.named_transformers_[branch].named_steps["tfidf"].terms()
    block = Xt[:, sl]
    y = np.asarray(y)
    pos = np.asarray(block[y == 1].mean(axis=0)).ravel()
    neg = np.asarray(block[y != 1].mean(axis=0)).ravel()
    diff = pd.Series(pos - neg, index=terms)
    order = diff.abs().sort_values(ascending=False).index[:top]
    return diff[order]


def fit_describe(transformer: ColumnTransformer, X: pd.DataFrame, y) -> tuple[ColumnTransformer, Any]:
    """A fitted copy of ``transformer`` and its output on ``X`` (to describe it; the original stays unfitted)."""
    fitted = clone(transformer)
    return fitted, fitted.fit_transform(X, y)


def text_notes(fitted: ColumnTransformer, columns: list[str]) -> list[str]:
    """What adapted in each fitted text branch: vocabulary size, ``min_df`` lowered, cells cut."""
    notes = []
    for column in columns:
        tfidf = fitted.named_transformers_[text_branch(fitted, column)].named_steps["tfidf"]
        words = len(tfidf.terms()) if tfidf.vectorizer_ is not None else 0
        line = f"text {column!r}: {words} terms"
        if tfidf.min_df_ != tfidf.min_df:
            line += f" (features.text.min_df {tfidf.min_df} left no term; used {tfidf.min_df_})"
        if tfidf.n_capped_:
            line += (
                f"; {tfidf.n_capped_} cells longer than {tfidf.max_chars} characters were cut (features.text.max_chars)"
            )
        notes.append(line)
    return notes


def code_notes(code_columns: list[str], candidates: list[str] = (), *, min_values: int = 30) -> list[str]:
    """The lines saying which numeric columns were read as integer codes (:func:`integer_code_columns`),
    and which whole-number columns were left as numbers."""
    lines = []
    if code_columns:
        lines.append(
            f"integer codes {', '.join(map(repr, code_columns))}: whole numbers with more than {min_values} values, "
            f"each seen in 5 or more rows; their codes say more about the target than their value does (or they "
            f"are sequential ids), so each also gets a cross-fitted target encoding beside its value "
            f"(features.integer_codes). A code seen in training carries what its rows showed and a new one gets "
            f"the average: if the model must serve new ones (new students, new patients), name the column in "
            f"data.group, so that the split and the CV folds keep each code on one side and the test score says so"
        )
    left = [c for c in candidates if c not in code_columns]
    if left:
        lines.append(
            f"read as numbers only: {', '.join(map(repr, left))} (whole numbers whose codes say no more than "
            f"their value)"
        )
    return lines


def target_rate(y: pd.Series, columns: dict[str, Any]) -> pd.Series:
    """The target as a number whose mean a plot can show per label or month.

    Two classes: 1 for the positive class; three or more: 1 for the rarest class
    (named in the series); regression: the target itself.
    """
    classes = columns.get("classes")
    if columns.get("task") != "classification" or not classes:
        return y
    if len(classes) == 2:
        return (y == 1).astype(float).rename(f"{columns['target']} = {classes[1]}")
    rarest = int(y.value_counts().idxmin())
    return (y == rarest).astype(float).rename(f"{columns['target']} = {classes[rarest]}")


# --------------------------------------------------------------------------- helpers


def _fill_text(values):
    """Kept so that models saved before TextTfidf still load."""
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    return series.fillna("").astype(str).to_numpy()


def _safe(name: str, limit: int = 40) -> str:
    """A column name as part of a transformer name (no ``__``, which scikit-learn reserves)."""
    return slug(name, allowed="0-9A-Za-z", limit=limit, default="col")


def text_branch(fitted: ColumnTransformer, column: str) -> str:
    """Name of the text branch of ``column`` in a fitted feature transformer."""
    for name, _, cols in fitted.transformers_:
        if name.startswith("text_") and list(cols) == [column]:
            return name
    raise KeyError(f"no text branch for column {column!r}")


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
    if part == "days_since_1970":  # time itself, so a tree can split where a trend or a recording practice changed
        naive = accessor.tz_convert(None) if accessor.tz is not None else dates
        return ((naive - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).astype(float).to_numpy()
    return getattr(accessor, _ACCESSOR.get(part, part)).astype(float).to_numpy()
