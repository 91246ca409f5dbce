"""Augmentation presets: named stacks of Keras preprocessing layers for `train(..., augment=)`.

`augmentation(preset, image_shape=..., num_classes=...)` makes a `keras.Sequential` that keeps
the images' shape and dtype; the vision recipes pick one per dataset (their "augmentation"
option). Every dataset here delivers float32 pixels in [0, 1], so the layers that need a value
range (contrast, RandAugment) are given (0, 1), not Keras's default (0, 255).

"mixup" and "cutmix" mix labels as well as images: `nbmodels.training.augment` sees that and
gives them one-hot labels (see `mixes_labels` there). Keras is imported only when a stack is made.

Example:
>>> from nbmodels.data.images.augmentation import PRESETS, augmentation
>>> list(PRESETS)
['none', 'shapes', 'natural', 'randaugment', 'mixup', 'cutmix']
>>> augmentation("none", image_shape=(8, 8, 1), num_classes=10) is None
True
>>> stack = augmentation("shapes", image_shape=(8, 8, 1), num_classes=10, seed=0)
>>> [layer.__class__.__name__ for layer in stack.layers]
['RandomRotation', 'RandomTranslation']
"""

from __future__ import annotations

from nbmodels.checks import fail

# What each preset does, in a line (what a picker shows).
PRESETS = {
    "none": "no augmentation",
    "shapes": "small rotation and shift by whole pixels, no flips (a flipped digit is another digit): digits, MNIST",
    "natural": "horizontal flip, rotation, zoom and contrast: photos, CIFAR-10, your own images",
    "randaugment": "RandAugment: two random operations of a fixed strength per image (Cubuk et al. 2019)",
    "mixup": "MixUp: blends pairs of images and their labels (Zhang et al. 2017); needs class labels",
    "cutmix": "CutMix: pastes a box of one image into another, mixing labels by area (Yun et al. 2019)",
}

LABEL_MIXING_PRESETS = ("mixup", "cutmix")
_VALUE_RANGE = (0.0, 1.0)  # what every nbmodels image dataset delivers


def augmentation(preset: str, *, image_shape, num_classes: int, seed: int | None = None):
    """The preset's layer stack for images of `image_shape`, or None for "none".

    Args:
        preset: a name in `PRESETS`.
        image_shape: one image's shape, (H, W, C) or grayscale (H, W): a grayscale stack gives
            its images a channel axis for the layers and takes it away after.
        num_classes: the number of classes (the label-mixing presets' one-hot width).
        seed: seed of the random layers (None: each run's seed decides; see
            `nbmodels.training.augment`).

    Raises:
        ConfigError: an unknown preset, naming the presets.
    """
    if preset not in PRESETS:
        fail("augmentation", "preset", preset, f"choose one of {', '.join(map(repr, PRESETS))}")
    if preset == "none":
        return None
    import keras

    layers = _layers(keras, preset, seed)
    image_shape = tuple(image_shape)
    if len(image_shape) == 2:  # grayscale (H, W): the image layers need (B, H, W, C)
        layers = [keras.layers.Reshape((*image_shape, 1)), *layers, keras.layers.Reshape(image_shape)]
    return keras.Sequential(layers, name=f"augmentation_{preset}")


def _layers(keras, preset: str, seed):
    layers = keras.layers
    # Geometric layers fill what they uncover with black (the background of digits and
    # shapes), not with a mirror image of the border, which draws strokes that are not there.
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    if preset == "shapes":
        # Mild, with nearest pixels (no blur): on 8x8 digits a pixel is an eighth of a stroke.
        # The recipes' default runs on digits (convnet 15 epochs, ViT 20) reach 98.1% and 98.1%
        # with these (98.3% and 97.5% without); bilinear rotation 0.05, zoom 0.1 and shift 0.1
        # blurred them down to 92.2% and 89.7%.
        return [layers.RandomRotation(0.03, seed=seed, interpolation="nearest", **fill),  # +-11 degrees
                layers.RandomTranslation(0.1, 0.1, seed=seed, interpolation="nearest", **fill)]
    if preset == "natural":
        return [layers.RandomFlip("horizontal", seed=seed),
                layers.RandomRotation(0.05, seed=seed, fill_mode="reflect"),
                layers.RandomZoom(0.1, seed=seed, fill_mode="reflect"),
                layers.RandomContrast(0.2, value_range=_VALUE_RANGE, seed=seed)]
    if preset == "randaugment":
        return [layers.RandAugment(value_range=_VALUE_RANGE, seed=seed)]
    if preset == "mixup":
        return [layers.MixUp(alpha=0.2, seed=seed)]
    return [layers.CutMix(factor=1.0, seed=seed)]  # "cutmix"
