"""What the MetricsPanel shows, as plain data: chart series built from a Run's events,
EMA smoothing, downsampling, axis ranges and placeholders, and the panel's snapshot rows (its text lines come from `nbmodels.runs.formatting`).

Every curve has a point per recorded step, as the loss has: the learning rate comes from the
run's schedule (a function of the step), throughput and time left from the time each step
event carries. Device memory is measured only when the training callback flushes (a few
times a second), so its curve holds each reading until the next one.

Nothing here imports plotly or ipywidgets; tests call it directly.

Example:
>>> from nbmodels.dashboards._series import RunSeries, smooth
>>> smooth([1.0, 0.0, 0.0], weight=0.5)
[1.0, 0.3333333333333333, 0.14285714285714285]
>>> series = RunSeries(smoothing=0.0)
>>> series.add({"type": "step", "step": 1, "metrics": {"loss": 2.0}})
>>> series.add({"type": "validation", "step": 1, "metrics": {"val_loss": 2.5}})
>>> series.metrics["loss"].y, series.validation["val_loss"].y
([2.0], [2.5])
"""

from __future__ import annotations

import math

import numpy as np

from nbmodels.checks import check_rate
from nbmodels.runs.formatting import format_value, progress_text, run_line, status_text

# plotly's default colorway, so a metric keeps its colour across the raw, smoothed and
# validation traces.
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52")

# (title, axis suffix) of the panel's subplots, in make_subplots order (3 rows x 2 columns).
PANELS = {
    "loss": ("loss", ""),
    "metrics": ("metrics", "2"),
    "learning_rate": ("learning rate", "3"),
    "throughput": ("throughput (samples/s)", "4"),
    "memory": ("device memory (MiB)", "5"),
    "eta": ("time left (s)", "6"),
}
MIB = 1024 * 1024


class Line:
    """One series: parallel lists of steps and values."""

    __slots__ = ("x", "y")

    def __init__(self):
        self.x: list[float] = []
        self.y: list[float] = []

    def append(self, x, y) -> None:
        self.x.append(x)
        self.y.append(y)

    def __len__(self) -> int:
        return len(self.x)


def smooth(values, weight: float = 0.9) -> list[float]:
    """Debiased exponential moving average (TensorBoard's smoothing); non-finite values are
    skipped so one NaN does not erase the curve."""
    ema, out = _Ema(weight), []
    for value in values:
        out.append(ema.add(value))
    return out


class _Ema:
    __slots__ = ("weight", "total", "count", "value")

    def __init__(self, weight: float):
        self.weight, self.total, self.count, self.value = weight, 0.0, 0, math.nan

    def add(self, value: float) -> float:
        if math.isfinite(value):
            self.total = self.weight * self.total + (1 - self.weight) * value
            self.count += 1
            # Without the debiasing the curve would start near 0: the average starts at 0.
            self.value = self.total / (1 - self.weight**self.count) if self.weight else self.total
        return self.value


def downsample(x: list, y: list, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about `max_points` evenly strided points, always keeping the last one.

    A chart cannot show more points than it has pixels, and plotly sends whole arrays on
    every update, so a long run is thinned before it is drawn (the smoothing sees all points).
    """
    n = len(x)
    stride = max(1, math.ceil(n / max_points))
    xs, ys = x[::stride], y[::stride]
    if n and (n - 1) % stride:
        xs, ys = xs + x[-1:], ys + y[-1:]
    # float64 arrays travel as binary buffers in widget messages, not as JSON lists.
    return np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)


class RunSeries:
    """A Run's chart data, extended incrementally from `run.events`.

    `update(run)` reads only the events added since the last call; a resume that rewound the
    run (new event list) rebuilds from the start.

    Args:
        smoothing: EMA weight for the smoothed per-batch curves, in [0, 1); 0 = no smoothing.
    """

    def __init__(self, smoothing: float = 0.9):
        self.smoothing = check_rate("RunSeries", "smoothing", smoothing)
        self.config = None  # the run's TrainConfig: its schedule and batch size
        self.reset()

    def reset(self) -> None:
        self.metrics: dict[str, Line] = {}  # per batch
        self.smoothed: dict[str, Line] = {}
        self.validation: dict[str, Line] = {}
        self.per_step: dict[str, Line] = {}  # learning_rate, samples_per_second, eta_seconds
        self.progress: dict[str, Line] = {}  # what progress events measured: memory, peak_memory, ...
        self.last_step: float | None = None
        # (step, learning rate) of a fine-tuning switch (`nbmodels.training.FineTune`): after it
        # the run trains at that constant rate, not on the config's schedule.
        self.fine_tune: tuple[float, float] | None = None
        self._emas: dict[str, _Ema] = {}
        self._total_steps: int | None = None
        self._speed = _Ema(self.smoothing)  # steps per second
        self._anchor: tuple[float, float] | None = None  # (step, time) the next speed is measured from
        self._source: list | None = None
        self._seen = 0

    def update(self, run) -> int:
        """Take in the run's new events; returns how many."""
        events = run.events  # read once: a resume in another thread may replace the list
        if events is not self._source or len(events) < self._seen:
            self.reset()
            self._source = events
        self.config = getattr(run, "config", None)
        new = events[self._seen :]
        self._seen += len(new)
        for event in new:
            self.add(event)
        return len(new)

    def add(self, event: dict) -> None:
        kind, step = event.get("type"), event.get("step")
        if not isinstance(step, (int, float)):
            return
        if kind == "start":
            total = event.get("total_steps")
            self._total_steps = total if isinstance(total, int) and total > 0 else None
            self._anchor = None  # the first step after a (re)start includes tracing and compiling
        elif kind == "step":
            self.last_step = step
            self._add_per_step(step, event.get("time"))
            for name, value in (event.get("metrics") or {}).items():
                if isinstance(value, (int, float)):
                    self._line(self.metrics, name).append(step, float(value))
                    ema = self._emas.setdefault(name, _Ema(self.smoothing))
                    self._line(self.smoothed, name).append(step, ema.add(float(value)))
        elif kind == "fine_tune":
            rate = event.get("learning_rate")
            self.fine_tune = (step, float(rate)) if isinstance(rate, (int, float)) else None
        elif kind == "validation":
            for name, value in (event.get("metrics") or {}).items():
                if isinstance(value, (int, float)):
                    self._line(self.validation, name).append(step, float(value))
        elif kind == "progress":
            values = {k: event.get(k) for k in ("learning_rate", "samples_per_second", "tokens_per_second", "eta_seconds")}
            memory = event.get("memory") if isinstance(event.get("memory"), dict) else {}
            values["memory"] = memory.get("current_bytes")
            values["peak_memory"] = memory.get("peak_bytes")
            for name, value in values.items():
                if isinstance(value, (int, float)):
                    self._line(self.progress, name).append(step, float(value))

    def _add_per_step(self, step, when) -> None:
        """The learning rate, throughput and time left at this step."""
        config, total = self.config, self._total_steps
        if self.fine_tune is not None and step > self.fine_tune[0]:
            self._line(self.per_step, "learning_rate").append(step, self.fine_tune[1])
        elif config is not None and total is not None:
            self._line(self.per_step, "learning_rate").append(step, learning_rate_at(config, total, step))
        if not isinstance(when, (int, float)):
            return
        if self._anchor is None:
            self._anchor = (step, when)
            return
        last_step, last_time = self._anchor
        if when <= last_time or step <= last_step:
            return  # stamped with the same flush time (runs recorded before steps had their own)
        self._anchor = (step, when)
        steps_per_second = self._speed.add((step - last_step) / (when - last_time))
        batch_size = getattr(config, "batch_size", None)
        if batch_size:
            self._line(self.per_step, "samples_per_second").append(step, steps_per_second * batch_size)
        if total is not None:
            self._line(self.per_step, "eta_seconds").append(step, max(0, total - step) / steps_per_second)

    def curve(self, name: str) -> Line | None:
        """The per-step curve of `name` where the events allow one, else what progress events
        measured (runs recorded before steps carried their time), else None."""
        return self.per_step.get(name) or self.progress.get(name) or None

    @staticmethod
    def _line(lines: dict, name: str) -> Line:
        line = lines.get(name)
        if line is None:
            line = lines[name] = Line()
        return line


def learning_rate_at(config, total_steps: int, step: int) -> float:
    """The learning rate training step `step` (counted from 1) of a `total_steps`-step run
    used, under `config`'s schedule.

    This is the schedule `nbmodels.training.optimizer.learning_rate` gives Keras, in plain
    Python so a view needs no TensorFlow; a test holds the two equal. Keras evaluates it at
    the optimizer's batch counter before the update, `step - 1`, also under gradient
    accumulation, and the schedule's lengths count batches too.
    """
    peak = config.learning_rate
    if config.lr_schedule == "constant":
        return peak
    total_steps = max(1, total_steps)
    warmup = config.warmup_steps if config.lr_schedule == "warmup_cosine" else 0
    decay_steps = max(1, total_steps - warmup) if config.lr_schedule == "warmup_cosine" else total_steps
    done = min(step - 1, decay_steps + warmup)
    if done < warmup:
        return peak * done / warmup
    alpha = config.min_lr_ratio
    return peak * ((1 - alpha) * 0.5 * (1 + math.cos(math.pi * (done - warmup) / decay_steps)) + alpha)


def metrics_traces(series: RunSeries, max_points: int = 2000) -> list[dict]:
    """The MetricsPanel's traces (plotly trace dicts with unique names) for this data.

    Loss goes to the first subplot, every other metric to the second (per batch faint,
    smoothed solid, validation as markers), then learning rate, throughput, memory and ETA.
    """
    traces = []
    names = sorted(set(series.metrics) | {_train_name(v) for v in series.validation})
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}

    def add(name, line, panel, color, scale=1.0, legend=False, hold_until=None, **style):
        x, y = downsample(line.x, line.y, max_points)
        if hold_until is not None and len(x) and x[-1] < hold_until:  # a reading holds until the next one
            x, y = np.append(x, hold_until), np.append(y, y[-1])
        axis = PANELS[panel][1]
        traces.append({"name": name, "type": "scatter", "x": x, "y": y / scale if scale != 1.0 else y,
                       "xaxis": "x" + axis, "yaxis": "y" + axis, "legendgroup": name.split(" ")[0],
                       "showlegend": legend, "line": {"color": color, "width": style.pop("width", 1.5),
                                                      **({"dash": style.pop("dash")} if "dash" in style else {})},
                       **style})

    for name in names:
        panel = "loss" if name == "loss" else "metrics"
        if name in series.metrics:
            add(name, series.metrics[name], panel, colors[name], mode="lines", opacity=0.3, width=1)
            add(f"{name} (smoothed)", series.smoothed[name], panel, colors[name], legend=True, mode="lines")
        validation = series.validation.get(f"val_{name}")
        if validation is not None:
            add(f"val_{name}", validation, panel, colors[name], legend=True, mode="lines+markers",
                marker={"symbol": "diamond", "size": 7}, width=1)
    for name, panel, scale in (("learning_rate", "learning_rate", 1.0), ("samples_per_second", "throughput", 1.0),
                               ("memory", "memory", MIB), ("peak_memory", "memory", MIB),
                               ("eta_seconds", "eta", 1.0)):
        line = series.curve(name)
        if line is None:
            continue
        measured = panel == "memory"  # only at flushes: each reading holds until the next
        add(name, line, panel, "#7f7f7f" if name == "peak_memory" else "#2a3f5f", scale=scale, mode="lines",
            **({"hold_until": series.last_step, "line_shape": "hv"} if measured else {}),
            **({"dash": "dot"} if name == "peak_memory" else {}))
    return traces


# The figure's plot area and the legend above it. The legend is horizontal and wraps into rows;
# plotly does not make room for them, so each draw sets the top margin (and the height, keeping
# the plot area) for the rows its legend needs at the width a notebook usually gives a chart.
PLOT_AREA_HEIGHT = 640  # px, the six subplots and their spacing
BOTTOM_MARGIN = 30
LEGEND_ROW_HEIGHT = 21  # px at plotly's 12 px legend font
LEGEND_WIDTH = 900  # px a legend row gets in a typical notebook output area
TITLE_ROOM = 26  # px the top row's subplot titles take above the plot area


def legend_rows(names, width: int = LEGEND_WIDTH) -> int:
    """Rows a horizontal plotly legend needs for these entries: each is about 40 px of symbol
    and padding plus 7 px a character, packed left to right into rows `width` px wide.

    >>> legend_rows(["loss (smoothed)", "val_loss", "accuracy (smoothed)", "val_accuracy"])
    1
    >>> legend_rows([f"metric_{i}_at_10_in_batch (smoothed)" for i in range(7)])  # three to a row
    3
    """
    rows, used = 0, width
    for name in names:
        entry = 40 + 7 * len(name)
        if used + entry > width:
            rows, used = rows + 1, 0
        used += entry
    return max(rows, 1)


def legend_layout(traces: list[dict]) -> dict:
    """The legend above the subplot titles, and the top margin and height that make room for its rows."""
    rows = legend_rows([t["name"] for t in traces if t.get("showlegend")])
    top = TITLE_ROOM + rows * LEGEND_ROW_HEIGHT + 8
    return {"margin": {"l": 50, "r": 20, "t": top, "b": BOTTOM_MARGIN},
            "height": PLOT_AREA_HEIGHT + top + BOTTOM_MARGIN,
            "legend": {"orientation": "h", "xanchor": "left", "x": 0, "yanchor": "bottom",
                       "y": 1 + TITLE_ROOM / PLOT_AREA_HEIGHT}}


WAITING_TEXT = "waiting for the first step"
EMPTY_TEXT = "nothing recorded"


def metrics_layout(traces: list[dict], started: bool, domains: dict[str, tuple], fine_tune_step=None) -> dict:
    """The layout properties the panel sets with each draw (dotted plotly paths), for these
    traces: per subplot, a y range fitted to its data, and for a subplot without data a
    placeholder text instead of empty axes.

    Plotly's autorange gives a constant series the range value ± 1 (a learning rate of 1e-3
    becomes a flat line at "0"), and `autorangeoptions.include` can only widen a range, so
    each y axis's autorange is held to its data's range padded by 5% of the span, and at
    least 5% of the value (autorange, not a fixed range, so zooming and its reset still work).
    The placeholders sit at the centre of each subplot's `domains` entry ((x0, x1), (y0, y1)
    in paper coordinates: plotly.js lays out no axes for a subplot without traces). The panel
    adds the "annotations" returned here to the subplot titles; the legend gets the room its rows
    need above them (`legend_layout`). A fine-tuning switch at
    `fine_tune_step` is a dashed vertical line on the loss, metrics and learning-rate subplots.
    """
    layout, annotations = {}, []
    layout["shapes"] = [] if fine_tune_step is None else [
        {"type": "line", "xref": f"x{axis}", "yref": f"y{axis} domain", "x0": fine_tune_step, "x1": fine_tune_step,
         "y0": 0, "y1": 1, "line": {"dash": "dash", "color": "#7f7f7f", "width": 1}, "name": "fine_tune"}
        for axis in ("", "2", "3")
    ]
    for panel, (_title, axis) in PANELS.items():
        values = [np.asarray(t["y"], dtype=np.float64) for t in traces if t["yaxis"] == "y" + axis]
        values = np.concatenate(values) if values else np.zeros(0)
        values = values[np.isfinite(values)]
        layout[f"xaxis{axis}.visible"] = layout[f"yaxis{axis}.visible"] = bool(values.size)
        if values.size:
            low, high = float(values.min()), float(values.max())
            pad = max(0.05 * (high - low), 0.05 * abs(high + low) / 2) or 1.0
            low, high = low - pad, high + pad
            layout[f"yaxis{axis}.autorangeoptions"] = {"minallowed": low, "maxallowed": high, "include": [low, high]}
        else:
            (x0, x1), (y0, y1) = domains[panel]
            annotations.append({"text": EMPTY_TEXT if started else WAITING_TEXT, "showarrow": False,
                                "xref": "paper", "yref": "paper", "x": (x0 + x1) / 2, "y": (y0 + y1) / 2,
                                "xanchor": "center", "yanchor": "middle",
                                "font": {"color": "#7f7f7f", "size": 13}})
    layout["annotations"] = annotations
    layout.update(legend_layout(traces))
    return layout


def metrics_figure_layout() -> dict:
    """The panel figure's layout (3 x 2 subplots), as `plotly.subplots.make_subplots` arguments."""
    return {
        "rows": 3,
        "cols": 2,
        "subplot_titles": [title for title, _ in PANELS.values()],
        "vertical_spacing": 0.09,
        "horizontal_spacing": 0.08,
    }


def _train_name(validation_name: str) -> str:
    return validation_name[4:] if validation_name.startswith("val_") else validation_name


# ---- text ------------------------------------------------------------------------------


def summary_line(kind: str, run) -> str:
    """A dashboard's one-line text/plain for notebooks: stable, so nbval can compare it."""
    return f"{kind}: {run_line(run)}"


def snapshot_rows(run, series: RunSeries) -> list[tuple]:
    """The MetricsPanel's static snapshot: status, progress, and each recorded curve as a
    sparkline with its last value. Timings (speed, ETA, memory) are left out: they differ
    from run to run and would make saved notebooks differ."""
    from nbmodels.dashboards._kit.snapshot import sparkline_svg

    rows = [("status", status_text(run)), ("step", progress_text(run))]
    curves = [(f"{name} (smoothed)", series.smoothed[name]) for name in sorted(series.smoothed)]
    curves += [(name, series.validation[name]) for name in sorted(series.validation)]
    if series.curve("learning_rate") is not None:
        curves.append(("learning rate", series.curve("learning_rate")))
    for label, line in curves:
        if line:
            rows.append((label, format_value(line.y[-1]), sparkline_svg(line.y)))
    return rows
