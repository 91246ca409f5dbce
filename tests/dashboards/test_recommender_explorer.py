"""RecommenderExplorer: a user's history and top-K (seen items left out) with the why, an item's
neighbours, and the PCA map of the item embeddings, linked by one `(user, item)` selection; picked
with the boxes or by clicking the map (plotly's real click message path)."""

import doctest
import re

import numpy as np
import pytest
import traitlets
from IPython.utils.capture import capture_output

from nbmodels import data
import nbmodels.dashboards.recommender as recommender_module
from nbmodels.dashboards import RecommenderExplorer
from nbmodels.data.recsys import seen_items
from nbmodels.inspect import explain, item_projection, recommend, similar_items
from tests.inspect.test_inspect_recommenders import train_two_tower

PLOTLY = "application/vnd.plotly.v1+json"


@pytest.fixture(scope="module")
def ratings():
    return data.load("synthetic_interactions")  # 600 users, 400 items, 8 genres


@pytest.fixture(scope="module")
def model(ratings):
    return train_two_tower(ratings)


@pytest.fixture(scope="module")
def seen(ratings):
    return seen_items(ratings.train[0], 600)


@pytest.fixture
def view(model, ratings):
    return RecommenderExplorer(model, ratings, mode="widget")


def trace(view, name):
    return next(t for t in view.charts[0].figure.data if t.name == name)


def click(view, name, point):
    """What plotly.js sends when point `point` of trace `name` is clicked."""
    figure = view.charts[0].figure
    index = [t.name for t in figure.data].index(name)
    x, y = figure.data[index].x[point], figure.data[index].y[point]
    figure._js2py_pointsCallback = {"event_type": "plotly_click", "points": {
        "xs": [x], "ys": [y], "point_indexes": [point], "trace_indexes": [index]}}


def listed_titles(html, titles):
    """The catalogue titles in `html`, in the order they appear."""
    found = [(html.find(f">{title}"), title) for title in titles if f">{title}" in html]
    return [title for _, title in sorted(found)]


def test_a_user_shows_history_top_k_without_seen_items_and_why(view, model, ratings, seen):
    titles = ratings.extras["item_titles"]
    ids, scores = recommend(model, 0, k=10, data=ratings)
    assert view.selection == (0, ids[0])  # the first recommendation is the selected item
    np.testing.assert_array_equal(view.recommendations[0], ids)
    assert not set(view.recommendations[0]) & set(seen[0])
    table = view._recommended_list.value
    assert "user 0: top 10</b> (seen items excluded)" in table
    assert [f"{s:.3f}" for s in scores] == re.findall(r"<td style='text-align:right'>(-?\d+\.\d{3})</td>", table)
    because, similarity = explain(model, 0, ids, seen[0], n=3)
    rows = table.split("<tr")[2:]
    for row, item, reasons, values in zip(rows, ids, because, similarity):
        assert titles[item] in row and all(f"{titles[h]} ({s:.2f})" in row for h, s in zip(reasons, values))
    history = view._history_list.value
    assert f"user 0: history, {len(seen[0])} items" in history
    assert sorted(listed_titles(history, titles)) == sorted(titles[i] for i in seen[0])
    # most recent first: the order of the train split's timestamps
    x, times = ratings.train[0], ratings.extras["timestamps"]
    mine = np.flatnonzero(x["user"] == 0)
    assert list(view.history) == list(x["item"][mine[np.argsort(-times[mine], kind="stable")]])
    assert "Action" in history or "Comedy" in history  # genres beside titles


def test_the_map_is_pca_of_the_item_embeddings_coloured_by_genre_with_the_user_marked(view, model, ratings):
    points = item_projection(model)
    genres = ratings.extras["item_genres"]
    names = ratings.extras["genre_names"]
    assert [t.name for t in view.charts[0].figure.data] == names + ["history", "recommended", "neighbours",
                                                                   "selected item"]
    for g, name in enumerate(names):
        members = np.flatnonzero(np.argmax(genres, axis=1) == g)  # every item has a first genre here
        np.testing.assert_allclose(trace(view, name).x, points[members, 0], atol=1e-6)
        assert [row[2] for row in trace(view, name).customdata] == list(members)
        assert trace(view, name).customdata[0][0] == ratings.extras["item_titles"][members[0]]  # titles on hover
    recommended = view.recommendations[0]
    np.testing.assert_allclose(trace(view, "recommended").x, points[recommended, 0], atol=1e-6)
    np.testing.assert_allclose(trace(view, "history").y, points[view.history, 1], atol=1e-6)
    assert trace(view, "recommended").marker.symbol == "star"
    assert list(trace(view, "selected item").customdata[:, 2]) == [view.item]


def test_picking_another_user_updates_every_list_and_the_marks(view, model, ratings, seen):
    draws = view.charts[0].draws
    view._user.value = 7
    ids, _ = recommend(model, 7, k=10, data=ratings)
    assert view.selection == (7, ids[0]) and view._item.value == ids[0]
    assert "user 7: top 10" in view._recommended_list.value and "user 7: history" in view._history_list.value
    assert sorted(trace(view, "history").customdata[:, 2]) == sorted(seen[7])
    assert list(trace(view, "recommended").customdata[:, 2]) == list(ids)
    assert view.charts[0].draws == draws + 1  # one batched redraw
    assert view.summary() == (f"RecommenderExplorer: 600 users, 400 items, user 7: 10 recommendations "
                              f"(seen excluded); item {ids[0]}: 10 neighbours")


def test_clicking_a_point_selects_the_item_and_shows_its_neighbours(view, model, ratings):
    name = ratings.extras["genre_names"][2]
    item = int(trace(view, name).customdata[5][2])
    click(view, name, 5)
    assert view.selection == (0, item) and view._item.value == item  # the user stays
    neighbours, similarity = similar_items(model, item, k=10)
    np.testing.assert_array_equal(view.neighbours[0], neighbours)
    assert list(trace(view, "neighbours").customdata[:, 2]) == list(neighbours)
    assert list(trace(view, "selected item").customdata[:, 2]) == [item]
    titles = ratings.extras["item_titles"]
    assert listed_titles(view._neighbours_list.value, [titles[i] for i in neighbours]) == [
        titles[i] for i in neighbours]
    assert f"{similarity[0]:.2f}" in view._neighbours_list.value
    # a mark drawn over the map is clickable too: the third recommendation
    click(view, "recommended", 2)
    assert view.item == view.recommendations[0][2]
    assert "background:#fde68a" in view._recommended_list.value.split("<tr")[4]  # its row highlighted


def test_selection_is_one_traitlet_other_views_link_to(view, model, ratings):
    other = RecommenderExplorer(model, ratings, k=5, mode="widget", color_by="cluster")
    assert [t.name for t in other.charts[0].figure.data][:8] == [f"cluster {c}" for c in range(8)]
    link = traitlets.link((view, "selection"), (other, "selection"))
    try:
        view.select(user=42)
        assert other.selection == view.selection and other._user.value == 42
        other.select(item=17)
        assert view.selection == (42, 17) and view._item.value == 17
        assert len(other.recommendations[0]) == 5 and len(view.recommendations[0]) == 10
    finally:
        link.unlink()
    seen = []
    view.observe(lambda change: seen.append(change["new"]), names="selection")
    view._item.value = 3
    assert seen == [(42, 3)]
    with pytest.raises(ValueError, match=r"RecommenderExplorer.user=600 .*from 0 to 599"):
        view.select(user=600)
    with pytest.raises(ValueError, match=r"RecommenderExplorer.item=400"):
        view.selection = (1, 400)


def test_snapshot_and_summary_survive_in_the_saved_notebook(view, ratings):
    view.select(user=3, item=11)
    bundle = view._repr_mimebundle_()
    snapshot = bundle["text/html"]
    assert bundle["text/plain"] == view.summary() == (
        "RecommenderExplorer: 600 users, 400 items, user 3: 10 recommendations (seen excluded); item 11: 10 neighbours")
    assert "<svg" in snapshot and "<script" not in snapshot
    # every item, then the marks over them: history and the selected item ringed, stars, diamonds
    assert snapshot.count("<circle") == 400 + len(view.history) + 1 and snapshot.count("<polygon") == 10 + 10
    titles = ratings.extras["item_titles"]
    assert all(titles[i] in snapshot for i in view.recommendations[0])
    assert f"nearest to {titles[11]}" in snapshot and "user 3: history" in snapshot
    assert view._repr_mimebundle_() == bundle  # the same state gives the same output
    assert repr(view) == view.summary()


def test_display_mode_draws_through_a_display_handle_and_picks_with_the_boxes(model, ratings, ipython):
    view = RecommenderExplorer(model, ratings, k=5, mode="display")
    assert view.charts[0].view is None  # Colab: no FigureWidget, the boxes pick user and item
    with capture_output() as shown:
        view._ipython_display_()
        view._user.value = 9
        view._item.value = 30
    assert view.selection == (9, 30)
    figures = [o for o in shown.outputs if PLOTLY in o.data]
    assert not figures[0].update and len([o for o in figures if o.update]) == 2
    last = {t["name"]: t for t in figures[-1].data[PLOTLY]["data"]}
    assert last["selected item"]["customdata"][0][:1] + last["selected item"]["customdata"][0][2:] == [
        ratings.extras["item_titles"][30], 30]
    snapshots = [o for o in shown.outputs if "text/html" in o.data and o.update and PLOTLY not in o.data]
    assert snapshots and snapshots[-1].data["text/plain"] == view.summary()
    assert figures[-1].data[PLOTLY]["layout"]["annotations"][0]["text"] == "pick an item above"


def test_bad_input_is_a_clear_value_error(model, ratings):
    other = data.load("synthetic_interactions", n_users=600, n_items=300)
    with pytest.raises(ValueError, match="the model has num_items=400 but the dataset has 300"):
        RecommenderExplorer(model, other)
    with pytest.raises(ValueError, match=r"RecommenderExplorer.k=400 .*the catalogue has 400 items"):
        RecommenderExplorer(model, ratings, k=400)
    with pytest.raises(ValueError, match=r"RecommenderExplorer.user=-1"):
        RecommenderExplorer(model, ratings, user=-1)
    bare = data.Dataset(task="retrieval", train=ratings.train, extras={"num_users": 600, "num_items": 400})
    with pytest.raises(ValueError, match="color_by='genre'.*genres no, clusters no"):
        RecommenderExplorer(model, bare, color_by="genre")
    plain = RecommenderExplorer(model, bare, mode="widget")  # no titles, no genres: ids and one colour
    assert plain.color_by == "none" and plain.titles[5] == "item 5"
    assert [t.name for t in plain.charts[0].figure.data][0] == "items"


def test_docstring_examples():
    result = doctest.testmod(recommender_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed
