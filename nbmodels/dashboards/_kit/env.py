"""Where the dashboards are shown: JupyterLab (live FigureWidgets) or Colab (display handles).

Colab renders third-party widgets (plotly's FigureWidget among them) only once its custom
widget manager is enabled, and even then a FigureWidget created, displayed and updated in
one cell does not redraw; a `go.Figure` re-sent through an IPython display handle does. So in Colab charts default to "display" mode.
"""

from __future__ import annotations

import os
import sys

from nbmodels.checks import check_choice

CHART_MODES = ("auto", "widget", "display")
MODE_ENV = "NBMODELS_CHARTS"  # overrides "auto": widget | display

_chosen = "auto"
_colab_enabled = False


def in_colab() -> bool:
    """Whether this kernel runs in Google Colab (its runtime has imported `google.colab`)."""
    return "google.colab" in sys.modules


def enable_colab_widgets() -> bool:
    """In Colab, turn on the custom widget manager once (needed for ipywidgets 8 / anywidget
    widgets); elsewhere do nothing. Returns whether it is on."""
    global _colab_enabled
    if _colab_enabled or not in_colab():
        return _colab_enabled
    try:
        from google.colab import output  # type: ignore[import-not-found]

        output.enable_custom_widget_manager()
        _colab_enabled = True
    except (ImportError, AttributeError):  # an old or unusual runtime: charts still work as display
        pass
    return _colab_enabled


def use_charts(mode: str = "auto") -> None:
    """Choose how dashboards draw charts from now on.

    Args:
        mode: `"widget"` (plotly FigureWidget, updated in place), `"display"` (a `go.Figure`
            re-sent through a display handle; works wherever rich output does) or `"auto"`
            (display in Colab, widget elsewhere).

    Example:
    >>> from nbmodels.dashboards import chart_mode, use_charts
    >>> use_charts("display"); chart_mode()
    'display'
    >>> use_charts("auto")
    """
    global _chosen
    _chosen = check_choice("use_charts", "mode", mode, CHART_MODES)


def chart_mode() -> str:
    """The chart mode new charts get: "widget" or "display"."""
    mode = _chosen if _chosen != "auto" else os.environ.get(MODE_ENV, "auto")
    if mode in ("widget", "display"):
        return mode
    return "display" if in_colab() else "widget"
