"""Class imbalance: resampling strategies applied to the training part of each fold only.

A strategy other than ``none`` and ``class_weight`` puts a sampler between the
``features`` and ``model`` steps of an imbalanced-learn :class:`~imblearn.pipeline.Pipeline`.
Such a pipeline resamples in ``fit`` only: in cross-validation each fold's training
part is resampled, its held-out part is scored as it is, and ``predict`` never
resamples. Resampling *before* cross-validation puts copies (or near copies) of a
training row into the held-out folds and inflates the CV score (the tests show it).

The sampler sees the encoded feature matrix, which may be sparse (TF-IDF): every
sampler here accepts it and returns it sparse.

Four samplers are ours. :class:`SlimSMOTE` and :class:`SlimADASYN` (``smote``,
``adasyn``) are imbalanced-learn's, except that they drop their fitted nearest
neighbours -- a copy of the minority training rows -- once they have resampled, so
that a saved model carries no training rows. The other two:

* :class:`EncodedSMOTENC` (``smote_nc``): SMOTE-NC needs to know which columns are
  categorical, but the features step has already one-hot encoded the labels, and
  a sampler inside a pipeline sees only the encoded matrix (a cloned pipeline
  cannot hand it the fitted column layout). It therefore treats as categorical
  the columns whose training values are all 0 or 1 -- one-hot labels, booleans
  and missing-value indicators -- so a synthetic row never holds "0.4 of a
  category"; it falls back to SMOTEN when every column is categorical and to
  SMOTE when none is (``method_`` says which ran).
* :class:`ConditionalGANSampler` (``gan``): a small conditional GAN in PyTorch
  (generator and discriminator MLPs conditioned on the class), trained inside
  ``fit_resample`` on the training part only, that generates rows of the
  minority classes. Why not the ``ctgan`` package: its ``rdt`` dependency
  requires pandas < 3 (installing it would downgrade this project's pandas), it
  fits a Bayesian Gaussian mixture per column (92 s for 5 epochs on a 600 x 231
  encoded matrix, against well under a second here), and its conditional
  sampling only favours the asked class (122 of 300 rows asked for the minority
  were). PyTorch comes with the ``nn`` extra; it is imported only when this
  sampler is fitted.

None keeps more than plain numbers and arrays once fitted, so a fitted
pipeline saves with skops (their types are in ``nblib.ml.saved.TRUSTED_TYPES``).
"""

from __future__ import annotations

import numbers
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from imblearn.over_sampling import ADASYN, SMOTE, SMOTEN, SMOTENC, RandomOverSampler
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.pipeline import Pipeline as ImbPipeline
from imblearn.under_sampling import RandomUnderSampler
from imblearn.under_sampling.base import BaseUnderSampler
from scipy import sparse
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import cross_validate
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from nblib.common.text import suggest

__all__ = [
    "STRATEGIES",
    "ConditionalGANSampler",
    "EncodedSMOTENC",
    "SlimADASYN",
    "SlimSMOTE",
    "compare_strategies",
    "make_sampler",
    "resampling_summary",
    "training_pipeline",
]

#: Every value of ``imbalance.strategy``.
STRATEGIES = ("none", "class_weight", "random_over", "random_under", "smote", "smote_nc", "adasyn", "gan")

#: Strategies that leave the training rows as they are (``class_weight`` is set on the model by the caller).
_NO_SAMPLER = ("none", "class_weight")


class SlimSMOTE(SMOTE):
    """imbalanced-learn's SMOTE, without the fitted neighbours (the minority training rows) once done.

    Parameters are SMOTE's. Nothing it learns is needed after ``fit_resample``, and a
    saved model should not carry a copy of training rows.

    Examples
    --------
    >>> import numpy as np
    >>> X, y = np.arange(24.0).reshape(12, 2), np.array([0] * 9 + [1] * 3)
    >>> sampler = SlimSMOTE(k_neighbors=2, random_state=0)
    >>> np.bincount(sampler.fit_resample(X, y)[1]).tolist(), hasattr(sampler, "nn_k_")
    ([9, 9], False)
    """

    def _fit_resample(self, X, y):
        try:
            return super()._fit_resample(X, y)
        finally:
            self.__dict__.pop("nn_k_", None)


class SlimADASYN(ADASYN):
    """imbalanced-learn's ADASYN, without the fitted neighbours (the training rows) once done.

    Parameters are ADASYN's.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(200, weights=[0.8], random_state=0)
    >>> sampler = SlimADASYN(random_state=0)
    >>> _ = sampler.fit_resample(X, y)
    >>> hasattr(sampler, "nn_")
    False
    """

    def _fit_resample(self, X, y):
        try:
            return super()._fit_resample(X, y)
        finally:
            self.__dict__.pop("nn_", None)


class EncodedSMOTENC(BaseOverSampler):
    """SMOTE-NC on an encoded feature matrix, finding its categorical columns by their values.

    Synthetic rows interpolate the continuous columns between a minority row and
    one of its minority neighbours, and take the most frequent value among the
    neighbours for each categorical column (SMOTE-NC, Chawla et al. 2002).

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in imbalanced-learn: ``"auto"`` brings every class up to the majority's count.
    random_state : int, RandomState instance or None, default=None
    k_neighbors : int, default=5
        Nearest minority neighbours to interpolate with.
    categorical_features : "auto" or array-like of int or bool, default="auto"
        ``"auto"``: the columns whose values in the rows being resampled are all 0
        or 1 (one-hot labels, booleans, missing-value indicators). Otherwise the
        column indices, or a boolean mask.

    Attributes
    ----------
    categorical_features_ : ndarray of int
        The columns treated as categorical in the last ``fit_resample``.
    method_ : str
        ``"smote_nc"``, or ``"smoten"`` when every column is categorical, or
        ``"smote"`` when none is.
    sampling_strategy_ : dict
        Rows generated for each class.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.c_[np.arange(12.0), np.arange(12) % 2]
    >>> y = np.array([0] * 9 + [1] * 3)
    >>> X_res, y_res = EncodedSMOTENC(k_neighbors=2, random_state=0).fit_resample(X, y)
    >>> np.bincount(y_res).tolist(), set(X_res[:, 1]) <= {0.0, 1.0}
    ([9, 9], True)
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseOverSampler._parameter_constraints,
        "k_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "categorical_features": [StrOptions({"auto"}), "array-like"],
    }

    def __init__(self, *, sampling_strategy="auto", random_state=None, k_neighbors=5, categorical_features="auto"):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.k_neighbors = k_neighbors
        self.categorical_features = categorical_features

    def _fit_resample(self, X, y):
        n_features = X.shape[1]
        if isinstance(self.categorical_features, str):
            categorical = np.flatnonzero(_binary_columns(X))
        else:
            given = np.asarray(self.categorical_features)
            categorical = np.flatnonzero(given) if given.dtype == bool else given.astype(np.int64)
            if categorical.size and (categorical.min() < 0 or categorical.max() >= n_features):
                raise ValueError(
                    f"categorical_features must be column indices below {n_features}; got {categorical.tolist()}"
                )
        self.categorical_features_ = np.unique(categorical).astype(np.int64)
        targets = _target_counts(y, self.sampling_strategy_)
        kwargs = {"sampling_strategy": targets, "random_state": self.random_state, "k_neighbors": self.k_neighbors}
        if self.categorical_features_.size == 0:
            self.method_, sampler = "smote", SMOTE(**kwargs)
        elif self.categorical_features_.size == n_features:
            self.method_, sampler = "smoten", SMOTEN(**kwargs)
            if sparse.issparse(X):  # SMOTEN compares categories value by value: dense rows, this sampler only
                X_res, y_res = sampler.fit_resample(X.toarray(), y)
                return sparse.csr_matrix(X_res).asformat(X.format), y_res
        else:
            self.method_, sampler = "smote_nc", SMOTENC(self.categorical_features_.tolist(), **kwargs)
        return sampler.fit_resample(X, y)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class ConditionalGANSampler(BaseOverSampler):
    """Over-sample the minority classes with rows drawn from a conditional GAN.

    A generator MLP maps noise and a one-hot class to a row; a discriminator MLP
    tells real rows from generated ones given the class. Both are trained inside
    ``fit_resample`` on the rows it is given (every class, so the generator
    learns the shared structure, with class-balanced batches so the minority is
    seen as often as the majority), then the generator writes the rows each
    class needs. Columns are standardised for training; generated values are
    clipped to each column's observed range, 0/1 columns are rounded, and values
    smaller than half a column's smallest non-zero magnitude are set to zero (so
    sparse TF-IDF columns stay sparse). A sparse input is densified one batch at
    a time, never whole.

    Parameters
    ----------
    sampling_strategy : float, str, dict or callable, default="auto"
        As in imbalanced-learn: ``"auto"`` brings every class up to the majority's count.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batches and noise (PyTorch's global seed is left as it was).
    epochs : int, default=100
        Passes over the rows (in class-balanced batches).
    batch_size : int, default=64
    noise_dim : int, default=32
    hidden_dim : int, default=128
        Width of the two hidden layers of each network.
    learning_rate : float, default=2e-4
        Adam's learning rate for both networks.
    n_jobs : int or None, default=None
        Threads PyTorch may use while training; None leaves its setting as it is.

    Attributes
    ----------
    sampling_strategy_ : dict
        Rows generated for each class.
    losses_ : dict of list of float
        Mean ``"generator"`` and ``"discriminator"`` loss per epoch.
    fit_seconds_ : float
        Time spent training the networks.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(60, 3)), np.array([0] * 50 + [1] * 10)
    >>> X_res, y_res = ConditionalGANSampler(epochs=2, random_state=0).fit_resample(X, y)  # doctest: +SKIP
    >>> np.bincount(y_res).tolist()  # doctest: +SKIP
    [50, 50]
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseOverSampler._parameter_constraints,
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 2, None, closed="left")],
        "noise_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "hidden_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_jobs": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        *,
        sampling_strategy="auto",
        random_state=None,
        epochs=100,
        batch_size=64,
        noise_dim=32,
        hidden_dim=128,
        learning_rate=2e-4,
        n_jobs=None,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.random_state = random_state
        self.epochs = epochs
        self.batch_size = batch_size
        self.noise_dim = noise_dim
        self.hidden_dim = hidden_dim
        self.learning_rate = learning_rate
        self.n_jobs = n_jobs

    def _fit_resample(self, X, y):
        torch = _import_torch()
        wanted = {c: n for c, n in self.sampling_strategy_.items() if n > 0}
        self.losses_, self.fit_seconds_ = {"generator": [], "discriminator": []}, 0.0
        if not wanted:
            return X, y
        classes, codes = np.unique(y, return_inverse=True)
        stats = _column_stats(X)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        threads = torch.get_num_threads()
        started = time.perf_counter()
        try:
            if self.n_jobs is not None:
                torch.set_num_threads(self.n_jobs)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                generator = self._train(torch, X, codes, len(classes), stats, seed)
                new = [
                    self._generate(torch, generator, int(np.flatnonzero(classes == c)[0]), n, len(classes), stats)
                    for c, n in wanted.items()
                ]
        finally:
            torch.set_num_threads(threads)
        self.fit_seconds_ = time.perf_counter() - started
        dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        X_new = np.vstack(new).astype(dtype, copy=False)
        y_new = np.concatenate([np.full(n, c, dtype=y.dtype) for c, n in wanted.items()])
        if sparse.issparse(X):
            X_res = sparse.vstack([X, sparse.csr_matrix(X_new)], format=X.format)
        else:
            X_res = np.vstack([X, X_new])
        return X_res, np.concatenate([y, y_new])

    def _train(self, torch, X, codes, n_classes, stats, seed):
        nn = torch.nn
        width, hidden = X.shape[1], self.hidden_dim
        generator = nn.Sequential(
            nn.Linear(self.noise_dim + n_classes, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, width),
        )
        discriminator = nn.Sequential(
            nn.Linear(width + n_classes, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.25),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )
        opt_g = torch.optim.Adam(generator.parameters(), lr=self.learning_rate, betas=(0.5, 0.9))
        opt_d = torch.optim.Adam(discriminator.parameters(), lr=self.learning_rate, betas=(0.5, 0.9))
        bce = nn.BCEWithLogitsLoss()
        rng = np.random.default_rng(seed)
        order = np.argsort(codes, kind="stable")  # rows grouped by class
        sizes = np.bincount(codes, minlength=n_classes)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        batch = min(self.batch_size, len(codes))
        steps = max(1, -(-len(codes) // batch))
        ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
        for _ in range(self.epochs):
            g_sum = d_sum = 0.0
            for _ in range(steps):
                k = rng.integers(n_classes, size=batch)  # class-balanced batches
                idx = order[starts[k] + (rng.random(batch) * sizes[k]).astype(np.int64)]
                real = torch.from_numpy(_standardize(_dense_rows(X, idx), stats))
                cond = torch.nn.functional.one_hot(torch.from_numpy(k), n_classes).float()
                fake = generator(torch.cat([torch.randn(batch, self.noise_dim), cond], dim=1))
                d_loss = bce(discriminator(torch.cat([real, cond], dim=1)), ones) + bce(
                    discriminator(torch.cat([fake.detach(), cond], dim=1)), zeros
                )
                opt_d.zero_grad()
                d_loss.backward()
                opt_d.step()
                g_loss = bce(discriminator(torch.cat([fake, cond], dim=1)), ones)
                opt_g.zero_grad()
                g_loss.backward()
                opt_g.step()
                g_sum, d_sum = g_sum + g_loss.item(), d_sum + d_loss.item()
            self.losses_["generator"].append(g_sum / steps)
            self.losses_["discriminator"].append(d_sum / steps)
        return generator.eval()

    def _generate(self, torch, generator, code, n, n_classes, stats):
        cond = torch.nn.functional.one_hot(torch.full((n,), code), n_classes).float()
        with torch.no_grad():
            out = generator(torch.cat([torch.randn(n, self.noise_dim), cond], dim=1)).numpy().astype(np.float64)
        values = np.clip(out * stats["std"] + stats["mean"], stats["min"], stats["max"])
        values[np.abs(values) < stats["min_nonzero"] / 2] = 0.0
        binary = stats["binary"]
        values[:, binary] = (values[:, binary] >= 0.5).astype(np.float64)
        return values


def make_sampler(
    strategy: str, *, random_state: int = 0, gan_epochs: int = 100, n_jobs: int | None = None
) -> BaseEstimator | None:
    """The unfitted sampler of a strategy, or None for ``none`` and ``class_weight``."""
    _check_strategy(strategy)
    samplers: dict[str, Callable[[], BaseEstimator]] = {
        "random_over": lambda: RandomOverSampler(random_state=random_state),
        "random_under": lambda: RandomUnderSampler(random_state=random_state),
        "smote": lambda: SlimSMOTE(random_state=random_state),
        "smote_nc": lambda: EncodedSMOTENC(random_state=random_state),
        "adasyn": lambda: SlimADASYN(random_state=random_state),
        "gan": lambda: ConditionalGANSampler(random_state=random_state, epochs=gan_epochs, n_jobs=n_jobs),
    }
    return samplers[strategy]() if strategy in samplers else None


def training_pipeline(
    features: ColumnTransformer,
    model: BaseEstimator,
    strategy: str,
    *,
    task: str,
    random_state: int = 0,
    gan_epochs: int = 100,
    n_jobs: int | None = None,
) -> Pipeline:
    """features → sampler → model, resampling the rows the pipeline is fitted on and nothing else.

    Parameters
    ----------
    features : ColumnTransformer
        Unfitted; its output may be sparse.
    model : estimator
        Unfitted. For ``class_weight`` the caller sets the model's class weights.
    strategy : str
        One of :data:`STRATEGIES`.
    task : str
        ``"classification"`` or ``"regression"``; only ``none`` suits regression.
    random_state : int
        Seeds the sampler.
    gan_epochs : int
        Training epochs of the ``gan`` sampler.
    n_jobs : int, optional
        Threads for the ``gan`` sampler's PyTorch training.

    Returns
    -------
    Pipeline
        An imbalanced-learn Pipeline with steps ``features``, ``sampler``, ``model``,
        or a scikit-learn Pipeline ``features``, ``model`` for ``none`` and ``class_weight``.
    """
    _check_strategy(strategy)
    if task != "classification" and strategy != "none":
        raise ValueError(
            f"imbalance.strategy {strategy!r} needs a classification target; this task is {task} (use 'none')"
        )
    sampler = make_sampler(strategy, random_state=random_state, gan_epochs=gan_epochs, n_jobs=n_jobs)
    if sampler is None:
        return Pipeline([("features", features), ("model", model)])
    return ImbPipeline([("features", features), ("sampler", sampler), ("model", model)])


def compare_strategies(
    features: ColumnTransformer,
    model_factory: Callable[[], BaseEstimator],
    X: pd.DataFrame,
    y: pd.Series,
    *,
    strategies: Iterable[str],
    cv: Any,
    scoring: str,
    groups: pd.Series | None = None,
    n_jobs: int | None = None,
    random_state: int = 0,
    gan_epochs: int = 100,
) -> pd.DataFrame:
    """Cross-validate imbalance strategies side by side, resampling inside the folds.

    Parameters
    ----------
    features : ColumnTransformer
        Unfitted feature transformer.
    model_factory : callable
        ``model_factory()`` returns a new unfitted model. For ``class_weight`` its
        ``class_weight`` is set to ``"balanced"``; a model without that parameter
        gets no ``class_weight`` row.
    X, y : training data only.
    strategies : iterable of str
    cv : int or CV splitter
        The same folds for every strategy.
    scoring : str
    groups : Series, optional
        Passed to the splitter (duplicate groups stay in one fold).
    n_jobs : int, optional
        Folds run in parallel with this many workers.

    Returns
    -------
    DataFrame
        One row per strategy, best mean first: ``mean``, ``std``, ``fit_seconds``
        (mean per fold) and ``fold_<i>`` scores.
    """
    rows = {}
    for strategy in strategies:
        model = model_factory()
        if strategy == "class_weight":
            if "class_weight" not in model.get_params():
                continue
            model.set_params(class_weight="balanced")
        pipe = training_pipeline(
            features, model, strategy, task="classification", random_state=random_state, gan_epochs=gan_epochs
        )
        result = cross_validate(
            pipe,
            X,
            y,
            cv=cv,
            scoring=scoring,
            n_jobs=n_jobs,
            error_score="raise",
            groups=None if groups is None else np.asarray(groups),
        )
        scores = result["test_score"]
        rows[strategy] = {
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores)),
            "fit_seconds": float(np.mean(result["fit_time"])),
            **{f"fold_{i}": float(v) for i, v in enumerate(scores)},
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "strategy"
    return table.sort_values("mean", ascending=False, kind="stable")


def resampling_summary(fitted_pipeline: Pipeline, X: pd.DataFrame, y: pd.Series) -> dict[str, Any]:
    """Class counts of the training rows before and after the sampler of a fitted pipeline.

    For samplers whose counts follow from their sampling strategy the counts are
    read from the fitted sampler; ADASYN decides per row, so its resampling is
    repeated on ``X`` (features refitted as in ``fit``).

    Returns
    -------
    dict
        ``sampler`` (class name or None), ``before`` and ``after`` (class label as
        a string → rows), ``rows_before``, ``rows_after``.
    """
    before = Counter(np.asarray(y).tolist())
    sampler = getattr(fitted_pipeline, "named_steps", {}).get("sampler")
    if sampler is None or sampler == "passthrough":
        after = before
    elif isinstance(sampler, ADASYN):
        Xt = clone(fitted_pipeline.named_steps["features"]).fit_transform(X, y)
        after = Counter(clone(sampler).fit_resample(Xt, y)[1].tolist())
    elif isinstance(sampler, BaseUnderSampler):
        after = {**before, **{c: int(n) for c, n in sampler.sampling_strategy_.items()}}
    else:
        after = before + Counter({c: int(n) for c, n in sampler.sampling_strategy_.items()})
    labels = sorted(before, key=str)
    return {
        "sampler": None if sampler is None or sampler == "passthrough" else type(sampler).__name__,
        "before": {str(c): int(before[c]) for c in labels},
        "after": {str(c): int(after[c]) for c in labels},
        "rows_before": int(sum(before.values())),
        "rows_after": int(sum(after[c] for c in labels)),
    }


# --------------------------------------------------------------------------- helpers


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(
            f"imbalance.strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}"
            f"{suggest(str(strategy), STRATEGIES)}"
        )


def _import_torch():
    try:
        import torch
    except ImportError:
        raise ImportError(
            "imbalance.strategy 'gan' needs PyTorch: install the nn extra (pip install -e '.[nn]')"
        ) from None
    return torch


def _target_counts(y, to_generate: dict) -> dict:
    """imbalanced-learn's ``sampling_strategy_`` (rows to add) as target counts per class."""
    counts = Counter(np.asarray(y).tolist())
    return {c: counts[c] + int(n) for c, n in to_generate.items()}


def _binary_columns(X) -> np.ndarray:
    """Mask of the columns whose values are all 0 or 1."""
    if sparse.issparse(X):
        nonzero = np.asarray((X != 0).sum(axis=0)).ravel()
        return np.asarray((X == 1).sum(axis=0)).ravel() == nonzero
    X = np.asarray(X)
    return np.all((X == 0) | (X == 1), axis=0)


def _dense_rows(X, idx) -> np.ndarray:
    """Rows ``idx`` of X as a dense float32 array (a sparse X is densified for these rows only)."""
    rows = X[idx]
    return (rows.toarray() if sparse.issparse(rows) else np.asarray(rows)).astype(np.float32)


def _column_stats(X, chunk: int = 4096) -> dict[str, np.ndarray]:
    """Per column: mean, std, min, max, smallest non-zero magnitude, 0/1-only; read in dense chunks."""
    n, width = X.shape
    total, squares = np.zeros(width), np.zeros(width)
    low, high = np.full(width, np.inf), np.full(width, -np.inf)
    tiny, binary = np.full(width, np.inf), np.ones(width, dtype=bool)
    for start in range(0, n, chunk):
        rows = _dense_rows(X, np.arange(start, min(n, start + chunk))).astype(np.float64)
        total += rows.sum(axis=0)
        squares += (rows**2).sum(axis=0)
        low, high = np.minimum(low, rows.min(axis=0)), np.maximum(high, rows.max(axis=0))
        magnitude = np.where(rows == 0, np.inf, np.abs(rows))
        tiny = np.minimum(tiny, magnitude.min(axis=0))
        binary &= np.all((rows == 0) | (rows == 1), axis=0)
    mean = total / n
    std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
    return {
        "mean": mean,
        "std": np.where(std > 1e-12, std, 1.0),
        "min": low,
        "max": high,
        "min_nonzero": np.where(np.isfinite(tiny), tiny, 0.0),
        "binary": binary,
    }


def _standardize(rows: np.ndarray, stats: dict[str, np.ndarray]) -> np.ndarray:
    return ((rows - stats["mean"]) / stats["std"]).astype(np.float32)
