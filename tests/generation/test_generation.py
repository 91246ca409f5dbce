"""Generation: the cached loop equals recomputing, samplers pick what they claim, streaming
equals generating, nothing retraces per call, and bad requests get clear errors."""

import itertools
import threading

import keras
import numpy as np
import pytest

from nbmodels.data import CharTokenizer
from nbmodels.generation import Beam, Greedy, TopK, TopP, get_sampler, loop_for
from nbmodels.generation import generate as generate_compiled
from nbmodels.generation import stream as stream_compiled
from nbmodels.models import GPT, GPTConfig

TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind to suffer"


@pytest.fixture(scope="module")
def tokenizer():
    return CharTokenizer.from_text(TEXT)


@pytest.fixture(scope="module")
def model(tokenizer):
    keras.utils.set_random_seed(7)
    # Context 16: generations below run past it, through the sliding window.
    return GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)


PROMPTS = ["to be", "or not to", "whether 'tis no"]  # different lengths in one batch


# Most tests run the loop as a plain TensorFlow graph: the same code as with XLA, minus a few
# seconds of XLA compilation per program on a CPU. The tests marked "XLA" compile it.
def generate(*args, **options):
    return generate_compiled(*args, **{"jit_compile": False, **options})


def stream(*args, **options):
    return stream_compiled(*args, **{"jit_compile": False, **options})


@pytest.mark.parametrize("jit_compile", [True, False], ids=["XLA", "graph"])
def test_cached_greedy_equals_recomputed_greedy_token_for_token(model, jit_compile):
    # 15 + 30 > context 16: the window slides twice.
    cached = generate(model, PROMPTS, max_new_tokens=30, jit_compile=jit_compile)
    recomputed = generate(model, PROMPTS, max_new_tokens=30, use_cache=False, jit_compile=jit_compile)
    for fast, slow in zip(cached.token_ids, recomputed.token_ids):
        assert len(fast) == 30
        np.testing.assert_array_equal(fast, slow)
    np.testing.assert_allclose(np.concatenate(cached.probabilities), np.concatenate(recomputed.probabilities),
                               atol=1e-5)


def test_greedy_follows_the_models_own_argmax_and_reports_its_probabilities(model, tokenizer):
    prompt = tokenizer.encode("to be")
    result = generate(model, prompt, max_new_tokens=8)
    ids = np.concatenate([prompt, result.token_ids[0]])
    logits = keras.ops.convert_to_numpy(model(ids[None]))[0]  # one full forward pass, no cache
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    steps = np.arange(len(prompt) - 1, len(ids) - 1)  # logits at t predict token t + 1
    np.testing.assert_array_equal(result.token_ids[0], logits[steps].argmax(-1))
    np.testing.assert_allclose(result.probabilities[0], probabilities[steps, ids[steps + 1]], atol=1e-5)


def test_batched_prompts_of_different_lengths_match_each_prompt_alone(model):
    together = generate(model, PROMPTS, max_new_tokens=10)
    for index, prompt in enumerate(PROMPTS):
        alone = generate(model, prompt, max_new_tokens=10)
        np.testing.assert_array_equal(together.token_ids[index], alone.token_ids[0])
        assert together.texts[index] == alone.text


def test_seeded_sampling_repeats_and_different_seeds_differ(model):
    first = generate(model, PROMPTS, max_new_tokens=12, sampler="temperature", temperature=1.5, seed=11)
    again = generate(model, PROMPTS, max_new_tokens=12, sampler="temperature", temperature=1.5, seed=11)
    other = generate(model, PROMPTS, max_new_tokens=12, sampler="temperature", temperature=1.5, seed=12)
    assert first.texts == again.texts
    assert first.texts != other.texts
    unseeded = generate(model, PROMPTS, max_new_tokens=12, sampler="temperature", temperature=1.5)
    replayed = generate(model, PROMPTS, max_new_tokens=12, sampler="temperature", temperature=1.5,
                        seed=unseeded.seed)
    assert unseeded.texts == replayed.texts  # the drawn seed is reported, so any run can be repeated


def test_top_k_and_top_p_only_pick_allowed_tokens(model):
    greedy = generate(model, PROMPTS, max_new_tokens=10)
    assert generate(model, PROMPTS, max_new_tokens=10, sampler=TopK(1), seed=3).texts == greedy.texts
    assert generate(model, PROMPTS, max_new_tokens=10, sampler=TopP(1e-6), seed=3).texts == greedy.texts

    k = 3  # with top_n = k the alternatives are exactly the k allowed tokens of every step
    sampled = generate(model, PROMPTS, max_new_tokens=20, sampler="top_k", top_k=k, temperature=3.0, seed=5, top_n=k)
    for ids, steps in zip(sampled.token_ids, sampled.alternatives):
        for token, alternatives in zip(ids, steps):
            assert token in [alternative[0] for alternative in alternatives]
    assert sampled.texts != greedy.texts  # at temperature 3 it does leave the argmax

    p = 0.5
    nucleus = generate(model, PROMPTS, max_new_tokens=20, sampler="top_p", top_p=p, temperature=1.0, seed=5,
                       top_n=model.config.vocabulary_size)
    for ids, steps in zip(nucleus.token_ids, nucleus.alternatives):
        for token, alternatives in zip(ids, steps):
            ranked = [alternative[0] for alternative in alternatives]  # most likely first
            mass_before = sum(alternative[2] for alternative in alternatives[: ranked.index(token)])
            assert mass_before < p + 1e-6


def test_beam_search_of_one_beam_is_greedy_and_wide_beams_find_the_best_sequence(tokenizer):
    keras.utils.set_random_seed(1)
    small = GPT(GPTConfig.preset("tiny", vocabulary_size=5, sequence_length=8))
    prompt = np.array([1, 2, 3])
    assert generate(small, prompt, max_new_tokens=4, sampler=Beam(1)).token_ids[0].tolist() == \
        generate(small, prompt, max_new_tokens=4).token_ids[0].tolist()

    # With as many beams as tokens, two steps of beam search are exhaustive.
    best = generate(small, [prompt, prompt[:2]], max_new_tokens=2, sampler="beam", num_beams=5)
    for row, start in enumerate([prompt, prompt[:2]]):
        def log_probability(continuation):
            ids = np.concatenate([start, continuation])
            logits = keras.ops.convert_to_numpy(small(ids[None]))[0].astype(np.float64)
            logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
            return sum(logp[len(start) - 1 + t, token] for t, token in enumerate(continuation))

        exhaustive = max(itertools.product(range(5), repeat=2), key=log_probability)
        assert tuple(best.token_ids[row].tolist()) == exhaustive


def test_stop_tokens_end_each_row_without_the_stop_token(model, tokenizer):
    free = generate(model, PROMPTS, max_new_tokens=20)
    stop = free.texts[0][3]  # a character the first row produces at its 4th step
    stopped = generate(model, PROMPTS, max_new_tokens=20, stop_tokens=[stop])
    for row, text in enumerate(free.texts):
        if stop in text:
            assert stopped.texts[row] == text[: text.index(stop)]
            assert stopped.finish_reasons[row] == "stop"
        else:
            assert stopped.texts[row] == text and stopped.finish_reasons[row] == "length"
    assert stopped.finish_reasons[0] == "stop" and len(stopped.token_ids[0]) == free.texts[0].index(stop)


def test_stream_yields_the_same_tokens_as_generate_with_alternatives(model):
    options = dict(max_new_tokens=25, sampler="top_p", top_p=0.9, seed=21, top_n=4)
    generated = generate(model, PROMPTS, **options)
    for chunk_size in (1, 7, 64):
        tokens = list(stream(model, PROMPTS, chunk_size=chunk_size, **options))
        for row in range(len(PROMPTS)):
            mine = [token for token in tokens if token.row == row]
            assert [token.index for token in mine] == list(range(25))
            assert [token.id for token in mine] == generated.token_ids[row].tolist()
            assert "".join(token.text for token in mine) == generated.texts[row]
            np.testing.assert_allclose([token.probability for token in mine], generated.probabilities[row])
            assert all(len(token.alternatives) == 4 for token in mine)
            assert all(token.alternatives[0][2] >= token.alternatives[-1][2] for token in mine)


def test_stream_is_cancellable_and_closable(model):
    cancel = threading.Event()
    seen = []
    for token in stream(model, "to be", max_new_tokens=200, chunk_size=4, cancel=cancel):
        seen.append(token)
        cancel.set()
    assert 1 <= len(seen) <= 4  # the first chunk, then it stops

    tokens = stream(model, "to be", max_new_tokens=200, chunk_size=4)
    next(tokens)
    tokens.close()  # leaving the loop early is fine too

    result = generate(model, "to be", max_new_tokens=50, cancel=lambda: True)
    assert result.finish_reasons == ["cancelled"] and len(result.token_ids[0]) == 0


def test_compiled_loop_is_reused_not_retraced(model):  # XLA
    # The first calls compile (a generation's start program; a stream's resume program too);
    # calls that change only values (prompts of the same batch size, seeds, temperatures,
    # budgets, stop tokens) reuse the same programs.
    options = dict(sampler="temperature", jit_compile=True)
    generate(model, ["the", "to be"], max_new_tokens=5, temperature=1.0, seed=0, **options)
    list(stream(model, ["the", "to be"], max_new_tokens=5, temperature=1.0, top_n=0, chunk_size=2, **options))
    counts = loop_for(model, jit_compile=True).trace_counts()
    assert {key[0] for key in counts} == {"start", "resume"}
    generate(model, ["or not", "t"], max_new_tokens=9, temperature=0.3, seed=1, **options)
    generate(model, ["whether", "the"], max_new_tokens=3, temperature=2.0, seed=2, stop_tokens=["e"], **options)
    list(stream(model, ["nobler", "mind"], max_new_tokens=7, temperature=0.7, top_n=0, chunk_size=2, **options))
    # Past the context the window slides: the new absolute offset is a tensor, not a retrace.
    generate(model, ["whether", "to"], max_new_tokens=40, temperature=1.0, seed=3, **options)
    list(stream(model, ["or not", "the"], max_new_tokens=40, temperature=1.0, top_n=0, chunk_size=5, **options))
    assert loop_for(model, jit_compile=True).trace_counts() == counts
    assert all(count == 1 for count in counts.values())


def test_a_generation_inside_the_buffer_is_one_compiled_call(model, monkeypatch):
    loop = loop_for(model, jit_compile=False)
    calls = []
    for name in ("start", "resume"):
        original = getattr(loop, name)
        monkeypatch.setattr(loop, name, lambda *args, _name=name, _original=original, **kwargs: (
            calls.append(_name), _original(*args, **kwargs))[1])
    generate(model, PROMPTS, max_new_tokens=1)  # prompts up to 15 tokens + 1: inside the context of 16
    assert calls == ["start"]  # the prompts' prefill, the loop and its buffers: one program
    calls.clear()
    generate(model, PROMPTS[0], max_new_tokens=11)
    assert calls == ["start"]
    calls.clear()
    list(stream(model, PROMPTS[0], max_new_tokens=11, chunk_size=4))  # chunks of 4, 4, 3 (the first of 4 too)
    assert calls == ["start", "resume", "resume"]
    calls.clear()
    # 5 + 20 > 16: 11 tokens fill the buffer, the window slides to its last 8 positions, 8 more
    # fill it again, it slides again, 1 more: each slide starts again from the kept tokens.
    generate(model, PROMPTS[0], max_new_tokens=20)
    assert calls == ["start", "start", "start"]


def test_a_streams_state_crosses_calls_packed_and_reads_back_whole(model, monkeypatch):
    # The state a call returns is three tensors (ints, floats, the stacked cache), not one per
    # field and layer: XLA on a CPU pays per tensor crossing a call (see loop.State). What the
    # session reads back from them is every field with its shape, and the cache per layer.
    loop = loop_for(model, jit_compile=False)
    states = []
    original = loop.resume
    monkeypatch.setattr(loop, "resume", lambda inputs, state, **kwargs: (
        states.append(state), original(inputs, state, **kwargs))[1])
    streamed = stream(model, PROMPTS[:2], max_new_tokens=6, top_n=3, chunk_size=2)
    list(streamed)
    final = streamed.result().token_ids
    state = states[-1]
    assert len(state.flat()) == 3
    assert state.cache.shape[0] == model.config.num_layers
    host = state.read()
    rows, length = 2, state.length
    assert (host.tokens.shape, host.emitted.shape, host.probabilities.shape) == ((rows, length),) * 3
    assert host.top_ids.shape == host.top_probabilities.shape == (rows, length, 3)
    assert host.finish.shape == host.produced.shape == host.scores.shape == (rows,)
    assert host.emitted.dtype == bool and isinstance(host.i, int)
    # This state is before the last chunk: what each row emitted so far starts its final output.
    for row in range(rows):
        so_far = host.tokens[row][host.emitted[row]].tolist()
        assert 0 < len(so_far) == host.produced[row] <= 6
        assert so_far == final[row][: len(so_far)].tolist()


def test_auto_chunks_run_a_chunk_time_of_steps_at_the_measured_pace(model, monkeypatch):
    from nbmodels.generation import session

    loop = loop_for(model, jit_compile=False)
    ends = []
    original = loop.resume
    monkeypatch.setattr(loop, "resume", lambda inputs, *args, **kwargs: (
        ends.append(int(inputs.scalars.numpy()[1])), original(inputs, *args, **kwargs))[1])
    # A chunk time far longer than any call: after the short first chunk, the rest in one call;
    # once the pace is known, the first chunk is that long too: the whole stream in one call.
    monkeypatch.setattr(session, "_CHUNK_SECONDS", 1e6)
    loop.paces.clear()
    tokens = [token.id for token in stream(model, PROMPTS[0], max_new_tokens=11, chunk_size="auto")]
    assert len(tokens) == 11
    assert ends == [16]  # 5 prompt tokens, 4 in the first chunk, then on to the buffer's end
    ends.clear()
    assert [token.id for token in stream(model, PROMPTS[0], max_new_tokens=11, chunk_size="auto")] == tokens
    assert ends == []
    # A chunk time shorter than any step: one step a chunk.
    monkeypatch.setattr(session, "_CHUNK_SECONDS", 1e-12)
    loop.paces.clear()
    assert len(list(stream(model, PROMPTS[0], max_new_tokens=11, chunk_size="auto"))) == 11
    assert ends == list(range(10, 17))


def test_streaming_in_chunks_gives_the_tokens_of_one_call_past_the_context(model):
    one_call = generate(model, PROMPTS, max_new_tokens=40, top_n=3)  # slides the window
    for chunk_size in (1, 3, 16, "auto"):
        tokens = list(stream(model, PROMPTS, max_new_tokens=40, top_n=3, chunk_size=chunk_size))
        for row in range(len(PROMPTS)):
            mine = [token for token in tokens if token.row == row]
            assert [token.id for token in mine] == one_call.token_ids[row].tolist()
            np.testing.assert_allclose([token.probability for token in mine], one_call.probabilities[row])
            assert [token.alternatives for token in mine] == one_call.alternatives[row]


@pytest.mark.parametrize(
    "prompts, options, message",
    [
        ("", {}, "Prompt 0 is empty"),
        (["to be", ""], {}, "Prompt 1 is empty"),
        ("t" * 17, {}, r"Prompt 0 has 17 tokens, more than the model's context \(sequence_length=16\)"),
        ("to be", {"sampler": "top_p", "top_p": 0.0}, r"top_p=0.0 is not allowed: it must be a finite number > 0 and <= 1"),
        ("to be", {"sampler": "top_p", "top_p": 1.5}, r"top_p=1.5 is not allowed"),
        ("to be", {"sampler": "temperature", "temperature": 0}, r"temperature=0 is not allowed"),
        ("to be", {"sampler": "top_k", "temperature": -1.0}, r"temperature=-1.0 is not allowed"),
        ("to be", {"sampler": "nucleus"}, "sampler='nucleus' is not allowed: choose one of 'greedy'"),
        ("to be", {"sampler": "greedy", "temperature": 0.5}, "takes no option temperature"),
        ("to be", {"sampler": Greedy(), "top_k": 5}, "set them on the object"),
        ("to be", {"max_new_tokens": 0}, "max_new_tokens=0 is not allowed"),
        ("to be", {"stop_tokens": ["to"]}, "Stop token 'to' is 2 tokens"),
        ("to be", {"sampler": "beam", "max_new_tokens": 12}, "Beam search keeps every beam inside the context"),
        ([[1, 2, 99]], {}, r"id 99 at position 2, outside the vocabulary"),
        ("to be?", {}, r"'\?' \(U\+003F\) at position 5"),
    ],
)
def test_bad_requests_raise_clear_value_errors(model, prompts, options, message):
    with pytest.raises(ValueError, match=message):
        generate(model, prompts, **options)
    with pytest.raises(ValueError, match=message):
        stream(model, prompts, **options)  # checked at the call, not at the first token


def test_text_prompts_need_a_tokenizer():
    bare = GPT(GPTConfig.preset("tiny", vocabulary_size=12))
    with pytest.raises(ValueError, match="Text prompts need a tokenizer"):
        generate(bare, "hello")
    assert len(generate(bare, [3, 4, 5], max_new_tokens=2).token_ids[0]) == 2


def test_get_sampler_by_name_and_object():
    assert get_sampler("top_k", top_k=5, temperature=0.5) == TopK(5, temperature=0.5)
    beam = Beam(num_beams=3)
    assert get_sampler(beam) is beam


def test_generation_under_mixed_precision_gives_float32_probabilities(tokenizer):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)
    finally:
        keras.config.set_dtype_policy(previous)
    result = generate(model, PROMPTS, max_new_tokens=6, top_n=2)
    assert result.probabilities[0].dtype == np.float32
    assert all(len(ids) == 6 for ids in result.token_ids)
    assert np.all((result.probabilities[0] > 0) & (result.probabilities[0] <= 1))


@pytest.mark.parametrize("module", ["nbmodels.generation.samplers", "nbmodels.generation.session"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_stream_result_reports_finish_reasons(model):
    tokens = stream(model, PROMPTS, max_new_tokens=5, stop_tokens=[generate(model, PROMPTS[0], max_new_tokens=1).text])
    with pytest.raises(ValueError, match="still running"):
        tokens.result()
    streamed = list(tokens)
    result = tokens.result()
    assert result.finish_reasons[0] == "stop" and len(result.token_ids[0]) == 0
    assert sum(len(ids) for ids in result.token_ids) == len(streamed)
    closed = stream(model, PROMPTS, max_new_tokens=50, chunk_size=2)
    next(closed)
    closed.close()
    assert closed.result().finish_reasons == ["cancelled"] * 3
