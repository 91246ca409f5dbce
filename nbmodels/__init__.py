"""nbmodels: Keras 3 models for notebooks, and the dashboards that watch them train.

`import nbmodels` stays light: Keras, TensorFlow, plotly and ipywidgets load only when a part
that needs them is first used.

Example:
>>> import nbmodels
>>> nbmodels.TrainConfig(epochs=3).epochs
3
"""

from nbmodels import _startup_log
from nbmodels._lazy import lazy_attributes

# Keep TensorFlow's start-up log (CPU-only "cuda drivers"/cuInit lines) out of notebook outputs;
# real errors written while it loads still reach stderr.
_startup_log.install()

__version__ = "0.1.0"

# public name -> module it lives in; loaded on first access
_LAZY = {
    "TrainConfig": "nbmodels.config",
    "ConfigError": "nbmodels.checks",
    "Run": "nbmodels.runs",
    "list_runs": "nbmodels.runs",
    "RunBusyError": "nbmodels.runs",
    "train": "nbmodels.training.loop",
    "resume": "nbmodels.training.loop",
    "FineTune": "nbmodels.training.fine_tune",
    "devices": "nbmodels.devices",
    "Device": "nbmodels.devices",
    "data": "nbmodels.data",
    "recipes": "nbmodels.recipes",
    "generation": "nbmodels.generation",
    "dashboards": "nbmodels.dashboards",
    "MetricsPanel": "nbmodels.dashboards.metrics",
    "TrainingDashboard": "nbmodels.dashboards.training",
    "AttentionExplorer": "nbmodels.dashboards.attention",
    "GenerationPlayground": "nbmodels.dashboards.generation",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
