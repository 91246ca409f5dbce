"""The Runs sidebar's layout at JupyterLab's default sidebar width, in a default-sized and a
1024-px window: a run's details open right under that run (not below the whole list), nothing
is wider than the panel (charts fit, no horizontal scrolling), and the run id and checkpoint
path are shown whole (wrapped), with the full text as a tooltip. Measured in the DOM;
screenshots go to build/test-artifacts/.
"""

from __future__ import annotations

import functools

import pytest

from nbmodels import TrainConfig, data, train
from nbmodels.models import mlp
from tests.browser.conftest import save_screenshot

# Long enough that an id and a checkpoint path cannot fit on one line of the sidebar.
NAMES = ["first-run", "a-run-whose-name-is-long-enough-to-need-wrapping-in-the-sidebar", "third-run"]

MEASURE = """() => {
    const panel = document.querySelector('.nbm-RunsPanel');
    const box = panel.getBoundingClientRect();
    const details = document.querySelector('.nbm-Details');
    const selected = document.querySelector('.nbm-RunRow.nbm-mod-selected');
    const rows = [...document.querySelectorAll('.nbm-RunRow')];
    const next = rows[rows.indexOf(selected) + 1];
    const outside = [...panel.querySelectorAll('*')]
        .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > box.right + 0.5)
        .map(e => e.className.baseVal ?? e.className);
    const cells = Object.fromEntries([...document.querySelectorAll('.nbm-Details-config tr')].map(tr => [
        tr.querySelector('th').textContent,
        {text: (tr.querySelector('.nbm-Details-value') ?? tr.querySelector('td')).textContent,
         title: tr.querySelector('td').title,
         scrollWidth: tr.querySelector('td').scrollWidth, clientWidth: tr.querySelector('td').clientWidth}
    ]));
    return {
        panelWidth: box.width,
        panelScrollWidth: panel.scrollWidth, panelClientWidth: panel.clientWidth,
        charts: [...document.querySelectorAll('.nbm-Chart-plot, .nbm-Sparkline')].map(c => {
            const r = c.getBoundingClientRect();
            return {left: r.left, right: r.right, width: r.width};
        }),
        detailsInSelectedRow: selected !== null && selected.contains(details),
        detailsAboveNextRow: !next || details.getBoundingClientRect().bottom <= next.getBoundingClientRect().top,
        outside,
        cells,
    };
}"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three finished runs; the middle one has a long name (so a long id and checkpoint path)."""
    root = tmp_path_factory.mktemp("runs")
    digits = data.load("digits", validation_split=0.2, seed=0)
    builder = functools.partial(mlp, digits.input_shape, digits.num_classes, hidden=(8,))
    made = [train(builder, digits, TrainConfig(steps=12, batch_size=16, seed=0), name=name, root=root, verbose=False)
            for name in NAMES]
    return root, [run.id for run in made]


@pytest.mark.parametrize("window", [(1400, 900), (1024, 768)], ids=["default-window", "1024px-window"])
def test_sidebar_details_open_under_the_run_and_fit_the_panel(lab_server, lab_page, runs, window):
    root, ids = runs
    lab = lab_server({}, env={"NBMODELS_RUNS_DIR": str(root)})
    page = lab_page(lab)
    page.set_viewport_size({"width": window[0], "height": window[1]})
    page.locator('.lm-TabBar-tab[data-id="nbmodels-runs"]').click()
    long_id = ids[1]
    row = page.locator(f'.nbm-RunRow[data-run-id="{long_id}"]')
    row.locator(".nbm-RunRow-name").click()
    page.locator(".nbm-Details-config", has_text="checkpoint").wait_for()
    page.locator(".nbm-Chart-plot").first.wait_for()
    page.wait_for_timeout(500)
    save_screenshot(page, f"sidebar-layout-{window[0]}px")

    m = page.evaluate(MEASURE)
    page.locator(".nbm-Details-config").scroll_into_view_if_needed()
    save_screenshot(page, f"sidebar-layout-{window[0]}px-config")
    assert m["detailsInSelectedRow"] and m["detailsAboveNextRow"], m
    assert m["panelScrollWidth"] <= m["panelClientWidth"], m
    assert m["outside"] == [], m
    assert m["charts"] and all(c["width"] > 0 for c in m["charts"]), m
    # Each chart takes the panel's width (less its padding), not a fixed 240 px.
    assert max(c["width"] for c in m["charts"]) > 0.7 * m["panelWidth"], m
    for key in ("id", "checkpoint"):
        cell = m["cells"][key]
        assert cell["scrollWidth"] <= cell["clientWidth"], (key, cell)  # wrapped, not cut
        assert cell["title"] == cell["text"], (key, cell)
    assert m["cells"]["id"]["text"] == long_id
    assert str(root) in m["cells"]["checkpoint"]["text"] or long_id in m["cells"]["checkpoint"]["text"]
