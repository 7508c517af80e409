"""Multilayer perceptrons in PyTorch, trained through skorch, as scikit-learn estimators.

:class:`MLPClassifier` and :class:`MLPRegressor` expose the training strategies as
hyperparameters: hidden sizes, dropout, batch size, optimiser, learning-rate schedule,
weight decay (L2), an L1 penalty, early stopping with patience on a validation split,
a seed, and optional TensorBoard event files (:func:`fit_logged` writes those of one fit
without leaving their folder in the model).

PyTorch and skorch (the ``nn`` extra) are imported inside ``fit`` only: building an
estimator, ``get_params`` and params validation work without them. The fitted
estimator keeps its weights as numpy arrays (``coefs_``, ``intercepts_``) and predicts
with numpy, so a saved model loads with skops (no torch objects inside) and predicts
without PyTorch installed.

Inputs are standardised inside the estimator (mean and scale learned in ``fit``); a
scipy sparse matrix is made dense once. Regression targets are standardised too, so
losses in ``history_`` are on that scale.
"""

from __future__ import annotations

import functools
import math
import os
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.special import softmax
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["HISTORY_COLUMNS", "LR_SCHEDULES", "OPTIMIZERS", "MLPClassifier", "MLPRegressor", "fit_logged"]

#: Values of ``optimizer``.
OPTIMIZERS = ("adam", "adamw", "sgd")
#: Values of ``lr_schedule``.
LR_SCHEDULES = ("none", "step", "cosine", "onecycle")
#: Columns of ``history_``, one row per epoch.
HISTORY_COLUMNS = ("epoch", "train_loss", "valid_loss", "valid_score", "lr", "dur")


class _MLPBase:
    """Parameters, training and the numpy forward pass shared by both estimators (a mixin, so
    that the sweep over estimators in :mod:`nblib.ml` finds only the two public ones)."""

    _parameter_constraints: ClassVar[dict] = {
        "hidden_sizes": [tuple, list, Interval(Integral, 1, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(LR_SCHEDULES))],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "l1": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "random_state": ["random_state"],
        "tensorboard_dir": [str, os.PathLike, None],
    }

    def __init__(
        self,
        *,
        hidden_sizes=(64,),
        dropout=0.1,
        batch_size=128,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="cosine",
        weight_decay=1e-4,
        l1=0.0,
        max_epochs=60,
        patience=8,
        validation_fraction=0.1,
        random_state=None,
        tensorboard_dir=None,
    ):
        self.hidden_sizes = hidden_sizes
        self.dropout = dropout
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.l1 = l1
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.tensorboard_dir = tensorboard_dir

    @property
    def history_(self) -> pd.DataFrame:
        """One row per epoch: ``epoch, train_loss, valid_loss, valid_score, lr, dur``."""
        if not hasattr(self, "_history"):
            raise AttributeError(f"{type(self).__name__} is not fitted yet: it has no history_")
        return pd.DataFrame({column: self._history[column] for column in HISTORY_COLUMNS})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _validate_input(self, X, y=None, *, fitting: bool, classification: bool = False):
        kwargs = {"accept_sparse": ("csr", "csc", "coo"), "dtype": (np.float64, np.float32), "reset": fitting}
        if fitting:
            X, y = validate_data(self, X, y, y_numeric=not classification, **kwargs)
        else:
            X = validate_data(self, X, **kwargs)
        X = X.toarray() if sparse.issparse(X) else X
        return np.asarray(X, dtype=np.float64), y

    def _fit(self, X, y, *, classification: bool):
        self._validate_params()
        hidden = _hidden_sizes(self.hidden_sizes)
        X, y = self._validate_input(X, y, fitting=True, classification=classification)
        if classification:
            check_classification_targets(y)
            self.classes_, target = np.unique(y, return_inverse=True)
            if len(self.classes_) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs at least 2 classes to fit; y holds one class: {self.classes_[0]!r}"
                )
            counts = np.bincount(target)
            weights = self._class_weights(target)
            target = target.astype(np.int64)
        else:
            y = np.asarray(y, dtype=np.float64)
            self.y_mean_, self.y_scale_ = float(y.mean()), _scale(y.std())
            target = ((y - self.y_mean_) / self.y_scale_).astype(np.float32).reshape(-1, 1)
            counts, weights = None, None
        self.x_mean_ = X.mean(axis=0)
        self.x_scale_ = np.array([_scale(s) for s in X.std(axis=0)])
        Xs = ((X - self.x_mean_) / self.x_scale_).astype(np.float32)
        valid = self.validation_fraction if _can_validate(len(Xs), counts, self.validation_fraction) else None
        coefs, intercepts, history, best = _train(
            self,
            Xs,
            target,
            hidden=hidden,
            n_out=len(counts) if classification else 1,
            classification=classification,
            class_weights=weights,
            valid_fraction=valid,
        )
        self.coefs_, self.intercepts_, self._history = coefs, intercepts, history
        self.n_iter_ = len(history["epoch"])
        self.best_epoch_ = best
        return self

    def _class_weights(self, target):
        return None

    def _forward(self, X) -> np.ndarray:
        """The network's output for raw ``X``, in float64 (dropout off)."""
        check_is_fitted(self, "coefs_")
        X, _ = self._validate_input(X, fitting=False)
        h = (X - self.x_mean_) / self.x_scale_
        for W, b in zip(self.coefs_[:-1], self.intercepts_[:-1], strict=True):
            h = np.maximum(h @ W.astype(np.float64) + b, 0.0)
        return h @ self.coefs_[-1].astype(np.float64) + self.intercepts_[-1]


class MLPClassifier(ClassifierMixin, _MLPBase, BaseEstimator):
    """A multilayer perceptron classifier (PyTorch through skorch) with training strategies.

    ReLU hidden layers with dropout, a softmax output trained with cross-entropy.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(64,)
        Width of each hidden layer (an int means one layer).
    dropout : float, default=0.1
        Dropout rate after each hidden layer, in [0, 1).
    batch_size : int, default=128
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        ``"sgd"`` uses Nesterov momentum 0.9.
    lr : float, default=1e-3
        Learning rate (the peak rate for ``"onecycle"``).
    lr_schedule : {"none", "step", "cosine", "onecycle"}, default="cosine"
        ``"step"`` divides the rate by 10 after each third of ``max_epochs``; ``"cosine"``
        anneals it to 0 over ``max_epochs``; ``"onecycle"`` warms up and anneals batch by batch.
    weight_decay : float, default=1e-4
        L2 penalty through the optimiser (decoupled for ``"adamw"``).
    l1 : float, default=0.0
        L1 penalty: ``l1`` times the sum of absolute weights (not biases), added to the
        training loss of each batch.
    max_epochs : int, default=60
    patience : int or None, default=8
        Stop when the validation loss has not improved for this many epochs, and keep the
        weights of the best epoch. None trains for ``max_epochs``.
    validation_fraction : float or None, default=0.1
        Share of the training rows held out (stratified) to score each epoch and to stop
        early. None, or data too small to split by class (fewer than 20 rows, a class with
        one row), trains on every row without early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation split. The
        global torch random state is left as it was.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss.
    tensorboard_dir : str or path, optional
        Where to write TensorBoard event files (losses, score and learning rate per epoch).
        A path set here stays in the saved model: :func:`fit_logged` sets it for one fit only.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    coefs_, intercepts_ : list of ndarray
        Weights and biases of each layer, as float32 numpy arrays (``coefs_[i]`` has shape
        (n_inputs, n_outputs)).
    x_mean_, x_scale_ : ndarray of shape (n_features_in_,)
        The standardisation of the inputs.
    history_ : DataFrame
        One row per epoch: ``epoch, train_loss, valid_loss, valid_score, lr, dur``;
        ``valid_score`` is ROC-AUC (one-vs-rest macro for more than two classes).
    n_iter_ : int
        Epochs run.
    best_epoch_ : int
        The epoch whose weights were kept.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> X, y = make_classification(200, random_state=0)
    >>> model = MLPClassifier(max_epochs=5, random_state=0).fit(X, y)  # doctest: +SKIP
    >>> model.history_.shape  # doctest: +SKIP
    (5, 6)
    """

    _parameter_constraints: ClassVar[dict] = {
        **_MLPBase._parameter_constraints,
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        *,
        hidden_sizes=(64,),
        dropout=0.1,
        batch_size=128,
        optimizer="adam",
        lr=1e-3,
        lr_schedule="cosine",
        weight_decay=1e-4,
        l1=0.0,
        max_epochs=60,
        patience=8,
        validation_fraction=0.1,
        random_state=None,
        class_weight=None,
        tensorboard_dir=None,
    ):
        super().__init__(
            hidden_sizes=hidden_sizes,
            dropout=dropout,
            batch_size=batch_size,
            optimizer=optimizer,
            lr=lr,
            lr_schedule=lr_schedule,
            weight_decay=weight_decay,
            l1=l1,
            max_epochs=max_epochs,
            patience=patience,
            validation_fraction=validation_fraction,
            random_state=random_state,
            tensorboard_dir=tensorboard_dir,
        )
        self.class_weight = class_weight

    def fit(self, X, y):
        """Train on ``X`` (dense or scipy sparse) and class labels ``y``; returns self."""
        return self._fit(X, y, classification=True)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        return softmax(self._forward(X), axis=1)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        scores = self._forward(X)
        return self.classes_[np.argmax(scores, axis=1)]

    def _class_weights(self, target):
        if self.class_weight is None:
            return None
        return compute_class_weight(self.class_weight, classes=self.classes_, y=self.classes_[target])


class MLPRegressor(RegressorMixin, _MLPBase, BaseEstimator):
    """A multilayer perceptron regressor (PyTorch through skorch) with training strategies.

    ReLU hidden layers with dropout, one linear output trained with mean squared error
    on the standardised target.

    Parameters
    ----------
    hidden_sizes : tuple of int, default=(64,)
        Width of each hidden layer (an int means one layer).
    dropout : float, default=0.1
        Dropout rate after each hidden layer, in [0, 1).
    batch_size : int, default=128
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        ``"sgd"`` uses Nesterov momentum 0.9.
    lr : float, default=1e-3
        Learning rate (the peak rate for ``"onecycle"``).
    lr_schedule : {"none", "step", "cosine", "onecycle"}, default="cosine"
        ``"step"`` divides the rate by 10 after each third of ``max_epochs``; ``"cosine"``
        anneals it to 0 over ``max_epochs``; ``"onecycle"`` warms up and anneals batch by batch.
    weight_decay : float, default=1e-4
        L2 penalty through the optimiser (decoupled for ``"adamw"``).
    l1 : float, default=0.0
        L1 penalty: ``l1`` times the sum of absolute weights (not biases), added to the
        training loss of each batch.
    max_epochs : int, default=60
    patience : int or None, default=8
        Stop when the validation loss has not improved for this many epochs, and keep the
        weights of the best epoch. None trains for ``max_epochs``.
    validation_fraction : float or None, default=0.1
        Share of the training rows held out to score each epoch and to stop early. None,
        or fewer than 20 rows, trains on every row without early stopping.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling, dropout and the validation split. The
        global torch random state is left as it was.
    tensorboard_dir : str or path, optional
        Where to write TensorBoard event files (losses, score and learning rate per epoch).
        A path set here stays in the saved model: :func:`fit_logged` sets it for one fit only.

    Attributes
    ----------
    n_features_in_ : int
    coefs_, intercepts_ : list of ndarray
        Weights and biases of each layer, as float32 numpy arrays.
    x_mean_, x_scale_ : ndarray of shape (n_features_in_,)
        The standardisation of the inputs.
    y_mean_, y_scale_ : float
        The standardisation of the target: losses in ``history_`` are on that scale.
    history_ : DataFrame
        One row per epoch: ``epoch, train_loss, valid_loss, valid_score, lr, dur``;
        ``valid_score`` is R².
    n_iter_ : int
        Epochs run.
    best_epoch_ : int
        The epoch whose weights were kept.
    """

    def fit(self, X, y):
        """Train on ``X`` (dense or scipy sparse) and numeric ``y``; returns self."""
        return self._fit(X, y, classification=False)

    def predict(self, X) -> np.ndarray:
        """Predicted values, in the units of ``y``."""
        return self._forward(X)[:, 0] * self.y_scale_ + self.y_mean_


def fit_logged(model, X, y, log_dir: str | os.PathLike | None = None):
    """Fit ``model``; a neural net in it writes this fit's TensorBoard event files to ``log_dir``.

    ``model`` is an :class:`MLPClassifier` / :class:`MLPRegressor`, or a pipeline whose
    ``model`` step is one (any other model is simply fitted). The folder is the net's
    ``tensorboard_dir`` during this fit only: afterwards the parameter is what it was
    before, so the fitted model keeps no path of the run folder (a saved model is the same
    wherever it was trained), and refits of its clones (learning curves) write no events.

    Parameters
    ----------
    model : estimator or Pipeline
    X, y : training data
    log_dir : str or path, optional
        Folder for the event files; None fits without them.

    Returns
    -------
    The fitted ``model``.
    """
    params = model.get_params()
    key = next((k for k in ("tensorboard_dir", "model__tensorboard_dir") if k in params), None)
    if log_dir is None or key is None:
        return model.fit(X, y)
    before = params[key]
    model.set_params(**{key: os.fspath(log_dir)})
    try:
        return model.fit(X, y)
    finally:
        model.set_params(**{key: before})


def _hidden_sizes(value) -> tuple[int, ...]:
    sizes = (value,) if isinstance(value, Integral) else tuple(value)
    if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
        raise ValueError(f"hidden_sizes must be positive integers, like (64, 32); got {value!r}")
    return tuple(int(s) for s in sizes)


def _scale(std: float) -> float:
    return float(std) if std > 1e-12 else 1.0


def _can_validate(n: int, counts: np.ndarray | None, fraction: float | None) -> bool:
    """Whether a (stratified) validation split of ``fraction`` leaves rows of every class on both sides."""
    if fraction is None:
        return False
    n_valid = math.ceil(fraction * n)
    n_train = n - n_valid
    if n < 20 or n_valid < 2 or n_train < 2:
        return False
    if counts is None:
        return True
    return counts.min() >= 2 and n_valid >= len(counts) and n_train >= len(counts)


def _train(
    est: _MLPBase, X: np.ndarray, y: np.ndarray, *, hidden, n_out, classification, class_weights, valid_fraction
):
    """Train a skorch net seeded from ``est.random_state``; the weights, the history and the kept epoch."""
    parts = _torch_parts()
    torch = parts.torch
    seed = int(check_random_state(est.random_state).randint(np.iinfo(np.int32).max))
    n_train = len(X) - (math.ceil(valid_fraction * len(X)) if valid_fraction else 0)
    callbacks = _callbacks(
        parts,
        est,
        classification=classification,
        validated=valid_fraction is not None,
        batches_per_epoch=math.ceil(n_train / est.batch_size),
    )
    if classification:
        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        net_cls, criterion, criterion_kw = parts.Classifier, torch.nn.CrossEntropyLoss, {"criterion__weight": weight}
        split = {"stratified": True}
    else:
        net_cls, criterion, criterion_kw = parts.Regressor, torch.nn.MSELoss, {}
        split = {}
    optimizer, optimizer_kw = {
        "adam": (torch.optim.Adam, {}),
        "adamw": (torch.optim.AdamW, {}),
        "sgd": (torch.optim.SGD, {"optimizer__momentum": 0.9, "optimizer__nesterov": True}),
    }[est.optimizer]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = net_cls(
            parts.MLPModule,
            module__n_in=X.shape[1],
            module__hidden=hidden,
            module__n_out=n_out,
            module__dropout=est.dropout,
            criterion=criterion,
            **criterion_kw,
            optimizer=optimizer,
            lr=est.lr,
            optimizer__weight_decay=est.weight_decay,
            **optimizer_kw,
            l1=est.l1,
            max_epochs=est.max_epochs,
            batch_size=est.batch_size,
            iterator_train__shuffle=True,
            train_split=parts.ValidSplit(valid_fraction, random_state=seed, **split) if valid_fraction else None,
            callbacks=callbacks,
            verbose=0,
            device="cpu",
            **({"callbacks__valid_acc": None} if classification else {}),
        )
        net.fit(X, y)
    linears = [m for m in net.module_.layers if isinstance(m, torch.nn.Linear)]
    coefs = [m.weight.detach().numpy().T.copy() for m in linears]
    intercepts = [m.bias.detach().numpy().copy() for m in linears]
    history = {
        column: np.array([row.get(column, np.nan) for row in net.history], dtype=float) for column in HISTORY_COLUMNS
    }
    history["epoch"] = history["epoch"].astype(np.int64)
    stopper = dict(net.callbacks_).get("early_stopping")
    best = getattr(stopper, "best_epoch_", None) or int(history["epoch"][-1])
    return coefs, intercepts, history, int(best)


def _callbacks(parts, est, *, classification, validated, batches_per_epoch) -> list[tuple[str, Any]]:
    cb, lr_scheduler = parts.callbacks, parts.torch.optim.lr_scheduler
    callbacks = [("record_lr", parts.RecordLR())]
    if validated:
        callbacks.append(
            (
                "valid_score",
                cb.EpochScoring(
                    _roc_auc if classification else _r2, lower_is_better=False, on_train=False, name="valid_score"
                ),
            )
        )
    schedule = {
        "none": None,
        "step": {"policy": lr_scheduler.StepLR, "step_size": max(1, round(est.max_epochs / 3)), "gamma": 0.1},
        "cosine": {"policy": lr_scheduler.CosineAnnealingLR, "T_max": est.max_epochs},
        "onecycle": {
            "policy": lr_scheduler.OneCycleLR,
            "max_lr": est.lr,
            "step_every": "batch",
            "total_steps": est.max_epochs * batches_per_epoch + 1,
        },
    }[est.lr_schedule]
    if schedule:
        callbacks.append(("lr_scheduler", cb.LRScheduler(event_name=None, **schedule)))
    if validated and est.patience is not None:
        callbacks.append(
            (
                "early_stopping",
                cb.EarlyStopping(monitor="valid_loss", patience=est.patience, load_best=True, sink=_silent),
            )
        )
    if est.tensorboard_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=os.fspath(est.tensorboard_dir))
        callbacks.append(("tensorboard", cb.TensorBoard(writer, close_after_train=True)))
    return callbacks


def _roc_auc(net, X, y) -> float:
    """ROC-AUC of the epoch's validation predictions (one-vs-rest macro for more classes), NaN
    when a class is missing; by ranks, as scikit-learn's checks cost more than the epoch itself."""
    proba = net.predict_proba(X)
    y = np.asarray(y)
    if len(np.unique(y)) < proba.shape[1]:
        return float("nan")
    columns = [1] if proba.shape[1] == 2 else range(proba.shape[1])
    return float(np.mean([_auc(y == c, proba[:, c]) for c in columns]))


def _auc(positive: np.ndarray, score: np.ndarray) -> float:
    from scipy.stats import rankdata

    n_pos = positive.sum()
    n_neg = len(positive) - n_pos
    return (rankdata(score)[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def _r2(net, X, y) -> float:
    y = np.asarray(y, dtype=float).ravel()
    residual = y - net.predict(X).ravel()
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - (residual**2).sum() / total) if total > 0 else float("nan")


def _silent(*args, **kwargs) -> None:
    pass


@functools.cache
def _torch_parts():
    """PyTorch, skorch and the classes built on them, imported on first use."""
    try:
        import skorch
        import skorch.callbacks
        import torch
        from skorch.dataset import ValidSplit
    except ImportError as exc:
        raise ImportError(
            f"the mlp family needs PyTorch and skorch, the nn extra (pip install -e '.[nn]'): {exc}"
        ) from exc

    class MLPModule(torch.nn.Module):
        """Linear → ReLU → Dropout per hidden layer, then a linear output."""

        def __init__(self, n_in: int, hidden: tuple[int, ...], n_out: int, dropout: float):
            super().__init__()
            layers: list[torch.nn.Module] = []
            for width in hidden:
                layers += [torch.nn.Linear(n_in, width), torch.nn.ReLU(), torch.nn.Dropout(dropout)]
                n_in = width
            layers.append(torch.nn.Linear(n_in, n_out))
            self.layers = torch.nn.Sequential(*layers)

        def forward(self, X):
            return self.layers(X)

    class L1Penalty:
        """Adds ``l1`` times the sum of absolute weights to the training loss."""

        def __init__(self, *args, l1: float = 0.0, **kwargs):
            self.l1 = l1
            super().__init__(*args, **kwargs)

        def get_loss(self, y_pred, y_true, X=None, training=False):
            loss = super().get_loss(y_pred, y_true, X=X, training=training)
            if training and self.l1 > 0:
                loss = loss + self.l1 * sum(
                    p.abs().sum() for name, p in self.module_.named_parameters() if name.endswith("weight")
                )
            return loss

    class Classifier(L1Penalty, skorch.NeuralNetClassifier):
        pass

    class Regressor(L1Penalty, skorch.NeuralNetRegressor):
        pass

    class RecordLR(skorch.callbacks.Callback):
        """Records the learning rate each epoch starts with."""

        def on_epoch_begin(self, net, **kwargs):
            net.history.record("lr", float(net.optimizer_.param_groups[0]["lr"]))

    import types

    return types.SimpleNamespace(
        torch=torch,
        callbacks=skorch.callbacks,
        ValidSplit=ValidSplit,
        MLPModule=MLPModule,
        Classifier=Classifier,
        Regressor=Regressor,
        RecordLR=RecordLR,
    )
