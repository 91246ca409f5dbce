"""Image arrays in one layout, the one Conv2D and patch embeddings take: (N, H, W, C) float32."""

from __future__ import annotations

import numpy as np


def as_images(x, *, name: str = "x") -> np.ndarray:
    """`x` as (N, H, W, C) images: a grayscale batch (N, H, W) gains a channel axis of 1.

    Args:
        x: an array of images, (N, H, W) or (N, H, W, C).
        name: what `x` is called in the error message.

    Raises:
        ValueError: `x` has neither shape, e.g. flattened (N, H*W) rows.

    Example:

    >>> import numpy as np
    >>> as_images(np.zeros((5, 8, 8))).shape, as_images(np.zeros((5, 8, 8, 3))).shape
    ((5, 8, 8, 1), (5, 8, 8, 3))
    """
    x = np.asarray(x)
    if x.ndim == 3:  # grayscale (N, H, W) -> (N, H, W, 1), what Conv2D expects
        return x[..., None]
    if x.ndim == 4:
        return x
    flattened = " (flattened rows? e.g. load('digits', flatten=False) gives (N, 8, 8, 1))" if x.ndim == 2 else ""
    raise ValueError(
        f"{name} must be images shaped (N, H, W, C) or grayscale (N, H, W), got shape {x.shape}{flattened}."
    )
