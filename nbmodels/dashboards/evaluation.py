"""`EvaluationView(model, data)`: where a classifier goes wrong, cell by cell of its confusion matrix.

Every number comes from `nbmodels.inspect.evaluate_classifier` (one pass over the split, on
construction); a selection only re-slices it. The functions below the class turn that evaluation
into plotly traces and HTML, and are tested without a browser.
"""

from __future__ import annotations

import html
import math

import ipywidgets as widgets
import numpy as np
import traitlets

from nbmodels.checks import ConfigError, check_int
from nbmodels.dashboards import _gallery as gallery
from nbmodels.dashboards._kit.chart import Chart
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay
from nbmodels.data.sources import as_source

TOP_K = 3  # predictions shown under each gallery image
CONFUSED_PAIRS = 20  # pairs in the "most confused" list
LABELLED_CELLS = 20  # up to this many classes the heatmap writes each cell's count
_BLUES = ((0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)), (0.75, (33, 113, 181)),
          (1.0, (8, 48, 107)))


class EvaluationView(SnapshotDisplay, widgets.VBox):
    """A classifier's confusion matrix, the examples behind any cell, and per-class scores.

    Click a cell of the heatmap (or pick a pair from "most confused", or the true and predicted
    classes) to see its examples, the most confident first, each with the model's top 3 classes;
    the per-class table highlights the selected classes. `selection` is a traitlet, so other
    views can follow or drive it (`traitlets.link((view, "selection"), (other, "selection"))`).

    Args:
        model: a Keras classifier returning `(B, C)` logits, or a ready
            `nbmodels.inspect.ClassifierEvaluation` of `data` (then nothing is recomputed).
        data: an `nbmodels.data.Dataset` (its `split` is shown) or labelled examples as
            `nbmodels.inspect.predictions` takes them; its rows feed the gallery (images, or the
            first values of rows that are not images, such as token ids).
        split: `"validation"` or `"train"`, for a Dataset.
        class_names: C names; default the dataset's, else the class ids.
        mode: chart mode, `"widget"` or `"display"` (default: `nbmodels.dashboards.chart_mode()`).
        gallery_size: most examples the gallery shows at once.

    Example:
    >>> import keras
    >>> from nbmodels import data
    >>> from nbmodels.dashboards import EvaluationView
    >>> digits = data.load("digits", flatten=False)
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> view = EvaluationView(model, digits)  # untrained: plenty of confusion
    >>> view.confusion.shape, view.selection == view.evaluation.most_confused[0][:2]
    ((10, 10), True)
    >>> view.select(3, 3)
    >>> view.summary()
    'EvaluationView: 10 classes, 359 examples, accuracy ...%; selected true 3 → predicted 3 (... images)'
    """

    selection = traitlets.Tuple(help="(true class, predicted class) of the selected cell")

    def __init__(self, model, data=None, split: str = "validation", *, class_names=None, mode: str | None = None,
                 gallery_size: int = 24, **kwargs):
        from nbmodels.inspect import ClassifierEvaluation, evaluate_classifier

        self.gallery_size = check_int("EvaluationView", "gallery_size", gallery_size, minimum=1)
        if isinstance(model, ClassifierEvaluation):
            evaluation = model
            if class_names is not None:
                raise ConfigError("EvaluationView", "class_names", class_names, "None with a ready evaluation",
                                  message="EvaluationView: class_names cannot rename a ready evaluation; pass "
                                          "class_names to evaluate_classifier, or the model instead.")
        else:
            if data is None:
                raise ConfigError("EvaluationView", "data", data, "the examples to evaluate", message=(
                    "EvaluationView(model, data): give the examples to evaluate the model on (a Dataset or (x, y))."))
            _check_outputs(model, data)
            evaluation = evaluate_classifier(model, data, split, class_names=class_names)
        self.evaluation = evaluation
        self._features = _split_features(data, split, evaluation.num_examples)
        self._shows_images = self._features is not None and gallery.image_batch(_take(self._features, [0])) is not None
        self._syncing = False  # set while the view moves its own controls to the selection
        super().__init__(**kwargs)

        names = evaluation.class_names
        class_options = [(f"{i}: {name}" if name != str(i) else name, i) for i, name in enumerate(names)]
        pairs = evaluation.most_confused[:CONFUSED_PAIRS]
        pair_options = [(f"{names[t]} → {names[p]} ({count})", (t, p)) for t, p, count in pairs] or [("none", None)]
        self._confused = _dropdown("most confused", pair_options)
        self._true = _dropdown("true", class_options)
        self._predicted = _dropdown("predicted", class_options)
        self._gallery = widgets.HTML()
        self._table = widgets.HTML()

        figure = {"layout": _heatmap_layout(names)}
        self._chart = Chart(figure, mode=mode)
        self._chart.draw([heatmap_trace(evaluation.confusion, names)])
        if self._chart.mode == "widget":
            self._chart.figure.data[0].on_click(self._clicked)
        self._hint = "(click a cell)" if self._chart.mode == "widget" else "(pick a cell with the lists above)"
        self.charts = (self._chart,)

        controls = widgets.HBox([self._confused, self._true, self._predicted],
                                layout=widgets.Layout(flex_flow="row wrap"))
        top = [self._chart.view, self._table] if self._chart.view is not None else [self._table]
        # Heatmap and table side by side where there is room, the table below in a narrow notebook.
        self.children = [controls, widgets.HBox(top, layout=widgets.Layout(flex_flow="row wrap")), self._gallery]
        for control in (self._true, self._predicted):
            control.observe(self._picked_class, names="value")
        self._confused.observe(self._picked_pair, names="value")
        self.observe(self._redraw, names="selection")
        self.selection = default_selection(evaluation.confusion, evaluation.most_confused)

    # ---- selection ---------------------------------------------------------------------------

    def select(self, true: int, predicted: int) -> None:
        """Show the cell (true class, predicted class): what a click on the heatmap does."""
        self.selection = (true, predicted)

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        value = proposal["value"]
        last = len(self.evaluation.class_names) - 1
        if not (isinstance(value, tuple) and len(value) == 2):
            raise ConfigError("EvaluationView", "selection", value, "a (true class, predicted class) pair")
        return tuple(check_int("EvaluationView", field, v, minimum=0, maximum=last, why="class ids")
                     for field, v in zip(("true", "predicted"), value))

    def _clicked(self, _trace, points, _state) -> None:
        if points.xs:  # the heatmap's x and y are the class ids
            self.select(int(round(points.ys[0])), int(round(points.xs[0])))

    def _picked_class(self, _change) -> None:
        if not self._syncing:
            self.selection = (self._true.value, self._predicted.value)

    def _picked_pair(self, change) -> None:
        if not self._syncing and change["new"] is not None:
            self.selection = change["new"]

    def _redraw(self, _change=None) -> None:
        true, predicted = self.selection
        pair = (true, predicted)
        self._syncing = True
        try:
            self._true.value, self._predicted.value = true, predicted
            self._confused.value = pair if pair in [value for _, value in self._confused.options] else None
        finally:
            self._syncing = False
        names = self.evaluation.class_names
        self._chart.draw([], layout={"shapes": cell_highlight(true, predicted),
                                     "title": {"text": f"true {names[true]} → predicted {names[predicted]}: "
                                                       f"{int(self.evaluation.confusion[true, predicted])} "
                                                       f"{self._hint}"}})
        self._gallery.value = self.gallery_html()
        self._table.value = report_html(self.evaluation.report, true, predicted)
        self.refresh_snapshot()

    # ---- what is shown -----------------------------------------------------------------------

    @property
    def confusion(self) -> np.ndarray:
        """`(C, C)` counts, rows true, columns predicted: the heatmap's z."""
        return self.evaluation.confusion

    @property
    def cell_indices(self) -> np.ndarray:
        """Positions (in the evaluated split) of the selected cell's examples, most confident first."""
        return cell_examples(self.evaluation, *self.selection)

    def gallery_html(self) -> str:
        true, predicted = self.selection
        return gallery_html(self.evaluation, self._features, self.cell_indices[: self.gallery_size], true, predicted)

    # ---- outputs that survive ----------------------------------------------------------------

    def summary(self) -> str:
        evaluation = self.evaluation
        names = evaluation.class_names
        true, predicted = self.selection
        kind = "images" if self._shows_images else "examples"
        return (f"EvaluationView: {len(names)} classes, {evaluation.num_examples} examples, accuracy "
                f"{evaluation.accuracy:.1%}; selected true {names[true]} → predicted {names[predicted]} "
                f"({len(self.cell_indices)} {kind})")

    def snapshot_html(self) -> str:
        true, predicted = self.selection
        return (f"<div class='nbmodels-snapshot'><b>{html.escape(self.summary())}</b>"
                f"<div style='display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start'>"
                f"{confusion_html(self.evaluation.confusion, self.evaluation.class_names, true, predicted)}"
                f"{report_html(self.evaluation.report, true, predicted)}</div>{self.gallery_html()}</div>")


# ---- the evaluation as traces and HTML (no widgets) ------------------------------------------------

def default_selection(confusion: np.ndarray, most_confused) -> tuple[int, int]:
    """The most confused pair; with no mistake at all, the largest class's diagonal cell."""
    if most_confused:
        return most_confused[0][:2]
    largest = int(np.argmax(np.diag(confusion)))
    return largest, largest


def cell_examples(evaluation, true: int, predicted: int) -> np.ndarray:
    """Positions of the examples of class `true` predicted `predicted`, the most confident first
    (the mistakes in `evaluation.mistakes`' order; right answers by their probability)."""
    if true != predicted:
        mistakes = evaluation.mistakes
        return mistakes.indices[(mistakes.true_labels == true) & (mistakes.predicted == predicted)]
    result = evaluation.predictions
    hits = np.flatnonzero((result.targets == true) & (result.labels == true))
    confidence = result.probabilities[hits, true]
    return hits[np.lexsort((hits, -confidence))]


def heatmap_trace(confusion: np.ndarray, names) -> dict:
    """The confusion heatmap: z the counts, coloured on a log-like scale so a single mistake
    already shows next to a diagonal of hundreds; hover tells the share of the true class."""
    confusion = np.asarray(confusion)
    per_class = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, per_class, out=np.zeros(confusion.shape), where=per_class > 0)
    n = len(names)
    hover_names = np.array([[[names[t], names[p]] for p in range(n)] for t in range(n)], dtype=object)
    customdata = np.concatenate([hover_names, share[..., None].astype(object)], axis=-1)  # (C, C, 3)
    trace = {
        "name": "confusion", "type": "heatmap", "z": confusion, "x": np.arange(n), "y": np.arange(n),
        "zmin": 0, "zmax": max(int(confusion.max()), 1), "colorscale": log_colorscale(int(confusion.max())),
        "customdata": customdata, "xgap": 1, "ygap": 1, "colorbar": {"title": {"text": "examples"}},
        "hovertemplate": "true %{customdata[0]} → predicted %{customdata[1]}<br>%{z} examples "
                         "(%{customdata[2]:.1%} of true %{customdata[0]})<extra></extra>",
    }
    if n <= LABELLED_CELLS:  # counts written in the cells; empty cells stay blank, so mistakes stand out
        trace["text"] = np.where(confusion > 0, confusion.astype(str), "")
        trace["texttemplate"] = "%{text}"
    return trace


def log_colorscale(largest: int) -> list:
    """A plotly colorscale over counts 0..largest whose colour grows with log(1 + count): zero is
    white, one is already a visible blue, the diagonal the darkest."""
    largest = max(largest, 1)
    counts = sorted({0, 1, largest, *np.unique(np.geomspace(1, largest, 12).round().astype(int)).tolist()})
    return [[count / largest, _blue(math.log1p(count) / math.log1p(largest))] for count in counts]


def _blue(level: float) -> str:
    for (low, low_rgb), (high, high_rgb) in zip(_BLUES, _BLUES[1:]):
        if level <= high:
            t = (level - low) / (high - low)
            r, g, b = (round(a + (c - a) * t) for a, c in zip(low_rgb, high_rgb))
            return f"rgb({r},{g},{b})"
    return "rgb(8,48,107)"


def _heatmap_layout(names) -> dict:
    n = len(names)
    ticks = {"tickmode": "array", "tickvals": list(range(n)), "ticktext": list(names), "showgrid": False}
    size = min(620, max(320, 36 * n + 140))
    return {"height": size, "width": size + 60, "template": "plotly_white",
            "margin": {"l": 80, "r": 20, "t": 50, "b": 60},
            "xaxis": {**ticks, "title": {"text": "predicted"}, "side": "bottom", "constrain": "domain"},
            "yaxis": {**ticks, "title": {"text": "true"}, "autorange": "reversed", "scaleanchor": "x",
                      "constrain": "domain"}}


def cell_highlight(true: int, predicted: int) -> list[dict]:
    """A rectangle around the selected cell (layout shapes)."""
    return [{"type": "rect", "xref": "x", "yref": "y", "x0": predicted - 0.5, "x1": predicted + 0.5,
             "y0": true - 0.5, "y1": true + 0.5, "line": {"color": "#ef553b", "width": 3}}]


def gallery_html(evaluation, features, indices, true: int, predicted: int) -> str:
    """The examples at `indices` (one cell's) as cards: the image (or the row's first values),
    its position, and the model's top classes with their probabilities."""
    names = evaluation.class_names
    total = len(cell_examples(evaluation, true, predicted))
    verdict = "right" if true == predicted else "wrong"
    title = f"true {names[true]} → predicted {names[predicted]}: {total} examples ({verdict}, most confident first)"
    if total == 0:
        return gallery.grid([], title, "no examples in this cell: pick another")
    note = f"showing {len(indices)} of {total}" if len(indices) < total else ""
    if features is None:
        rows, images, limits = None, None, None
    else:
        rows = _take(features, indices)
        images = gallery.image_batch(rows)
        limits = gallery.value_range(images) if images is not None else None
    probabilities = evaluation.predictions.probabilities
    cards = []
    for k, index in enumerate(indices):
        ranked = np.argsort(-probabilities[index], kind="stable")[:TOP_K]
        top = "<br>".join(
            f"<span style='color:{'#1a7f37' if c == true else '#c62828' if c == predicted != true else '#555'}'>"
            f"{html.escape(names[c])} {probabilities[index, c]:.0%}</span>" for c in ranked)
        if images is not None:
            body = gallery.image_tag(images[k], limits, title=f"example {index}")
        elif rows is not None:
            body = f"<code style='font-size:10px;word-break:break-all'>{html.escape(gallery.row_text(rows, k))}</code>"
        else:
            body = ""
        cards.append(gallery.card(body, f"#{int(index)}<br>{top}", width_px=gallery.IMAGE_PX + 24 if images is not None
                                  else 180))
    return gallery.grid(cards, title, note)


def report_html(report, true: int | None = None, predicted: int | None = None) -> str:
    """The per-class table (precision, recall, F1, support), the true class's row highlighted
    (and the predicted class's, lighter), with the averages and accuracy below."""
    def row(cells, style=""):
        return f"<tr style='{style}'>" + "".join(f"<td style='padding:1px 8px;text-align:right'>{c}</td>"
                                                 for c in cells) + "</tr>"

    header = "".join(f"<th style='padding:1px 8px;text-align:right'>{h}</th>"
                     for h in ("class", "precision", "recall", "F1", "support"))
    body = []
    for i, scores in enumerate(report.classes):
        style = ("background:#fde68a;font-weight:bold" if i == true else
                 "background:#fef3c7" if i == predicted else "")
        body.append(row([html.escape(scores.name), f"{scores.precision:.3f}", f"{scores.recall:.3f}",
                         f"{scores.f1:.3f}", scores.support], style))
    for label, averages in (("macro avg", report.macro), ("weighted avg", report.weighted)):
        body.append(row([label, f"{averages.precision:.3f}", f"{averages.recall:.3f}", f"{averages.f1:.3f}",
                         report.num_examples], "border-top:1px solid #ccc;color:#555"))
    body.append(row(["accuracy", "", "", f"{report.accuracy:.3f}", report.num_examples], "color:#555"))
    return (f"<div class='nbmodels-report' style='font-size:12px;max-height:460px;overflow-y:auto'>"
            f"<table style='border-collapse:collapse'><tr>{header}</tr>{''.join(body)}</table></div>")


def confusion_html(confusion: np.ndarray, names, true: int, predicted: int, max_classes: int = 40) -> str:
    """The heatmap for the saved notebook: a table of counts shaded like the live one (no script)."""
    n = min(len(names), max_classes)
    largest = max(int(confusion.max()), 1)
    cell = "padding:0 3px;min-width:18px;height:18px;text-align:center;font-size:10px"
    header = "".join(f"<th style='{cell}'>{html.escape(name)}</th>" for name in names[:n])
    rows = []
    for t in range(n):
        cells = []
        for p in range(n):
            count = int(confusion[t, p])
            level = math.log1p(count) / math.log1p(largest)
            border = "outline:3px solid #ef553b;" if (t, p) == (true, predicted) else ""
            color = "white" if level > 0.6 else "black"
            cells.append(f"<td style='{cell};{border}background:{_blue(level)};color:{color}'>{count or ''}</td>")
        rows.append(f"<tr><th style='{cell};text-align:right'>{html.escape(names[t])}</th>{''.join(cells)}</tr>")
    more = f"<div>first {n} of {len(names)} classes</div>" if n < len(names) else ""
    return (f"<div><div style='font-size:11px'>rows: true class, columns: predicted</div>"
            f"<table style='border-collapse:collapse'><tr><th></th>{header}</tr>{''.join(rows)}</table>{more}</div>")


def _dropdown(description: str, options) -> widgets.Dropdown:
    """A dropdown wide enough for its description and its longest option (none cut off)."""
    longest = max(len(label) for label, _ in options)
    width = 8 * (len(description) + longest) + 60  # about 8 px a character at the notebook's font size
    return widgets.Dropdown(options=options, description=description, style={"description_width": "initial"},
                            layout=widgets.Layout(width=f"{width}px"))


def _check_outputs(model, data) -> None:
    """A model whose declared outputs do not match the dataset's classes, named before any
    prediction (the predictions would only tell that labels are out of the outputs' range)."""
    num_classes = getattr(data, "num_classes", None)
    try:
        width = model.output_shape[-1]
    except (AttributeError, IndexError, TypeError, ValueError):  # a subclassed or unbuilt model: no shape yet
        return
    if num_classes is not None and isinstance(width, int) and width != num_classes:
        raise ConfigError("EvaluationView", "model", model, f"a model with {num_classes} outputs", message=(
            f"EvaluationView: the model has {width} outputs but the dataset has num_classes={num_classes}; "
            "show a model built for this dataset."))


def _split_features(data, split: str, num_examples: int):
    """The evaluated examples' features, addressable by row (a Source), or None without data."""
    if data is None:
        return None
    examples = getattr(data, split) if hasattr(data, "task") and hasattr(data, "train") else data
    if isinstance(examples, (np.ndarray, dict)):
        examples = (examples, None)
    source = as_source(examples, name="EvaluationView data")
    if len(source) != num_examples:
        raise ConfigError("EvaluationView", "data", data, "the examples the evaluation was made on", message=(
            f"EvaluationView: data has {len(source)} examples but the evaluation has {num_examples}; "
            "pass the data (and split) the evaluation was made on."))
    return source


def _take(source, indices):
    """The features of rows `indices` of a Source (only those rows are read: a lazy folder stays lazy)."""
    features, _ = source.rows(np.asarray(indices, dtype=np.int64))
    return features
