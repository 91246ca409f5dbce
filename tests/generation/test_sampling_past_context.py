"""Sampling past the context: every token is seeded by its absolute position, so after the
window slides the samples do not repeat (issue 9, item 2).

Before the fix the per-step seed followed the buffer position: after each slide the same
seeds came back, and with a near-uniform model the text fell into an exact loop with the
period of the slide (8 tokens for a context of 16).

Greedy is left out on purpose: it is deterministic, so it may cycle legitimately. Beam search
refuses to run past the context (test_generation.py checks that refusal), so it never slides.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbmodels.data import CharTokenizer
from nbmodels.generation import Sampler, generate, stream
from nbmodels.models import GPT, GPTConfig

TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"
PROMPTS = ["to be", "or not to", "whether 'tis no"]  # different lengths in one batch
CONTEXT = 16  # the tiny preset's sequence_length
NEW_TOKENS = 8 * CONTEXT  # 8x past the context: the window slides many times


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_text(TEXT)


def _tiny(tokenizer, uniform: bool):
    keras.utils.set_random_seed(7)
    model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)
    assert model.config.sequence_length == CONTEXT
    if uniform:
        # A zero final LayerNorm makes every logit exactly 0: what comes out depends on the
        # random draws alone, so any reuse of seeds shows up as repeated text, for every sampler.
        for weight in model.final_norm.weights:
            weight.assign(np.zeros(weight.shape, weight.dtype))
    return model


@pytest.fixture(scope="module")
def untrained(tokenizer):
    return _tiny(tokenizer, uniform=False)


@pytest.fixture(scope="module")
def uniform(tokenizer):
    return _tiny(tokenizer, uniform=True)


def _exact_periods(ids, longest: int = 2 * CONTEXT) -> list[int]:
    """The periods p <= `longest` with which the last 4 contexts of `ids` repeat exactly."""
    tail = np.asarray(ids)[-4 * CONTEXT:]
    return [p for p in range(1, longest + 1) if np.array_equal(tail[p:], tail[:-p])]


SAMPLERS = [
    pytest.param(dict(sampler="temperature"), id="temperature"),
    pytest.param(dict(sampler="top_k", top_k=10), id="top_k"),
    pytest.param(dict(sampler="top_p", top_p=0.9), id="top_p"),
]


@pytest.mark.parametrize("model_name", ["untrained", "uniform"])
@pytest.mark.parametrize("options", SAMPLERS)
def test_sampling_far_past_the_context_has_no_exact_period(request, model_name, options):
    model = request.getfixturevalue(model_name)
    options = dict(options, max_new_tokens=NEW_TOKENS, seed=3, jit_compile=False)
    generated = generate(model, PROMPTS, **options)
    for row, ids in enumerate(generated.token_ids):
        assert len(ids) == NEW_TOKENS
        assert _exact_periods(ids) == [], f"row {row} loops: {generated.texts[row][-2 * CONTEXT:]!r}"

    # Streaming slides the window at the same points and seeds the same way: same tokens.
    tokens = list(stream(model, PROMPTS, chunk_size=5, top_n=0, **options))
    for row, ids in enumerate(generated.token_ids):
        streamed = [token.id for token in tokens if token.row == row]
        assert _exact_periods(streamed) == []
        assert streamed == ids.tolist()


class _PositionProbe(Sampler):
    """Picks the token `seed[1] % V`: with seed 0 that is the absolute position the loop
    seeds the step with, modulo the vocabulary size. Shows the seeding directly."""

    name = "position_probe"

    def pick(self, logits, parameters, seed):
        vocabulary = tf.shape(logits)[1]
        return tf.fill(tf.shape(logits)[:1], seed[1] % vocabulary)


@pytest.mark.parametrize("chunk_size", [None, 1, 5, 64], ids=["generate", "stream1", "stream5", "stream64"])
def test_each_token_is_seeded_by_its_absolute_position(untrained, chunk_size):
    vocabulary = untrained.config.vocabulary_size
    options = dict(max_new_tokens=NEW_TOKENS, sampler=_PositionProbe(), seed=0, jit_compile=False)
    if chunk_size is None:
        token_ids = generate(untrained, PROMPTS, **options).token_ids
    else:
        tokens = list(stream(untrained, PROMPTS, chunk_size=chunk_size, top_n=0, **options))
        token_ids = [[token.id for token in tokens if token.row == row] for row in range(len(PROMPTS))]
    for row, prompt in enumerate(PROMPTS):
        # Token n of a row follows its prompt: absolute position len(prompt) + n.
        expected = (len(prompt) + np.arange(NEW_TOKENS)) % vocabulary
        np.testing.assert_array_equal(token_ids[row], expected)
