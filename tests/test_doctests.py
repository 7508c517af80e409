"""The examples in docstrings run."""

import doctest
import importlib

import pytest

MODULES = ["nblib.engine.artifacts", "nblib.engine.params", "nblib.ml.datasets", "nblib.ml.features",
           "nblib.ml.evaluate", "nblib.ml.leaks", "nblib.tracking", "nblib.ml.scoring", "nblib.ml.next_steps",
           "nblib.ml.labels"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
