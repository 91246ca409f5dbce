"""`AttentionExplorer`: where a transformer looks, layer by layer and head by head, over a text's
tokens or over a ViT's image.

One explorer, one selection (layer, head or their mean, query, rollout) and two renderings of
what is selected: for text a (query, key) heatmap with the chosen query's row; for an image the
chosen query's attention laid over the image, patch by patch.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from nbmodels.checks import ConfigError
from nbmodels.dashboards import _attention as logic
from nbmodels.dashboards import _overlay
from nbmodels.dashboards._kit.chart import Chart
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay


PATCH_HOVER = "patch (%{y}, %{x}): %{z:.3f}<extra></extra>"


class AttentionExplorer(SnapshotDisplay, widgets.VBox):
    """Attention of one input: pick a layer and a head (or their mean), see every head at once,
    pick a query to see where it attends, or switch to attention rollout.

    Text (a GPT, a TextClassifier): a (query, key) heatmap, the chosen query token's row as
    bars. Image (a `ViT`): the attention of the chosen query (the class token by default, or
    a patch: click it) over the patches, laid over the image, with every head as a small
    overlay. All data comes from `nbmodels.inspect` (one forward pass, on construction);
    selections only re-slice it.

    Args:
        model: a model with `attention_scores`: `nbmodels.models.GPT` or `TextClassifier`
            with text, `nbmodels.models.ViT` with an image.
        inputs: a string (with `tokenizer`) or token ids `(T,)`; for a ViT one image
            `(H, W, C)`, `(H, W)` when it has one channel, or a batch of one.
        tokenizer: encodes a string and labels the positions (`id_to_token`).
        mode: chart mode, `"widget"` or `"display"` (default: `nbmodels.dashboards.chart_mode()`).

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import GPT, GPTConfig, ViT, ViTConfig
    >>> from nbmodels.dashboards import AttentionExplorer
    >>> explorer = AttentionExplorer(GPT(GPTConfig.preset("tiny")), np.array([5, 6, 7, 8]))
    >>> explorer.select(layer=1, head=0, query=2)
    >>> explorer.summary()
    "AttentionExplorer: 2 layers x 2 heads, 4 tokens; showing layer 1, head 0, query 2 '7'"
    >>> explorer.heatmap.shape
    (4, 4)
    >>> image = np.random.default_rng(0).random((8, 8, 1))
    >>> explorer = AttentionExplorer(ViT(ViTConfig.preset("tiny")), image)  # 4x4 patches of 2x2 pixels
    >>> explorer.select(rollout=True)
    >>> explorer.summary()  # doctest: +ELLIPSIS
    'AttentionExplorer: ViT 2 layers x 2 heads, 4x4 patches; showing rollout from the class token; peak at patch ...'
    >>> explorer.select(query=6)  # patch (1, 2); clicking it in the image does the same
    >>> explorer.heatmap.shape, explorer.summary().split("; ")[1]
    ((4, 4), 'showing rollout from patch (1, 2)')
    """

    def __init__(self, model, inputs, tokenizer=None, *, mode: str | None = None, **kwargs):
        super().__init__(**kwargs)
        from nbmodels.inspect import attention_rollout
        from nbmodels.models.vision.vit import ViT

        rendering = _ImageRendering if isinstance(model, ViT) else _TextRendering
        self._rendering = rendering(model, inputs, tokenizer, mode)
        self.attention = amap = self._rendering.attention
        self.rollout_scores = attention_rollout(amap)

        self._layer = widgets.Dropdown(options=[(f"layer {i}", i) for i in range(amap.num_layers)],
                                       value=amap.num_layers - 1, description="layer")
        self._head = widgets.Dropdown(options=[("mean of heads", logic.MEAN)] + [(f"head {h}", h) for h in range(amap.num_heads)],
                                      value=logic.MEAN, description="head")
        self._query = widgets.Dropdown(options=self._rendering.query_options, value=self._rendering.query_options[0][1],
                                       description=self._rendering.query_description)
        self._rollout = widgets.Checkbox(value=False, description="attention rollout", indent=False)
        self.charts = self._rendering.charts
        self._quiet = False

        own = [self._layer, self._head, self._query, self._rollout]
        # Wrapping onto a second line where the notebook is narrower than the five controls: in
        # one line they shrink, and the opacity slider's track to a few pixels.
        controls = widgets.HBox(own + self._rendering.controls, layout=widgets.Layout(flex_flow="row wrap"))
        self.children = [controls] + [
            chart.view for chart in self.charts if chart.view is not None]
        for control in own + self._rendering.controls:
            control.observe(self._redraw, names="value")
        self._rendering.on_select(self.select)
        self._redraw()

    def select(self, layer: int | None = None, head=None, query=..., rollout: bool | None = None) -> None:
        """Change the selection (what the widgets do); `head` is an index or "mean", `query` a
        token position or None (text), "cls" or a patch index `row * grid + col` (image)."""
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
    def scores(self) -> np.ndarray:
        """The selected (queries, keys) attention matrix: one head, the heads' mean, or rollout."""
        s = self.selection
        return logic.selected_scores(self.attention, s["layer"], s["head"], s["rollout"], self.rollout_scores)

    @property
    def heatmap(self) -> np.ndarray:
        """What the main chart shows now: the (queries, keys) matrix for text; for an image the
        chosen query's attention on the patch grid (grid, grid)."""
        return self._rendering.shown(self.scores, self.selection)

    def _redraw(self, _change=None) -> None:
        if self._quiet:
            return
        self._layer.disabled = self._head.disabled = self._rollout.value
        self._rendering.draw(self.scores, self.selection)
        self.refresh_snapshot()

    # ---- outputs that survive ------------------------------------------------------------

    def summary(self) -> str:
        return self._rendering.summary(self.scores, self.selection)

    def snapshot_html(self) -> str:
        return self._rendering.snapshot_html(self.scores, self.selection, self.summary())


class _TextRendering:
    """Text: the (query, key) heatmap with the query's row as bars, and every head's heatmap."""

    query_description = "query token"

    def __init__(self, model, text_or_ids, tokenizer, mode):
        from plotly.subplots import make_subplots

        from nbmodels.inspect import attention_maps

        _refuse_images(model, text_or_ids)
        self.attention = amap = attention_maps(model, text_or_ids, tokenizer)
        n = amap.num_positions
        self.labels = logic.token_labels(amap.tokens)
        self.query_options = [("none", None)] + [(f"{i}: {label}", i) for i, label in enumerate(self.labels)]
        self.controls = []
        ticks = {"tickmode": "array", "tickvals": list(range(n)), "ticktext": self.labels}

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
        self.charts = (self._main, self._overview)

    def on_select(self, select) -> None:
        _select_heads_on_click(self._overview, self.attention.num_heads, select)

    def shown(self, scores, selection) -> np.ndarray:
        return scores

    def draw(self, scores, s) -> None:
        self._main.draw(
            [logic.heatmap_trace(scores), logic.query_trace(scores, s["query"], xaxis="x2", yaxis="y2")],
            layout={"title": {"text": logic.selection_title(s["layer"], s["head"], s["rollout"])},
                    "shapes": logic.query_highlight(s["query"], len(self.labels))},
        )

    def summary(self, scores, s) -> str:
        return logic.explorer_summary(self.attention, s["layer"], s["head"], s["rollout"], s["query"])

    def snapshot_html(self, scores, s, summary) -> str:
        return logic.heatmap_html(scores, self.labels, summary)


class _ImageRendering:
    """Image: the query's attention over the patches laid on the image (click a patch to make it
    the query), an opacity slider, and every head's map as a small overlay."""

    query_description = "query"

    def __init__(self, model, image, tokenizer, mode):
        from plotly.subplots import make_subplots

        owner = "AttentionExplorer"
        batch = _overlay.image_batch(owner, "image", image, model.image_shape)  # (B, H, W, C)
        if len(batch) != 1:
            raise ConfigError(owner, "image", f"a batch of {len(batch)}", "one image", message=(
                f"{owner}: the image is a batch of {len(batch)}; the explorer shows one image: pass images[i]."))
        self.image = batch[0]  # (H, W, C)
        self.attention = amap = logic.image_attention(model, self.image)
        self.grid = grid = logic.patch_grid_size(amap.num_positions)
        self.query_options = [("class token", logic.CLS)] + [
            (f"patch ({r}, {c})", r * grid + c) for r in range(grid) for c in range(grid)]
        self._opacity = widgets.FloatSlider(value=0.6, min=0.0, max=1.0, step=0.05, description="opacity",
                                            readout_format=".2f", continuous_update=False)
        self.controls = [self._opacity]
        x_axis, y_axis = _overlay.image_axes((grid, grid))

        main = make_subplots(rows=1, cols=1)
        main.update_layout(height=480, margin={"l": 40, "r": 20, "t": 50, "b": 30}, template="plotly_white",
                           xaxis={**x_axis, "title": "patch column (click a patch to see where it attends)"},
                           yaxis={**y_axis, "title": "patch row"},
                           images=[_overlay.layout_image(self.image, (grid, grid))])
        self._main = Chart(main, mode=mode)

        layers, heads = amap.num_layers, amap.num_heads
        overview = make_subplots(rows=layers, cols=heads, horizontal_spacing=0.01, vertical_spacing=0.03,
                                 row_titles=[f"layer {i}" for i in range(layers)],
                                 column_titles=[f"head {h}" for h in range(heads)])
        thumbnails = []
        for index in range(1, layers * heads + 1):
            suffix = "" if index == 1 else str(index)
            overview.layout["xaxis" + suffix].update(**x_axis, showticklabels=False)
            overview.layout["yaxis" + suffix].update(**{**y_axis, "scaleanchor": "x" + suffix}, showticklabels=False)
            thumbnails.append(_overlay.layout_image(self.image, (grid, grid), "x" + suffix, "y" + suffix, pixels=64))
        overview.update_layout(height=max(220, 130 * layers), margin={"l": 20, "r": 60, "t": 50, "b": 10},
                               template="plotly_white", images=thumbnails,
                               title_text="every head from the same query (click one to select it)")
        self._overview = Chart(overview, mode=mode)
        self.charts = (self._main, self._overview)

    def on_select(self, select) -> None:
        grid = self.grid

        def pick_patch(_trace, points, _state):
            cell = _overlay.clicked_cell(points)
            if cell is not None:
                select(query=cell[0] * grid + cell[1])

        self._main.draw([_overlay.heat_trace(np.zeros((grid, grid)), name="attention")])  # the trace to click
        if self._main.mode == "widget":
            self._main.figure.data[0].on_click(pick_patch)
        _select_heads_on_click(self._overview, self.attention.num_heads, select, self._draw_overview)

    def shown(self, scores, selection) -> np.ndarray:
        return logic.patch_map(scores, selection["query"])  # (grid, grid)

    def draw(self, scores, s) -> None:
        heat = self.shown(scores, s)
        query, opacity = s["query"], self._opacity.value
        shapes = [] if query == logic.CLS else [_overlay.cell_outline(*divmod(query, self.grid))]
        trace = _overlay.heat_trace(heat, name="attention", opacity=opacity)
        trace["hovertemplate"] = PATCH_HOVER
        self._main.draw([trace], layout={
            "title": {"text": logic.image_title(s["layer"], s["head"], s["rollout"], query, self.grid)},
            "shapes": shapes})
        self._draw_overview(s)

    def _draw_overview(self, s=None) -> None:
        query = s["query"] if s else logic.CLS
        amap, traces = self.attention, []
        for layer in range(amap.num_layers):
            for head in range(amap.num_heads):
                index = layer * amap.num_heads + head + 1
                suffix = "" if index == 1 else str(index)
                trace = _overlay.heat_trace(logic.patch_map(amap.scores[layer, head], query),
                                            name=f"layer {layer} head {head}", opacity=self._opacity.value,
                                            xaxis="x" + suffix, yaxis="y" + suffix, showscale=False)
                trace["hovertemplate"] = f"layer {layer} head {head}<br>" + PATCH_HOVER
                traces.append(trace)
        self._overview.draw(traces)

    def summary(self, scores, s) -> str:
        return logic.image_summary(self.attention, s["layer"], s["head"], s["rollout"], s["query"],
                                   self.shown(scores, s))

    def snapshot_html(self, scores, s, summary) -> str:
        query, patch = s["query"], self.image.shape[0] // self.grid
        box = None
        if query != logic.CLS:
            row, col = divmod(query, self.grid)
            box = (row * patch, col * patch, (row + 1) * patch, (col + 1) * patch)
        image = _overlay.overlay_img(self.image, self.shown(scores, s), alpha=self._opacity.value, box=box,
                                     title=summary)
        return f"<div class='nbmodels-snapshot'><b>{html.escape(summary)}</b><br>{image}</div>"


def _select_heads_on_click(overview: Chart, heads: int, select, before=None) -> None:
    """Clicking a head's small map selects that layer and head (widget mode)."""
    if before is not None:
        before()  # the traces must exist to take handlers
    if overview.mode != "widget":
        return
    for index, trace in enumerate(overview.figure.data):
        layer, head = divmod(index, heads)

        def pick_head(_trace, points, _state, layer=layer, head=head):
            if points.xs:  # plotly calls every trace's handlers on a click; only the clicked one has points
                select(layer=layer, head=head)

        trace.on_click(pick_head)


def _refuse_images(model, inputs) -> None:
    """A text model given an image: say what the image mode needs, not "must be integer ids"."""
    if isinstance(inputs, str):
        return
    try:
        array = np.asarray(inputs)
    except (TypeError, ValueError):
        return
    if array.dtype.kind == "f" and array.ndim >= 2:
        raise ConfigError("AttentionExplorer", "model", type(model).__name__, "an nbmodels.models.ViT for an image",
                          message=(f"AttentionExplorer: the input is an image of shape {array.shape} but the model is "
                                   f"a {type(model).__name__}; attention over an image needs an nbmodels.models.ViT "
                                   "(text models take a string with its tokenizer, or token ids)."))
