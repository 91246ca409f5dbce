"""`RecommenderExplorer(model, data)`: what a two-tower model recommends to whom, and why.

Every number comes from `nbmodels.inspect.recommenders` (`recommend`, `explain`,
`similar_items`, `pca`); the view only picks what to ask and draws the answers. The functions
below the class turn those answers into plotly traces and HTML, and are tested without a browser.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import traitlets

from nbmodels.checks import ConfigError, check_choice, check_int, fail
from nbmodels.dashboards._kit.chart import Chart
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay

OWNER = "RecommenderExplorer"
WHY = 3  # history items named as the reason for each recommendation
HISTORY_SHOWN = 20  # history items listed (the most recent first when the data has timestamps)
SNAPSHOT_POINTS = 1500  # most catalogue points the static scatter draws (the highlighted ones always)
COLOR_BY = ("genre", "cluster", "none")
# Plotly's qualitative "Plotly" then "D3" palettes: distinct colours for up to 20 groups.
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff",
           "#fecb52", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")
# The overlays drawn over the catalogue: (trace name, plotly marker).
MARKS = {
    "history": {"symbol": "circle-open", "size": 10, "color": "#111111", "line": {"width": 2}},
    "recommended": {"symbol": "star", "size": 14, "color": "#f5b700", "line": {"width": 1, "color": "#111111"}},
    "neighbours": {"symbol": "diamond-open", "size": 12, "color": "#ef553b", "line": {"width": 2}},
    "selected item": {"symbol": "circle-open", "size": 22, "color": "#ef553b", "line": {"width": 3}},
}


class RecommenderExplorer(SnapshotDisplay, widgets.VBox):
    """A user's history and top-K (train items left out), why each item is recommended, an
    item's nearest items, and the catalogue as a 2-D map of the item embeddings.

    Pick a user: their history is listed and circled on the map, their recommendations listed
    (each with its score and the history items most similar to it: the "why") and starred, and
    their first recommendation selected. Pick an item (or click a point on the map): it is
    ringed and its nearest items listed and marked. `selection` is a `(user, item)` traitlet, so
    other views can follow or drive it (`traitlets.link((view, "selection"), (other, "selection"))`).

    Args:
        model: a two-tower model (`nbmodels.models.recommenders.TwoTower`).
        data: the retrieval `Dataset` it trained on: its train split is each user's history,
            its extras give titles and genres.
        k: recommendations (and neighbours) listed.
        user: the user shown first.
        color_by: colour the map by each item's `"genre"` (its first), its true `"cluster"`
            (generated data's ground truth) or `"none"`; default genre, else cluster.
        mode: chart mode, `"widget"` or `"display"` (default: `nbmodels.dashboards.chart_mode()`).

    Example:
    >>> from nbmodels import data
    >>> from nbmodels.dashboards import RecommenderExplorer
    >>> from nbmodels.models.recommenders import TwoTower, TwoTowerConfig
    >>> ratings = data.load("synthetic_interactions")
    >>> model = TwoTower(TwoTowerConfig.preset("tiny", num_users=600, num_items=400))  # untrained
    >>> view = RecommenderExplorer(model, ratings, k=5)
    >>> view.select(user=3)
    >>> len(view.recommendations[0]), set(view.recommendations[0]) & set(view.history)
    (5, set())
    >>> view.summary()
    'RecommenderExplorer: 600 users, 400 items, user 3: 5 recommendations (seen excluded); item ...: 5 neighbours'
    """

    selection = traitlets.Tuple(help="(user id, item id): whose recommendations, and whose neighbours, are shown")

    def __init__(self, model, data, k: int = 10, *, user: int = 0, color_by: str | None = None,
                 mode: str | None = None, **kwargs):
        from nbmodels.inspect.recommenders import catalogue_size, pca, seen_by_user
        from nbmodels.models.recommenders.index import TopKIndex

        self.model = model
        self.num_users, self.num_items = catalogue_size(model)
        _check_catalogue(data, self.num_users, self.num_items)
        self.k = check_int(OWNER, "k", k, minimum=1, maximum=self.num_items - 1,
                           why=f"the catalogue has {self.num_items} items")
        user = check_int(OWNER, "user", user, minimum=0, maximum=self.num_users - 1, why="user ids")
        self.data = data
        self.titles = item_titles(data, self.num_items)
        self.genres = item_genre_names(data, self.num_items)
        color_by = _color_by(data, color_by)
        self.color_by = color_by
        self.groups, self.group_names = item_groups(data, self.num_items, color_by)
        self._seen = seen_by_user(data, self.num_users)
        self._order = history_order(data, self._seen)
        self._index = TopKIndex.from_model(model)  # one compiled search for every user asked
        self.points, self.variance_share = pca(np.asarray(model.item_embeddings(), np.float32), 2)
        self._trace_items: dict[str, np.ndarray] = {}  # trace name -> the item id of each point
        # Answers per user and item, asked once: the view shows the model as it was when built.
        self._recommended_to: dict[int, tuple] = {}
        self._reasons: dict[int, tuple] = {}
        self._neighbours_of: dict[int, tuple] = {}
        self._syncing = False
        super().__init__(**kwargs)

        self._user = widgets.BoundedIntText(value=user, min=0, max=self.num_users - 1, description="user",
                                            layout={"width": "180px"})
        self._item = widgets.BoundedIntText(value=0, min=0, max=self.num_items - 1, description="item",
                                            layout={"width": "180px"})
        self._title = widgets.HTML()
        self._recommended_list = widgets.HTML()
        self._neighbours_list = widgets.HTML()
        self._history_list = widgets.HTML()

        self._chart = Chart({"layout": _scatter_layout()}, mode=mode)
        hint = "click a point to see its neighbours" if self._chart.mode == "widget" else "pick an item above"
        self._chart.draw(self._catalogue_traces() + self._overlay_traces(), layout={
            "title": {"text": f"item embeddings (PCA, {self.variance_share.sum():.0%} of variance)"},
            "annotations": [{"text": hint, "xref": "paper", "yref": "paper", "x": 0, "y": -0.03, "showarrow": False,
                             "xanchor": "left", "font": {"size": 11, "color": "#666"}}]})
        if self._chart.mode == "widget":
            for trace in self._chart.figure.data:
                trace.on_click(self._clicked)
        self.charts = (self._chart,)

        # The map above the lists, as wide as the notebook: plotly autosizes only in a column (beside
        # other widgets it draws at its default 700 px, and a fixed width overflows a narrow notebook).
        chart = [self._chart.view] if self._chart.view is not None else []
        self.children = [widgets.HBox([self._user, self._item, self._title], layout={"flex_flow": "row wrap"}),
                         *chart, self._recommended_list, self._neighbours_list, self._history_list]
        self._user.observe(self._picked_user, names="value")
        self._item.observe(self._picked_item, names="value")
        self.observe(self._redraw, names="selection")
        self.select(user=user)

    # ---- selection ---------------------------------------------------------------------------

    def select(self, user: int | None = None, item: int | None = None) -> None:
        """Show `user` (their first recommendation becomes the item, unless `item` is given)
        and/or `item`: what the user box, the item box and a click on the map do."""
        current = self.selection or (None, None)
        user = current[0] if user is None else user
        if item is None:
            item = current[1] if user == current[0] else self._first_item(user)
        self.selection = (user, item)

    @traitlets.validate("selection")
    def _valid_selection(self, proposal):
        value = proposal["value"]
        if not (isinstance(value, tuple) and len(value) == 2):
            raise ConfigError(OWNER, "selection", value, "a (user id, item id) pair")
        return (check_int(OWNER, "user", value[0], minimum=0, maximum=self.num_users - 1, why="user ids"),
                check_int(OWNER, "item", value[1], minimum=0, maximum=self.num_items - 1, why="item ids"))

    def _first_item(self, user: int) -> int:
        user = check_int(OWNER, "user", user, minimum=0, maximum=self.num_users - 1, why="user ids")
        ids, _ = self._recommend(user)
        return int(ids[0]) if len(ids) else 0

    def _clicked(self, trace, points, _state) -> None:
        if points.point_inds:
            item = self._trace_items[trace.name][points.point_inds[0]]
            self.select(item=int(item))

    def _picked_user(self, change) -> None:
        if not self._syncing:
            self.select(user=change["new"])

    def _picked_item(self, change) -> None:
        if not self._syncing:
            self.select(item=change["new"])

    # ---- what is shown -----------------------------------------------------------------------

    @property
    def user(self) -> int:
        return self.selection[0]

    @property
    def item(self) -> int:
        return self.selection[1]

    @property
    def history(self) -> np.ndarray:
        """The selected user's train items, the most recent first when the data has timestamps."""
        return self._order[self.user]

    @property
    def recommendations(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, scores)` of the selected user's top-K, their train items left out."""
        return self._recommend(self.user)

    @property
    def reasons(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, similarities)` `(K, m)`: for each recommendation, the m history items most like it."""
        user = self.user
        if user not in self._reasons:
            from nbmodels.inspect.recommenders import explain

            ids, _ = self._recommend(user)
            history = self._order[user]
            self._reasons[user] = explain(self.model, user, ids, history, n=WHY) if len(ids) and len(history) else (
                np.zeros((len(ids), 0), np.int64), np.zeros((len(ids), 0), np.float32))
        return self._reasons[user]

    @property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, cosine similarities)` of the items nearest to the selected one."""
        item = self.item
        if item not in self._neighbours_of:
            from nbmodels.inspect.recommenders import similar_items

            self._neighbours_of[item] = similar_items(self.model, item, k=self.k)
        return self._neighbours_of[item]

    def _recommend(self, user: int):
        if user not in self._recommended_to:
            from nbmodels.inspect.recommenders import recommend

            k = min(self.k, self.num_items - len(self._seen[user]))
            self._recommended_to[user] = (np.zeros(0, np.int64), np.zeros(0, np.float32)) if k < 1 else recommend(
                self.model, user, k=k, exclude=[self._seen[user]], index=self._index)  # k < 1: seen everything
        return self._recommended_to[user]

    # ---- drawing -----------------------------------------------------------------------------

    def _catalogue_traces(self) -> list[dict]:
        traces = []
        for group, name in enumerate(self.group_names):
            ids = np.flatnonzero(self.groups == group)
            self._trace_items[name] = ids
            traces.append(point_trace(name, ids, self.points, self.titles, self.genres,
                                      marker={"size": 6, "color": PALETTE[group % len(PALETTE)], "opacity": 0.75}))
        return traces

    def _overlay_traces(self, history=(), recommended=(), neighbours=(), item=None) -> list[dict]:
        shown = {"history": history, "recommended": recommended, "neighbours": neighbours,
                 "selected item": np.array([] if item is None else [item], int)}
        traces = []
        for name, ids in shown.items():
            self._trace_items[name] = np.asarray(ids, int)
            traces.append(point_trace(name, ids, self.points, self.titles, self.genres, marker=MARKS[name]))
        return traces

    def _redraw(self, _change=None) -> None:
        user, item = self.selection
        self._syncing = True
        try:
            self._user.value, self._item.value = user, item
        finally:
            self._syncing = False
        self._chart.draw(self._overlay_traces(self.history, self.recommendations[0], self.neighbours[0], item))
        self._title.value = f"<b>{html.escape(self.titles[item])}</b> <i>{html.escape(self.genres[item])}</i>"
        self._recommended_list.value, self._neighbours_list.value, self._history_list.value = self.lists_html()
        self.refresh_snapshot()

    def lists_html(self) -> tuple[str, str, str]:
        """The recommendations (with the why), the neighbours and the history, as HTML."""
        user, item = self.selection
        return (recommendations_html(user, *self.recommendations, *self.reasons, self.titles, self.genres, item),
                neighbours_html(item, *self.neighbours, self.titles, self.genres),
                history_html(user, self.history, self.titles, self.genres))

    # ---- outputs that survive ----------------------------------------------------------------

    def summary(self) -> str:
        user, item = self.selection
        return (f"{OWNER}: {self.num_users} users, {self.num_items} items, user {user}: "
                f"{len(self.recommendations[0])} recommendations (seen excluded); item {item}: "
                f"{len(self.neighbours[0])} neighbours")

    def snapshot_html(self) -> str:
        marks = {"history": self.history, "recommended": self.recommendations[0], "neighbours": self.neighbours[0],
                 "selected item": [self.item]}
        scatter = scatter_svg(self.points, self.groups, marks, self.group_names)
        recommended, neighbours, history = self.lists_html()
        return (f"<div class='nbmodels-snapshot'><b>{html.escape(self.summary())}</b>"
                f"<div style='display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start'>{scatter}"
                f"<div>{recommended}{neighbours}</div></div>{history}</div>")


# ---- the catalogue's tables (no widgets) ------------------------------------------------------------

def item_titles(data, num_items: int) -> list[str]:
    """`extras["item_titles"]`, else "item <id>"."""
    titles = (getattr(data, "extras", None) or {}).get("item_titles")
    return [str(title) for title in titles] if titles is not None else [f"item {i}" for i in range(num_items)]


def item_genre_names(data, num_items: int) -> list[str]:
    """Each item's genres as one text ("Action, Drama"), '' without genre tables."""
    extras = getattr(data, "extras", None) or {}
    genres, names = extras.get("item_genres"), extras.get("genre_names")
    if genres is None or names is None:
        return [""] * num_items
    genres = np.asarray(genres)
    return [", ".join(names[g] for g in np.flatnonzero(row > 0)) for row in genres]


def item_groups(data, num_items: int, color_by: str) -> tuple[np.ndarray, list[str]]:
    """`(group of each item (I,), group names)` for colouring the map: the first genre (items
    without one in a last "no genre" group), the true cluster, or one group."""
    if color_by == "genre":
        extras = data.extras
        genres, names = np.asarray(extras["item_genres"]) > 0, list(extras["genre_names"])
        groups = np.where(genres.any(axis=1), np.argmax(genres, axis=1), len(names))
        if (groups == len(names)).any():
            names.append("no genre")
    elif color_by == "cluster":
        groups = np.asarray(data.ground_truth["item_clusters"]).astype(int)
        names = [f"cluster {c}" for c in range(int(groups.max()) + 1)]
    else:
        groups, names = np.zeros(num_items, int), ["items"]
    present = np.unique(groups)  # a group with no item gets no trace
    return np.searchsorted(present, groups), [names[g] for g in present]


def history_order(data, seen) -> list[np.ndarray]:
    """Each user's train items, the most recent first when `extras["timestamps"]` has the train
    split's times (else as `seen_items` gives them)."""
    from nbmodels.inspect.recommenders import split_pairs

    times = (getattr(data, "extras", None) or {}).get("timestamps")
    x = split_pairs(OWNER, data, "train")[0]
    if times is None or len(times) != len(x["user"]):
        return [np.asarray(items, np.int64) for items in seen]
    order = np.lexsort((-np.asarray(times), np.asarray(x["user"])))  # by user, then newest first
    users, items = np.asarray(x["user"])[order], np.asarray(x["item"])[order]
    starts = np.searchsorted(users, np.arange(len(seen) + 1))
    result = []
    for user in range(len(seen)):
        ordered = items[starts[user]:starts[user + 1]]
        _, first = np.unique(ordered, return_index=True)  # an item seen twice: its latest time
        result.append(ordered[np.sort(first)].astype(np.int64))
    return result


def _check_catalogue(data, num_users: int, num_items: int) -> None:
    extras = getattr(data, "extras", None)
    if extras is None or not hasattr(data, "train"):
        fail(OWNER, "data", type(data).__name__, "the retrieval Dataset the model trained on")
    for name, count in (("num_users", num_users), ("num_items", num_items)):
        if name in extras and int(extras[name]) != count:
            raise ConfigError(OWNER, "data", data.name or "dataset", f"a dataset with {count} {name[4:]}", message=(
                f"{OWNER}: the model has {name}={count} but the dataset has {extras[name]}; pass the dataset the "
                "model was trained on."))


def _color_by(data, color_by):
    extras = getattr(data, "extras", None) or {}
    has_genres = extras.get("item_genres") is not None and extras.get("genre_names")
    has_clusters = "item_clusters" in (getattr(data, "ground_truth", None) or {})
    if color_by is None:
        return "genre" if has_genres else "cluster" if has_clusters else "none"
    color_by = check_choice(OWNER, "color_by", color_by, COLOR_BY)
    if (color_by == "genre" and not has_genres) or (color_by == "cluster" and not has_clusters):
        has = f"genres {'yes' if has_genres else 'no'}, clusters {'yes' if has_clusters else 'no'}"
        fail(OWNER, "color_by", color_by, f"'none' or a grouping this dataset has: {has}")
    return color_by


# ---- traces and HTML (no widgets) -------------------------------------------------------------------

def point_trace(name: str, ids, points, titles, genres, marker: dict) -> dict:
    """A scatter trace of the items `ids` at their 2-D `points`, titles and genres on hover."""
    ids = np.asarray(ids, int)
    customdata = np.array([[titles[i], genres[i] or "no genre", int(i)] for i in ids], dtype=object).reshape(-1, 3)
    return {"name": name, "type": "scatter", "mode": "markers", "x": points[ids, 0], "y": points[ids, 1],
            "customdata": customdata, "marker": marker,
            "hovertemplate": "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>item %{customdata[2]}"
                             f"<extra>{html.escape(name)}</extra>"}


def _scatter_layout() -> dict:
    hidden = {"showticklabels": False, "zeroline": False, "showgrid": False, "title": {"text": ""}}
    return {"height": 540, "template": "plotly_white", "hovermode": "closest",
            "title": {"font": {"size": 13}}, "margin": {"l": 20, "r": 20, "t": 50, "b": 20},
            "xaxis": hidden, "yaxis": {**hidden, "scaleanchor": "x"}, "legend": {"itemsizing": "constant"}}


def _item_line(item: int, titles, genres) -> str:
    genre = f" <span style='color:#666'>{html.escape(genres[item])}</span>" if genres[item] else ""
    return f"{html.escape(titles[item])}{genre}"


def recommendations_html(user: int, ids, scores, why_ids, why_similarity, titles, genres, selected=None) -> str:
    """The top-K as a table: rank, title and genres, score, and the history items most similar
    to each (the "why") with their cosine similarity; the selected item's row highlighted."""
    if not len(ids):
        return f"<div><b>user {user}: nothing left to recommend</b> (every item is in their history)</div>"
    rows = []
    for rank, (item, score, because, similarity) in enumerate(zip(ids, scores, why_ids, why_similarity), start=1):
        why = ", ".join(f"{html.escape(titles[h])} ({s:.2f})" for h, s in zip(because, similarity))
        style = " style='background:#fde68a'" if item == selected else ""
        rows.append(f"<tr{style}><td>{rank}</td><td>{_item_line(int(item), titles, genres)}</td>"
                    f"<td style='text-align:right'>{score:.3f}</td><td style='font-size:11px'>{why}</td></tr>")
    return (f"<div><b>user {user}: top {len(ids)}</b> (seen items excluded)<table>"
            "<tr><th>#</th><th style='text-align:left'>item</th><th>score</th>"
            "<th style='text-align:left'>because they had (similarity)</th></tr>"
            f"{''.join(rows)}</table></div>")


def neighbours_html(item: int, ids, similarity, titles, genres) -> str:
    """The items nearest to `item` with their cosine similarity."""
    rows = "".join(f"<tr><td>{_item_line(int(i), titles, genres)}</td><td style='text-align:right'>{s:.2f}</td></tr>"
                   for i, s in zip(ids, similarity))
    return (f"<div><b>nearest to {_item_line(item, titles, genres)}</b> (item {item})<table>"
            f"<tr><th style='text-align:left'>item</th><th>cosine</th></tr>{rows}</table></div>")


def history_html(user: int, ids, titles, genres, limit: int = HISTORY_SHOWN) -> str:
    """The user's history (train items), the first `limit`, with their genres."""
    if not len(ids):
        return f"<div><b>user {user}: no history</b></div>"
    shown = "".join(f"<li>{_item_line(int(i), titles, genres)}</li>" for i in ids[:limit])
    more = f" (showing {limit} of {len(ids)})" if len(ids) > limit else ""
    return (f"<div><b>user {user}: history, {len(ids)} items</b>{more}"
            f"<ul style='columns:2;margin:4px 0'>{shown}</ul></div>")


def scatter_svg(points, groups, marks: dict, group_names, size: int = 360, limit: int = SNAPSHOT_POINTS) -> str:
    """The map as an inline SVG: points coloured by group, the marked ones drawn over them in
    the shapes `MARKS` gives them live (rings, stars, diamonds); at most `limit` plain points
    (an even subsample), so a saved notebook stays small."""
    points = np.asarray(points, float)
    low, high = points.min(axis=0), points.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)
    xy = 8 + (points - low) / span * (size - 16)
    xy[:, 1] = size - xy[:, 1]  # SVG's y grows downwards
    plain = np.arange(len(points))
    if len(plain) > limit:
        plain = plain[np.linspace(0, len(plain) - 1, limit).round().astype(int)]
    parts = [f"<circle cx='{xy[i, 0]:.1f}' cy='{xy[i, 1]:.1f}' r='2.5' fill='{PALETTE[groups[i] % len(PALETTE)]}' "
             "fill-opacity='0.7'/>" for i in plain]
    for name, ids in marks.items():
        mark = MARKS[name]
        paint = (f"fill='none' stroke='{mark['color']}' stroke-width='{mark['line']['width'] * 0.75}'"
                 if mark["symbol"].endswith("-open") else f"fill='{mark['color']}' stroke='#111' stroke-width='0.5'")
        parts += [_svg_marker(mark["symbol"], *xy[i], mark["size"] / 3, paint) for i in np.asarray(ids, int)]
    legend = " ".join(f"<span style='color:{PALETTE[g % len(PALETTE)]}'>●</span> {html.escape(name)}"
                      for g, name in enumerate(group_names))
    keys = "○ history ★ recommended ◇ neighbours ◎ selected item"
    return (f"<div><svg width='{size}' height='{size}' viewBox='0 0 {size} {size}' "
            f"style='border:1px solid #eee'>{''.join(parts)}</svg>"
            f"<div style='font-size:11px;max-width:{size}px'>{legend}<br>{keys}</div></div>")


def _svg_marker(symbol: str, x: float, y: float, radius: float, paint: str) -> str:
    """A plotly marker symbol (circle, star, diamond; "-open" or not) as an SVG shape."""
    if symbol.startswith("circle"):
        return f"<circle cx='{x:.1f}' cy='{y:.1f}' r='{radius:.1f}' {paint}/>"
    if symbol.startswith("star"):  # 5 points, inner radius 0.45 of the outer
        angles = np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius * 1.3, radius * 0.58)
    else:  # diamond
        angles, radii = np.arange(4) * np.pi / 2, np.full(4, radius)
    corners = " ".join(f"{x + r * np.cos(a):.1f},{y - r * np.sin(a):.1f}" for a, r in zip(angles, radii))
    return f"<polygon points='{corners}' {paint}/>"
