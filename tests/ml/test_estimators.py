"""The common test over every custom estimator in nblib.ml: found by walking the package,
so a new transformer is checked against scikit-learn's API without anyone remembering."""

import importlib
import inspect
import pkgutil

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import check_estimator

import nblib.ml
from nblib.ml.saved import TRUSTED_TYPES


def _custom_estimators():
    found = {}
    for info in pkgutil.walk_packages(nblib.ml.__path__, prefix="nblib.ml."):  # sub-packages too
        module = importlib.import_module(info.name)
        for name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseEstimator) and obj.__module__ == module.__name__:
                found[f"{obj.__module__}.{name}"] = obj
    return found


ESTIMATORS = _custom_estimators()


def test_the_sweep_finds_our_transformers():
    assert {"DateFeatures", "TextTfidf", "LSA", "MergeRareVariants", "MLPClassifier", "SlimSMOTE"} <= {
        c.__name__ for c in ESTIMATORS.values()
    }


#: Checks an estimator fails by design, with the reason (as scikit-learn's own TargetEncoder does).
_CROSS_FITTED = "fit_transform is out-of-fold by design (cross-fitting); transform uses the all-rows model"
EXPECTED_FAILURES = {
    f"nblib.ml.features.encoders.{name}": {
        "check_transformer_general": _CROSS_FITTED,
        "check_transformer_data_not_an_array": _CROSS_FITTED,
    }
    for name in ("LinearTextScore", "IntegerCodes")
}


@pytest.mark.parametrize("path", sorted(ESTIMATORS))
def test_passes_check_estimator(path):
    check_estimator(ESTIMATORS[path](), expected_failed_checks=EXPECTED_FAILURES.get(path))


@pytest.mark.parametrize("path", sorted(ESTIMATORS))
def test_is_trusted_by_skops(path):
    assert path in TRUSTED_TYPES, f"{path} ends up inside saved models: add it to nblib.ml.saved.TRUSTED_TYPES"
