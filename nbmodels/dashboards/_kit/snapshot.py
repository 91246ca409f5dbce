"""Outputs that survive: a static HTML snapshot and a stable text line for every dashboard.

A dashboard's display bundle holds the live widget view *and* `text/html` + `text/plain`.
Live, JupyterLab and Colab render the widget (its mimetype ranks first); a reopened or
untrusted notebook, nbviewer and GitHub, which have no widget state or run no scripts, render
the HTML, and nbval compares the text. The bundle is shown under a display id and re-sent when
the dashboard's state settles (a run ends, a selection changes), so the saved notebook holds
the last state. The HTML is plain tables and inline SVG: no scripts, no plotly.js, no ids.
"""

from __future__ import annotations

import html
import math
import uuid

import numpy as np


def sparkline_svg(values, width: int = 220, height: int = 48, color: str = "#636efa") -> str:
    """An inline SVG polyline of `values` (non-finite values skipped); '' when fewer than 2.

    Example:
    >>> sparkline_svg([1.0, 0.5, 0.25], width=20, height=10)
    '<svg width="20" height="10" viewBox="0 0 20 10"><polyline fill="none" stroke="#636efa" stroke-width="1.5" points="1.0,1.0 10.0,6.3 19.0,9.0"/></svg>'
    """
    y = np.asarray([v for v in values if isinstance(v, (int, float)) and math.isfinite(v)], dtype=np.float64)
    if len(y) < 2:
        return ""
    if len(y) > width:  # no more points than pixels
        y = y[np.linspace(0, len(y) - 1, width).round().astype(int)]
    low, high = float(y.min()), float(y.max())
    span = (high - low) or 1.0
    xs = np.linspace(1, width - 1, len(y))
    ys = (height - 1) - (y - low) / span * (height - 2)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(xs, ys))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{points}"/></svg>')


def table_html(rows, title: str | None = None) -> str:
    """A compact table of (label, text) or (label, text, svg) rows; text is escaped, the
    svg (from `sparkline_svg`) inserted as markup."""
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(row[0]))}</th>"
        f"<td style='text-align:left'>{html.escape(str(row[1]))}</td><td>{row[2] if len(row) > 2 else ''}</td></tr>"
        for row in rows
    )
    caption = f"<b>{html.escape(title)}</b>" if title else ""
    return f"<div class='nbmodels-snapshot'>{caption}<table>{body}</table></div>"


class SnapshotDisplay:
    """Mixin for dashboard widgets: display = live widget + static snapshot + text summary.

    Subclasses define `summary()` (one stable line), `snapshot_html()` and `charts` (their
    `Chart`s; display-mode charts are shown after the widget). Works with ipywidgets 8
    (`_repr_mimebundle_`) and 7.7 (`_ipython_display_`).
    """

    charts: tuple = ()

    def summary(self) -> str:
        raise NotImplementedError

    def snapshot_html(self) -> str:
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        handle_displayed = getattr(self, "_handle_displayed", None)
        if handle_displayed is not None:
            handle_displayed(**kwargs)
        return {
            "application/vnd.jupyter.widget-view+json": {
                "version_major": 2, "version_minor": 0, "model_id": self.model_id,
            },
            "text/html": self.snapshot_html(),
            "text/plain": self.summary(),
        }

    def _ipython_display_(self):
        from IPython.display import display

        if getattr(self, "_snapshot_id", None) is None:
            self._snapshot_id = uuid.uuid4().hex
        display(self._repr_mimebundle_(), raw=True, display_id=self._snapshot_id)
        for chart in self.charts:
            chart.show()

    def refresh_snapshot(self) -> None:
        """Re-send the display bundle (widget, HTML, text) wherever this dashboard is shown."""
        if getattr(self, "_snapshot_id", None) is None:
            return
        from IPython.display import update_display

        update_display(self._repr_mimebundle_(), raw=True, display_id=self._snapshot_id)

    def __repr__(self) -> str:
        return self.summary()
