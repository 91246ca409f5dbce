"""What the AttentionExplorer shows, as plain data: the selected attention matrix, the row
of one query, plotly trace dicts, labels, the text summary and the static HTML heatmap.

Example:
>>> import numpy as np
>>> from nbmodels.inspect import AttentionMap
>>> from nbmodels.dashboards._attention import selected_scores, token_labels
>>> scores = np.full((1, 2, 2, 2), 0.5, dtype=np.float32); scores[0, 1] = [[1, 0], [0, 1]]
>>> amap = AttentionMap(scores, ["a", " "], causal=False)
>>> selected_scores(amap, layer=0, head=1).tolist(), selected_scores(amap, layer=0, head="mean").tolist()
([[1.0, 0.0], [0.0, 1.0]], [[0.75, 0.25], [0.25, 0.75]])
>>> token_labels(["a", " ", "\\n"])
['a', '␣', '⏎']
"""

from __future__ import annotations

import html

import numpy as np

MEAN = "mean"  # the head selector's "all heads averaged" value
_VISIBLE = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍", "": "∅"}
COLORSCALE = "Viridis"


def token_labels(tokens) -> list[str]:
    """Tokens as axis labels: whitespace made visible (a character model's ' ' and '\\n')."""
    return ["".join(_VISIBLE.get(c, c) for c in t) if t else _VISIBLE[""] for t in tokens]


def selected_scores(attention_map, layer: int, head, rollout: bool = False, rollout_scores=None) -> np.ndarray:
    """(queries, keys): one head, the heads' mean (head="mean"), or attention rollout."""
    if rollout:
        if rollout_scores is None:
            from nbmodels.inspect import attention_rollout

            rollout_scores = attention_rollout(attention_map)
        return rollout_scores
    layer_scores = attention_map.scores[layer]  # (heads, queries, keys)
    return layer_scores.mean(axis=0) if head == MEAN else layer_scores[head]


def selection_title(layer: int, head, rollout: bool) -> str:
    if rollout:
        return "attention rollout (all layers, heads averaged)"
    return f"layer {layer}, " + ("mean of heads" if head == MEAN else f"head {head}")


def heatmap_trace(z: np.ndarray, name: str = "attention", **axes) -> dict:
    """A heatmap of `z` (queries down, keys across) on numeric axes: tokens repeat, so the
    token text goes in tick labels, not in category names plotly would merge."""
    n = z.shape[0]
    return {"name": name, "type": "heatmap", "z": np.asarray(z, dtype=np.float64), "x": np.arange(n, dtype=np.float64), "y": np.arange(n, dtype=np.float64),
            "zmin": 0.0, "zmax": 1.0, "colorscale": COLORSCALE, "hovertemplate": "query %{y} → key %{x}: %{z:.3f}<extra></extra>",
            **axes}


def query_trace(z: np.ndarray, query: int | None, **axes) -> dict:
    """Bars of where `query` attends (its row of `z`); empty when no query is selected."""
    values = np.asarray(z[query], dtype=np.float64) if query is not None else np.zeros(0)
    return {"name": "query row", "type": "bar", "x": np.arange(len(values), dtype=np.float64), "y": values,
            "marker": {"color": "#ef553b"}, "showlegend": False, **axes}


def query_highlight(query: int | None, n: int) -> list[dict]:
    """A rectangle around the selected query's row of the heatmap (layout shapes)."""
    if query is None:
        return []
    return [{"type": "rect", "xref": "x", "yref": "y", "x0": -0.5, "x1": n - 0.5, "y0": query - 0.5,
             "y1": query + 0.5, "line": {"color": "#ef553b", "width": 2}}]


def overview_traces(attention_map) -> list[dict]:
    """One small heatmap per (layer, head), laid out layers down and heads across."""
    traces = []
    heads = attention_map.num_heads
    for layer in range(attention_map.num_layers):
        for head in range(heads):
            index = layer * heads + head + 1
            suffix = "" if index == 1 else str(index)
            trace = heatmap_trace(attention_map.scores[layer, head], name=f"layer {layer} head {head}",
                                  xaxis="x" + suffix, yaxis="y" + suffix, showscale=False)
            trace["hovertemplate"] = f"layer {layer} head {head}<br>" + trace["hovertemplate"]
            traces.append(trace)
    return traces


def explorer_summary(attention_map, layer: int, head, rollout: bool, query: int | None) -> str:
    """The explorer's stable text/plain line."""
    shown = selection_title(layer, head, rollout)
    if query is not None:
        shown += f", query {query} {token_labels([attention_map.tokens[query]])[0]!r}"
    return (f"AttentionExplorer: {attention_map.num_layers} layers x {attention_map.num_heads} heads, "
            f"{attention_map.num_positions} tokens; showing {shown}")


def heatmap_html(z: np.ndarray, labels: list[str], title: str, max_positions: int = 48) -> str:
    """A static heatmap: an HTML table with shaded cells (no script), the first positions only."""
    n = min(len(labels), max_positions)
    shown = [html.escape(label) for label in labels[:n]]
    cell = "padding:0;width:14px;height:14px"
    header = "".join(f"<th style='font-size:9px;{cell}'>{label}</th>" for label in shown)
    rows = []
    for q in range(n):
        cells = "".join(f"<td title='{float(z[q, k]):.3f}' style='{cell};background:{_shade(float(z[q, k]))}'></td>"
                        for k in range(n))
        rows.append(f"<tr><th style='font-size:9px;text-align:right'>{shown[q]}</th>{cells}</tr>")
    more = f"<div>first {n} of {len(labels)} positions</div>" if n < len(labels) else ""
    return (f"<div class='nbmodels-snapshot'><b>{html.escape(title)}</b><table style='border-collapse:collapse'>"
            f"<tr><th></th>{header}</tr>{''.join(rows)}</table>{more}</div>")


def _shade(value: float) -> str:
    """White (0) to dark blue (1)."""
    v = min(max(value, 0.0), 1.0)
    r, g, b = (round(255 + (c - 255) * v) for c in (31, 78, 153))
    return f"#{r:02x}{g:02x}{b:02x}"


# ---- image mode: a ViT's attention on its patch grid -------------------------------------------

CLS = "cls"  # the image-mode query selector's "class token" value (vit_attention's query="cls")


def image_attention(model, image):
    """The attention of one image `(H, W, C)` through a ViT, as an `AttentionMap` over the class
    token and the patches (row-major), from one forward pass: the scores `vit_attention` and
    `vit_rollout` read, kept so every selection is a re-slice, not another pass."""
    from nbmodels.inspect import AttentionMap
    from nbmodels.inspect.attention import CLS_LABEL

    scores = np.asarray(model.attention_scores(image[None]), dtype=np.float32)[:, 0]  # (L, N, T, T)
    grid = patch_grid_size(scores.shape[-1])
    tokens = [CLS_LABEL] + [f"patch ({r}, {c})" for r in range(grid) for c in range(grid)]
    return AttentionMap(scores=scores, tokens=tokens, causal=False)


def patch_grid_size(positions: int) -> int:
    """Patches a side, from the positions a ViT attends over (the class token and grid^2 patches)."""
    return int(round((positions - 1) ** 0.5))


def patch_map(scores: np.ndarray, query) -> np.ndarray:
    """(grid, grid): row `query` ("cls" or a patch index) of a (positions, positions) matrix,
    over the patches, on the grid; the class token's own share left out, as in `vit_attention`."""
    row = 0 if query == CLS else 1 + int(query)
    patches = scores[row, 1:]  # (grid * grid,)
    grid = patch_grid_size(scores.shape[-1])
    return patches.reshape(grid, grid)


def patch_name(query, grid: int) -> str:
    """'the class token' or 'patch (row, col)'."""
    if query == CLS:
        return "the class token"
    row, col = divmod(int(query), grid)
    return f"patch ({row}, {col})"


def image_title(layer: int, head, rollout: bool, query, grid: int) -> str:
    shown = "rollout" if rollout else selection_title(layer, head, rollout)
    return f"{shown} from {patch_name(query, grid)}"


def image_summary(attention_map, layer: int, head, rollout: bool, query, heat: np.ndarray) -> str:
    """The image explorer's stable text/plain line, e.g. "AttentionExplorer: ViT 2 layers x 2 heads,
    4x4 patches; showing rollout from the class token; peak at patch (1, 2)"."""
    grid = heat.shape[0]
    row, col = np.unravel_index(int(np.argmax(heat)), heat.shape)
    return (f"AttentionExplorer: ViT {attention_map.num_layers} layers x {attention_map.num_heads} heads, "
            f"{grid}x{grid} patches; showing {image_title(layer, head, rollout, query, grid)}; "
            f"peak at patch ({row}, {col})")
