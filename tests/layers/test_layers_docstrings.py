"""The runnable examples in the layers' docstrings run."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["nbmodels.layers.attention", "nbmodels.layers.transformer", "nbmodels.layers.embeddings",
               "nbmodels.layers.patches"]
)
def test_layer_docstring_examples(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
