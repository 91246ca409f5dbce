"""The runnable examples in public docstrings run."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module", ["nbmodels", "nbmodels.config", "nbmodels.runs.run", "nbmodels.training.loop", "nbmodels.models.mlp"]
)
def test_docstring_examples(module, runs_root):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
