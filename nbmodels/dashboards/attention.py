"""`AttentionExplorer(model, text)`: where a transformer looks, layer by layer and head by head."""

from __future__ import annotations

import ipywidgets as widgets

from nbmodels.dashboards import _attention as logic
from nbmodels.dashboards._kit.chart import Chart
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay


class AttentionExplorer(SnapshotDisplay, widgets.VBox):
    """Attention heatmaps of one input: pick a layer and a head (or their mean), see every
    head at once, pick a query token to see where it attends, or switch to attention rollout.

    All data comes from `nbmodels.inspect` (one forward pass, on construction); selections
    only re-slice it.

    Args:
        model: a model with `attention_scores`, e.g. `nbmodels.models.GPT` or `TextClassifier`.
        text_or_ids: a string (with `tokenizer`) or token ids `(T,)`.
        tokenizer: encodes a string and labels the positions (`id_to_token`).
        mode: chart mode, `"widget"` or `"display"` (default: `nbmodels.dashboards.chart_mode()`).

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import GPT, GPTConfig
    >>> from nbmodels.dashboards import AttentionExplorer
    >>> explorer = AttentionExplorer(GPT(GPTConfig.preset("tiny")), np.array([5, 6, 7, 8]))
    >>> explorer.select(layer=1, head=0, query=2)
    >>> explorer.summary()
    "AttentionExplorer: 2 layers x 2 heads, 4 tokens; showing layer 1, head 0, query 2 '7'"
    >>> explorer.heatmap.shape
    (4, 4)
    """

    def __init__(self, model, text_or_ids, tokenizer=None, *, mode: str | None = None, **kwargs):
        super().__init__(**kwargs)
        from plotly.subplots import make_subplots

        from nbmodels.inspect import attention_maps, attention_rollout

        self.attention = attention_maps(model, text_or_ids, tokenizer)
        self.rollout_scores = attention_rollout(self.attention)
        amap = self.attention
        n = amap.num_positions
        self.labels = logic.token_labels(amap.tokens)
        ticks = {"tickmode": "array", "tickvals": list(range(n)), "ticktext": self.labels}

        self._layer = widgets.Dropdown(options=[(f"layer {i}", i) for i in range(amap.num_layers)],
                                       value=amap.num_layers - 1, description="layer")
        self._head = widgets.Dropdown(options=[("mean of heads", logic.MEAN)] + [(f"head {h}", h) for h in range(amap.num_heads)],
                                      value=logic.MEAN, description="head")
        self._query = widgets.Dropdown(options=[("none", None)] + [(f"{i}: {label}", i) for i, label in enumerate(self.labels)],
                                       value=None, description="query token")
        self._rollout = widgets.Checkbox(value=False, description="attention rollout", indent=False)

        main = make_subplots(rows=2, cols=1, row_heights=[0.75, 0.25], vertical_spacing=0.08)
        main.update_layout(height=640, margin={"l": 60, "r": 20, "t": 40, "b": 40}, template="plotly_white",
                           xaxis={**ticks, "side": "top"}, yaxis={**ticks, "autorange": "reversed", "title": "query"},
                           xaxis2={**ticks, "title": "key"}, yaxis2={"range": [0, 1], "title": "attention"})
        self._main = Chart(main, mode=mode)
        grid = make_subplots(rows=amap.num_layers, cols=amap.num_heads, horizontal_spacing=0.02, vertical_spacing=0.02,
                             row_titles=[f"layer {i}" for i in range(amap.num_layers)],
                             column_titles=[f"head {h}" for h in range(amap.num_heads)])
        grid.update_xaxes(showticklabels=False)
        grid.update_yaxes(showticklabels=False, autorange="reversed")
        grid.update_layout(height=max(200, 110 * amap.num_layers), margin={"l": 20, "r": 60, "t": 40, "b": 10},
                           template="plotly_white", title_text="all heads (click one to select it)")
        self._overview = Chart(grid, mode=mode)
        self._overview.draw(logic.overview_traces(amap))
        if self._overview.mode == "widget":
            for index, trace in enumerate(self._overview.figure.data):
                layer, head = divmod(index, amap.num_heads)
                trace.on_click(lambda *_, layer=layer, head=head: self.select(layer=layer, head=head))
        self.charts = (self._main, self._overview)
        self._quiet = False

        controls = widgets.HBox([self._layer, self._head, self._query, self._rollout])
        self.children = [controls] + [chart.view for chart in self.charts if chart.view is not None]
        for control in (self._layer, self._head, self._query, self._rollout):
            control.observe(self._redraw, names="value")
        self._redraw()

    def select(self, layer: int | None = None, head=None, query: int | None = ..., rollout: bool | None = None) -> None:
        """Change the selection (what the widgets do); `head` is an index or "mean",
        `query` a position or None."""
        self._quiet = True  # one redraw for the whole change, not one per widget
        try:
            if layer is not None:
                self._layer.value = layer
            if head is not None:
                self._head.value = head
            if query is not ...:
                self._query.value = query
            if rollout is not None:
                self._rollout.value = rollout
        finally:
            self._quiet = False
        self._redraw()

    @property
    def selection(self) -> dict:
        return {"layer": self._layer.value, "head": self._head.value, "query": self._query.value,
                "rollout": self._rollout.value}

    @property
    def heatmap(self):
        """The (queries, keys) matrix the heatmap shows now."""
        s = self.selection
        return logic.selected_scores(self.attention, s["layer"], s["head"], s["rollout"], self.rollout_scores)

    def _redraw(self, _change=None) -> None:
        if self._quiet:
            return
        s = self.selection
        self._layer.disabled = self._head.disabled = s["rollout"]
        z = self.heatmap
        self._main.draw(
            [logic.heatmap_trace(z), logic.query_trace(z, s["query"], xaxis="x2", yaxis="y2")],
            layout={"title": {"text": logic.selection_title(s["layer"], s["head"], s["rollout"])},
                    "shapes": logic.query_highlight(s["query"], len(self.labels))},
        )

    # ---- outputs that survive ------------------------------------------------------------

    def summary(self) -> str:
        s = self.selection
        return logic.explorer_summary(self.attention, s["layer"], s["head"], s["rollout"], s["query"])

    def snapshot_html(self) -> str:
        return logic.heatmap_html(self.heatmap, self.labels, self.summary())
