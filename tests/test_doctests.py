"""The examples in docstrings run."""

import doctest
import importlib

import pytest

MODULES = ["nblib.engine.artifacts", "nblib.engine.params", "nblib.ml.data.datasets", "nblib.ml.features.encoders",
           "nblib.ml.evaluation.metrics", "nblib.ml.data.leaks", "nblib.tracking", "nblib.ml.evaluation.scoring", "nblib.ml.evaluation.next_steps",
           "nblib.ml.data.labels"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
