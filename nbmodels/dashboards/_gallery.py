"""Galleries of examples for the image views (EvaluationView, DatasetPreview): which rows are
images, one value range per gallery, and `<img>` cards laid out in a wrapping grid.

Plain functions returning numpy or HTML strings; the images are inline data URIs (from
`_kit.images`), so the same HTML serves the live widget and the saved notebook's snapshot.

Example:
>>> import numpy as np
>>> batch = image_batch(np.zeros((3, 64), "float32"))  # flat 8x8 rows, as digits' default gives them
>>> batch.shape, value_range(batch)
((3, 8, 8, 1), (0.0, 1.0))
>>> image_batch(np.zeros((3, 12), "int32")) is None  # token ids are no image
True
>>> "image-rendering:pixelated" in image_tag(batch[0], (0.0, 1.0))
True
"""

from __future__ import annotations

import html
import math

import numpy as np

from nbmodels.dashboards._kit.images import data_uri, enlarge

IMAGE_PX = 72  # the shown size of a gallery image's longer side, at least
MAX_PX = 160  # larger images (photos) are subsampled to about this: a saved notebook stays small
MIN_FLAT_SIDE = 4  # flat float rows of a square length from 4x4 up are shown as square images


def image_batch(features) -> np.ndarray | None:
    """`features` (a batch of rows) as `(N, H, W, C)` images with C in 1, 3, 4, or None when the
    rows are not images (a dict of inputs, token ids, vectors of a non-square length).

    Flat float rows of a square length (scikit-learn digits' default `(N, 64)`) become square
    grey images: that is how such a set was made, and a picture says more than 64 numbers.
    """
    if not isinstance(features, np.ndarray) or features.dtype == object or features.ndim < 2:
        return None
    if features.ndim == 2:
        side = math.isqrt(features.shape[1])
        is_square = side >= MIN_FLAT_SIDE and side * side == features.shape[1]
        if not (is_square and np.issubdtype(features.dtype, np.floating)):
            return None
        return features.reshape(len(features), side, side, 1)
    if features.ndim == 3:  # grey (N, H, W)
        return features[..., None]
    if features.ndim == 4 and features.shape[-1] in (1, 3, 4):
        return features
    return None


def value_range(images) -> tuple[float, float]:
    """One range for a whole gallery, so images compare: 0..1, 0..255, else their min..max."""
    images = np.asarray(images)
    if images.dtype == np.uint8 or images.size == 0:
        return (0.0, 255.0) if images.dtype == np.uint8 else (0.0, 1.0)
    low, high = float(np.nanmin(images)), float(np.nanmax(images))
    if low >= 0 and high <= 1:
        return 0.0, 1.0
    if low >= 0 and high <= 255:
        return 0.0, 255.0
    return low, high


def image_tag(image, value_range: tuple[float, float], *, title: str = "", size_px: int = IMAGE_PX) -> str:
    """An `<img>` of one `(H, W, C)` image, enlarged pixel by pixel to about `size_px` and drawn
    `pixelated` so an 8x8 digit stays sharp instead of a blur; one larger than `MAX_PX` is
    subsampled to at most that."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.clip(image, *value_range)  # augmentation (contrast, zoom fill) can step outside
    stride = math.ceil(max(image.shape[:2]) / MAX_PX)
    image = image[::stride, ::stride]  # a 224 px photo shown at 112 px costs a quarter of the bytes
    factor = max(1, math.ceil(size_px / max(image.shape[:2])))
    big = enlarge(image, factor)  # (H * factor, W * factor, C)
    return (f"<img src='{data_uri(big, value_range)}' width='{big.shape[1]}' height='{big.shape[0]}' "
            f"title='{html.escape(title, quote=True)}' "
            "style='image-rendering:pixelated;border:1px solid #ccc;margin:0'>")


def card(body: str, caption: str, *, width_px: int = IMAGE_PX + 24) -> str:
    """One gallery cell: `body` (images, markup) over a small caption (markup)."""
    return (f"<div style='display:inline-block;vertical-align:top;min-width:{width_px}px;margin:3px;padding:3px;"
            f"border:1px solid #eee;border-radius:4px;font-size:11px;line-height:1.3;text-align:center'>"
            f"{body}<div>{caption}</div></div>")


def grid(cards: list[str], title: str = "", note: str = "") -> str:
    """Cards in a wrapping row under a bold title, with a note (e.g. 'showing 24 of 40') below."""
    head = f"<div style='font-weight:bold;margin:4px 0'>{html.escape(title)}</div>" if title else ""
    tail = f"<div style='color:#666;font-size:11px'>{html.escape(note)}</div>" if note else ""
    return f"<div class='nbmodels-gallery'>{head}<div>{''.join(cards)}</div>{tail}</div>"


def row_text(features, index: int, limit: int = 12) -> str:
    """A short text of one example that is no image: its first values (token ids, a vector)."""
    if isinstance(features, dict):
        return "; ".join(f"{name}: {row_text(value, index, limit)}" for name, value in features.items())
    row = np.asarray(features[index]).reshape(-1)
    shown = " ".join(_number(value) for value in row[:limit])
    return f"[{shown}{' …' if row.size > limit else ''}]"


def _number(value) -> str:
    return str(int(value)) if float(value).is_integer() else f"{float(value):.3g}"
