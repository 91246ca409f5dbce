"""AttentionExplorer: the selectors change the heatmap data; all of it from nbmodels.inspect."""

import numpy as np
import pytest

from nbmodels.dashboards import AttentionExplorer
from nbmodels.data import CharTokenizer
from nbmodels.inspect import attention_maps, attention_rollout
from nbmodels.models import GPT, GPTConfig


@pytest.fixture(scope="module")
def explorer_parts():
    tokenizer = CharTokenizer.from_text("hello world, hi")
    model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size))
    return model, tokenizer



def test_selectors_change_the_heatmap_data(explorer_parts):
    model, tokenizer = explorer_parts
    explorer = AttentionExplorer(model, "hello world", tokenizer)
    expected = attention_maps(model, "hello world", tokenizer)
    main = explorer.charts[0].figure
    z = lambda: np.asarray(next(t for t in main.data if t.name == "attention").z)  # noqa: E731
    np.testing.assert_allclose(z(), expected.scores[-1].mean(axis=0), atol=1e-6)  # last layer, mean of heads
    explorer._layer.value = 0
    explorer._head.value = 1
    np.testing.assert_allclose(z(), expected.scores[0, 1], atol=1e-6)
    explorer._rollout.value = True
    np.testing.assert_allclose(z(), attention_rollout(expected), atol=1e-6)
    assert explorer._layer.disabled and "rollout" in explorer.summary()
    explorer._rollout.value = False
    explorer._query.value = 4  # the 'o' of hello: where does it attend?
    bars = next(t for t in main.data if t.name == "query row")
    np.testing.assert_allclose(bars.y, expected.scores[0, 1, 4], atol=1e-6)
    assert np.all(np.asarray(bars.y)[5:] == 0)  # causal: nothing after itself
    assert main.layout.shapes[0].y0 == 3.5
    assert list(main.layout.yaxis.ticktext)[5] == "␣"  # the space, visible
    explorer._query.value = None
    assert len(next(t for t in main.data if t.name == "query row").y) == 0 and not main.layout.shapes
    assert explorer.summary() == "AttentionExplorer: 2 layers x 2 heads, 11 tokens; showing layer 0, head 1"


def test_overview_shows_every_head_and_selects_on_click(explorer_parts):
    model, tokenizer = explorer_parts
    explorer = AttentionExplorer(model, tokenizer.encode("hi world"))
    grid = explorer.charts[1].figure
    assert len(grid.data) == 2 * 2 and grid.data[3].name == "layer 1 head 1"
    np.testing.assert_allclose(np.asarray(grid.data[1].z), explorer.attention.scores[0, 1], atol=1e-6)
    explorer.select(layer=1, head=0, query=2)
    assert explorer.selection == {"layer": 1, "head": 0, "query": 2, "rollout": False}
    np.testing.assert_allclose(explorer.heatmap, explorer.attention.scores[1, 0])


def test_bad_input_is_a_value_error_not_a_trace(explorer_parts):
    model, _ = explorer_parts
    with pytest.raises(ValueError, match="no tokenizer"):
        AttentionExplorer(model, "text without a tokenizer")
