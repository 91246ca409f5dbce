"""The one compiled sampling loop, over a key/value cache.

A generation keeps its state in a fixed-size buffer of S positions per row (R rows: one per
prompt, or one per beam), so every call with the same sizes reuses one compiled program. The
loop runs from position `i` to `end`: each step feeds the token at `i - 1` (one token through
the model, reading the cache), picks the token at `i` with the sampler, and records its
probability and the top-N alternatives. Rows still inside their prompt keep their prompt token;
finished rows (stop token or budget) emit nothing.

There are two programs, and a generation runs one of them per call:

- `start` fills the cache from the prompts (the first `prefill_length` positions), makes the
  zero buffers, and runs the loop: a whole non-streaming generation is this one call;
- `resume` runs the loop on from the state a previous call returned (the next chunk of a
  stream), without copying anything back through Python.

Streaming is the loop run to a nearer `end`. `end`, the seed, the offset, the sampler's float
parameters, the prompt lengths and the budget are tensors, so none of them recompiles. Each
program is a concrete function of flat tensor arguments, traced once per key (sampler, top-N,
cache, prefill length, rows, buffer length) and called through its flat entry point: a nested
structure, or even the public call with flat arguments, costs ~0.1-0.3 ms of argument
canonicalisation per call, as much as a whole tiny model's generation step loop. The programs
are cached per model (`loop_for`), and `trace_counts()` tells how often each was traced. The
state crosses calls packed in three tensors (`State`).

Sampling is seeded per step by the token's absolute position in the sequence, `offset + i`,
where `offset` counts the positions already slid out of the buffer. Seeding by the buffer
position `i` alone would reuse the same seeds after every slide of the window, and sampled
text would fall into an exact loop.

Without the cache (`use_cache=False`) each step runs the model over the whole buffer; the
causal mask makes that give the same logits, which is what tests and the benchmark compare.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np
import tensorflow as tf
from keras import ops

from nbmodels.generation.samplers import MASKED, Sampler

# Finish codes per row, in the `finish` state tensor.
RUNNING, STOPPED, LENGTH = 0, 1, 2

# How many distinct constants `CompiledLoop.constant` keeps before it starts again.
_MOST_CONSTANTS = 64

# The int32 scalars a call takes, packed in one vector (one tensor to convert, not six).
SCALARS = ("i", "end", "offset", "max_new_tokens", "seed_low", "seed_high")


@dataclasses.dataclass(frozen=True)
class Inputs:
    """What the session sets for a call, beside the state: `scalars` (int32, `SCALARS`),
    `parameters` (float32, the sampler's `parameters()` in order), `stop_mask` (bool `(V,)`)
    and `prompt_lengths` (int32 `(R,)`)."""

    scalars: tf.Tensor
    parameters: tf.Tensor
    stop_mask: tf.Tensor
    prompt_lengths: tf.Tensor

    def flat(self) -> list:
        return [self.scalars, self.parameters, self.stop_mask, self.prompt_lengths]


# The loop's state by name, in the order it is packed: int32 fields, then float32 fields.
_INT_FIELDS = ("i", "tokens", "finish", "produced", "emitted", "top_ids")
_FLOAT_FIELDS = ("scores", "probabilities", "top_probabilities")


def _unpacked(ints, floats, rows: int, length: int, top_n: int) -> dict:
    """The fields of the packed vectors `ints` and `floats` (numpy arrays or tensors), each
    sliced out and reshaped; the inverse of `_pack` but for `emitted`'s dtype."""
    shapes = {"i": (), "tokens": (rows, length), "finish": (rows,), "produced": (rows,), "emitted": (rows, length),
              "top_ids": (rows, length, top_n), "scores": (rows,), "probabilities": (rows, length),
              "top_probabilities": (rows, length, top_n)}
    reshape = np.reshape if isinstance(ints, np.ndarray) else tf.reshape
    fields = {}
    for names, packed in ((_INT_FIELDS, ints), (_FLOAT_FIELDS, floats)):
        offset = 0
        for name in names:
            size = int(np.prod(shapes[name], dtype=np.int64))
            fields[name] = reshape(packed[offset: offset + size], shapes[name])
            offset += size
    return fields


@dataclasses.dataclass(frozen=True)
class State:
    """The loop's state after a call, on the device, packed: every int32 field in `ints`, every
    float32 field in `floats` (flat, in the order of `_INT_FIELDS` / `_FLOAT_FIELDS`), and the
    cache's layers stacked in `cache` (None without the cache).

    Packed because a compiled call pays for every tensor that crosses it: ~3 us each, and on
    TensorFlow 2.21's CPU XLA a program that copies more than 8 buffers, one of them larger
    than 512 bytes, runs them concurrently on the thread pool (XLA's ThunkExecutor; the
    thresholds are fixed, no flag sets them): a program that only passes a tiny model's resume
    arguments through costs 0.19 ms a call unpacked (14 tensors), 0.04 ms packed (4). Every
    chunk of a stream pays it, and a tiny model's step costs ~0.02 ms. `read()` brings the
    fields to the host in two reads (seven before)."""

    ints: tf.Tensor
    floats: tf.Tensor
    cache: tf.Tensor | None
    rows: int
    length: int
    top_n: int

    def flat(self) -> list:
        return [self.ints, self.floats] + ([] if self.cache is None else [self.cache])

    def read(self) -> "HostState":
        """The fields as numpy arrays (`i` as an int): one read of each packed vector."""
        fields = _unpacked(self.ints.numpy(), self.floats.numpy(), self.rows, self.length, self.top_n)
        fields["i"] = int(fields["i"])
        fields["emitted"] = fields["emitted"].astype(bool)
        return HostState(**fields)


@dataclasses.dataclass(frozen=True)
class HostState:
    """`State.read()`: the next position `i`, the token buffer `(R, S)`, the beam scores, finish
    codes and produced counts `(R,)`, and what each position recorded `(R, S)` / `(R, S, N)`."""

    i: int
    tokens: np.ndarray
    finish: np.ndarray
    produced: np.ndarray
    emitted: np.ndarray
    top_ids: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray
    top_probabilities: np.ndarray


def _pack(state: dict) -> list:
    """Inside a program: the state's fields as `State.flat()` (two vectors and the stacked cache)."""
    ints = tf.concat([tf.reshape(tf.cast(state[name], tf.int32), [-1]) for name in _INT_FIELDS], 0)
    floats = tf.concat([tf.reshape(state[name], [-1]) for name in _FLOAT_FIELDS], 0)
    return [ints, floats] + ([tf.stack(state["cache"])] if state["cache"] else [])


def _unpack(ints, floats, cache, rows: int, length: int, top_n: int) -> dict:
    """Inside a program: the fields of a packed state (the inverse of `_pack`)."""
    state = _unpacked(ints, floats, rows, length, top_n)
    state["emitted"] = tf.cast(state["emitted"], tf.bool)
    state["cache"] = () if cache is None else tuple(tf.unstack(cache))
    return state


class CompiledLoop:
    """The compiled programs of one model, one per program-shaping setting.

    Use `loop_for(model)` to get the cached instance.
    """

    def __init__(self, model, jit_compile: bool = True):
        self._model = weakref.ref(model)
        self.jit_compile = jit_compile
        self._programs: dict[tuple, object] = {}
        self._traces: dict[tuple, int] = {}
        self._constants: dict[tuple, tf.Tensor] = {}
        # Seconds per loop step that streaming last measured, by (rows, buffer length): how
        # `stream(chunk_size="auto")` sizes its chunks (see `session`).
        self.paces: dict[tuple, float] = {}

    @property
    def model(self):
        model = self._model()
        if model is None:
            raise RuntimeError("The model of this generation loop no longer exists.")
        return model

    def constant(self, array: np.ndarray) -> tf.Tensor:
        """`array` as a tensor, shared by the calls that pass equal small arrays (zero rows, stop
        masks, sampler parameters): converting costs ~6 us a tensor, looking one up ~1."""
        key = (array.dtype.str, array.shape, array.tobytes())
        tensor = self._constants.get(key)
        if tensor is None:
            if len(self._constants) >= _MOST_CONSTANTS:
                self._constants.clear()
            tensor = self._constants[key] = tf.constant(array)
        return tensor

    def trace_counts(self) -> dict[tuple, int]:
        """How many times each compiled program was traced, by its key."""
        return dict(self._traces)

    # ---- the two programs --------------------------------------------------------------

    def start(self, inputs: Inputs, tokens, scores, finish, produced, *, sampler: Sampler, top_n: int,
              use_cache: bool, prefill_length: int) -> State:
        """Fill the cache with `tokens` `(R, S)` at positions `0 .. prefill_length - 1` (with the
        cache), then run the loop from `i` to `end`; `scores`, `finish`, `produced` `(R,)` carry
        over (zeros for a new generation, the old values after the window slid)."""
        rows, length = tokens.shape
        key = ("start", sampler.compile_key(), top_n, use_cache, prefill_length if use_cache else 0, rows, length)
        arguments = [*inputs.flat(), tokens, scores, finish, produced]
        program = self._program(key, arguments, lambda: self._start_program(sampler, top_n, use_cache, prefill_length))
        return _state(program(arguments), rows, length, top_n)

    def resume(self, inputs: Inputs, state: State, *, sampler: Sampler, top_n: int, use_cache: bool) -> State:
        """Run the loop on from `state` (its `i` is the session's `i`) to `end`."""
        rows, length = state.rows, state.length
        key = ("resume", sampler.compile_key(), top_n, use_cache, rows, length)
        arguments = [*inputs.flat(), *state.flat()]  # `i` comes in the scalars
        program = self._program(key, arguments, lambda: self._resume_program(sampler, top_n, use_cache,
                                                                             rows, length))
        return _state(program(arguments), rows, length, top_n)

    def _program(self, key: tuple, arguments: list, build):
        """The program for `key`, traced for the shapes and dtypes of `arguments` on first use;
        returned as a function of the flat argument list."""
        if key not in self._programs:
            body = build()
            self._traces[key] = 0

            def traced(*flat):
                self._traces[key] += 1
                return body(*flat)

            specs = [tf.TensorSpec(argument.shape, argument.dtype) for argument in arguments]
            concrete = tf.function(traced, jit_compile=self.jit_compile).get_concrete_function(*specs)
            self._programs[key] = _flat_call(concrete)
        return self._programs[key]

    def _start_program(self, sampler: Sampler, top_n: int, use_cache: bool, prefill_length: int):
        run = self._loop_program(sampler, top_n, use_cache)

        def start(scalars, parameters, stop_mask, prompt_lengths, tokens, scores, finish, produced):
            rows, length = tokens.shape
            cache = ()
            if use_cache:
                model = self.model
                _, cache = model.call_with_cache(tokens[:, :prefill_length], model.empty_cache(rows, length), 0)
            state = dict(
                i=scalars[0], tokens=tokens, scores=scores, finish=finish, produced=produced,
                emitted=tf.zeros((rows, length), tf.bool), probabilities=tf.zeros((rows, length), tf.float32),
                top_ids=tf.zeros((rows, length, top_n), tf.int32),
                top_probabilities=tf.zeros((rows, length, top_n), tf.float32), cache=cache,
            )
            return run(scalars, parameters, stop_mask, prompt_lengths, state)

        return start

    def _resume_program(self, sampler: Sampler, top_n: int, use_cache: bool, rows: int, length: int):
        run = self._loop_program(sampler, top_n, use_cache)

        def resume(scalars, parameters, stop_mask, prompt_lengths, ints, floats, cache=None):
            state = _unpack(ints, floats, cache, rows, length, top_n)
            return run(scalars, parameters, stop_mask, prompt_lengths, dict(state, i=scalars[0]))

        return resume

    def _loop_program(self, sampler: Sampler, top_n: int, use_cache: bool):
        """The loop itself, shared by both programs: a function of the inputs and the state's
        fields (a dict) that returns the new state, packed (`State.flat()`)."""
        beams = sampler.num_beams > 1
        parameter_names = list(sampler.parameters())

        def next_logits(tokens, cache, i):
            model = self.model
            if use_cache:
                previous = tf.gather(tokens, [i - 1], axis=1)  # (R, 1): the token at i - 1
                hidden, cache = model.call_with_cache(previous, cache, i - 1)  # (R, 1, C)
                return model.logits(hidden[:, 0]), cache  # (R, V)
            hidden, _ = model.encode(tokens)  # (R, S, C): causal, so later positions do not matter
            return model.logits(tf.gather(hidden, i - 1, axis=1)), cache

        def step(state: dict, inputs: dict) -> dict:
            i, tokens = state["i"], state["tokens"]
            logits, cache = next_logits(tokens, state["cache"], i)
            model_logits = logits

            in_prompt = i < inputs["prompt_lengths"]  # (R,)
            finished = state["finish"] != RUNNING
            forced_token = tf.where(in_prompt, tokens[:, i], 0)
            if beams:
                # Rows inside their prompt keep the prompt token; finished rows repeat padding.
                # Beam search must score them too, so both are forced through the logits (one
                # allowed token, log-probability 0) and ranked like any other row.
                forced = tf.one_hot(forced_token, tf.shape(logits)[1], on_value=0.0, off_value=MASKED)
                logits = tf.where((in_prompt | finished)[:, None], forced, logits)
            # Other samplers pick per row, so forced rows are simply overwritten below: a row's
            # pick does not depend on other rows' logits (same seed, same random numbers).

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
            # What the model thought, at temperature 1: exp(logit - logsumexp), without the
            # (R, V) softmax.
            normalizer = tf.reduce_logsumexp(model_logits, axis=-1, keepdims=True)  # (R, 1)
            chosen = tf.exp(tf.gather(model_logits, token[:, None], batch_dims=1) - normalizer)[:, 0]
            produced = state["produced"] + tf.cast(emitted, tf.int32)
            is_stop = tf.gather(inputs["stop_mask"], token) & emitted
            finish = tf.where(
                finished,
                state["finish"],
                tf.where(is_stop, STOPPED, tf.where(emitted & (produced >= inputs["max_new_tokens"]), LENGTH, RUNNING)),
            )
            token = tf.where(emitted, token, forced_token)  # forced_token is 0 outside the prompt
            state.update(
                i=i + 1,
                tokens=_set_column(state["tokens"], i, token),
                emitted=_set_column(state["emitted"], i, emitted & ~is_stop),  # stop tokens are not output
                probabilities=_set_column(state["probabilities"], i, chosen),
                produced=produced,
                finish=finish,
            )
            if top_n:
                top_logits, top_ids = tf.math.top_k(model_logits, k=top_n)  # (R, N), most likely first
                state.update(
                    top_ids=_set_column(state["top_ids"], i, top_ids),
                    top_probabilities=_set_column(state["top_probabilities"], i, tf.exp(top_logits - normalizer)),
                )
            return state

        def run(scalars, parameters, stop_mask, prompt_lengths, state: dict) -> list:
            inputs = dict(
                end=scalars[1], offset=scalars[2], max_new_tokens=scalars[3], seed=scalars[4:6],
                parameters={name: parameters[index] for index, name in enumerate(parameter_names)},
                stop_mask=stop_mask, prompt_lengths=prompt_lengths,
            )

            def running(state):
                return (state["i"] < inputs["end"]) & tf.reduce_any(state["finish"] == RUNNING)

            state = tf.while_loop(running, lambda state: (step(state, inputs),), (state,))[0]
            return _pack(state)

        return run


def _state(flat: list, rows: int, length: int, top_n: int) -> State:
    return State(flat[0], flat[1], flat[2] if len(flat) > 2 else None, rows, length, top_n)


def _flat_call(concrete):
    """Call `concrete` with a flat list of tensors (exactly its traced shapes and dtypes).

    `ConcreteFunction._call_flat` is the entry point its public `__call__` reaches after
    binding and checking the arguments; that binding costs ~0.1 ms for the ~20 tensors of a
    generation state, most of a small model's call. The arguments here are built by this
    module with the traced shapes, so the check has nothing to find. Should a TensorFlow
    release rename the method, the public call is used instead."""
    call_flat = getattr(concrete, "_call_flat", None)
    if call_flat is None:
        return lambda arguments: concrete(*arguments)
    return lambda arguments: call_flat(arguments, concrete.captured_inputs)


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
