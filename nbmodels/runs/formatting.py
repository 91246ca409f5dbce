"""How a run is described in text and HTML: the one place every view (the Run's own repr, the
foreground progress line, the dashboards, the CLI) takes its numbers, durations and lines from.

Plain functions of a Run's public traits (or of a `list_runs()` row), so each can be called
without a browser. The stable lines (`run_summary`, `run_line`) leave timings out: saved
notebooks compare them (nbval).

Example:
>>> from types import SimpleNamespace
>>> from nbmodels.runs.formatting import format_seconds, format_values, run_summary
>>> format_seconds(3725), format_seconds(59.6), format_seconds(None)
('1:02:05', '1:00', '?')
>>> format_values({"loss": 0.123456, "step": 3, "acc": 0.5})
'acc=0.5 loss=0.1235 step=3'
>>> run = SimpleNamespace(id="r1", name="demo", status="running", message="", step=5, total_steps=10,
...                       epoch=0.5, metrics={"loss": 2.0}, validation={})
>>> run_summary(run)
'Run r1 running step 5/10 loss=2'
"""

from __future__ import annotations

import html


def format_seconds(seconds: float | None) -> str:
    """A duration as "m:ss" or "h:mm:ss"; "?" for an unknown one (no ETA yet)."""
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_value(value) -> str:
    """A metric value: floats to 4 significant digits (enough to compare runs, short enough
    to read), anything else as it is."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_values(values: dict, separator: str = " ") -> str:
    """`name=value` pairs sorted by name, e.g. the latest metrics of a run."""
    return separator.join(f"{name}={format_value(value)}" for name, value in sorted(values.items()))


def latest_values(run) -> dict:
    """The latest training metrics together with the latest validation metrics."""
    return {**run.metrics, **run.validation}


def status_text(run) -> str:
    """The status, with its message when there is one ("stopped — stopped at step 5 ...")."""
    return run.status + (f" — {run.message}" if run.message else "")


def progress_text(run) -> str:
    """Where the run is: "step/total (epoch e)"; "?" for a total not known yet."""
    return f"{run.step}/{run.total_steps or '?'} (epoch {run.epoch:.2f})"


def format_speed(samples_per_second: float | None, tokens_per_second: float | None = None) -> str:
    """Throughput as "N samples/s" or "N samples/s (M tokens/s)"; "" while not measured."""
    if not samples_per_second:
        return ""
    speed = f"{samples_per_second:,.0f} samples/s"
    return speed + (f" ({tokens_per_second:,.0f} tokens/s)" if tokens_per_second else "")


def run_summary(run) -> str:
    """One line: id, status, step, latest metrics; stable for a finished run (`Run.summary`)."""
    total = f"/{run.total_steps}" if run.total_steps else ""
    values = format_values(latest_values(run))
    return f"Run {run.id} {run.status} step {run.step}{total}" + (f" {values}" if values else "")


def progress_line(run) -> str:
    """The foreground progress line printed outside notebooks: the summary, plus the ETA while
    the run is active."""
    line = run_summary(run)
    if run.active and run.eta_seconds is not None:
        line += f" ETA {format_seconds(run.eta_seconds)}"
    return line


def run_line(run) -> str:
    """A run in a stable line (no id, no timings): name, status, step, latest values; what the
    dashboards' text summaries end with."""
    if run is None:
        return "no run yet"
    total = f"/{run.total_steps}" if run.total_steps else ""
    values = format_values(latest_values(run), separator=", ")
    return f"run {run.name!r} {run.status} at step {run.step}{total}" + (f", {values}" if values else "")


def status_line(run) -> str:
    """A live header: status, progress, latest values, speed, ETA, device memory."""
    from nbmodels.devices import format_bytes  # light (no TensorFlow), but not needed by every reader

    parts = [status_text(run), f"step {progress_text(run)}"]
    parts += [f"{name} {format_value(value)}" for name, value in sorted(latest_values(run).items())]
    speed = format_speed(run.samples_per_second, run.tokens_per_second)
    if speed:
        parts.append(speed)
    if run.eta_seconds is not None and run.active:
        parts.append(f"ETA {format_seconds(run.eta_seconds)}")
    if run.memory.get("current_bytes") is not None:
        parts.append(f"{run.memory.get('device', '')} memory {format_bytes(run.memory['current_bytes'])}".strip())
    return " · ".join(parts)


def run_html(run) -> str:
    """The Run's notebook display: name, id, a progress bar and a table of the latest values."""
    fraction = run.step / run.total_steps if run.total_steps else 0.0
    rows = [("status", status_text(run)), ("step", progress_text(run))]
    rows += [(name, format_value(value)) for name, value in sorted(latest_values(run).items())]
    speed = format_speed(run.samples_per_second, run.tokens_per_second)
    if speed:
        rows.append(("speed", speed))
    if run.eta_seconds is not None and run.active:
        rows.append(("ETA", format_seconds(run.eta_seconds)))
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                   f"{html.escape(str(v))}</td></tr>" for k, v in rows)
    return (
        f"<div class='nbmodels-run'><b>{html.escape(run.name)}</b> <code>{html.escape(run.id)}</code>"
        f"<br><progress value='{fraction:.4f}' max='1' style='width:20em'></progress>"
        f"<table>{body}</table></div>"
    )


LIST_HEADER = f"{'ID':<40} {'STATUS':<12} {'STEP':>13}  METRICS"


def list_row(row: dict) -> str:
    """One row of `nbmodels runs list` (a `list_runs()` entry): id, status, step/total and the
    latest float metrics, in columns under `LIST_HEADER`."""
    metrics = format_values({k: v for k, v in row["metrics"].items() if isinstance(v, float)})
    return f"{row['id']:<40} {row['status']:<12} {row['step']:>6}/{row['total_steps']:<6}  {metrics}"

