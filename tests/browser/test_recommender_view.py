"""The RecommenderExplorer in a real JupyterLab in chromium, used as a person would: a user id
typed into the user box, then stepped with the arrow key, and a point of the plotly map clicked
with the mouse; after each action the page is read back (the recommendations, the history, the
selected item and its neighbours, the map's overlays), and the view is measured for cut labels
and overflow in a 1280-px and a 1024-px window.

The notebook trains the tiny two-tower on the synthetic interactions for one epoch (seconds).
Screenshots go to build/test-artifacts/recommender-view-*.png, the whole window and the view.
"""

from __future__ import annotations

import re

from tests.browser.conftest import ARTIFACTS, save_screenshot
from tests.browser.test_dashboard_layout import MEASURE

SETUP = """\
from nbmodels import data
from nbmodels.dashboards import RecommenderExplorer
from nbmodels.recipes import get_recipe

two_tower = get_recipe("two_tower")
ratings = data.load("synthetic_interactions")  # 600 users, 400 items
model = two_tower.train("tiny", data=ratings, config=two_tower.config.replace(epochs=1), verbose=False).model"""
VIEW = "view = RecommenderExplorer(model, ratings, k=10)\nview"
K = 10

# An item row's title: the text before its genres' <span>.
TITLES = """(root, cells) => [...root.querySelectorAll(cells)]
    .map(cell => cell.firstChild.textContent.trim())"""
RECOMMENDED_TITLES = "tr td:nth-child(2)"
NEIGHBOUR_TITLES = "tr td:first-child"
HISTORY_TITLES = "li"
MARKS = ("history", "recommended", "neighbours", "selected item")  # the map's overlay traces
# A trace of the map by name: its item ids and titles (customdata: title, genres, id).
TRACE = """(plot, name) => {
    const trace = plot.data.find(t => t.name === name);
    return (trace.customdata || []).map(row => [Number(row[2]), row[0]]);
}"""
# A catalogue point (not an overlay) far from every other item's point, to click: its page
# position, from the axes (as plotly places it) and from its drawn <path> (as the page shows it).
ISOLATED_POINT = """(plot, [avoid, overlays]) => {
    const layout = plot._fullLayout, box = plot.getBoundingClientRect();
    const at = (x, y) => [box.left + layout.xaxis._offset + layout.xaxis.l2p(x),
                          box.top + layout.yaxis._offset + layout.yaxis.l2p(y)];
    const all = [];
    plot._fullData.forEach((trace, t) => (trace.x || []).forEach((x, i) =>
        all.push({t, i, item: Number(trace.customdata[i][2]), title: trace.customdata[i][0],
                  catalogue: !overlays.includes(trace.name), xy: at(x, trace.y[i])})));
    let best = null;
    for (const p of all) {
        if (!p.catalogue || avoid.includes(p.item)) continue;
        const gap = Math.min(...all.filter(q => q.item !== p.item)
            .map(q => Math.hypot(q.xy[0] - p.xy[0], q.xy[1] - p.xy[1])));
        if (!best || gap > best.gap) best = {...p, gap};
    }
    const path = plot.querySelectorAll('.scatterlayer .trace')[best.t].querySelectorAll('.points path')[best.i];
    const drawn = path.getBoundingClientRect();
    return {item: best.item, title: best.title, gap: best.gap, xy: best.xy,
            drawn: [drawn.left + drawn.width / 2, drawn.top + drawn.height / 2]};
}"""
# Whether two boxes overlap on the page: the map and a list beside (or under) it.
OVERLAP = """([a, b]) => {
    const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
    return r.left < s.right - 1 && s.left < r.right - 1 && r.top < s.bottom - 1 && s.top < r.bottom - 1;
}"""


def notebook() -> dict:
    cells = [SETUP, VIEW, "print('RECOMMENDER-READY')"]
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"cell{i}", "metadata": {}, "source": source, "outputs": [],
                   "execution_count": None} for i, source in enumerate(cells)],
    }


def shoot(page, output, name: str) -> None:
    """The window (with `output` in view) and `output` alone, under build/test-artifacts/."""
    output.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    save_screenshot(page, f"recommender-view-{name}")
    output.screenshot(path=str(ARTIFACTS / f"recommender-view-{name}-view.png"))


def titles(panel, cells: str) -> list[str]:
    return panel.evaluate(TITLES, cells)


def number_box(output, label: str):
    """The <input> of the number box described `label`."""
    described = output.page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
    return output.locator(".widget-text", has=described).locator("input")


def wait_text(page, panel, pattern: str) -> None:
    """Until `panel`'s text matches the regular expression `pattern`."""
    page.wait_for_function("([panel, pattern]) => new RegExp(pattern).test(panel.innerText)",
                           arg=[panel.element_handle(), pattern], timeout=30_000)


def read(view, plot) -> dict:
    """What the view shows now: its panels' texts and titles, the boxes, the map's overlays."""
    recommended, neighbours, history, title = panels(view)
    return {
        "user": number_box(view, "user").input_value(),
        "item": number_box(view, "item").input_value(),
        "title": title.inner_text(),
        "recommended_text": recommended.inner_text(),
        "recommended": titles(recommended, RECOMMENDED_TITLES),
        "highlighted": recommended.locator("tr[style*='background']").all_inner_texts(),
        "neighbours_text": neighbours.inner_text(),
        "neighbours": titles(neighbours, NEIGHBOUR_TITLES),
        "history_text": history.inner_text(),
        "history": titles(history, HISTORY_TITLES),
        "marks": {name: plot.evaluate(TRACE, name) for name in MARKS},
    }


def panels(view):
    html = view.locator(".widget-html")
    return (html.filter(has_text=re.compile(r"user \d+: top \d+")).first,
            html.filter(has_text="nearest to").first,
            html.filter(has_text=re.compile(r"user \d+: history")).first,
            html.first)  # the selected item's title, beside the boxes


def check_user(shown: dict, user: int) -> None:
    """The page shows `user`: ten recommendations, none of them in the history listed, starred on
    the map; the history circled on the map; the first recommendation selected."""
    assert shown["user"] == str(user)
    assert re.search(rf"user {user}: top {K}\b", shown["recommended_text"]), shown["recommended_text"]
    assert len(shown["recommended"]) == K and all(shown["recommended"]), shown["recommended"]
    assert shown["history"], shown["history_text"]
    assert not set(shown["recommended"]) & set(shown["history"]), (shown["recommended"], shown["history"])
    count = int(re.search(rf"user {user}: history, (\d+) items", shown["history_text"]).group(1))
    assert len(shown["history"]) == min(count, 20)
    marks = shown["marks"]
    assert [title for _, title in marks["recommended"]] == shown["recommended"]
    assert len(marks["history"]) == count
    assert {title for _, title in marks["history"]} >= set(shown["history"])
    assert not {item for item, _ in marks["recommended"]} & {item for item, _ in marks["history"]}
    first_id, first_title = marks["recommended"][0]
    assert shown["item"] == str(first_id) and shown["title"].startswith(first_title)
    assert len(shown["highlighted"]) == 1 and first_title in shown["highlighted"][0]
    check_item(shown, first_id, first_title)


def check_item(shown: dict, item: int, title: str) -> None:
    """The page shows `item` selected: its title, its neighbours listed and marked on the map."""
    assert shown["item"] == str(item) and shown["title"].startswith(title), (shown["item"], shown["title"])
    assert f"nearest to {title}" in shown["neighbours_text"] and f"(item {item})" in shown["neighbours_text"]
    assert len(shown["neighbours"]) == K and title not in shown["neighbours"], shown["neighbours"]
    assert [title for _, title in shown["marks"]["neighbours"]] == shown["neighbours"]
    assert shown["marks"]["selected item"] == [[item, title]]


def test_recommender_explorer_answers_the_user_box_and_map_clicks(lab_server, lab_page, tmp_path):
    lab = lab_server({"recommender.ipynb": notebook()}, env={"NBMODELS_RUNS_DIR": str(tmp_path / "runs")})
    page = lab_page(lab, "recommender.ipynb")
    page.set_viewport_size({"width": 1280, "height": 2400})  # tall: the whole view in the screenshots
    lab.run_all(page)
    page.locator(".jp-OutputArea-output", has_text="RECOMMENDER-READY").wait_for(timeout=300_000)
    view = page.locator(".jp-Cell").nth(1).locator(".jp-OutputArea-output").first
    plot = view.locator(".js-plotly-plot").first
    plot.locator(".scatterlayer .trace .points path").first.wait_for(timeout=60_000)
    number_box(view, "user").wait_for()
    outputs = page.locator(".jp-OutputArea-output")
    assert page.get_by_text("Traceback").count() == 0, outputs.all_inner_texts()
    assert page.get_by_text("Error displaying widget").count() == 0, outputs.all_inner_texts()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    # 1. As built: user 0, their first recommendation selected.
    first = read(view, plot)
    check_user(first, 0)
    assert "item embeddings (PCA" in plot.locator(".gtitle").first.text_content()
    shoot(page, view, "1-user-0")

    # 2. A user typed into the user box: other recommendations, another history.
    box = number_box(view, "user")
    box.fill("7")
    box.press("Enter")
    recommended, neighbours, history, _ = panels(view)
    wait_text(page, view, r"user 7: top \d+[\s\S]*user 7: history")
    typed = read(view, plot)
    check_user(typed, 7)
    assert typed["recommended_text"] != first["recommended_text"]
    assert typed["history_text"] != first["history_text"] and typed["history"] != first["history"]
    shoot(page, view, "2-user-7")

    # 3. The user stepped with the arrow key (the box sends it on Enter).
    box.press("ArrowUp")
    box.press("Enter")
    wait_text(page, view, r"user 8: top \d+[\s\S]*user 8: history")
    stepped = read(view, plot)
    check_user(stepped, 8)
    assert stepped["recommended_text"] != typed["recommended_text"] and stepped["history"] != typed["history"]
    shoot(page, view, "3-user-8")

    # 4. A point of the map clicked with the mouse: it becomes the selected item, its neighbours
    # listed; the user's recommendations and history stay.
    plot.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    shown_items = {item for marks in stepped["marks"].values() for item, _ in marks}
    point = plot.evaluate(ISOLATED_POINT, [sorted(shown_items), MARKS])
    assert point["gap"] > 6, point  # far enough from every other point for a click to pick it alone
    assert abs(point["xy"][0] - point["drawn"][0]) < 2 and abs(point["xy"][1] - point["drawn"][1]) < 2, point
    page.mouse.move(*point["xy"])
    page.wait_for_timeout(300)
    page.mouse.click(*point["xy"])
    wait_text(page, view, rf"\(item {point['item']}\)")
    clicked = read(view, plot)
    check_item(clicked, point["item"], point["title"])
    assert clicked["neighbours"] != stepped["neighbours"]
    for same in ("user", "recommended_text", "history_text"):
        assert clicked[same] == stepped[same], same
    assert clicked["highlighted"] == []  # the clicked item is no recommendation (the click avoided them)
    shoot(page, view, "4-clicked")
    assert page.get_by_text("Traceback").count() == 0, outputs.all_inner_texts()

    # 5. At 1280 and 1024 px: no label or value cut, nothing wider than the notebook, the map
    # and the lists side by side or stacked, never on top of each other.
    problems = []
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 2400})
        page.wait_for_timeout(2000)  # the notebook lays out its cells for the new width
        shoot(page, view, f"5-layout-{width}")
        # MEASURE: anything wider than its box, a cut label ("us…") included, and cut values.
        problems += [f"{width}px: {p}" for p in view.evaluate(MEASURE)]
        for name, panel in zip(("recommendations", "neighbours", "history"), (recommended, neighbours, history)):
            if page.evaluate(OVERLAP, [plot.element_handle(), panel.element_handle()]):
                problems.append(f"{width}px: the map and the {name} overlap")
    assert not problems, "\n".join(problems)
