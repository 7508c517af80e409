"""What a saved model may contain: the types skops is told to trust when it loads one.

Saved models name classes by their module path. Files written before the ``nblib.ml`` sub-packages
existed use the old flat paths (:data:`nblib.ml.MOVED`); those names are trusted as well, and the import
hook in :mod:`nblib.ml` makes them load.
"""

from __future__ import annotations

from nblib.ml import MOVED

__all__ = ["TRUSTED_TYPES", "for_saving", "restored"]

#: Types inside our skops files that skops does not trust by default. Anything
#: else a file names is refused on load.
_CURRENT = (
    "imblearn.over_sampling._random_over_sampler.RandomOverSampler",
    "imblearn.pipeline.Pipeline",
    "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
    "nblib.ml.features.encoders.DateFeatures",
    "nblib.ml.features.encoders.DenseWhenNarrow",
    "nblib.ml.features.encoders.LSA",
    "nblib.ml.features.encoders.LinearTextScore",
    "nblib.ml.features.encoders.IntegerCodes",
    "nblib.ml.features.encoders.TextStats",
    "nblib.ml.features.encoders.TextTfidf",
    "nblib.ml.features.encoders._fill_text",
    "nblib.ml.training.imbalance.ConditionalGANSampler",
    "nblib.ml.training.imbalance.EncodedSMOTENC",
    "nblib.ml.training.imbalance.SlimADASYN",
    "nblib.ml.training.imbalance.SlimSMOTE",
    "nblib.ml.data.labels.MergeRareVariants",
    "nblib.ml.training.nn.MLPClassifier",
    "nblib.ml.training.nn.MLPRegressor",
    "nblib.ml.data.preprocess.as_float",
    "nblib.ml.data.preprocess.as_str",
    "numpy.dtype",
    # LightGBM (the boost extra): the estimators and the booster, rebuilt from its model text
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "lightgbm.basic.Booster",
    "collections.OrderedDict",
    # native categorical splits: HistGradientBoosting* keeps partial(check_array, ...) in its preprocessor; a
    # partial is rebuilt only around functions this list trusts, and check_array is the only one it names
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.model_selection._split.KFold",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.tree._tree.Tree",
    "sklearn.utils._bunch.Bunch",  # VotingClassifier/VotingRegressor.named_estimators_, Stacking*'s too
)


def _legacy(name: str) -> str | None:
    """The old flat path of a type that moved, e.g. ``nblib.ml.nn.MLPClassifier``."""
    module, _, attr = name.rpartition(".")
    old = {new: old for old, new in MOVED.items()}.get(module)
    if module == "nblib.ml.features.encoders":  # re-exported by the package, where old files name them
        old = "nblib.ml.features"
    return f"{old}.{attr}" if old else None


#: Every type our saved models may contain, under its current and (where it moved) its old path.
TRUSTED_TYPES = tuple(sorted({*_CURRENT, *(n for n in map(_legacy, _CURRENT) if n)}))


def for_saving(model):
    """``model`` without the second copy of each ensemble member that skops would write.

    skops writes an object once per reference: a fitted ``Voting*``/``Stacking*`` holds every member in
    ``estimators_`` *and* in the ``named_estimators_`` bunch, so the file (and its load time) doubled.
    The bunch is left out of a shallow copy (``model`` itself is not changed); :func:`restored` rebuilds
    it on load, exactly as ``fit`` does.
    """
    return _walk(model, _drop_named)


def restored(model):
    """A loaded model with the ``named_estimators_`` that :func:`for_saving` left out, rebuilt in place
    from ``estimators`` and ``estimators_``. Models saved whole are returned as they are."""
    from sklearn.utils import Bunch

    def rebuild(obj):
        state = vars(obj)
        if "estimators_" in state and "named_estimators_" not in state and isinstance(state.get("estimators"), list):
            fitted = iter(state["estimators_"])
            obj.named_estimators_ = Bunch(
                **{
                    name: est if isinstance(est, str) and est == "drop" else next(fitted)
                    for name, est in obj.estimators
                }
            )
        return obj

    return _walk(model, rebuild, copy=False)


def _drop_named(obj):
    state = vars(obj)
    if "named_estimators_" in state and "estimators_" in state and isinstance(state.get("estimators"), list):
        import copy

        obj = copy.copy(obj)
        del obj.named_estimators_
    return obj


def _walk(obj, visit, copy: bool = True, depth: int = 0):
    """Apply ``visit`` to ``obj`` and to the estimators it wraps (pipeline steps, ``estimator(_)``,
    ``estimators_``), copying each wrapper whose child changed when ``copy``."""
    state = getattr(obj, "__dict__", None)
    if state is None or depth > 8 or isinstance(obj, type):
        return obj
    obj = visit(obj)
    state = vars(obj)
    updates = {}
    for attr in ("estimator", "estimator_"):
        child = state.get(attr)
        if child is not None and not isinstance(child, str):
            new = _walk(child, visit, copy, depth + 1)
            if new is not child:
                updates[attr] = new
    if isinstance(state.get("steps"), list):
        steps = [(name, _walk(step, visit, copy, depth + 1)) for name, step in state["steps"]]
        if any(new is not old for (_, new), (_, old) in zip(steps, state["steps"], strict=True)):
            updates["steps"] = steps
    if isinstance(state.get("estimators_"), list):
        members = [_walk(m, visit, copy, depth + 1) for m in state["estimators_"]]
        if any(new is not old for new, old in zip(members, state["estimators_"], strict=True)):
            updates["estimators_"] = members
    if updates:
        if copy:
            import copy as copying

            obj = copying.copy(obj)
        for attr, value in updates.items():
            setattr(obj, attr, value)
    return obj
