"""What a saved model may contain: the types skops is told to trust when it loads one.

Saved models name classes by their module path. Files written before the ``nblib.ml`` sub-packages
existed use the old flat paths (:data:`nblib.ml.MOVED`); those names are trusted as well, and the import
hook in :mod:`nblib.ml` makes them load.
"""

from __future__ import annotations

from nblib.ml import MOVED

__all__ = ["TRUSTED_TYPES"]

#: Types inside our skops files that skops does not trust by default. Anything
#: else a file names is refused on load.
_CURRENT = (
    "imblearn.over_sampling._random_over_sampler.RandomOverSampler",
    "imblearn.pipeline.Pipeline",
    "imblearn.under_sampling._prototype_selection._random_under_sampler.RandomUnderSampler",
    "nblib.ml.features.encoders.DateFeatures",
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
