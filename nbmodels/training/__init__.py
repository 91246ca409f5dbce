"""Training runtime: config -> strategy and precision -> train() -> Run -> run directory.

`Run` and the run-directory helpers are light (no TensorFlow); `train` loads Keras when used.
"""

from nbmodels.runs.run import Run, list_runs

__all__ = ["Run", "list_runs", "train"]


def __getattr__(name):
    if name == "train":
        from nbmodels.training.loop import train

        return train
    raise AttributeError(f"module 'nbmodels.training' has no attribute {name!r}")
