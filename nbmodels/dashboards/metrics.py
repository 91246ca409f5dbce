"""`MetricsPanel(run)`: live plotly charts of a Run, redrawn at a bounded rate."""

from __future__ import annotations

import html
import threading

import ipywidgets as widgets

from nbmodels.dashboards._kit.chart import Chart
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay, table_html
from nbmodels.dashboards._kit.throttle import Throttle
from nbmodels.dashboards._series import (
    PANELS,
    RunSeries,
    legend_layout,
    metrics_figure_layout,
    metrics_layout,
    metrics_traces,
    snapshot_rows,
    summary_line,
)
from nbmodels.runs.formatting import status_line
from nbmodels.runs.rundir import WAITING


class MetricsPanel(SnapshotDisplay, widgets.VBox):
    """Loss and metrics per batch (raw and smoothed) with per-epoch validation, learning rate,
    throughput, ETA and device memory of a `Run`, live.

    The panel observes the Run; it never drives training. Each batch of new events (the
    training callback flushes about twice a second) asks for a redraw, and redraws are
    throttled to one per `interval` seconds, each one batched update of one figure, so a fast
    training loop is not slowed. It works on a live run, replays a finished one, and follows
    a run loaded with `Run.load(id)` that another process is still writing (it polls
    `run.refresh()` every `poll` seconds until the run ends).

    Args:
        run: the `Run` to show; `None` for an empty panel (see `set_run`).
        interval: seconds between redraws at most.
        smoothing: EMA weight of the smoothed curves, in [0, 1).
        max_points: points per curve at most: longer curves are thinned for drawing (600 is
            more than a chart is pixels wide, and keeps each redraw's message small).
        poll: seconds between `run.refresh()` calls for a run written by another process.
        mode: chart mode, `"widget"` or `"display"` (default: `nbmodels.dashboards.chart_mode()`).

    Example:
    >>> import tempfile
    >>> from nbmodels import Run, TrainConfig
    >>> from nbmodels.dashboards import MetricsPanel
    >>> run = Run.create(TrainConfig(steps=2), name="demo", root=tempfile.mkdtemp())
    >>> run.record([{"type": "step", "step": 1, "epoch": 0.5, "metrics": {"loss": 0.7}}])
    >>> panel = MetricsPanel(run)
    >>> panel.summary()
    "MetricsPanel: run 'demo' created at step 1, loss=0.7"
    >>> [t.name for t in panel.figure.data]
    ['loss', 'loss (smoothed)']
    >>> panel.close()
    """

    def __init__(self, run=None, *, interval: float = 0.5, smoothing: float = 0.9, max_points: int = 600,
                 poll: float = 1.0, mode: str | None = None, **kwargs):
        super().__init__(**kwargs)
        from plotly.subplots import make_subplots

        figure = make_subplots(**metrics_figure_layout())
        figure.update_layout(**legend_layout([]), template="plotly_white")
        figure.update_xaxes(title_text="step", row=3)
        # One step axis for all six charts: each covers the whole run, and zooming one zooms all.
        figure.update_xaxes(matches="x")
        figure.layout.xaxis.matches = None
        self._titles = [annotation.to_plotly_json() for annotation in figure.layout.annotations]
        self._domains = {panel: (tuple(figure.layout["xaxis" + axis].domain), tuple(figure.layout["yaxis" + axis].domain))
                         for panel, (_title, axis) in PANELS.items()}
        self._chart = Chart(figure, mode=mode)
        self.charts = (self._chart,)
        self._header = widgets.HTML()
        self.children = [self._header] + ([self._chart.view] if self._chart.view is not None else [])
        self._series = RunSeries(smoothing)
        self._max_points = max_points
        self._poll = poll
        self._lock = threading.RLock()  # one redraw at a time: the kernel, timer and training threads all ask
        self._throttle = Throttle(self.redraw, interval)
        self._poller: tuple[threading.Thread, threading.Event] | None = None
        self.run = None
        self.set_run(run)

    @property
    def figure(self):
        """The plotly figure (a FigureWidget in widget mode) as last drawn."""
        return self._chart.figure

    @property
    def redraws(self) -> int:
        return self._chart.draws

    def set_run(self, run) -> None:
        """Show another run (or none); the charts start over from its history."""
        with self._lock:
            self._detach()
            self.run = run
            self._series.reset()
            if run is not None:
                run.observe(self._changed, names=["events_count", "status"])
                self._observed = run
                if run.status in WAITING and run.job is None:  # written by another process
                    self._start_polling(run)
            self.redraw()
        self.refresh_snapshot()

    def redraw(self) -> None:
        """Bring the charts and the header up to date with the run, now."""
        with self._lock:
            run = self.run
            if run is not None:
                self._series.update(run)
            traces = metrics_traces(self._series, self._max_points)
            fine_tune = self._series.fine_tune
            layout = metrics_layout(traces, started=self._series.last_step is not None, domains=self._domains,
                                    fine_tune_step=fine_tune[0] if fine_tune else None)
            layout["annotations"] = self._titles + layout["annotations"]
            self._chart.draw(traces, layout)
            self._header.value = "<div style='font-family:monospace'>{}</div>".format(
                html.escape(status_line(run) if run is not None else "no run yet"))

    def _changed(self, change) -> None:
        run = change["owner"]
        if run.status in WAITING:
            self._throttle()
            return
        # The run ended: draw its final state now (no timer left behind), and leave it in
        # the saved notebook.
        self._throttle.cancel()
        self.redraw()
        if change["name"] == "status":
            self.refresh_snapshot()

    # ---- a run written by another process ------------------------------------------------

    def _start_polling(self, run) -> None:
        stop = threading.Event()

        def poll():
            while not stop.wait(self._poll):
                run.refresh()  # new events notify _changed like a local run's do
                if run.status not in WAITING:
                    return

        thread = threading.Thread(target=poll, name=f"nbmodels-panel-{run.id}", daemon=True)
        self._poller = (thread, stop)
        thread.start()

    def _detach(self) -> None:
        self._throttle.cancel()
        if self._poller is not None:
            self._poller[1].set()
            self._poller = None
        observed, self._observed = getattr(self, "_observed", None), None
        if observed is not None:  # close() may come twice: explicitly and from __del__
            observed.unobserve(self._changed, names=["events_count", "status"])

    def close(self) -> None:
        """Stop observing the run and close the widgets."""
        with self._lock:
            self._detach()
        if self._chart.view is not None:
            self._chart.view.close()
        self._header.close()
        super().close()

    # ---- outputs that survive ------------------------------------------------------------

    def summary(self) -> str:
        return summary_line("MetricsPanel", self.run)

    def snapshot_html(self) -> str:
        with self._lock:
            if self.run is None:
                return table_html([], title=self.summary())
            self._series.update(self.run)
            return table_html(snapshot_rows(self.run, self._series), title=f"MetricsPanel — run {self.run.name!r}")
