"""Integer arguments of `generate` and `stream` are checked at the call (issue 9, item 8).

Before the fix `max_new_tokens=2**31` wrapped around in an int32 tensor and silently gave one
token, `10**30` failed inside TensorFlow, `seed=2**61` silently gave the same text as seed 0,
a huge `num_beams` failed while allocating, and a temperature of 1e-50 overflowed float32 into a
raw TensorFlow error. Now each is one ValueError (a ConfigError) that names the
argument, the value, the allowed range and the fix, raised before anything is compiled.
"""

import itertools

import keras
import numpy as np
import pytest

from nbmodels.generation import Beam, TopK, generate, loop_for, stream
from nbmodels.models import GPT, GPTConfig

VOCABULARY = 12
CONTEXT = 16
MAX_NEW_TOKENS = 2**30 - CONTEXT  # positions are counted in int32 seeds


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return GPT(GPTConfig.preset("tiny", vocabulary_size=VOCABULARY, sequence_length=CONTEXT))


BAD = [
    # max_new_tokens: wraps in int32, fails in TensorFlow, or means nothing.
    (dict(max_new_tokens=2**31), r"max_new_tokens=2147483648 is not allowed: it must be a whole number from 1 to "
                                 r"1,073,741,808 \(.*\)\. Pass how many tokens"),
    (dict(max_new_tokens=10**30), r"max_new_tokens=10{30} is not allowed: .* from 1 to 1,073,741,808"),
    (dict(max_new_tokens=MAX_NEW_TOKENS + 1), r"max_new_tokens=1073741809 is not allowed"),
    (dict(max_new_tokens=0), r"max_new_tokens=0 is not allowed: it must be a whole number from 1 to"),
    (dict(max_new_tokens=-5), r"max_new_tokens=-5 is not allowed"),
    (dict(max_new_tokens=True), r"max_new_tokens=True is not allowed"),
    (dict(max_new_tokens=8.0), r"max_new_tokens=8.0 is not allowed"),
    (dict(max_new_tokens="8"), r"max_new_tokens='8' is not allowed"),
    (dict(max_new_tokens=None), r"max_new_tokens=None is not allowed"),
    (dict(max_new_tokens=np.int64(2**40)), r"max_new_tokens=.*1099511627776.* is not allowed"),
    # seed: two int32 halves of 31 and 30 bits; more bits used to be dropped silently.
    (dict(seed=2**61), r"seed=2305843009213693952 is not allowed: it must be a whole number from 0 to "
                       r"2,305,843,009,213,693,951 \(.*\)\. Pass a smaller seed"),
    (dict(seed=10**30), r"seed=10{30} is not allowed"),
    (dict(seed=-1), r"seed=-1 is not allowed"),
    (dict(seed=1.5), r"seed=1.5 is not allowed"),
    (dict(seed=False), r"seed=False is not allowed"),
    # num_beams: one row per beam; more beams than tokens only multiplies memory.
    (dict(sampler="beam", num_beams=2**31), r"num_beams=2147483648 is not allowed: .* from 1 to 12 "
                                            r"\(the vocabulary size.*\)\. Pass fewer beams"),
    (dict(sampler=Beam(VOCABULARY + 1), max_new_tokens=2), r"num_beams=13 is not allowed"),
    (dict(sampler="beam", num_beams=0), r"Beam.num_beams=0 is not allowed: it must be a whole number >= 1"),
    (dict(sampler="beam", num_beams=2.0), r"Beam.num_beams=2.0 is not allowed"),
    (dict(sampler="beam", num_beams=True), r"Beam.num_beams=True is not allowed"),
    # top_k and top_n.
    (dict(sampler="top_k", top_k=0), r"TopK.top_k=0 is not allowed: it must be a whole number >= 1"),
    (dict(sampler="top_k", top_k=2.5), r"TopK.top_k=2.5 is not allowed"),
    (dict(top_n=-1), r"top_n=-1 is not allowed: it must be a whole number from 0 to 12 \(the vocabulary size\)"),
    (dict(top_n=2**31), r"top_n=2147483648 is not allowed"),
    (dict(top_n=1.0), r"top_n=1.0 is not allowed"),
    # Float options near float32's limits: logits / 1e-50 overflowed into a raw TensorFlow error.
    (dict(sampler="temperature", temperature=1e-50), r"Temperature.temperature=1e-50 is not allowed: it must be "
                                                     r"a finite number >= 1e-06\. For the most likely token every time, "
                                                     r"use sampler='greedy'"),
    (dict(sampler="top_p", temperature=1e-40), r"TopP.temperature=1e-40 is not allowed"),
]


@pytest.mark.parametrize("options, message", BAD, ids=[f"{sorted(o.items())}" for o, _ in BAD])
def test_out_of_range_arguments_are_one_clear_value_error_at_the_call(options, message):
    fresh = GPT(GPTConfig.preset("tiny", vocabulary_size=VOCABULARY, sequence_length=CONTEXT))
    # stream first: were a bad budget accepted, it fails here at once instead of running for hours.
    with pytest.raises(ValueError, match=message):
        stream(fresh, [1, 2, 3], jit_compile=False, **options)  # at the call, not at the first token
    with pytest.raises(ValueError, match=message):
        generate(fresh, [1, 2, 3], jit_compile=False, **options)
    assert loop_for(fresh, jit_compile=False).trace_counts() == {}  # refused before anything compiled


@pytest.mark.parametrize("chunk_size", [0, -1, True, 2.0, None])
def test_chunk_size_must_be_a_positive_integer(model, chunk_size):
    with pytest.raises(ValueError, match=rf"chunk_size={chunk_size!r} is not allowed: it must be a whole number >= 1"):
        stream(model, [1, 2, 3], chunk_size=chunk_size)


def test_the_largest_budget_and_seed_run_without_wrapping(model):
    options = dict(sampler="temperature", seed=2**61 - 1, jit_compile=False)
    # The largest budget is a real budget (it used to wrap to a negative int32 and stop after
    # one token): take 40 tokens, past the context, then stop. Sampling does not depend on the
    # budget, so they are the tokens of a 40-token generation.
    tokens = stream(model, [1, 2, 3], max_new_tokens=MAX_NEW_TOKENS, chunk_size=8, top_n=0, **options)
    first = [token.id for token in itertools.islice(tokens, 40)]
    tokens.close()
    assert tokens.result().finish_reasons == ["cancelled"]
    short = generate(model, [1, 2, 3], max_new_tokens=40, **options)
    assert first == short.token_ids[0].tolist()
    assert short.seed == 2**61 - 1
    other = generate(model, [1, 2, 3], max_new_tokens=40, **dict(options, seed=2**61 - 2))
    assert other.token_ids[0].tolist() != first


def test_numpy_integers_are_integers(model):
    result = generate(model, [1, 2, 3], max_new_tokens=np.int64(3), seed=np.uint32(5), top_n=np.int32(2),
                      sampler=TopK(np.int64(4)), jit_compile=False)
    assert len(result.token_ids[0]) == 3 and result.seed == 5
    beams = generate(model, [1, 2, 3], max_new_tokens=2, sampler="beam", num_beams=np.int64(2), jit_compile=False)
    assert len(beams.token_ids[0]) == 2
    tokens = list(stream(model, [1, 2, 3], max_new_tokens=3, chunk_size=np.int64(2), seed=0, jit_compile=False))
    assert len(tokens) == 3


def test_drawn_seeds_are_in_range_and_repeat(model):
    drawn = generate(model, [1, 2, 3], max_new_tokens=20, sampler="temperature", jit_compile=False)
    assert 0 <= drawn.seed < 2**61
    again = generate(model, [1, 2, 3], max_new_tokens=20, sampler="temperature", seed=drawn.seed, jit_compile=False)
    assert again.token_ids[0].tolist() == drawn.token_ids[0].tolist()


def test_a_top_p_below_float32s_smallest_number_keeps_the_most_likely_token(model):
    # top_p=1e-50 is 0 in float32: every token used to be cut, so sampling was uniform.
    greedy = generate(model, [1, 2, 3], max_new_tokens=12, jit_compile=False)
    tiny = generate(model, [1, 2, 3], max_new_tokens=12, sampler="top_p", top_p=1e-50, seed=1, jit_compile=False)
    assert tiny.token_ids[0].tolist() == greedy.token_ids[0].tolist()


def test_the_smallest_temperature_samples_valid_tokens(model):
    result = generate(model, [1, 2, 3], max_new_tokens=12, sampler="top_k", top_k=4, temperature=1e-6, seed=1,
                      jit_compile=False)
    assert len(result.token_ids[0]) == 12 and np.all((result.token_ids[0] >= 0) & (result.token_ids[0] < VOCABULARY))
