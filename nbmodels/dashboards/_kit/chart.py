"""`Chart`: the one plotly figure abstraction every dashboard draws through.

A dashboard describes what a chart shows as a list of trace dicts (each with a unique
"name") and an optional layout patch, and calls `chart.draw(traces, layout)`; it never
touches plotly objects itself. The chart applies that in one batched update:

- "widget" mode (JupyterLab, VS Code, classic Notebook): a plotly `FigureWidget` mutated in
  place inside `batch_update()`, so one redraw is one comm message however many traces change.
- "display" mode (Colab, or `use_charts("display")`): a `go.Figure` shown with an IPython
  display id and re-sent with `update_display`, which redraws in place wherever rich output
  works, also from the cell that created it and from a background thread.

Callers throttle; `draw` itself is cheap to call but sends what it is given.
"""

from __future__ import annotations

import json
import threading
import uuid

import numpy as np

from nbmodels.checks import check_choice
from nbmodels.dashboards._kit.env import chart_mode, enable_colab_widgets


class Chart:
    """A plotly figure shown live as a FigureWidget or through a display handle.

    Args:
        figure: the initial `go.Figure` (layout, subplots); traces are added by `draw`.
        mode: `"widget"` or `"display"`; default from `nbmodels.dashboards.chart_mode()`.

    Example:
    >>> import plotly.graph_objects as go
    >>> from nbmodels.dashboards import Chart
    >>> chart = Chart(go.Figure(), mode="display")
    >>> chart.draw([{"name": "loss", "type": "scatter", "x": [1, 2], "y": [0.9, 0.5]}])
    >>> [trace.name for trace in chart.figure.data], list(chart.figure.data[0].y)
    (['loss'], [0.9, 0.5])
    """

    def __init__(self, figure, mode: str | None = None):
        import plotly.graph_objects as go

        self.mode = check_choice("Chart", "mode", mode or chart_mode(), ("widget", "display"))
        enable_colab_widgets()
        self.figure = go.FigureWidget(figure) if self.mode == "widget" else go.Figure(figure)
        if self.mode == "widget":
            # Fill the output area and follow it when the window resizes: without plotly's
            # `responsive` config (which FigureWidget takes only through `_config`) the widget
            # draws at plotly's default 700 px and overflows a narrow notebook.
            self.figure._config = {**self.figure._config, "responsive": True}
            self.figure.layout.autosize = True
        self.draws = 0  # redraws sent so far (tests and benchmarks read it)
        self._index: dict[str, int] = {trace.name: i for i, trace in enumerate(self.figure.data)}
        self._sent: dict[str, dict] = {}  # per trace, the properties as last set
        self._sent_layout: dict = {}  # the layout properties as last set
        self._lock = threading.Lock()  # draws come from the kernel thread, timers and training threads
        self._display_id = uuid.uuid4().hex  # lives in the message's transient part, never in the notebook
        self._shown = False

    @property
    def view(self):
        """The widget to place in a dashboard's layout; None in display mode (see `show`)."""
        return self.figure if self.mode == "widget" else None

    def draw(self, traces: list[dict], layout: dict | None = None) -> None:
        """Set these traces' data (adding traces not seen before) and replace the given layout
        properties (names or dotted paths such as "yaxis3.visible"), in one update."""
        with self._lock:
            new = [t for t in traces if t["name"] not in self._index]
            if new:
                self.figure.add_traces(new)  # plotly refuses add_traces inside batch_update
                for trace in new:
                    self._index[trace["name"]] = len(self._index)
                    self._sent[trace["name"]] = dict(trace)
            added = {id(t) for t in new}
            changed = [t for t in traces if id(t) not in added]
            if self.mode == "widget":
                with self.figure.batch_update():
                    self._apply(changed, layout)
            else:
                self._apply(changed, layout)
                if self._shown:
                    from IPython.display import update_display

                    update_display(self._bundle(), raw=True, display_id=self._display_id)
            self.draws += 1

    def _apply(self, traces, layout) -> None:
        # Only properties that changed since the last draw are set: plotly validates every
        # assignment through its property tree, which costs far more than comparing (a redraw of
        # unchanged styles would hold the GIL for tens of milliseconds against the training loop).
        for trace in traces:
            target = self.figure.data[self._index[trace["name"]]]
            sent = self._sent.setdefault(trace["name"], {})
            for key, value in trace.items():
                if key in ("type", "name") or _same(sent.get(key, _UNSET), value):
                    continue
                target[key] = value
                sent[key] = value
        for key, value in (layout or {}).items():
            if _same(self._sent_layout.get(key, _UNSET), value):
                continue
            # Replace, not merge: update_layout(shapes=[]) would keep the old shapes.
            self.figure.layout[key] = value
            self._sent_layout[key] = value

    def show(self) -> None:
        """Display mode: show the figure under this chart's display id (later draws update it)."""
        if self.mode != "display":
            return
        from IPython.display import display

        with self._lock:
            display(self._bundle(), raw=True, display_id=self._display_id)
            self._shown = True

    def _bundle(self) -> dict:
        """The figure as plotly's mimetype (JupyterLab, VS Code) and as HTML loading plotly.js
        from its CDN (Colab, which renders HTML outputs). Built here rather than by displaying
        the figure: plotly's own show() drops the display id and depends on its renderer guess."""
        import plotly.io as pio

        spec = json.loads(pio.to_json(self.figure, validate=False))  # arrays as base64 "bdata"
        names = ", ".join(trace.name or trace.type for trace in self.figure.data)
        return {
            "application/vnd.plotly.v1+json": {**spec, "config": {"responsive": True}},
            "text/html": pio.to_html(self.figure, include_plotlyjs="cdn", full_html=False, validate=False),
            "text/plain": f"<plotly figure: {names}>",
        }


_UNSET = object()


def _same(old, new) -> bool:
    """Whether a trace property is unchanged (arrays compared by value)."""
    if old is _UNSET:
        return False
    if isinstance(old, np.ndarray) or isinstance(new, np.ndarray):
        return isinstance(old, np.ndarray) and isinstance(new, np.ndarray) and old.shape == new.shape and bool(
            np.array_equal(old, new))
    return old == new
