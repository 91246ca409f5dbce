"""`GradCAMView(model, images)`: which pixels a convnet took as evidence, image by image, class by class."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from nbmodels.checks import ConfigError, check_choice, check_float, fail
from nbmodels.dashboards import _overlay
from nbmodels.dashboards._kit.chart import Chart
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay
from nbmodels.inspect.images import conv_layers, grad_cam_layer

OWNER = "GradCAMView"
TOP = 5  # predictions listed per image


class GradCAMView(SnapshotDisplay, widgets.VBox):
    """Each image next to its Grad-CAM overlay: pick the image, the class explained (the
    predicted one by default; the top predictions are listed with their confidences), the
    convolution layer (the last one by default) and the overlay's opacity.

    The maps come from `nbmodels.inspect.grad_cam`, one image, class and layer at a time (cached):
    the view draws them, it computes none of its own.

    Args:
        model: a Keras convnet `grad_cam` explains: a `ConvNet`, a Sequential or functional
            model with `Conv2D` layers, or one nesting a backbone (`TransferClassifier`).
        images: one image `(H, W, C)` (`(H, W)` with one channel) or a batch `(B, H, W, C)`.
        labels: the images' true classes `(B,)`, shown next to the predictions.
        class_names: one name per class.
        layer: the convolution layer to explain; default the model's last one.
        mode: chart mode, `"widget"` or `"display"` (default: `nbmodels.dashboards.chart_mode()`).

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import ConvNet, ConvNetConfig
    >>> from nbmodels.dashboards import GradCAMView
    >>> images = np.random.default_rng(0).random((2, 8, 8, 1)).astype("float32")
    >>> view = GradCAMView(ConvNet(ConvNetConfig.preset("tiny")), images, labels=[3, 1])
    >>> view.layers
    ['stage_0_conv', 'stage_1_conv']
    >>> view.select(image=1, layer="stage_0_conv", class_index=4)
    >>> view.heatmap.shape, view.summary().split(", ")[:2]
    ((8, 8), ['GradCAMView: image 1 of 2 (label 1)', 'class 4 (p=...)'])
    """

    def __init__(self, model, images, *, labels=None, class_names=None, layer: str | None = None,
                 mode: str | None = None, opacity: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.layers = conv_layer_names(model)
        if not self.layers:
            fail(OWNER, "model", type(model).__name__, "a convnet: Grad-CAM explains a Conv2D layer's feature maps, "
                                                       "and this model has none (for a ViT use AttentionExplorer)")
        layer = grad_cam_layer(model) if layer is None else check_choice(OWNER, "layer", layer, self.layers)
        self.images = _overlay.image_batch(OWNER, "images", images, _overlay.model_image_shape(model))  # (B, H, W, C)
        self.probabilities = _probabilities(model, self.images)  # (B, K)
        count, num_classes = self.probabilities.shape
        self.labels = _labels(labels, count, num_classes)
        self.class_names = _class_names(class_names, num_classes)
        self._cams: dict[tuple[int, int, str], np.ndarray] = {}

        self._image = widgets.Dropdown(options=[(self._image_name(i), i) for i in range(count)], value=0,
                                       description="image", layout={"display": "" if count > 1 else "none"})
        self._class = widgets.Dropdown(options=self._class_options(0), description="explain")
        self._layer = widgets.Dropdown(options=self.layers, value=layer, description="layer")
        self._opacity = widgets.FloatSlider(value=check_float(OWNER, "opacity", opacity, low=0.0, high=1.0),
                                            min=0.0, max=1.0, step=0.05, description="opacity",
                                            readout_format=".2f", continuous_update=False)
        self._top = widgets.HTML()
        self._chart = Chart(self._figure(), mode=mode)
        self.charts = (self._chart,)
        self._quiet = False

        self.children = [widgets.HBox([self._image, self._class]), widgets.HBox([self._layer, self._opacity]),
                         self._top] + ([self._chart.view] if self._chart.view is not None else [])
        self._image.observe(self._new_image, names="value")
        for control in (self._class, self._layer, self._opacity):
            control.observe(self._redraw, names="value")
        self._redraw()

    # ---- selection ---------------------------------------------------------------------------

    def select(self, image: int | None = None, class_index: int | None = None, layer: str | None = None,
               opacity: float | None = None) -> None:
        """Change the selection (what the widgets do); a new image explains its predicted class
        unless `class_index` is given."""
        self._quiet = True  # one redraw for the whole change
        try:
            if image is not None:
                self._image.value = image
            if class_index is not None:
                self._class.value = class_index
            if layer is not None:
                self._layer.value = check_choice(OWNER, "layer", layer, self.layers)
            if opacity is not None:
                self._opacity.value = opacity
        finally:
            self._quiet = False
        self._redraw()

    @property
    def selection(self) -> dict:
        return {"image": self._image.value, "class_index": self._class.value, "layer": self._layer.value,
                "opacity": self._opacity.value}

    @property
    def heatmap(self) -> np.ndarray:
        """The Grad-CAM map shown now, `(H, W)` in [0, 1] (`nbmodels.inspect.grad_cam`'s)."""
        s = self.selection
        key = (s["image"], s["class_index"], s["layer"])
        if key not in self._cams:
            from nbmodels.inspect import grad_cam

            self._cams[key] = grad_cam(self.model, self.images[s["image"]], class_index=s["class_index"],
                                       layer=s["layer"])[0]  # (H, W)
        return self._cams[key]

    def _new_image(self, change) -> None:
        # The class list carries the new image's confidences, and its predicted class is explained.
        self._class.unobserve(self._redraw, names="value")
        try:
            self._class.options = self._class_options(change["new"])
            self._class.value = int(np.argmax(self.probabilities[change["new"]]))
        finally:
            self._class.observe(self._redraw, names="value")
        self._redraw()

    # ---- drawing -----------------------------------------------------------------------------

    def _figure(self):
        from plotly.subplots import make_subplots

        height, width = self.images.shape[1:3]
        x_axis, y_axis = _overlay.image_axes((height, width))
        figure = make_subplots(rows=1, cols=2, horizontal_spacing=0.04, subplot_titles=("image", "Grad-CAM"))
        figure.update_layout(height=420, margin={"l": 20, "r": 20, "t": 60, "b": 20}, template="plotly_white",
                             xaxis={**x_axis, "showticklabels": False}, yaxis={**y_axis, "showticklabels": False},
                             xaxis2={**x_axis, "showticklabels": False, "matches": "x"},
                             yaxis2={**y_axis, "showticklabels": False, "scaleanchor": "x2", "matches": "y"})
        return figure

    def _redraw(self, _change=None) -> None:
        if self._quiet:
            return
        s = self.selection
        image, heat = self.images[s["image"]], self.heatmap
        shape = heat.shape
        trace = _overlay.heat_trace(heat, name="Grad-CAM", opacity=s["opacity"], xaxis="x2", yaxis="y2")
        trace["hovertemplate"] = "pixel (%{y}, %{x}): %{z:.2f}<extra></extra>"
        trace["colorbar"] = {"title": {"text": "Grad-CAM"}, "len": 0.8}
        peak = _overlay.peak(heat)
        marker = {"name": "peak", "type": "scatter", "mode": "markers", "x": [peak[1]], "y": [peak[0]],
                  "xaxis": "x2", "yaxis": "y2", "marker": {"symbol": "x", "size": 12, "color": _overlay.OUTLINE_COLOR},
                  "hovertemplate": "peak (%{y}, %{x})<extra></extra>", "showlegend": False}
        source = _overlay.layout_image(image, shape)
        self._chart.draw([trace, marker], layout={
            "images": [source, {**source, "xref": "x2", "yref": "y2"}],
            "title": {"text": self._title(s)}})
        self._top.value = self._top_html(s["image"])
        self.refresh_snapshot()

    def _title(self, s) -> str:
        p = self.probabilities[s["image"], s["class_index"]]
        return f"class {self._class_name(s['class_index'])} (p={p:.2f}), layer {s['layer']}"

    # ---- labels ------------------------------------------------------------------------------

    def _class_name(self, index: int) -> str:
        return f"{index} {self.class_names[index]!r}" if self.class_names else str(index)

    def _image_name(self, index: int) -> str:
        label = f", label {self._class_name(self.labels[index])}" if self.labels is not None else ""
        return f"{index}: predicted {self._class_name(int(np.argmax(self.probabilities[index])))}{label}"

    def _class_options(self, image: int) -> list[tuple[str, int]]:
        """Every class, most probable first, with its probability for this image."""
        probabilities = self.probabilities[image]
        order = np.argsort(-probabilities, kind="stable")
        return [(f"{self._class_name(int(c))} (p={probabilities[c]:.2f})", int(c)) for c in order]

    def _top_html(self, image: int) -> str:
        probabilities = self.probabilities[image]
        order = np.argsort(-probabilities, kind="stable")[:TOP]
        label = self.labels[image] if self.labels is not None else None
        items = []
        for c in order:
            name = html.escape(self._class_name(int(c)))
            mark = " ✓" if label == c else ""
            width = round(80 * float(probabilities[c]))
            items.append(f"<span style='margin-right:1.2em'>{name}{mark} "
                         f"<span style='display:inline-block;width:{width}px;height:8px;background:#636efa'></span> "
                         f"{probabilities[c]:.2f}</span>")
        truth = f" · true label {html.escape(self._class_name(int(label)))}" if label is not None else ""
        return f"<div><b>top predictions</b>{truth}: {''.join(items)}</div>"

    # ---- outputs that survive ----------------------------------------------------------------

    def summary(self) -> str:
        s = self.selection
        count = len(self.images)
        image = f"image {s['image']}" + (f" of {count}" if count > 1 else "")
        if self.labels is not None:
            image += f" (label {self._class_name(int(self.labels[s['image']]))})"
        row, col = _overlay.peak(self.heatmap)
        return f"GradCAMView: {image}, {self._title(s)}; peak at ({row}, {col})"

    def snapshot_html(self) -> str:
        s = self.selection
        image, summary = self.images[s["image"]], self.summary()
        return (f"<div class='nbmodels-snapshot'><b>{html.escape(summary)}</b><br>"
                f"{_overlay.img_tag(image, title='image')}"
                f"{_overlay.overlay_img(image, self.heatmap, alpha=s['opacity'], title='Grad-CAM')}"
                f"{self._top_html(s['image'])}</div>")


def conv_layer_names(model) -> list[str]:
    """The names of the convolution layers `grad_cam` can explain, nested models opened, in order."""
    return [layer.name for layer in conv_layers(model)]


def _probabilities(model, images) -> np.ndarray:
    """`(B, K)` class probabilities: the model's own when it ends in a softmax, else its logits' softmax."""
    from nbmodels.inspect import predictions

    try:
        return predictions(model, images, from_logits=False).probabilities
    except ConfigError:  # logits (every nbmodels model)
        return predictions(model, images, from_logits=True).probabilities


def _labels(labels, count: int, num_classes: int) -> np.ndarray | None:
    if labels is None:
        return None
    array = np.asarray(labels).reshape(-1)
    if len(array) != count or array.dtype.kind not in "iu" or array.min() < 0 or array.max() >= num_classes:
        fail(OWNER, "labels", labels, f"one class id in 0..{num_classes - 1} per image ({count})")
    return array.astype(np.int64)


def _class_names(names, num_classes: int) -> list[str] | None:
    if names is None:
        return None
    names = [str(name) for name in names]
    if len(names) != num_classes:
        fail(OWNER, "class_names", names, f"one name per class: the model has {num_classes} classes")
    return names
