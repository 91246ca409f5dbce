"""Images for views: numpy arrays to PNG, heat maps laid over images, enlarged small images.

Views show images as `<img src="data:image/png;base64,...">` in HTML (a gallery cell, a static
snapshot) or as a plotly `layout.images` source. Encoding is plain zlib (no Pillow: it is not a
dependency), and the images views show are small (digits are 8x8), so it costs microseconds.

Example:
>>> import numpy as np
>>> from nbmodels.dashboards._kit.images import as_rgb, data_uri, enlarge, overlay
>>> digit = np.linspace(0, 1, 64).reshape(8, 8)
>>> as_rgb(digit).shape, as_rgb(digit).dtype.name
((8, 8, 3), 'uint8')
>>> enlarge(as_rgb(digit), 4).shape
(32, 32, 3)
>>> overlay(digit, heat=np.eye(8)).shape
(8, 8, 3)
>>> data_uri(digit).startswith("data:image/png;base64,iVBORw0KGgo")
True
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

# A perceptual ramp (dark blue → red → yellow, "inferno"-like) for heat maps, 5 stops.
_HEAT_STOPS = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=float)


def as_rgb(image, value_range: tuple[float, float] | None = None) -> np.ndarray:
    """`image` `(H, W)`, `(H, W, 1)`, `(H, W, 3)` or `(H, W, 4)` as `uint8` RGB `(H, W, 3)`.

    Floats are scaled from `value_range` (default: 0..1 when they fit, else their min..max);
    uint8 images are taken as they are.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise ValueError(f"An image must be (height, width) or (height, width, 1 or 3 channels); got shape {array.shape}.")
    if array.dtype != np.uint8:
        array = array.astype(float)
        if value_range is None:
            low, high = (0.0, 1.0) if array.size and array.min() >= 0 and array.max() <= 1 else (
                float(np.nanmin(array)) if array.size else 0.0, float(np.nanmax(array)) if array.size else 1.0)
        else:
            low, high = value_range
        array = np.clip((np.nan_to_num(array) - low) / ((high - low) or 1.0), 0, 1)
        array = np.round(array * 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    return array


def heat_colors(heat) -> np.ndarray:
    """A heat map `(H, W)` (any range; scaled to its min..max) as `uint8` RGB on the ramp."""
    heat = np.nan_to_num(np.asarray(heat, dtype=float))
    spread = heat.max() - heat.min() if heat.size else 0.0
    unit = (heat - heat.min()) / spread if spread > 0 else np.zeros_like(heat)
    position = unit * (len(_HEAT_STOPS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_HEAT_STOPS) - 2)
    fraction = (position - low)[..., None]
    colors = _HEAT_STOPS[low] * (1 - fraction) + _HEAT_STOPS[low + 1] * fraction
    return np.round(colors).astype(np.uint8)


def overlay(image, heat, alpha: float = 0.5, value_range=None) -> np.ndarray:
    """`heat` `(h, w)` coloured and blended over `image` (RGB `uint8`); a coarser heat map (a
    patch grid, a conv feature map) is enlarged to the image's size first, cell by cell."""
    rgb = as_rgb(image, value_range)
    heat = np.asarray(heat, dtype=float)
    if heat.ndim != 2:
        raise ValueError(f"A heat map must be (height, width); got shape {heat.shape}.")
    rows = np.minimum(np.arange(rgb.shape[0]) * heat.shape[0] // rgb.shape[0], heat.shape[0] - 1)
    cols = np.minimum(np.arange(rgb.shape[1]) * heat.shape[1] // rgb.shape[1], heat.shape[1] - 1)
    colors = heat_colors(heat[rows][:, cols])
    return np.round(rgb * (1 - alpha) + colors * alpha).astype(np.uint8)


def enlarge(image, factor: int) -> np.ndarray:
    """Each pixel as a `factor` x `factor` block: small images stay sharp when shown large."""
    array = np.asarray(image)
    return array.repeat(factor, axis=0).repeat(factor, axis=1)


def png(image, value_range=None) -> bytes:
    """`image` (see `as_rgb`) encoded as a PNG file."""
    rgb = as_rgb(image, value_range)
    height, width = rgb.shape[:2]
    rows = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))  # filter 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def data_uri(image, value_range=None) -> str:
    """`image` as a `data:image/png;base64,...` URI for `<img src>` and plotly images."""
    return "data:image/png;base64," + base64.b64encode(png(image, value_range)).decode("ascii")
