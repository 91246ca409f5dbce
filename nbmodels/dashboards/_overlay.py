"""A heat map laid over an image, the way the image views draw it: plain plotly dicts and HTML.

Live, the image is a plotly layout image (a PNG enlarged first, so a small image stays sharp
where the browser would blur it) and the heat map a semi-transparent heatmap trace over it, on
the heat map's own cell coordinates: a cell is one unit wide whatever the image size, so a
click reports the cell (a ViT patch, a Grad-CAM pixel) and the hover shows its value. The static
snapshot blends the two into one `<img>` (`nbmodels.dashboards._kit.images.overlay`).

Example:
>>> import numpy as np
>>> from nbmodels.dashboards._overlay import cell_outline, heat_trace, layout_image, peak
>>> heat = np.zeros((4, 4)); heat[1, 2] = 1.0
>>> peak(heat)
(1, 2)
>>> layout_image(np.zeros((8, 8)), heat.shape)["sizex"], heat_trace(heat)["type"]
(4, 'heatmap')
>>> cell_outline(1, 2)["x0"], cell_outline(1, 2)["y1"]
(1.5, 1.5)
"""

from __future__ import annotations

import html
import math

import numpy as np

from nbmodels.checks import ConfigError
from nbmodels.dashboards._kit.images import as_rgb, data_uri, enlarge, overlay

# The ramp `_kit.images.heat_colors` blends with (inferno-like), its low end transparent: where
# little attention or evidence is, the image shows through unchanged (with plain "Inferno" the
# low end is black, and a digit under it unreadable).
HEAT_COLORSCALE = [[0.0, "rgba(0,0,4,0)"], [0.25, "rgba(87,16,110,0.55)"], [0.5, "rgba(188,55,84,0.85)"],
                   [0.75, "rgb(249,142,9)"], [1.0, "rgb(252,255,164)"]]
OUTLINE_COLOR = "#00e5ff"  # cyan: visible on every colour of the heat ramp
SHOWN_PIXELS = 256  # a small image is enlarged to about this many pixels a side


def sized(image, pixels: int = SHOWN_PIXELS) -> np.ndarray:
    """`image` as RGB `uint8`, enlarged pixel by pixel to about `pixels` a side (sharp), or, when
    much larger, strided down (thumbnails that do not weigh a notebook down)."""
    rgb = as_rgb(image)  # (H, W, 3)
    side = max(rgb.shape[:2])
    if side > 2 * pixels:
        step = side // pixels
        return rgb[::step, ::step]
    return enlarge(rgb, max(1, math.ceil(pixels / side)))


def layout_image(image, heat_shape: tuple[int, int], xref: str = "x", yref: str = "y",
                 pixels: int = SHOWN_PIXELS) -> dict:
    """A plotly layout image covering the cells of a `heat_shape` `(rows, cols)` heat map: cell
    `(r, c)` is centred on x=c, y=r (the y axis runs downwards)."""
    rows, cols = heat_shape
    return {"source": data_uri(sized(image, pixels)), "xref": xref, "yref": yref, "x": -0.5, "y": -0.5,
            "sizex": cols, "sizey": rows, "xanchor": "left", "yanchor": "top", "sizing": "stretch",
            "layer": "below"}


def heat_trace(heat, name: str = "heat", opacity: float = 0.6, **axes) -> dict:
    """A heatmap trace of `heat` `(rows, cols)` on cell coordinates, coloured on its own range."""
    z = np.asarray(heat, dtype=np.float64)
    rows, cols = z.shape
    return {"name": name, "type": "heatmap", "z": z, "x": np.arange(cols, dtype=np.float64),
            "y": np.arange(rows, dtype=np.float64), "zmin": float(z.min()), "zmax": float(z.max()),
            "colorscale": HEAT_COLORSCALE, "opacity": opacity, "hoverongaps": False,
            "hovertemplate": "row %{y}, column %{x}: %{z:.3f}<extra></extra>", **axes}


def image_axes(heat_shape: tuple[int, int]) -> tuple[dict, dict]:
    """x and y axis settings that show the cells square, row 0 on top, without grid lines."""
    rows, cols = heat_shape
    common = {"showgrid": False, "zeroline": False, "constrain": "domain", "dtick": 1}
    x = {**common, "range": [-0.5, cols - 0.5]}
    y = {**common, "range": [rows - 0.5, -0.5], "scaleanchor": "x", "scaleratio": 1}
    return x, y


def cell_outline(row: int, col: int, xref: str = "x", yref: str = "y", size: int = 1) -> dict:
    """A layout shape outlining cell `(row, col)` (a `size` x `size` block of cells)."""
    return {"type": "rect", "xref": xref, "yref": yref, "x0": col - 0.5, "x1": col + size - 0.5,
            "y0": row - 0.5, "y1": row + size - 0.5, "line": {"color": OUTLINE_COLOR, "width": 3}}


def peak(heat) -> tuple[int, int]:
    """`(row, col)` of the heat map's maximum (the first one, row-major)."""
    z = np.asarray(heat)
    row, col = np.unravel_index(int(np.argmax(z)), z.shape)
    return int(row), int(col)


def clicked_cell(points) -> tuple[int, int] | None:
    """`(row, col)` of a click on a heat trace (plotly `Points`); None when the click was on
    another trace (plotly calls every trace's click handlers, most with no points)."""
    if not points.xs:
        return None
    return int(round(points.ys[0])), int(round(points.xs[0]))


def overlay_img(image, heat, alpha: float = 0.5, box: tuple[int, int, int, int] | None = None,
                pixels: int = SHOWN_PIXELS, title: str = "") -> str:
    """`<img>` of `heat` blended over `image`, enlarged; `box` `(top, left, bottom, right)` in
    the image's pixels (bottom/right exclusive) is outlined."""
    blended = overlay(image, heat, alpha=alpha)  # (H, W, 3)
    shown = sized(blended, pixels)  # outlined after enlarging: a frame inside a 2-pixel patch would fill it
    if box is not None:
        scale = shown.shape[0] / blended.shape[0]
        shown = outlined(shown, tuple(int(round(v * scale)) for v in box))
    return img_tag(shown, pixels, title)


def img_tag(image, pixels: int = SHOWN_PIXELS, title: str = "") -> str:
    """An `<img>` (PNG data URI) of `image`, enlarged to about `pixels` a side."""
    shown = sized(image, pixels)
    return (f"<img src='{data_uri(shown)}' width='{shown.shape[1]}' height='{shown.shape[0]}' "
            f"title='{html.escape(title)}' alt='{html.escape(title)}' style='image-rendering:pixelated;margin:2px'>")


def outlined(rgb: np.ndarray, box: tuple[int, int, int, int], width: int = 2, color=(0, 229, 255)) -> np.ndarray:
    """A copy of `rgb` `(H, W, 3)` with a frame `width` pixels wide just inside `box`."""
    top, left, bottom, right = box
    framed = rgb.copy()
    framed[top:top + width, left:right] = framed[bottom - width:bottom, left:right] = color
    framed[top:bottom, left:left + width] = framed[top:bottom, right - width:right] = color
    return framed


# ---- the images a view is given ------------------------------------------------------------------

def model_image_shape(model) -> tuple:
    """`(H, W, C)` a model takes, from its own record (`image_shape`, `config.input_shape`, a
    functional model's input); unknown sizes are None."""
    shape = getattr(model, "image_shape", None) or getattr(getattr(model, "config", None), "input_shape", None)
    if shape is None:
        try:
            shape = tuple(model.input_shape)[1:]
        except (AttributeError, ValueError, TypeError):  # a subclassed model never called on data
            shape = (None, None, None)
    return tuple(shape)


def image_batch(owner: str, field: str, images, image_shape: tuple) -> np.ndarray:
    """`images` as a float32 batch `(B, H, W, C)` of `image_shape`, or a ValueError naming both shapes.

    Takes one image `(H, W, C)`, one single-channel image `(H, W)`, or batches of either.
    """
    height, width, channels = image_shape
    try:
        array = np.asarray(images, dtype=np.float32)
    except (TypeError, ValueError):
        array = None
    if array is not None:
        if array.ndim == 2:
            array = array[None, ..., None]  # one (H, W) image
        elif array.ndim == 3:
            one_image = array.shape[-1] == channels or (channels is None and array.shape[-1] in (1, 3, 4))
            array = array[None] if one_image else array[..., None]  # (H, W, C), or a batch of (H, W)
        fits = array.ndim == 4 and all(want is None or size == want for size, want in zip(array.shape[1:], image_shape))
        if fits and array.shape[0] > 0:
            return array
    given = f"shape {np.shape(images)}" if array is not None else f"a {type(images).__name__}"
    expected = tuple("?" if size is None else size for size in image_shape)
    single = f" or {expected[:2]} for one channel" if channels == 1 else ""
    raise ConfigError(owner, field, given, f"images of shape {expected}", message=(
        f"{owner}: {field} is {given}; the model takes images (height, width, channels) = {expected}{single}, "
        f"one image or a batch of them."))
