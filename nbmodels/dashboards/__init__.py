"""Dashboards: ipywidgets + plotly views of Runs and models. Views only: every number they show
comes from a plain function in this package's private modules, tested without a browser.

Importing this package is cheap; ipywidgets and plotly load with the first dashboard.

- `MetricsPanel(run)`: live charts of a run (loss, metrics, validation, learning rate,
  throughput, ETA, memory).
- `TrainingDashboard()`: a TrainConfig form, devices, a recipe picker and Start/Stop/Resume,
  with a MetricsPanel.
- `AttentionExplorer(model, text or image)`: attention heatmaps per layer and head, all heads
  at a glance, where one token attends, and attention rollout; for a ViT and an image, the
  attention laid over the image, the query patch picked by clicking it.
- `EvaluationView(model, data)`: a classifier's confusion matrix (click a cell: its images with
  their top predictions, most confident first), the per-class table, linked by one selection.
- `GradCAMView(model, images)`: where a convnet looked, per image, class and conv layer.
- `DatasetPreview(data, augment)`: a grid of samples, each next to its augmented version.
- `RecommenderExplorer(model, data)`: a user's history and top-K (seen items left out) with the
  history items behind each recommendation, an item's nearest items, and a map of the item
  embeddings linked to both by one selection.
- `GenerationPlayground(model)`: a prompt, sampler controls and streaming output, each token
  coloured by its probability with its top alternatives; Stop.
- `use_charts(mode)`: FigureWidget ("widget") or display-handle ("display") charts; "auto"
  picks display in Colab.
"""

from nbmodels._lazy import lazy_attributes

_LAZY = {
    "MetricsPanel": "nbmodels.dashboards.metrics",
    "TrainingDashboard": "nbmodels.dashboards.training",
    "ConfigForm": "nbmodels.dashboards.training",
    "AttentionExplorer": "nbmodels.dashboards.attention",
    "GenerationPlayground": "nbmodels.dashboards.generation",
    "EvaluationView": "nbmodels.dashboards.evaluation",
    "DatasetPreview": "nbmodels.dashboards.preview",
    "GradCAMView": "nbmodels.dashboards.gradcam",
    "RecommenderExplorer": "nbmodels.dashboards.recommender",
    "Chart": "nbmodels.dashboards._kit.chart",
    "use_charts": "nbmodels.dashboards._kit.env",
    "chart_mode": "nbmodels.dashboards._kit.env",
    "in_colab": "nbmodels.dashboards._kit.env",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
