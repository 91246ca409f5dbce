"""The one compiled sampling loop, over a key/value cache.

A generation keeps its state in a fixed-size buffer of S positions per row (R rows: one per
prompt, or one per beam), so every call with the same sizes reuses one compiled program:

- `prefill` runs the prompts through the model once and fills the cache;
- `advance` runs the loop from position `i` to `end`: each step feeds the token at `i - 1`
  (one token through the model, reading the cache), picks the token at `i` with the
  sampler, and records its probability and the top-N alternatives. Rows still inside their
  prompt keep their prompt token; finished rows (stop token or budget) emit nothing.

Streaming is `advance` called with a nearer `end`; non-streaming is one call to the last
position. `end`, the seed, the offset, the sampler's float parameters, the prompt lengths and
the budget are tensors, so none of them recompiles. The programs are cached per model
(`loop_for`), and `trace_counts()` tells how often each was traced.

Sampling is seeded per step by the token's absolute position in the sequence, `offset + i`,
where `offset` counts the positions already slid out of the buffer. Seeding by the buffer
position `i` alone would reuse the same seeds after every slide of the window, and sampled
text would fall into an exact loop.

Without the cache (`use_cache=False`) each step runs the model over the whole buffer; the
causal mask makes that give the same logits, which is what tests and the benchmark compare.
"""

from __future__ import annotations

import weakref

import tensorflow as tf
from keras import ops

from nbmodels.generation.samplers import MASKED, Sampler

# Finish codes per row, in the `finish` state tensor.
RUNNING, STOPPED, LENGTH = 0, 1, 2


class CompiledLoop:
    """The compiled programs of one model, one pair per program-shaping setting.

    Use `loop_for(model)` to get the cached instance.
    """

    def __init__(self, model, jit_compile: bool = True):
        self._model = weakref.ref(model)
        self.jit_compile = jit_compile
        self._functions: dict[tuple, tf.types.experimental.GenericFunction] = {}

    @property
    def model(self):
        model = self._model()
        if model is None:
            raise RuntimeError("The model of this generation loop no longer exists.")
        return model

    def trace_counts(self) -> dict[tuple, int]:
        """How many times each compiled function was traced, by its key."""
        return {key: function.experimental_get_tracing_count() for key, function in self._functions.items()}

    def _function(self, key: tuple, build):
        if key not in self._functions:
            self._functions[key] = tf.function(build(), jit_compile=self.jit_compile, reduce_retracing=False)
        return self._functions[key]

    # ---- the two programs --------------------------------------------------------------

    def prefill(self, prompt_tokens, buffer_length: int):
        """The cache `(per layer)` for `prompt_tokens` `(R, P)` at positions `0 .. P - 1`."""
        function = self._function(("prefill", buffer_length), lambda: self._prefill_program(buffer_length))
        return function(prompt_tokens)

    def _prefill_program(self, buffer_length: int):
        def prefill(prompt_tokens):
            model = self.model
            cache = model.empty_cache(tf.shape(prompt_tokens)[0], buffer_length)
            _, cache = model.call_with_cache(prompt_tokens, cache, 0)
            return cache

        return prefill

    def advance(self, state: dict, inputs: dict, sampler: Sampler, top_n: int, use_cache: bool) -> dict:
        """Run the loop until `inputs["end"]` or until every row is finished; returns the new state."""
        key = ("advance", sampler.compile_key(), top_n, use_cache)
        function = self._function(key, lambda: self._advance_program(sampler, top_n, use_cache))
        return function(state, inputs)

    def _advance_program(self, sampler: Sampler, top_n: int, use_cache: bool):
        beams = sampler.num_beams > 1

        def next_logits(tokens, cache, i):
            model = self.model
            if use_cache:
                previous = tf.gather(tokens, [i - 1], axis=1)  # (R, 1): the token at i - 1
                hidden, cache = model.call_with_cache(previous, cache, i - 1)  # (R, 1, C)
                return model.logits(hidden[:, 0]), cache  # (R, V)
            hidden, _ = model.encode(tokens)  # (R, S, C): causal, so later positions do not matter
            return model.logits(tf.gather(hidden, i - 1, axis=1)), cache

        def step(state, inputs):
            i, tokens = state["i"], state["tokens"]
            logits, cache = next_logits(tokens, state["cache"], i)
            model_logits = logits

            # Rows inside their prompt keep the prompt token; finished rows repeat padding. Both
            # are forced through the logits (one allowed token, log-probability 0), so every
            # sampler, beam search included, treats them alike without branching.
            in_prompt = i < inputs["prompt_lengths"]  # (R,)
            finished = state["finish"] != RUNNING
            forced_token = tf.where(in_prompt, tokens[:, i], 0)
            forced = tf.one_hot(forced_token, tf.shape(logits)[1], on_value=0.0, off_value=MASKED)
            logits = tf.where((in_prompt | finished)[:, None], forced, logits)

            # A new stateless seed per absolute position (never the buffer position, which
            # repeats after the window slides). The session keeps seed + position < 2**31.
            seed = inputs["seed"] + tf.stack([0, inputs["offset"] + i])
            token, parents, scores = sampler.select(logits, state["scores"], inputs["parameters"], seed)
            state = dict(state, cache=cache, scores=scores)
            if beams:  # each new row continues row `parents`: carry its history along
                state = _reorder(state, parents)
                model_logits = tf.gather(model_logits, parents)
                finished = tf.gather(finished, parents)

            emitted = ~in_prompt & ~finished  # (R,)
            probabilities = tf.nn.softmax(model_logits, axis=-1)  # what the model thought, at T = 1
            chosen = tf.gather(probabilities, token[:, None], batch_dims=1)[:, 0]
            produced = state["produced"] + tf.cast(emitted, tf.int32)
            is_stop = tf.gather(inputs["stop_mask"], token) & emitted
            finish = tf.where(
                finished,
                state["finish"],
                tf.where(is_stop, STOPPED, tf.where(emitted & (produced >= inputs["max_new_tokens"]), LENGTH, RUNNING)),
            )
            token = tf.where(emitted, token, tf.where(in_prompt, forced_token, 0))
            state.update(
                i=i + 1,
                tokens=_set_column(state["tokens"], i, token),
                emitted=_set_column(state["emitted"], i, emitted & ~is_stop),  # stop tokens are not output
                probabilities=_set_column(state["probabilities"], i, chosen),
                produced=produced,
                finish=finish,
            )
            if top_n:
                top_probabilities, top_ids = tf.math.top_k(probabilities, k=top_n)  # (R, N)
                state.update(
                    top_ids=_set_column(state["top_ids"], i, top_ids),
                    top_probabilities=_set_column(state["top_probabilities"], i, top_probabilities),
                )
            return state

        def advance(state, inputs):
            def running(state):
                return (state["i"] < inputs["end"]) & tf.reduce_any(state["finish"] == RUNNING)

            return tf.while_loop(running, lambda state: (step(state, inputs),), (state,))[0]

        return advance


def _set_column(buffer, i, values):
    """`buffer[:, i] = values` for a `(R, S, ...)` buffer, as one in-place XLA update."""
    start = tf.stack([0, i] + [0] * (buffer.shape.rank - 2))
    return ops.slice_update(buffer, start, tf.expand_dims(values, 1))


def _reorder(state: dict, parents) -> dict:
    """Rows of every per-row state tensor (and the cache) taken from `parents`."""
    reordered = {}
    for name, value in state.items():
        if name == "i" or name == "scores":
            reordered[name] = value
        elif name == "cache":
            reordered[name] = tuple(tf.gather(layer, parents) for layer in value)
        else:
            reordered[name] = tf.gather(value, parents)
    return reordered


_LOOPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def loop_for(model, jit_compile: bool = True) -> CompiledLoop:
    """The model's `CompiledLoop` (one per model and jit setting), created on first use."""
    loops = _LOOPS.setdefault(model, {})
    if jit_compile not in loops:
        loops[jit_compile] = CompiledLoop(model, jit_compile=jit_compile)
    return loops[jit_compile]
