"""`DatasetPreview(data, augment)`: a seeded draw of a dataset's images with their classes, each
next to its augmented version, and a button for a new draw."""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np

from nbmodels.checks import ConfigError, check_choice, check_int, fail
from nbmodels.dashboards import _gallery as gallery
from nbmodels.dashboards._kit.env import chart_mode
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay
from nbmodels.data.sources import as_source

_PRESETS_MODULE = "nbmodels.data.images.augmentation"


class DatasetPreview(SnapshotDisplay, widgets.VBox):
    """A grid of sample images with their class names; with `augment`, each image next to what
    the augmentation makes of it in training. "New draw" draws other samples (and transforms).

    The draw is seeded: the same `seed` and draw number give the same samples and the same
    transforms, so a saved notebook shows what a rerun shows.

    Args:
        data: an `nbmodels.data.Dataset` of images (its `split` is shown; an image folder is read
            lazily, only the drawn images), `(x, y)` arrays, or images alone. Images are
            `(N, H, W, C)` or grey `(N, H, W)`; flat rows of a square length (digits' default
            `(N, 64)`) are shown as square images.
        augment: a Keras layer stack as `train(augment=...)` takes it (applied here with
            `training=True`; MixUp and CutMix get the labels and show the mixed ones), a preset
            name of `nbmodels.data.images.augmentation` ("shapes", "natural", ...), or None.
        count: images per draw.
        split: `"train"` or `"validation"`, for a Dataset.
        seed: seed of the draws (samples and transforms).
        mode: chart mode, accepted like the other views'; the grid is HTML, drawn the same in
            JupyterLab and Colab.

    Example:
    >>> import keras
    >>> from nbmodels import data
    >>> from nbmodels.dashboards import DatasetPreview
    >>> preview = DatasetPreview(data.load("digits"), keras.layers.RandomRotation(0.1), count=8)
    >>> preview.summary()
    'DatasetPreview: 8 of 1438 train images (8x8, grey), 10 classes, augmented by RandomRotation; draw 0, seed 0'
    >>> preview.new_draw(); preview.draw, len(preview.indices)
    (1, 8)
    """

    def __init__(self, data, augment=None, *, count: int = 16, split: str = "train", seed: int = 0,
                 mode: str | None = None, class_names=None, **kwargs):
        super().__init__(**kwargs)
        owner = "DatasetPreview"
        self.count = check_int(owner, "count", count, minimum=1)
        self.seed = check_int(owner, "seed", seed, minimum=0)
        self.mode = check_choice(owner, "mode", mode or chart_mode(), ("widget", "display"))
        self.split = split
        self._source, names, self._num_classes = _images_source(data, split)
        self.class_names = tuple(str(n) for n in class_names) if class_names is not None else names
        self._num_classes = self._num_classes or len(self.class_names) or None
        self._augment_given = augment
        self.augment = None if isinstance(augment, str) else _own_copy(augment)  # a preset: built for the first draw
        self.draw = 0
        self.indices = np.zeros(0, dtype=np.int64)
        self.images = self.augmented = self.labels = self.mixed_labels = None
        self._button = widgets.Button(description="New draw", icon="refresh", tooltip="draw other samples")
        self._button.on_click(lambda _button: self.new_draw())
        self._grid = widgets.HTML()
        self.children = [self._button, self._grid]
        self._sample()

    def new_draw(self) -> None:
        """Draw other samples (and, with `augment`, other transforms)."""
        self.draw += 1
        self._sample()

    def _sample(self) -> None:
        rng = np.random.default_rng((self.seed, self.draw))
        size = len(self._source)
        self.indices = np.sort(rng.choice(size, min(self.count, size), replace=False))
        features, labels = self._source.rows(self.indices)
        images = gallery.image_batch(features)
        if images is None:
            shape = features.shape if isinstance(features, np.ndarray) else type(features).__name__
            fail("DatasetPreview", "data", shape, "images shaped (N, H, W, C) or (N, H, W), or flat rows of a "
                                                  "square length such as digits' (N, 64)")
        self.images, self.labels = images, None if labels is None else np.asarray(labels).reshape(-1)
        if isinstance(self._augment_given, str) and self.draw == 0:
            self.augment = _own_copy(_preset(self._augment_given, images.shape[1:], self._classes(), self.seed))
        if self.augment is not None:
            self.augmented, self.mixed_labels = augmented(self.augment, images, self.seed, self.draw,
                                                          labels=self.labels, num_classes=self._classes())
        self._grid.value = self.grid_html()
        self.refresh_snapshot()

    def grid_html(self) -> str:
        """The draw as cards: raw image (and augmented), class name, row."""
        limits = gallery.value_range(self.images)
        cards = []
        for k, index in enumerate(self.indices):
            body = gallery.image_tag(self.images[k], limits, title=f"row {index}")
            if self.augmented is not None:
                body += "&nbsp;" + gallery.image_tag(self.augmented[k], limits, title=f"row {index}, augmented")
            label = "" if self.labels is None else self._name(int(self.labels[k]))
            caption = f"<b>{html.escape(label)}</b> #{int(index)}"
            if self.mixed_labels is not None:  # MixUp / CutMix: the soft label the model trains on
                caption += "<br>→ " + html.escape(" + ".join(
                    f"{self._name(int(c))} {self.mixed_labels[k, c]:.0%}"
                    for c in np.argsort(-self.mixed_labels[k], kind="stable")[:2] if self.mixed_labels[k, c] > 0.005))
            cards.append(gallery.card(body, caption,
                                      width_px=(2 if self.augmented is not None else 1) * (gallery.IMAGE_PX + 12)))
        title = f"{self.split} images" + (": raw | augmented" if self.augment is not None else "")
        return gallery.grid(cards, title, f"draw {self.draw} (seed {self.seed}): {len(self.indices)} of "
                                          f"{len(self._source)}")

    def _classes(self) -> int | None:
        """The number of classes (one-hot width for label-mixing stacks)."""
        if self._num_classes is None and self.labels is not None and self.labels.size:
            return int(self.labels.max()) + 1
        return self._num_classes

    def _name(self, label: int) -> str:
        if self.class_names and 0 <= label < len(self.class_names):
            return self.class_names[label]
        return str(label)

    # ---- outputs that survive ------------------------------------------------------------------

    def summary(self) -> str:
        _, height, width, channels = self.images.shape
        colour = {1: "grey", 3: "RGB", 4: "RGBA"}[channels]
        classes = f", {len(self.class_names)} classes" if self.class_names else ""
        preset = f"preset {self._augment_given!r}: " if isinstance(self._augment_given, str) else ""
        augment = f", augmented by {preset}{describe(self.augment)}" if self.augment is not None else ""
        return (f"DatasetPreview: {len(self.indices)} of {len(self._source)} {self.split} images "
                f"({height}x{width}, {colour}){classes}{augment}; draw {self.draw}, seed {self.seed}")

    def snapshot_html(self) -> str:
        return f"<div class='nbmodels-snapshot'><b>{html.escape(self.summary())}</b>{self.grid_html()}</div>"


def augmented(stack, images: np.ndarray, seed: int, draw: int, *, labels=None, num_classes: int | None = None):
    """`(images, mixed labels)`: `images` `(N, H, W, C)` through `stack` in training mode, as
    `train(augment=)` applies it, and reproducibly: each random layer's generator is set from
    (seed, draw) first, whatever seed the layer was made with. A stack with MixUp or CutMix gets
    the one-hot `labels` too, and returns the mixed ones `(N, num_classes)`; others return None."""
    import keras

    from nbmodels.training import augment as training_augment

    batch = keras.ops.convert_to_tensor(np.asarray(images, dtype=np.float32))
    mixing = training_augment.mixes_labels(stack)
    if mixing:
        if labels is None:
            fail("DatasetPreview", "augment", describe(stack),
                 "a stack without MixUp and CutMix: they mix labels, and these images have none")
        one_hot = keras.ops.one_hot(keras.ops.convert_to_tensor(labels.astype(np.int32)), num_classes)

        def run(training):
            return training_augment._apply(stack, batch, one_hot, training=training)
    else:
        def run(training):
            return stack(batch, training=training), None
    run(False)  # builds the stack: its generator states exist from here
    states = [v for v in stack.variables if v.path.endswith("seed_generator_state")]
    for k, state in enumerate(states):
        state.assign(np.array([seed * 1009 + k, draw], dtype=state.dtype))
    images, mixed = run(True)
    return keras.ops.convert_to_numpy(images), None if mixed is None else keras.ops.convert_to_numpy(mixed)


def describe(stack) -> str:
    """'RandomFlip, RandomRotation' for a Sequential stack, else the layer's class name."""
    layers = getattr(stack, "layers", None)
    if layers:
        return ", ".join(type(layer).__name__ for layer in layers)
    return type(stack).__name__


def _own_copy(augment):
    """The preview's own copy of `augment` (reseeding must not touch the user's layers)."""
    if augment is None:
        return None
    from nbmodels.training.augment import check_augment

    check_augment("DatasetPreview", augment)
    return type(augment).from_config(augment.get_config())


def _preset(name: str, image_shape, num_classes, seed: int):
    """The stack of the preset `name` (nbmodels.data.images.augmentation) for these images."""
    import importlib

    try:
        presets = importlib.import_module(_PRESETS_MODULE)
    except ImportError:  # an nbmodels without presets: a stack still works
        raise ConfigError("DatasetPreview", "augment", name, "a Keras layer stack", message=(
            f"DatasetPreview: augment={name!r} names a preset, but this nbmodels has no augmentation presets "
            f"({_PRESETS_MODULE}); pass a Keras layer stack, e.g. keras.Sequential([keras.layers.RandomFlip()])."
        )) from None
    return presets.augmentation(name, image_shape=tuple(image_shape), num_classes=num_classes or 1, seed=seed)


def _images_source(data, split: str):
    """(a Source of the examples to draw from, class names or ())."""
    if hasattr(data, "task") and hasattr(data, "train"):  # a Dataset
        split = check_choice("DatasetPreview", "split", split, ("train", "validation"))
        examples = getattr(data, split)
        if examples is None:
            fail("DatasetPreview", "split", split, "the dataset has no validation split: use split='train'")
        names = tuple(str(n) for n in data.extras.get("class_names", ()))
        num_classes = data.num_classes
    else:
        examples, names, num_classes = data, (), None
    if isinstance(examples, np.ndarray):
        examples = (examples, None)
    source = as_source(examples, name="DatasetPreview data")
    if len(source) == 0:
        fail("DatasetPreview", "data", data, "it has no examples")
    return source, names, num_classes
