"""`generate` and `stream`: prompts in, tokens out, through the one compiled loop.

A `_Session` checks the request (every bad value is a `ValueError` that says what to do),
lays the prompts into a buffer, and runs the compiled loop in chunks: the first call fills
the cache and runs on (a whole `generate` is that one call), later calls resume from the
state it left on the device. The two entry points differ only in whether they wait for the
last chunk. When a generation runs past the model's context, the last half of the context
is kept and the loop starts again from there (the model only ever saw `sequence_length`
positions).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import textwrap
import time
from typing import Iterable, Iterator

import numpy as np

from nbmodels.checks import check_int
from nbmodels.generation.loop import LENGTH, RUNNING, STOPPED, HostState, Inputs, State, loop_for
from nbmodels.generation.samplers import Sampler, get_sampler

FINISH_REASONS = {STOPPED: "stop", LENGTH: "length"}
_SMALLEST_BUFFER = 16
# How long a chunk of `stream(chunk_size="auto")` runs. Text streamed at 15 updates a second
# reads as smooth, and a compiled call's own cost (~0.3 ms for a tiny model, ~4 ms for a 27M
# one on a 2-core CPU, whatever its steps) stays under ~6% of a chunk; at 1/30 s it was 12%.
_CHUNK_SECONDS = 1 / 15
# The compiled loop takes the seed as two int32 halves of 31 and 30 bits (XLA's stateless
# sampling wants int32 seeds) and adds each token's absolute position to the second half. So a
# seed has at most 61 bits, and a generation at most 2**30 positions: the sum stays below 2**31.
_SEED_LIMIT = 2**61
_POSITION_LIMIT = 2**30


@dataclasses.dataclass(frozen=True)
class Token:
    """One generated token, as `stream` yields it.

    Attributes:
        row: which prompt it continues (0 for a single prompt).
        index: its place among that row's generated tokens, from 0.
        id: the token id.
        text: the token's text, or None without a tokenizer.
        probability: the model's probability for this token (softmax of its logits at
            temperature 1, before any top-k/top-p cut), in [0, 1].
        alternatives: the `top_n` most likely tokens at that step, most likely first, as
            `(id, text, probability)`; the chosen token is among them when it was likely.
    """

    row: int
    index: int
    id: int
    text: str | None
    probability: float
    alternatives: tuple[tuple[int, str | None, float], ...] = ()


@dataclasses.dataclass
class Generation:
    """What `generate` returns: per prompt, the new tokens (the prompt is not repeated).

    Attributes:
        token_ids: per prompt, the generated ids (int32; stop tokens are not included).
        probabilities: per prompt, each generated token's probability (float32).
        alternatives: per prompt, per token, the top-N `(id, text, probability)`; empty lists
            when `top_n=0`.
        texts: per prompt, the decoded continuation, or None without a tokenizer.
        finish_reasons: per prompt, "stop" (a stop token), "length" (max_new_tokens) or
            "cancelled".
        seed: the seed used (given, or drawn): pass it again to repeat a sampled generation.
        seconds: wall time, compiling included on a first call.
    """

    token_ids: list[np.ndarray]
    probabilities: list[np.ndarray]
    alternatives: list[list[tuple]]
    texts: list[str] | None
    finish_reasons: list[str]
    seed: int
    seconds: float

    @property
    def text(self) -> str:
        """The first prompt's continuation (the common single-prompt case)."""
        if self.texts is None:
            raise ValueError("This generation had no tokenizer, so there is no text; read token_ids.")
        return self.texts[0]

    @property
    def num_tokens(self) -> int:
        return sum(len(ids) for ids in self.token_ids)

    @property
    def tokens_per_second(self) -> float:
        return self.num_tokens / self.seconds if self.seconds > 0 else float("nan")

    def __repr__(self) -> str:
        shown = repr(self.texts[0][:40]) if self.texts else f"ids {self.token_ids[0][:8].tolist()}"
        return (
            f"Generation({len(self.token_ids)} prompt(s), {self.num_tokens} tokens, first: {shown}, "
            f"finish {self.finish_reasons}, {self.tokens_per_second:,.0f} tokens/s)"
        )


@dataclasses.dataclass(frozen=True)
class _Options:
    """The keyword arguments `generate` and `stream` share, with `generate`'s defaults: one
    list, so the two entry points cannot drift apart. Documented once, in `_OPTIONS_DOC`."""

    max_new_tokens: int = 64
    sampler: str | Sampler = "greedy"
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    num_beams: int | None = None
    seed: int | None = None
    stop_tokens: Iterable = ()
    tokenizer: object = None
    top_n: int = 0
    use_cache: bool = True
    jit_compile: bool = True
    cancel: object = None


_OPTIONS_DOC = """\
model: a causal LM with `call_with_cache` (an `nbmodels.models.GPT`).
prompts: a string, a list of strings, a 1-D sequence of ids, or a list of id
    sequences; prompts may differ in length. Strings need a tokenizer.
max_new_tokens: tokens to add to each prompt, from 1 to 2**30 minus the model's
    context. Past the model's context the last half of the context is kept and
    generation continues.
sampler: "greedy", "temperature", "top_k", "top_p", "beam", or a `Sampler` object
    (`nbmodels.generation.TopP(0.9, temperature=0.8)`).
temperature, top_k, top_p, num_beams: options of the named sampler (num_beams at most
    the vocabulary size).
seed: an integer in 0 .. 2**61 - 1; the same seed gives the same tokens; None draws one
    (see `Generation.seed`). Each token is sampled with the seed and its absolute
    position, so text past the context does not repeat the seeds of earlier text.
stop_tokens: ids (or single-token strings) that end a prompt's generation; the stop
    token itself is not returned.
tokenizer: turns text into ids and back; default `model.tokenizer`.
top_n: also record the `top_n` most likely tokens of every step.
use_cache: False recomputes every position at every step (for comparison only: slower,
    same tokens).
jit_compile: compile the loop with XLA (much faster; False helps debugging).
cancel: a `threading.Event` (or a callable returning bool); when set, generation
    stops after the current chunk."""


def _takes_options(*, top_n: int, **extra):
    """Give `function(model, prompts, **options)` the shared keyword arguments: `_Options`'
    fields with this `top_n` default, then `extra` (name=default). They become its signature
    (what `help()` and editors show, and what binds each call: an unknown or positional option
    is a TypeError, an omitted one takes its default) and fill `{options}` in its docstring."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD) for name in ("model", "prompts")]
    parameters += [
        inspect.Parameter(field.name, keyword, default=top_n if field.name == "top_n" else field.default,
                          annotation=field.type)
        for field in dataclasses.fields(_Options)
    ]
    parameters += [inspect.Parameter(name, keyword, default=default) for name, default in extra.items()]

    def decorate(function):
        signature = inspect.signature(function).replace(parameters=parameters)

        @functools.wraps(function)
        def call(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return function(**bound.arguments)

        call.__signature__ = signature
        call.__doc__ = function.__doc__.replace("{options}", textwrap.indent(_OPTIONS_DOC, " " * 8).lstrip())
        return call

    return decorate


@_takes_options(top_n=0)
def generate(model, prompts, **options) -> Generation:
    """Continue each prompt with up to `max_new_tokens` tokens.

    Args:
        {options}

    Returns:
        A `Generation`.

    Example:
    >>> from nbmodels.data import CharTokenizer
    >>> from nbmodels.generation import generate
    >>> from nbmodels.models import GPT, GPTConfig
    >>> tokenizer = CharTokenizer.from_text("to be or not to be")
    >>> model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size))
    >>> result = generate(model, ["to be", "or"], tokenizer=tokenizer, max_new_tokens=4,
    ...                   sampler="top_k", top_k=3, seed=1)
    >>> [len(ids) for ids in result.token_ids], result.finish_reasons
    ([4, 4], ['length', 'length'])
    >>> generate(model, "", tokenizer=tokenizer)
    Traceback (most recent call last):
    ...
    ValueError: Prompt 0 is empty; generation needs at least one token to continue.
    """
    session = _Session(model, prompts, _Options(**options), caller="generate")
    for _ in session.chunks(chunk_size=None):
        pass
    return session.result()


@_takes_options(top_n=5, chunk_size="auto")
def stream(model, prompts, *, chunk_size, **options) -> TokenStream:
    """Like `generate`, but yield each `Token` as soon as its chunk of the loop has run.

    The compiled loop runs `chunk_size` steps at a time (the first chunk is shorter, so the
    first token shows quickly); each chunk's tokens are then yielded in order, row by row.
    With "auto", each chunk runs about 1/15 s at the pace measured so far (the first chunk
    too, once the model has streamed at this size before): a fast model streams in few
    compiled calls (each costs ~0.3 ms besides its steps on a CPU: chunks of 16 steps make a
    tiny model's stream twice as long as one call), a slow one still shows tokens as they come.
    Stop early by setting `cancel` or by leaving the loop (closing the iterator). The
    arguments are checked when `stream` is called, not at the first token. Beam search
    yields its tokens at the end: an earlier token can change until then. The returned
    `TokenStream`'s `result()` gives the `Generation` (finish reasons included) afterwards.

    Args:
        {options}
        chunk_size: loop steps to run between yields, or "auto" (about 1/15 s of steps).

    Example:
    >>> from nbmodels.data import CharTokenizer
    >>> from nbmodels.generation import stream
    >>> from nbmodels.models import GPT, GPTConfig
    >>> tokenizer = CharTokenizer.from_text("to be or not to be")
    >>> model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size))
    >>> tokens = list(stream(model, "to be", tokenizer=tokenizer, max_new_tokens=6, top_n=3, seed=0))
    >>> len(tokens), tokens[0].index, len(tokens[0].alternatives), 0.0 <= tokens[0].probability <= 1.0
    (6, 0, 3, True)
    """
    options = _Options(**options)
    if not (isinstance(chunk_size, str) and chunk_size == "auto"):
        chunk_size = check_int("stream", "chunk_size", chunk_size, minimum=1,
                               fix='Pass how many loop steps to run between yields, e.g. chunk_size=16, or "auto"')
    return TokenStream(_Session(model, prompts, options, caller="stream"), chunk_size)


class TokenStream:
    """What `stream` returns: an iterator of `Token`s; once it is exhausted (or closed),
    `result()` gives the `Generation` with every row's finish reason.

    Example:
    >>> from nbmodels.generation import stream
    >>> from nbmodels.models import GPT, GPTConfig
    >>> model = GPT(GPTConfig.preset("tiny", vocabulary_size=8))
    >>> tokens = stream(model, [1, 2, 3], max_new_tokens=4, seed=0)
    >>> len(list(tokens)), tokens.result().finish_reasons
    (4, ['length'])
    """

    def __init__(self, session: _Session, chunk_size: int | str):
        self._session = session
        self._tokens = session.tokens(chunk_size)
        self._done = False

    def __iter__(self) -> "TokenStream":
        return self

    def __next__(self) -> Token:
        try:
            return next(self._tokens)
        except StopIteration:
            self._done = True
            raise

    def close(self) -> None:
        """Stop generating (what leaving a `for` loop early does); rows still running end "cancelled"."""
        if not self._done:
            self._tokens.close()
            self._done = True
            self._session.finish_reasons = [reason or "cancelled" for reason in self._session.finish_reasons]

    def result(self) -> Generation:
        """The whole generation so far; call it after the stream is exhausted or closed."""
        if not self._done:
            raise ValueError("The stream is still running: iterate it to the end (or close() it) first.")
        return self._session.result()


class _Session:
    """One generation request: checked inputs, the loop's state, and what came out so far."""

    def __init__(self, model, prompts, options: _Options, caller: str):
        if not callable(getattr(model, "call_with_cache", None)) or not hasattr(model, "config"):
            raise ValueError(
                f"{caller} needs a causal language model with a key/value cache (nbmodels.models.GPT), "
                f"got {type(model).__name__}."
            )
        self.model = model
        self.context = model.config.sequence_length
        self.vocabulary_size = model.config.vocabulary_size
        self.tokenizer = options.tokenizer if options.tokenizer is not None else getattr(model, "tokenizer", None)
        self.sampler = get_sampler(options.sampler, temperature=options.temperature, top_k=options.top_k,
                                   top_p=options.top_p, num_beams=options.num_beams)
        # Checked here, as Python ints, so nothing wraps around in an int32 tensor later.
        self.max_new_tokens = check_int(
            caller, "max_new_tokens", options.max_new_tokens, minimum=1, maximum=_POSITION_LIMIT - self.context,
            why=f"2**30 positions, less the context of {self.context}, are counted in int32",
            fix="Pass how many tokens to add to each prompt, e.g. max_new_tokens=64",
        )
        self.top_n = check_int(caller, "top_n", options.top_n, minimum=0, maximum=self.vocabulary_size,
                               why="the vocabulary size",
                               fix="Pass how many alternatives to record per token; 0 records none")
        if options.seed is None:
            self.seed = int(np.random.SeedSequence().entropy % _SEED_LIMIT)
        else:
            self.seed = check_int(caller, "seed", options.seed, minimum=0, maximum=_SEED_LIMIT - 1,
                                  why="2**61 - 1: it is fed to XLA as two int32 halves",
                                  fix="Pass a smaller seed (e.g. seed % 2**61), or seed=None to draw one")
        check_int(caller, "num_beams", self.sampler.num_beams, minimum=1, maximum=self.vocabulary_size,
                  why="the vocabulary size: the first step has no more distinct continuations",
                  fix="Pass fewer beams, e.g. num_beams=4")
        self.use_cache = bool(options.use_cache)
        self.cancel = options.cancel
        self.prompts = self._encode_prompts(prompts)
        self.stop_mask = self._stop_mask(options.stop_tokens)
        if self.sampler.num_beams > 1 and max(map(len, self.prompts)) + self.max_new_tokens > self.context:
            raise ValueError(
                f"Beam search keeps every beam inside the context: the longest prompt plus max_new_tokens="
                f"{self.max_new_tokens} must be at most sequence_length={self.context}."
            )
        self.loop = loop_for(model, jit_compile=bool(options.jit_compile))
        self.rows = len(self.prompts) * self.sampler.num_beams
        longest = max(map(len, self.prompts))
        self.buffer_length = min(self.context, _bucket(longest + self.max_new_tokens))
        self.outputs = [dict(ids=[], probabilities=[], alternatives=[]) for _ in self.prompts]
        self.finish_reasons: list[str | None] = [None] * len(self.prompts)
        self.seconds = 0.0

    # ---- checking the request ------------------------------------------------------------

    def _encode_prompts(self, prompts) -> list[np.ndarray]:
        if isinstance(prompts, str) or (isinstance(prompts, np.ndarray) and prompts.ndim == 1):
            prompts = [prompts]
        elif isinstance(prompts, (list, tuple)) and prompts and all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in prompts
        ):
            prompts = [prompts]  # one prompt given as a list of ids
        if isinstance(prompts, np.ndarray):
            prompts = list(prompts)
        if not isinstance(prompts, (list, tuple)) or not prompts:
            raise ValueError("prompts must be a string, a list of strings, or token ids (one or more prompts).")
        encoded = []
        for index, prompt in enumerate(prompts):
            if isinstance(prompt, str):
                if self.tokenizer is None:
                    raise ValueError(
                        "Text prompts need a tokenizer: pass tokenizer=... or give the model one "
                        "(GPT(config, tokenizer=...)); or pass token ids."
                    )
                ids = np.asarray(self.tokenizer.encode(prompt), dtype=np.int64)
            else:
                ids = np.asarray(prompt)
                if ids.size and (ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer)):
                    raise ValueError(f"Prompt {index} must be a string or a 1-D sequence of integer ids.")
            if ids.size == 0:
                raise ValueError(f"Prompt {index} is empty; generation needs at least one token to continue.")
            if len(ids) > self.context:
                raise ValueError(
                    f"Prompt {index} has {len(ids)} tokens, more than the model's context "
                    f"(sequence_length={self.context}); keep its last {self.context} tokens."
                )
            bad = np.flatnonzero((ids < 0) | (ids >= self.vocabulary_size))
            if bad.size:
                raise ValueError(
                    f"Prompt {index} has id {int(ids[bad[0]])} at position {int(bad[0])}, outside the "
                    f"vocabulary (0..{self.vocabulary_size - 1})."
                )
            encoded.append(ids.astype(np.int32))
        return encoded

    def _stop_mask(self, stop_tokens) -> np.ndarray:
        if isinstance(stop_tokens, (str, int, np.integer)):
            stop_tokens = [stop_tokens]
        mask = np.zeros(self.vocabulary_size, dtype=bool)
        for token in stop_tokens:
            if isinstance(token, str):
                if self.tokenizer is None:
                    raise ValueError(f"Stop token {token!r} is text; pass a tokenizer or give its id.")
                ids = self.tokenizer.encode(token)
                if len(ids) != 1:
                    raise ValueError(f"Stop token {token!r} is {len(ids)} tokens; a stop token must be exactly one.")
                token = int(ids[0])
            if isinstance(token, bool) or not isinstance(token, (int, np.integer)) or not (
                0 <= token < self.vocabulary_size
            ):
                raise ValueError(f"Stop token {token!r} is not an id in 0..{self.vocabulary_size - 1}.")
            mask[int(token)] = True
        return mask

    # ---- running the loop ------------------------------------------------------------------

    def chunks(self, chunk_size: int | str | None):
        """Run the loop; after each chunk, yield the list of new `Token`s. `chunk_size`: steps per
        chunk, "auto" (`_CHUNK_SECONDS` of steps at the pace so far), or None (one chunk)."""
        import tensorflow as tf

        started = time.perf_counter()
        beams = self.sampler.num_beams
        prompt_lengths = np.repeat([len(p) for p in self.prompts], beams).astype(np.int32)
        tokens = np.zeros((self.rows, self.buffer_length), dtype=np.int32)
        for row, prompt in enumerate(p for p in self.prompts for _ in range(beams)):
            tokens[row, : len(prompt)] = prompt
        scores = np.zeros(self.rows, dtype=np.float32)
        if beams > 1:
            scores[np.arange(self.rows) % beams != 0] = -1e9  # identical beams: let only the first grow
        zeros = np.zeros(self.rows, dtype=np.int32)
        carried = dict(tokens=tokens, scores=scores, finish=zeros, produced=zeros)  # what the next start takes
        constants = dict(parameters=self.loop.constant(np.float32(list(self.sampler.parameters().values()))),
                         stop_mask=self.loop.constant(self.stop_mask), prompt_lengths=tf.constant(prompt_lengths))
        start, offset = int(prompt_lengths.min()), 0  # offset: positions slid out of the buffer so far
        state, host, finish = None, None, zeros  # host: the state read back after each call; finish: its codes
        # A short first chunk, so the first token shows fast; for "auto", a chunk's worth at the
        # pace this model last streamed at (the same rows and buffer), when known.
        pace_key = (self.rows, self.buffer_length)
        if chunk_size == "auto":
            pace = self.loop.paces.get(pace_key)
            step_budget = 4 if pace is None else max(1, int(_CHUNK_SECONDS / pace))
        else:
            step_budget = None if chunk_size is None else min(4, chunk_size)
        try:
            while True:
                if self._cancelled():
                    self._finish_running(finish, "cancelled")
                    break
                if start == self.buffer_length:  # past the context: keep its last half, go on
                    keep = self.buffer_length // 2
                    tokens = np.zeros_like(tokens)
                    tokens[:, :keep] = host.tokens[:, -keep:]
                    carried = dict(tokens=tokens, scores=host.scores, finish=host.finish, produced=host.produced)
                    constants.update(prompt_lengths=self.loop.constant(zeros))
                    offset += start - keep
                    start = keep
                end = self.buffer_length if step_budget is None else min(self.buffer_length, start + step_budget)
                call_started = time.perf_counter()
                state = self._run_loop(start, end, offset, constants, carried, state)
                carried = None
                host = state.read()
                first, start, finish = start, host.i, host.finish
                if chunk_size == "auto":  # the steps that fit in a chunk's time at this call's pace
                    pace = self.loop.paces[pace_key] = (time.perf_counter() - call_started) / max(start - first, 1)
                    step_budget = max(1, int(_CHUNK_SECONDS / pace))
                elif chunk_size:
                    step_budget = chunk_size
                done = bool((finish != RUNNING).all())
                if beams == 1:
                    yield self._collect(host, first, start)
                if done:
                    break
            if beams > 1:
                yield self._collect_best_beams(host)
            for row, code in enumerate(finish[::beams]):
                if self.finish_reasons[row] is None:
                    self.finish_reasons[row] = FINISH_REASONS.get(int(code), "cancelled")
        finally:
            self.seconds += time.perf_counter() - started

    def _run_loop(self, start: int, end: int, offset: int, constants: dict, carried: dict | None,
                  state: State | None) -> State:
        """One compiled call, from position `start` to `end`: a start from the `carried` rows (a
        new generation, or the kept half after a slide), or on from `state`."""
        import tensorflow as tf

        # The seed as two int32 halves: XLA's stateless sampling takes int32 seeds (see _SEED_LIMIT).
        scalars = np.array([start, end, offset, self.max_new_tokens, self.seed % 2**31, self.seed >> 31], np.int32)
        inputs = Inputs(scalars=tf.constant(scalars), **constants)  # in the order of `loop.SCALARS`
        options = dict(sampler=self.sampler, top_n=self.top_n, use_cache=self.use_cache)
        if carried is None:
            return self.loop.resume(inputs, state, **options)
        carried = {  # zero rows and beam scores repeat from call to call: shared constants
            name: value if not isinstance(value, np.ndarray) else
            tf.constant(value) if name == "tokens" else self.loop.constant(value)
            for name, value in carried.items()
        }
        prefill_length = min(self.buffer_length, _bucket(max(start - 1, 1)))
        return self.loop.start(inputs, **carried, prefill_length=prefill_length, **options)

    def tokens(self, chunk_size: int | str) -> Iterator[Token]:
        for new_tokens in self.chunks(chunk_size):
            yield from new_tokens

    def result(self) -> Generation:
        texts = None
        if self.tokenizer is not None:
            texts = [self.tokenizer.decode(np.asarray(out["ids"], dtype=np.int32)) for out in self.outputs]
        return Generation(
            token_ids=[np.asarray(out["ids"], dtype=np.int32) for out in self.outputs],
            probabilities=[np.asarray(out["probabilities"], dtype=np.float32) for out in self.outputs],
            alternatives=[out["alternatives"] for out in self.outputs],
            texts=texts,
            finish_reasons=list(self.finish_reasons),
            seed=self.seed,
            seconds=self.seconds,
        )

    def _collect(self, state: HostState, start: int, end: int) -> list[Token]:
        """The tokens emitted at positions `start .. end - 1`, recorded per row, in order."""
        emitted = state.emitted[:, start:end]
        if not emitted.any():
            return []
        ids = state.tokens[:, start:end]
        probabilities = state.probabilities[:, start:end]
        top_ids = state.top_ids[:, start:end]
        top_probabilities = state.top_probabilities[:, start:end]
        new_tokens = []
        for row in range(emitted.shape[0]):
            for column in np.flatnonzero(emitted[row]):
                new_tokens.append(self._record(row, ids[row, column], probabilities[row, column],
                                               top_ids[row, column], top_probabilities[row, column]))
        return new_tokens

    def _collect_best_beams(self, state: HostState) -> list[Token]:
        beams = self.sampler.num_beams
        scores = state.scores.reshape(-1, beams)
        best_rows = np.arange(len(scores)) * beams + scores.argmax(axis=1)
        end = state.i
        emitted = state.emitted[best_rows, :end]
        ids = state.tokens[best_rows, :end]
        probabilities = state.probabilities[best_rows, :end]
        top_ids = state.top_ids[best_rows, :end]
        top_probabilities = state.top_probabilities[best_rows, :end]
        new_tokens = []
        for row in range(len(best_rows)):
            for column in np.flatnonzero(emitted[row]):
                new_tokens.append(self._record(row * beams, ids[row, column], probabilities[row, column],
                                               top_ids[row, column], top_probabilities[row, column]))
        return new_tokens

    def _record(self, row: int, id, probability, top_ids, top_probabilities) -> Token:
        prompt = row // self.sampler.num_beams
        out = self.outputs[prompt]
        alternatives = tuple(
            (int(i), self._text(i), float(p)) for i, p in zip(top_ids.tolist(), top_probabilities.tolist())
        )
        token = Token(prompt, len(out["ids"]), int(id), self._text(id), float(probability), alternatives)
        out["ids"].append(token.id)
        out["probabilities"].append(token.probability)
        out["alternatives"].append(alternatives)
        return token

    def _text(self, id) -> str | None:
        return None if self.tokenizer is None else self.tokenizer.id_to_token(int(id))

    def _cancelled(self) -> bool:
        cancel = self.cancel
        if cancel is None:
            return False
        return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())

    def _finish_running(self, finish: np.ndarray, reason: str) -> None:
        """Give rows still running in `finish` (the codes of every row) this finish reason."""
        for row, code in enumerate(finish[:: self.sampler.num_beams]):
            if code == RUNNING:
                self.finish_reasons[row] = reason


def _bucket(length: int) -> int:
    """Round a buffer length up, so calls share compiled programs: to a power of two up to 64
    (at least 16), then to a quarter of a power of two (80, 96, 112, 128, 160, 192, ...): four
    sizes per doubling, so a generation attends over at most a quarter of unused positions
    (attention over them costs time) and each doubling compiles at most four programs."""
    length = int(length)
    if length <= 64:
        return max(_SMALLEST_BUFFER, 1 << (length - 1).bit_length())
    step = 1 << ((length - 1).bit_length() - 3)  # a quarter of the power of two below
    return -(-length // step) * step
