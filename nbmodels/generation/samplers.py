"""Samplers: how the next token is picked from the logits, and nothing else.

Every sampler runs inside the one compiled generation loop (`nbmodels.generation.loop`). It
gets float32 logits `(R, V)` for R rows and returns the chosen token ids; beam search also
returns which row each new row continues (its parent) and the rows' running scores. Numbers
that may change between calls (temperature, p) are fed to the compiled loop as tensors, so
changing them does not recompile; numbers that shape the program (k, number of beams) are
part of the compiled function's key.

Pick one by name or pass an object:

>>> from nbmodels.generation import samplers
>>> samplers.get_sampler("top_p", top_p=0.9, temperature=0.8)
TopP(top_p=0.9, temperature=0.8)
>>> samplers.get_sampler(samplers.Beam(num_beams=3))
Beam(num_beams=3)
>>> samplers.get_sampler("nucleus")
Traceback (most recent call last):
...
nbmodels.checks.ConfigError: get_sampler.sampler='nucleus' is not allowed: choose one of 'greedy', 'temperature', 'top_k', 'top_p', 'beam'. Or pass a Sampler object.
"""

from __future__ import annotations

import inspect

import tensorflow as tf

from nbmodels.checks import check_choice, check_float, check_int, fail

# Where a token must not be chosen. Finite, so a row whose every entry is masked still gives
# a finite softmax instead of NaN.
MASKED = -1e9
# Below this, logits / temperature overflow float32 (a raw TensorFlow error, or token 0 under
# XLA), and the sampler is greedy in all but name anyway.
MIN_TEMPERATURE = 1e-6


class Sampler:
    """Base class. Subclasses implement `pick` (or, for beam search, `select`).

    `compile_key()` names what changes the compiled program; `parameters()` gives the float
    parameters fed as tensors (so new values do not recompile).
    """

    name = ""
    num_beams = 1
    streams = True  # tokens are final when picked (beam search decides only at the end)

    def parameters(self) -> dict[str, float]:
        return {}

    def compile_key(self) -> tuple:
        return (type(self).__name__,)

    def pick(self, logits, parameters, seed):
        """Token ids `(R,)` int32 from float32 logits `(R, V)`; `seed` is a stateless seed `(2,)`."""
        raise NotImplementedError

    def select(self, logits, scores, parameters, seed):
        """`(tokens (R,), parents (R,) or None, scores (R,))`; one row per beam."""
        return self.pick(logits, parameters, seed), None, scores

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in inspect.signature(type(self)).parameters)
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and repr(other) == repr(self)

    def __hash__(self):
        return hash(repr(self))


def _categorical(logits, seed):
    return tf.cast(tf.random.stateless_categorical(logits, 1, seed=seed)[:, 0], tf.int32)


class Greedy(Sampler):
    """Always the most likely token: deterministic, and prone to repeating itself."""

    name = "greedy"

    def pick(self, logits, parameters, seed):
        return tf.argmax(logits, axis=-1, output_type=tf.int32)


class Temperature(Sampler):
    """Sample from `softmax(logits / temperature)`: below 1 sharper, above 1 more varied.

    Args:
        temperature: float >= 1e-6 (`MIN_TEMPERATURE`); for the limit, use `Greedy`.
    """

    name = "temperature"

    def __init__(self, temperature: float = 1.0):
        self.temperature = check_float(
            self, "temperature", temperature, low=MIN_TEMPERATURE,
            fix="For the most likely token every time, use sampler='greedy'",
        )

    def parameters(self):
        return {"temperature": self.temperature}

    def pick(self, logits, parameters, seed):
        return _categorical(logits / parameters["temperature"], seed)


class TopK(Temperature):
    """Sample among the `top_k` most likely tokens (at `temperature`).

    Args:
        top_k: int >= 1; more than the vocabulary size keeps every token.
        temperature: float >= 1e-6.
    """

    name = "top_k"

    def __init__(self, top_k: int = 40, temperature: float = 1.0):
        super().__init__(temperature)
        self.top_k = check_int(self, "top_k", top_k, minimum=1, fix="Pass a whole number, e.g. top_k=40")

    def compile_key(self):
        return (type(self).__name__, self.top_k)  # XLA's top-k needs k at compile time

    def pick(self, logits, parameters, seed):
        k = min(self.top_k, logits.shape[-1])
        kth_largest = tf.math.top_k(logits, k=k).values[:, -1:]  # (R, 1)
        logits = tf.where(logits < kth_largest, MASKED, logits)
        return _categorical(logits / parameters["temperature"], seed)


class TopP(Temperature):
    """Nucleus sampling: sample among the fewest tokens whose probability adds up to `top_p`.

    Args:
        top_p: float in (0, 1]. 1 keeps every token; the most likely token is always kept.
        temperature: float >= 1e-6, applied before the cut.
    """

    name = "top_p"

    def __init__(self, top_p: float = 0.9, temperature: float = 1.0):
        super().__init__(temperature)
        self.top_p = check_float(self, "top_p", top_p, low=0.0, low_open=True, high=1.0)

    def parameters(self):
        return {"top_p": self.top_p, "temperature": self.temperature}

    def pick(self, logits, parameters, seed):
        sorted_logits, order = tf.math.top_k(logits / parameters["temperature"], k=logits.shape[-1])  # (R, V)
        probabilities = tf.nn.softmax(sorted_logits, axis=-1)
        # Keep a token while the mass before it is below p. The most likely token always stays,
        # even when p is below float32's smallest number (then `0 < p` is false in float32).
        mass_before = tf.cumsum(probabilities, axis=-1, exclusive=True)
        first = tf.range(tf.shape(mass_before)[1]) == 0
        keep = (mass_before < parameters["top_p"]) | first[None, :]
        sorted_logits = tf.where(keep, sorted_logits, MASKED)
        choice = _categorical(sorted_logits, seed)  # an index into the sorted order
        return tf.gather(order, choice[:, None], batch_dims=1)[:, 0]


class Beam(Sampler):
    """Beam search: keep the `num_beams` most likely continuations, return the best.

    Scores are summed log-probabilities (no length penalty); a beam that reaches a stop token
    keeps its score. Deterministic. Streaming yields a beam's tokens at the end, because an
    earlier token may still change while beams are reordered.

    Args:
        num_beams: int >= 1.
    """

    name = "beam"
    streams = False

    def __init__(self, num_beams: int = 4):
        self.num_beams = check_int(self, "num_beams", num_beams, minimum=1, fix="Pass a whole number, e.g. num_beams=4")

    def compile_key(self):
        return (type(self).__name__, self.num_beams)

    def select(self, logits, scores, parameters, seed):
        rows, vocabulary = tf.shape(logits)[0], tf.shape(logits)[1]
        batch = rows // self.num_beams
        candidates = scores[:, None] + tf.nn.log_softmax(logits, axis=-1)  # (R, V)
        candidates = tf.reshape(candidates, (batch, self.num_beams * vocabulary))  # (B, K * V)
        best_scores, best = tf.math.top_k(candidates, k=self.num_beams)  # (B, K)
        parents = best // vocabulary + tf.range(batch)[:, None] * self.num_beams  # rows they continue
        tokens = best % vocabulary
        return tf.reshape(tokens, (-1,)), tf.reshape(parents, (-1,)), tf.reshape(best_scores, (-1,))


SAMPLERS = {cls.name: cls for cls in (Greedy, Temperature, TopK, TopP, Beam)}


def get_sampler(sampler="greedy", **options) -> Sampler:
    """A `Sampler` from its name and options, or the given object itself.

    Args:
        sampler: a name in `SAMPLERS` ("greedy", "temperature", "top_k", "top_p", "beam") or a
            `Sampler`.
        **options: the named sampler's arguments (`temperature`, `top_k`, `top_p`,
            `num_beams`); options that are None are ignored.
    """
    options = {name: value for name, value in options.items() if value is not None}
    if isinstance(sampler, Sampler):
        if options:
            option = sorted(options)[0]
            fail("get_sampler", option, options[option], (
                f"the sampler is a {type(sampler).__name__} object, which holds its own options: "
                "set them on the object instead"
            ))
        return sampler
    cls = SAMPLERS[check_choice("get_sampler", "sampler", sampler, SAMPLERS, fix="Or pass a Sampler object")]
    if not options:  # the common case; reading a signature costs ~0.1 ms (for Greedy, parsed from a string)
        return cls()
    accepted = set(inspect.signature(cls).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        allowed = ", ".join(sorted(accepted)) or "none"
        fail("get_sampler", unknown[0], options[unknown[0]],
             f"the {sampler!r} sampler takes no option {', '.join(unknown)} (it takes: {allowed})")
    return cls(**options)
