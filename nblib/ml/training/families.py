"""Model families: the one registry from a name in params to an estimator and all it needs.

Each :class:`ModelFamily` (one per family and task) says which estimator builds it (imported only
when a model is built, so the params schema reads names here without importing scikit-learn),
its defaults, whether it accepts sparse input (those that do not get the dense feature variant,
TF-IDF reduced by TruncatedSVD, from :func:`nblib.ml.features.densify_for`), its rough cost,
whether params compare it by default, the optional extra it needs and its hyperparameter search
space. :data:`DEFAULT_FAMILIES`, :data:`FAMILY_NAMES`, :data:`FAMILY_COST` and
:data:`nblib.ml.training.spaces.SPACES` are derived from :data:`FAMILIES`.

>>> DEFAULT_FAMILIES["regression"]
('ridge', 'random_forest', 'hist_gradient_boosting', 'gradient_boosting_deep')
>>> FAMILIES[("mlp", "classification")].extra
'torch'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nblib.common.text import suggest

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

__all__ = [
    "ModelFamily",
    "FAMILIES",
    "DEFAULT_FAMILIES",
    "FAMILY_NAMES",
    "FAMILY_COST",
    "family_names",
    "make_model",
    "check_hyperparameters",
]

#: The multilayer perceptron's defaults (both tasks); opt-in through ``train.models``.
_MLP_DEFAULTS = {
    "hidden_sizes": (64,),
    "dropout": 0.1,
    "batch_size": 128,
    "lr": 1e-3,
    "max_epochs": 60,
    "patience": 8,
    "lr_schedule": "cosine",
    "weight_decay": 1e-4,
}

#: A second, unregularised boosting configuration (LightGBM's usual shape: 31 leaves, no early stopping), so
#: the ensemble selection can weigh a deep and a shallow booster; which wins depends on the table.
_DEEP_GBM = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "early_stopping": False,
}

#: LightGBM (the ``boost`` extra): its usual shape with row and column subsampling; categorical columns
#: reach it as codes (``categorical_feature``), as they reach scikit-learn's boosting.
_LIGHTGBM = {
    "n_estimators": 400,
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "verbose": -1,
}
_LIGHTGBM_SPACE = {
    "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
    "num_leaves": {"low": 4, "high": 128, "log": True, "int": True},
    "min_child_samples": {"low": 5, "high": 100, "log": True, "int": True},
    "reg_lambda": {"low": 1e-3, "high": 10.0, "log": True},
    "colsample_bytree": {"low": 0.3, "high": 1.0},
}

# Search spaces (see :mod:`nblib.ml.training.spaces` for the spec): hyperparameter -> list or range.
_HGB_SPACE = {
    "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
    "max_leaf_nodes": {"low": 4, "high": 64, "log": True, "int": True},
    "min_samples_leaf": {"low": 5, "high": 100, "log": True, "int": True},
    "l2_regularization": {"low": 1e-3, "high": 10.0, "log": True},
}
_RF_SPACE = {
    "min_samples_leaf": {"low": 1, "high": 30, "log": True, "int": True},
    "max_features": ["sqrt", 0.2, 0.5],
    "max_depth": [None, 8, 16],
}
_ET_SPACE = {
    "min_samples_leaf": {"low": 1, "high": 30, "log": True, "int": True},
    "max_features": ["sqrt", 0.3, 0.7],
    "max_depth": [None, 12, 24],
}
_MLP_SPACE = {
    "hidden_sizes": [(64,), (128,), (128, 64), (256, 128)],
    "dropout": {"low": 0.0, "high": 0.5},
    "lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "weight_decay": {"low": 1e-6, "high": 1e-2, "log": True},
    "batch_size": [64, 128, 256],
}


@dataclass(frozen=True)
class ModelFamily:
    """One model family for one task.

    Attributes
    ----------
    name : str
        The name ``train.models`` uses.
    task : {"classification", "regression"}
    estimator : str
        ``"module:Class"`` of the estimator; :attr:`factory` imports it.
    accepts_sparse : bool
        False: the family gets the dense feature variant (TF-IDF reduced by TruncatedSVD).
    defaults : dict
        Hyperparameters that params override.
    parallel : bool
        Takes ``n_jobs``.
    cost : int
        Rough cost rank: cheaper families are cross-validated first, so a budget that runs
        out cuts the expensive ones.
    default : bool
        Compared when the params name no models (:data:`DEFAULT_FAMILIES`, in registry order).
    extra : str or None
        The optional dependency it needs at fit time (``"torch"``: the ``nn`` extra).
    native_categorical : bool
        Takes :attr:`categorical_param`: it gets categorical columns as ordinal codes and splits
        on category sets (:func:`nblib.ml.features.native_categories_for`), not one-hot columns.
    categorical_param : str
        The hyperparameter that names the code columns (``categorical_features`` in scikit-learn,
        ``categorical_feature`` in LightGBM).
    dense_when_narrow : bool
        Takes sparse input but splits a dense matrix faster (forests): a sparse matrix of a few
        hundred columns at most reaches it dense (:class:`~nblib.ml.features.DenseWhenNarrow`).
    space : dict or None
        Its hyperparameter search space (None: it cannot be searched).
    """

    name: str
    task: str
    estimator: str
    accepts_sparse: bool
    defaults: dict[str, Any]
    parallel: bool = False
    cost: int = 5
    default: bool = False
    extra: str | None = None
    space: dict[str, Any] | None = field(default=None, repr=False)
    native_categorical: bool = False
    categorical_param: str = "categorical_features"
    dense_when_narrow: bool = False

    @property
    def factory(self) -> Callable[..., Any]:
        """The estimator class (imported on first use)."""
        module, _, name = self.estimator.partition(":")
        return getattr(importlib.import_module(module), name)


def _families() -> dict[tuple[str, str], ModelFamily]:
    sk, nn = "sklearn.ensemble", "nblib.ml.training.nn"  # nn imports no torch until fit
    specs = [
        ModelFamily(
            "logistic_regression",
            "classification",
            "sklearn.linear_model:LogisticRegression",
            True,
            {"C": 0.3, "max_iter": 2000},
            cost=1,
            default=True,
            space={"C": {"low": 1e-3, "high": 100.0, "log": True}},
        ),
        ModelFamily(
            "random_forest",
            "classification",
            f"{sk}:RandomForestClassifier",
            True,
            {"n_estimators": 200, "min_samples_leaf": 5, "max_samples": 0.5},
            parallel=True,
            cost=4,
            default=True,
            space=_RF_SPACE,
            dense_when_narrow=True,
        ),
        ModelFamily(
            "extra_trees",
            "classification",
            f"{sk}:ExtraTreesClassifier",
            True,
            {"n_estimators": 300, "min_samples_leaf": 3},
            parallel=True,
            cost=4,
            space=_ET_SPACE,
            dense_when_narrow=True,
        ),
        ModelFamily(
            "hist_gradient_boosting",
            "classification",
            f"{sk}:HistGradientBoostingClassifier",
            False,
            {
                "learning_rate": 0.03,
                "max_iter": 600,
                "max_leaf_nodes": 8,
                "l2_regularization": 1.0,
                "early_stopping": True,
            },
            cost=2,
            default=True,
            space=_HGB_SPACE,
            native_categorical=True,
        ),
        ModelFamily(
            "gradient_boosting_deep",
            "classification",
            f"{sk}:HistGradientBoostingClassifier",
            False,
            dict(_DEEP_GBM),
            cost=3,
            default=True,
            space=_HGB_SPACE,
            native_categorical=True,
        ),
        ModelFamily(
            "lightgbm",
            "classification",
            "lightgbm:LGBMClassifier",
            False,
            dict(_LIGHTGBM),
            parallel=True,
            cost=3,
            extra="boost",
            space=_LIGHTGBM_SPACE,
            native_categorical=True,
            categorical_param="categorical_feature",
        ),
        ModelFamily(
            "mlp",
            "classification",
            f"{nn}:MLPClassifier",
            False,
            dict(_MLP_DEFAULTS),
            cost=3,
            extra="torch",
            space=_MLP_SPACE,
        ),
        ModelFamily("dummy", "classification", "sklearn.dummy:DummyClassifier", True, {"strategy": "prior"}, cost=0),
        ModelFamily(
            "ridge",
            "regression",
            "sklearn.linear_model:Ridge",
            True,
            {"alpha": 3.0},
            cost=1,
            default=True,
            space={"alpha": {"low": 1e-3, "high": 1e3, "log": True}},
        ),
        # sklearn's regression forests try every feature at each split; with thousands of
        # TF-IDF columns that is ~20x slower for no gain, so sample like the classifiers do
        ModelFamily(
            "random_forest",
            "regression",
            f"{sk}:RandomForestRegressor",
            True,
            {"n_estimators": 200, "min_samples_leaf": 5, "max_samples": 0.5, "max_features": "sqrt"},
            parallel=True,
            cost=4,
            default=True,
            space=_RF_SPACE,
            dense_when_narrow=True,
        ),
        ModelFamily(
            "extra_trees",
            "regression",
            f"{sk}:ExtraTreesRegressor",
            True,
            {"n_estimators": 300, "min_samples_leaf": 3, "max_features": "sqrt"},
            parallel=True,
            cost=4,
            space=_ET_SPACE,
            dense_when_narrow=True,
        ),
        ModelFamily(
            "hist_gradient_boosting",
            "regression",
            f"{sk}:HistGradientBoostingRegressor",
            False,
            {"learning_rate": 0.05, "max_iter": 400, "max_leaf_nodes": 15, "early_stopping": True},
            cost=2,
            default=True,
            space=_HGB_SPACE,
            native_categorical=True,
        ),
        ModelFamily(
            "gradient_boosting_deep",
            "regression",
            f"{sk}:HistGradientBoostingRegressor",
            False,
            dict(_DEEP_GBM),
            cost=3,
            default=True,
            space=_HGB_SPACE,
            native_categorical=True,
        ),
        ModelFamily(
            "lightgbm",
            "regression",
            "lightgbm:LGBMRegressor",
            False,
            dict(_LIGHTGBM),
            parallel=True,
            cost=3,
            extra="boost",
            space=_LIGHTGBM_SPACE,
            native_categorical=True,
            categorical_param="categorical_feature",
        ),
        ModelFamily(
            "mlp",
            "regression",
            f"{nn}:MLPRegressor",
            False,
            dict(_MLP_DEFAULTS),
            cost=3,
            extra="torch",
            space=_MLP_SPACE,
        ),
        ModelFamily("dummy", "regression", "sklearn.dummy:DummyRegressor", True, {"strategy": "mean"}, cost=0),
    ]
    return {(f.name, f.task): f for f in specs}


#: Every family, by ``(name, task)``.
FAMILIES = _families()


def family_names(task: str) -> list[str]:
    """Names of the model families available for ``task``."""
    return sorted(name for name, t in FAMILIES if t == task)


#: What ``train.models`` compares when the params name no models.
DEFAULT_FAMILIES = {
    task: tuple(f.name for f in FAMILIES.values() if f.task == task and f.default)
    for task in ("classification", "regression")
}

#: Every model family by task, sorted.
FAMILY_NAMES = {task: tuple(family_names(task)) for task in ("classification", "regression")}

#: Rough cost rank of each family (the same for both tasks).
FAMILY_COST = {name: f.cost for (name, _), f in FAMILIES.items()}


def make_model(
    name: str,
    task: str,
    params: dict[str, Any] | None = None,
    *,
    random_state: int = 0,
    n_jobs: int | None = None,
    class_weight: str | None = None,
) -> BaseEstimator:
    """Build an unfitted estimator of family ``name`` for ``task``.

    Parameters
    ----------
    name : str
        A family from :func:`family_names`.
    task : {"classification", "regression"}
    params : dict, optional
        Hyperparameters; they override the family defaults.
    random_state : int, default=0
    n_jobs : int, optional
        Passed to families that parallelize internally.
    class_weight : {"balanced"}, optional
        Passed to classifiers that support it.
    """
    try:
        family = FAMILIES[(name, task)]
    except KeyError:
        raise ValueError(f"Unknown model family {name!r} for {task}; choose from {family_names(task)}") from None
    kwargs = {**family.defaults, **(params or {})}
    accepted = family.factory().get_params()
    if "random_state" in accepted:
        kwargs.setdefault("random_state", random_state)
    if family.parallel and n_jobs is not None:
        kwargs.setdefault("n_jobs", n_jobs)
    if class_weight and task == "classification" and "class_weight" in accepted:
        kwargs.setdefault("class_weight", class_weight)
    return family.factory(**kwargs)


def check_hyperparameters(name: str, task: str, params: dict[str, Any]) -> str | None:
    """Why ``params`` cannot configure family ``name``, as ``"key: reason"``; None if they can.

    Unknown names and values outside scikit-learn's declared constraints are
    caught here, before any data is touched.

    >>> check_hyperparameters("random_forest", "classification", {"n_estimator": 5})
    "n_estimator: unknown hyperparameter of RandomForestClassifier (did you mean 'n_estimators'?)"
    """

    from sklearn.utils._param_validation import InvalidParameterError

    family = FAMILIES[(name, task)]
    try:
        accepted = family.factory().get_params()
    except ImportError:
        return (
            f"{name}: needs the optional dependency of the {family.extra!r} extra (pip install 'nblib[{family.extra}]')"
        )
    for key in params:
        if key not in accepted:
            return f"{key}: unknown hyperparameter of {family.factory.__name__}{suggest(key, accepted)}"
    model = make_model(name, task, params)
    try:
        model._validate_params()  # scikit-learn's own declared constraints, checked without fitting
    except InvalidParameterError as exc:
        key = next((k for k in params if f"'{k}'" in str(exc)), "")
        return f"{key}: {exc}" if key else str(exc)
    except AttributeError:  # an estimator without declared constraints
        pass
    return None
