"""The science: values in, values out (no params files, no papermill, no MLflow).

- :mod:`nblib.ml.data`: loading, parsing, the target, label typos, duplicates, quality, leaks, cleaning.
- :mod:`nblib.ml.features`: text TF-IDF with LSA, date parts.
- :mod:`nblib.ml.training`: model families, search spaces, CV, hyperparameter search, imbalance,
  ensembles, the neural net, the threshold, learning curves.
- :mod:`nblib.ml.evaluation`: the metric registry, scoring, explanations, paired comparisons, plots.

Models saved before these sub-packages existed name their classes by the old flat paths
(``nblib.ml.preprocess.as_str``, ``nblib.ml.nn.MLPClassifier`` …). :data:`MOVED` maps each old
module to its new home, and an import hook makes the old name an alias of the new module, so
those files still load (``tests/ml/test_old_models.py`` loads one).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__all__ = ["MOVED"]

#: Old module path → new module path, for the modules whose classes saved models name.
MOVED = {
    "nblib.ml.preprocess": "nblib.ml.data.preprocess",
    "nblib.ml.labels": "nblib.ml.data.labels",
    "nblib.ml.imbalance": "nblib.ml.training.imbalance",
    "nblib.ml.nn": "nblib.ml.training.nn",
    "nblib.ml.threshold": "nblib.ml.training.threshold",
    "nblib.ml.ensemble": "nblib.ml.training.ensembles",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import ``nblib.ml.preprocess`` as the module ``nblib.ml.data.preprocess`` (the same object)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):
        sys.modules[module.__spec__.name] = module  # keep the new module's own spec untouched


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
