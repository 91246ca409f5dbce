"""The hub every part observes: a `Run`, the run-directory format it persists to, and how runs
are described in text (`formatting`). Imports nothing that trains (no TensorFlow, no Keras, no
`nbmodels.training`): the CLI and the Jupyter server read runs through this package alone, and
the trainer writes a Run through its public methods (see `nbmodels.runs.run`).
"""

from nbmodels.runs.rundir import RunBusyError
from nbmodels.runs.run import Run, list_runs, request_stop

__all__ = ["Run", "RunBusyError", "list_runs", "request_stop"]
