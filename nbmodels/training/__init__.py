"""Training runtime: config -> strategy and precision -> train() / resume() -> Run -> run directory.

`Run` and the run-directory helpers are light (no TensorFlow); `train` and `resume` load Keras
when first used.
"""

from nbmodels._lazy import lazy_attributes
from nbmodels.runs.run import Run, list_runs

_LAZY = {"train": "nbmodels.training.loop", "resume": "nbmodels.training.loop",
         "FineTune": "nbmodels.training.fine_tune"}

__all__ = ["FineTune", "Run", "list_runs", "resume", "train"]

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
