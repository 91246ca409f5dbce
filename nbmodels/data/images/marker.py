"""The "marker" set: noise images whose class is decided by one small pattern in one known patch.

Every image is dim noise with exactly one bright marker, a `patch_size` x `patch_size` pattern
placed on the patch grid (so a model that cuts the image into patches of that size sees the
marker in exactly one patch). The marker's pattern alone decides the class; where it sits is
random. The ground truth records, per image, the marker's patch and pixel box, so an
explanation of a trained model can be scored: attention rollout should peak on the marker
patch, a Grad-CAM map inside the marker box.
"""

from __future__ import annotations

import numpy as np

from nbmodels.checks import ConfigError, check_float, check_fraction, check_int
from nbmodels.data.registry import Dataset, register
from nbmodels.data.splits import shuffled_split

MARKER_VALUE = 1.0  # marker pixels; the background noise stays below it, in [0, noise)


@register(
    "marker",
    description="Noise images whose class is set by one bright pattern in one patch; its position is ground truth.",
    task="classification",
    source="generated",
)
def marker(
    *,
    n: int = 1000,
    image_size: int = 16,
    patch_size: int = 4,
    num_classes: int = 4,
    channels: int = 1,
    noise: float = 0.3,
    validation_split: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A task only solved by finding one patch: which pattern is the marker, wherever it is.

    Images are float32 (N, image_size, image_size, channels). The background is uniform noise in
    [0, noise), drawn per pixel and channel. The marker is `patterns[label]`, a binary
    patch_size x patch_size mask whose "on" pixels are exactly 1.0 in every channel (its "off"
    pixels keep the background), placed at a patch of the grid drawn uniformly. Classes are
    balanced. The patterns depend only on `patch_size` and `num_classes`, not on `seed`, so sets
    drawn with different seeds pose the same task; each has at least half its pixels on and any
    two differ in at least a quarter of their pixels.

    `ground_truth` keys (train rows in the order of `ds.train`; `validation_...` for `ds.validation`):

    - `"patterns"`: (num_classes, patch_size, patch_size) uint8; `patterns[c]` is class c's marker.
    - `"marker_patches"`, `"validation_marker_patches"`: (N,) int32, the marker's patch index,
      row-major over the (image_size // patch_size)^2 grid: the order a patch embedding
      flattens patches in (before any class token).
    - `"marker_boxes"`, `"validation_marker_boxes"`: (N, 4) int32 pixel boxes
      (top, left, bottom, right), bottom/right exclusive: `x[i, top:bottom, left:right]`
      is the marker.
    - `"patch_size"`, `"grid_size"`: ints (grid_size = image_size // patch_size patches a side).

    Args:
        n: total number of images, before the validation split.
        image_size: side of the square images, in pixels; a multiple of `patch_size`, at
            least two patches a side (else the position tells nothing apart).
        patch_size: side of the marker and of the patch grid it is aligned to.
        num_classes: number of patterns (and labels), >= 2; a small patch holds only so many
            distinct patterns (the error says how many).
        channels: 1 (grayscale) or more (e.g. 3 for RGB-shaped images).
        noise: upper bound of the background noise, in [0, 1): below the marker's 1.0.
        validation_split: fraction held out for validation, in (0, 1).
        seed: the same seed gives the same images, positions and split.

    Example:

    >>> import numpy as np
    >>> from nbmodels import data
    >>> ds = data.load("marker", n=40, image_size=8, patch_size=2, num_classes=3)
    >>> x, y = ds.train
    >>> x.shape, x.dtype.name, ds.num_classes, ds.ground_truth["grid_size"]
    ((32, 8, 8, 1), 'float32', 3, 4)
    >>> top, left, bottom, right = ds.ground_truth["marker_boxes"][0].tolist()
    >>> on = x[0, top:bottom, left:right, 0] == 1.0  # the marker's "on" pixels
    >>> bool((on == ds.ground_truth["patterns"][y[0]]).all())
    True
    >>> grid = ds.ground_truth["grid_size"]
    >>> int(ds.ground_truth["marker_patches"][0]) == (top // 2) * grid + left // 2
    True
    """
    owner = "load('marker')"
    n = check_int(owner, "n", n, minimum=2)
    patch_size = check_int(owner, "patch_size", patch_size, minimum=1)
    image_size = check_int(owner, "image_size", image_size, minimum=2 * patch_size,
                           why=f"at least two patches of patch_size={patch_size} a side")
    if image_size % patch_size:
        allowed = f"it must be a multiple of patch_size={patch_size}, e.g. {image_size - image_size % patch_size}"
        raise ConfigError(owner, "image_size", image_size, allowed)
    num_classes = check_int(owner, "num_classes", num_classes, minimum=2)
    channels = check_int(owner, "channels", channels, minimum=1)
    noise = check_float(owner, "noise", noise, low=0.0, high=1.0, high_open=True,
                        fix="The marker is 1.0; the background noise must stay below it")
    validation_split = check_fraction(owner, "validation_split", validation_split)
    seed = check_int(owner, "seed", seed, minimum=0)
    patterns = marker_patterns(patch_size, num_classes, owner=owner)

    grid = image_size // patch_size
    rng = np.random.default_rng(seed)
    images = rng.uniform(0.0, noise, size=(n, image_size, image_size, channels)).astype(np.float32)  # (N, S, S, C)
    labels = (np.arange(n) % num_classes).astype(np.int32)  # balanced; the split shuffles
    patches = rng.integers(0, grid * grid, size=n).astype(np.int32)
    boxes = _boxes(patches, grid, patch_size)  # (N, 4)
    for image, label, (top, left, bottom, right) in zip(images, labels, boxes):
        window = image[top:bottom, left:right]  # (P, P, C), a view into the image
        window[patterns[label].astype(bool)] = MARKER_VALUE

    # Split row numbers, so the ground truth follows the images into their split.
    (train_rows, _), (validation_rows, _) = shuffled_split(
        np.arange(n), labels, validation_split=validation_split, seed=seed, owner=owner
    )
    return Dataset(
        task="classification",
        train=(images[train_rows], labels[train_rows]),
        validation=(images[validation_rows], labels[validation_rows]),
        num_classes=num_classes,
        ground_truth={
            "patterns": patterns,
            "marker_patches": patches[train_rows],
            "validation_marker_patches": patches[validation_rows],
            "marker_boxes": boxes[train_rows],
            "validation_marker_boxes": boxes[validation_rows],
            "patch_size": patch_size,
            "grid_size": grid,
        },
        extras={"class_names": [f"pattern {label}" for label in range(num_classes)]},
    )


def marker_patterns(patch_size: int, num_classes: int, *, owner: str = "marker_patterns") -> np.ndarray:
    """`num_classes` distinct binary patch_size x patch_size patterns, (num_classes, P, P) uint8.

    Drawn by a generator seeded with `patch_size` alone, greedily: a pattern is kept when at
    least half its pixels are on (the marker is the brightest patch) and it differs from every
    kept one in at least a quarter of its pixels (at least one), so the first k patterns are the
    same whatever `num_classes` >= k is asked for.

    Example:

    >>> marker_patterns(2, 3).shape
    (3, 2, 2)
    """
    pixels = patch_size * patch_size
    min_on, min_distance = (pixels + 1) // 2, max(1, pixels // 4)
    rng = np.random.default_rng(patch_size)
    kept: list[np.ndarray] = []
    # Small patches hold few patterns: stop after enough tries and say how many fit.
    for _ in range(200 * num_classes + 1000):
        if len(kept) == num_classes:
            break
        candidate = rng.integers(0, 2, size=pixels).astype(np.uint8)
        if candidate.sum() >= min_on and all(np.sum(candidate != other) >= min_distance for other in kept):
            kept.append(candidate)
    if len(kept) < num_classes:
        allowed = (f"a {patch_size}x{patch_size} patch holds {len(kept)} distinct marker patterns: use "
                   f"num_classes <= {len(kept)} or a larger patch_size")
        raise ConfigError(owner, "num_classes", num_classes, allowed)
    return np.stack(kept).reshape(num_classes, patch_size, patch_size)


def _boxes(patches: np.ndarray, grid: int, patch_size: int) -> np.ndarray:
    """(top, left, bottom, right) pixel boxes, (N, 4) int32, of row-major patch indices."""
    top = patches // grid * patch_size
    left = patches % grid * patch_size
    return np.stack([top, left, top + patch_size, left + patch_size], axis=1).astype(np.int32)
