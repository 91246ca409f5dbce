"""GenerationPlayground: tokens stream into its output, Stop cancels, bad settings show inline;
its plain functions (colours, spans, escaping, summary) without a browser."""

import doctest
import html
import re

import pytest
from IPython.utils.capture import capture_output

from nbmodels.dashboards import GenerationPlayground
from nbmodels.dashboards import generation as logic
from nbmodels.data import CharTokenizer
from nbmodels.generation import Token
from nbmodels.models import GPT, GPTConfig

SPAN = re.compile(r'<span class="nbmodels-token"')


@pytest.fixture(scope="module")
def model():
    tokenizer = CharTokenizer.from_text("to be, or not to be: that is the question <&>\"'")
    return GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)


# ---- plain functions ------------------------------------------------------------------------


def test_probability_color_runs_red_to_green_and_clamps():
    red, green = logic.probability_color(0.0), logic.probability_color(1.0)
    assert logic.probability_color(-1.0) == red and logic.probability_color(2.0) == green
    assert logic.probability_color(float("nan")) == "#dddddd"
    channels = lambda c: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))  # noqa: E731
    reds = [channels(logic.probability_color(p / 10))[0] for p in range(11)]
    greens = [channels(logic.probability_color(p / 10))[1] for p in range(11)]
    assert reds[0] > greens[0] and greens[-1] > reds[-1]
    assert greens == sorted(greens[:6]) + greens[6:] and reds[5:] == sorted(reds[5:], reverse=True)
    assert all(min(channels(logic.probability_color(p / 10))) > 150 for p in range(11))  # light: text stays readable


def test_token_span_escapes_text_and_tooltip():
    token = Token(0, 3, 7, '<b>"x"</b>', 0.25, ((7, '<b>"x"</b>', 0.25), (8, "\n", 0.2), (9, "&", 0.1)))
    span = logic.token_span(token)
    assert "<b>" not in span and "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in span
    title = re.search(r'title="([^"]*)"', span).group(1)
    lines = html.unescape(title).split("\n")
    assert lines == ['<b>"x"</b> 0.250', '  1. <b>"x"</b> 0.250', "  2. ⏎ 0.200", "  3. & 0.100"]
    assert f"background:{logic.probability_color(0.25)}" in span
    assert logic.token_span(Token(0, 0, 5, None, 1.0)).endswith(">[5]</span>")  # no tokenizer: the id


def test_output_table_and_summary_lines():
    tokens = [Token(0, i, i, c, p, ((i, c, p),)) for i, (c, p) in enumerate([("a", 0.9), (" ", 0.1)])]
    out = logic.output_html("say <hi>", tokens)
    assert "say &lt;hi&gt;" in out and len(SPAN.findall(out)) == 2 and "<script" not in out
    table = logic.alternatives_html(tokens[1])
    assert "token 1: ␣" in table and "0.100" in table and "bold" in table
    assert logic.alternatives_html(None) == ""
    assert logic.sampler_label("top_p", 0.8, 40, 0.9, 4) == "top_p 0.9 at temperature 0.8"
    assert logic.sampler_label("beam", 1.0, 40, 0.9, 3) == "beam search, 3 beams"
    assert logic.throughput_line(10, 2.0, "length") == "10 tokens, 5.0 tokens/s, finish: length"


def test_docstring_examples():
    result = doctest.testmod(logic, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ---- the widget -----------------------------------------------------------------------------------


def test_playground_streams_tokens_into_its_output(model):
    playground = GenerationPlayground(model, prompt="to be", max_new_tokens=12, chunk_size=4, interval=0.0)
    seen = []
    playground._output.observe(lambda change: seen.append(len(SPAN.findall(change["new"]))), names="value")
    thread = playground.generate()
    assert thread is not None and playground._stop_button.disabled is False
    assert playground.wait(timeout=120) == "length"
    assert len(playground.tokens) == 12 and [t.index for t in playground.tokens] == list(range(12))
    assert len(SPAN.findall(playground._output.value)) == 12
    assert max(seen) == 12 and any(0 < n < 12 for n in seen)  # drawn as they arrived, not only at the end
    assert "to be" in playground._output.value
    assert "tokens/s" in playground._message.value and "finish: length" in playground._message.value
    assert playground._generate_button.disabled is False and playground._stop_button.disabled is True
    last = playground.tokens[-1]
    assert len(last.alternatives) == 5 and "token 11: " in playground._details.value
    playground._pick.value = 2  # inspect an earlier token
    assert "token 2: " in playground._details.value
    # greedy picks the most likely token: the one coloured by the top alternative's probability
    assert all(t.id == t.alternatives[0][0] for t in playground.tokens)


def test_sampler_shows_only_its_controls(model):
    playground = GenerationPlayground(model)
    shown = lambda: {n for n in ("temperature", "top_k", "top_p", "num_beams")  # noqa: E731
                     if playground.controls[n].layout.display != "none"}
    assert shown() == set()
    playground.set(sampler="top_p")
    assert shown() == {"top_p", "temperature"}
    playground.set(sampler="beam")
    assert shown() == {"num_beams"}
    assert playground.settings == {"sampler": "beam", "num_beams": 4, "max_new_tokens": 64, "seed": 0}


def test_stop_cancels_a_long_generation(model):
    playground = GenerationPlayground(model, prompt="to", max_new_tokens=5000, chunk_size=2, interval=0.0)
    playground.generate()
    for _ in range(1200):  # wait for the first tokens (compiling first)
        if playground.tokens:
            break
        playground._thread.join(0.1)
    playground._stop_button.click()
    assert playground.wait(timeout=120) == "cancelled"
    assert 0 < len(playground.tokens) < 5000 and not playground.running
    assert "finish: cancelled" in playground._message.value
    assert playground.summary().endswith(f"{len(playground.tokens)} tokens, finish cancelled")


def test_invalid_settings_show_inline_not_as_a_traceback(model):
    playground = GenerationPlayground(model, prompt="to be")
    playground.set(sampler="top_p", top_p=0.0)
    assert playground.generate() is None and not playground.running
    assert "top_p=0.0 is not allowed" in playground._message.value and "#c62828" in playground._message.value
    assert playground.summary() == "GenerationPlayground: top_p 0 at temperature 1, 64 new tokens, seed 0; invalid settings"
    playground.set(sampler="greedy", prompt="")
    assert playground.generate() is None and "empty" in playground.error
    playground.set(prompt="to be", max_new_tokens=0)
    assert playground.generate() is None and "max_new_tokens=0" in playground._message.value
    playground.set(prompt="ZZZ unknown characters", max_new_tokens=4)
    assert playground.generate() is None and playground.error  # the tokenizer's message
    with pytest.raises(ValueError, match="needs a tokenizer"):
        GenerationPlayground(GPT(GPTConfig.preset("tiny")))
    with pytest.raises(ValueError, match="no setting 'top_q'"):
        playground.set(top_q=0.5)


def test_snapshot_and_summary_are_stable(model, ipython):
    bundles = []
    for _ in range(2):
        playground = GenerationPlayground(model, prompt="not", sampler="top_k", top_k=5, max_new_tokens=6, seed=3)
        with capture_output() as shown:
            playground._ipython_display_()
            playground.generate()
            playground.wait(timeout=120)
        bundles.append(shown.outputs[-1].data)
        assert shown.outputs[0].data["text/plain"].endswith("; no generation yet")
        assert shown.outputs[-1].update  # the finished state replaces the first display
    first, again = bundles
    assert first["text/plain"] == again["text/plain"] == (
        "GenerationPlayground: top_k 5 at temperature 1, 6 new tokens, seed 3; 6 tokens, finish length")
    assert first["text/html"] == again["text/html"]  # same seed, same tokens, no timings or ids
    snapshot = first["text/html"]
    assert len(SPAN.findall(snapshot)) == 6 and "<script" not in snapshot and "tokens/s" not in snapshot
    assert "application/vnd.jupyter.widget-view+json" in first and "\n" not in first["text/plain"]
