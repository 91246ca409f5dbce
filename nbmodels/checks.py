"""The one validation kit: every argument and config field is checked here, one way.

Each check takes who is asking (`owner`: a name such as "GPTConfig", "load('digits')",
"generate", or an object whose type name is used), the field's name and its value, and
returns the value normalised (numpy integers -> int, 1 -> 1.0 for a float field). A bad
value raises `ConfigError`, a `ValueError` that carries `.owner`, `.field`, `.value` and
`.allowed`, so a form can put the message next to its field without reading the text, and
whose message always reads "{owner}.{field}={value!r} is not allowed: {allowed}.":

>>> from nbmodels.checks import check_int, check_choice, ConfigError
>>> check_int("generate", "max_new_tokens", 8, minimum=1)
8
>>> check_choice("TrainConfig", "optimizer", "adamm", ("adamw", "adam", "sgd"))
Traceback (most recent call last):
...
nbmodels.checks.ConfigError: TrainConfig.optimizer='adamm' is not allowed: choose one of 'adamw', 'adam', 'sgd' (did you mean 'adam'?).
>>> try:
...     check_int("MultiHeadSelfAttention", "num_heads", 0, minimum=1)
... except ConfigError as error:
...     print(error.owner, error.field, error.value)
MultiHeadSelfAttention num_heads 0

The frozen config dataclasses check their fields in `__post_init__` through `Fields`, which
calls the same functions and writes the normalised value back:

>>> import dataclasses
>>> @dataclasses.dataclass(frozen=True)
... class Sizes:
...     width: int = 4
...     dropout: float = 0
...     def __post_init__(self):
...         fields = Fields(self)
...         fields.int("width", minimum=1)
...         fields.rate("dropout")
>>> Sizes(width=8.0)  # a whole number from JSON or a slider is fine
Sizes(width=8, dropout=0.0)
>>> Sizes(width=0)
Traceback (most recent call last):
...
nbmodels.checks.ConfigError: Sizes.width=0 is not allowed: it must be a whole number >= 1.
"""

from __future__ import annotations

import difflib
import math
import numbers
import reprlib
from typing import NoReturn

import numpy as np


class ConfigError(ValueError):
    """A value that is not allowed, with the field it belongs to.

    Attributes:
        owner: who checked it ("TrainConfig", "Beam", "load('digits')", "generate").
        field: the field or argument name.
        value: the value given.
        allowed: what is allowed (and how to fix it), as in the message.

    `message` replaces the standard text for a combination of fields (it still belongs to
    `field`, the one to change).
    """

    def __init__(self, owner, field: str, value, allowed: str, *, message: str | None = None):
        self.owner = _owner_name(owner)
        self.field = field
        self.value = value
        self.allowed = allowed.rstrip(".")
        self.custom_message = message
        super().__init__(message or f"{self.owner}.{field}={_shown(value)} is not allowed: {self.allowed}.")

    def __reduce__(self):  # pickles (multiprocessing, saved errors) despite the keyword-rich __init__
        return _rebuild, (self.owner, self.field, self.value, self.allowed, self.custom_message)


def _rebuild(owner, field, value, allowed, message):
    return ConfigError(owner, field, value, allowed, message=message)


def _shown(value) -> str:
    """`repr(value)`, abbreviated when long: a value can be a whole corpus (`.value` keeps it).

    >>> _shown(["a long document " * 10])
    "['a long document a long document a lon...ument a long document a long document ']"
    """
    text = repr(value)
    return text if len(text) <= 80 else _SHORT_REPR.repr(value)


_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 80
_SHORT_REPR.maxlist = _SHORT_REPR.maxtuple = _SHORT_REPR.maxdict = _SHORT_REPR.maxset = 6


def _owner_name(owner) -> str:
    """The name errors use for `owner`: a string as it is, a class's or an object's type name."""
    if isinstance(owner, str):
        return owner
    return owner.__name__ if isinstance(owner, type) else type(owner).__name__


def fail(owner, field: str, value, allowed: str) -> NoReturn:
    """Raise the ConfigError for `owner.field=value`, saying what is `allowed`."""
    raise ConfigError(owner, field, value, allowed)


def _with_fix(rule: str, fix: str) -> str:
    return f"{rule}. {fix}" if fix else rule


def _is_int(value) -> bool:
    # bool is an int subclass, but `n=True` is a mistake, not 1; numpy integers are integers.
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(owner, field: str, value, *, minimum: int | None = None, maximum: int | None = None,
              why: str = "", fix: str = "", whole_floats: bool = False) -> int:
    """`value` as an int within [minimum, maximum].

    `why` says where the bounds come from (shown in parentheses), `fix` what to pass instead.
    Floats are refused, even 4.0, unless `whole_floats` (a config read from JSON or a form,
    where 10 may arrive as 10.0).
    """
    if whole_floats and isinstance(value, float) and value.is_integer():
        value = int(value)
    if minimum is not None and maximum is not None:
        bounds = f" from {minimum:,} to {maximum:,}"
    elif minimum is not None:
        bounds = f" >= {minimum:,}"
    elif maximum is not None:
        bounds = f" <= {maximum:,}"
    else:
        bounds = ""
    if not _is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        reason = f" ({why})" if why else ""
        fail(owner, field, value, _with_fix(f"it must be a whole number{bounds}{reason}", fix))
    return int(value)


def check_float(owner, field: str, value, *, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False, fix: str = "") -> float:
    """`value` as a finite float within the bounds (`low_open`: `low` itself is refused)."""
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    allowed = _with_fix("it must be a finite number" + (" " + " and ".join(bounds) if bounds else ""), fix)
    if not _is_real(value) or not math.isfinite(value):
        fail(owner, field, value, allowed)
    if low is not None and (value < low or (low_open and value == low)):
        fail(owner, field, value, allowed)
    if high is not None and (value > high or (high_open and value == high)):
        fail(owner, field, value, allowed)
    return float(value)


def check_rate(owner, field: str, value) -> float:
    """A dropout-like rate in [0, 1)."""
    if not _is_real(value) or not 0.0 <= value < 1.0:
        fail(owner, field, value, "it must be a number in [0, 1)")
    return float(value)


def check_fraction(owner, field: str, value) -> float:
    """A share of something, in (0, 1): neither part may be empty."""
    if not _is_real(value) or not 0.0 < value < 1.0:
        fail(owner, field, value, "it must be a number in (0, 1), e.g. 0.2")
    return float(value)


def check_bool(owner, field: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        fail(owner, field, value, "it must be True or False")
    return bool(value)


def check_choice(owner, field: str, value, choices, *, fix: str = ""):
    """One of `choices`; the message lists them and suggests the closest to a typo."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        listed = "choose one of " + ", ".join(repr(choice) for choice in choices)
        fail(owner, field, value, _with_fix(listed + did_you_mean(value, choices), fix))
    return value


def did_you_mean(word, choices) -> str:
    """' (did you mean 'x'?)' for the choice closest to `word`, or '' when none is close."""
    close = difflib.get_close_matches(str(word), [str(choice) for choice in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_divides(owner, field: str, value, total_field: str, total) -> int:
    """`value` divides `total` (another field, named in the message)."""
    if total % value:
        fail(owner, field, value, f"it must divide {total_field}={total}")
    return value


class Fields:
    """The checks above, applied to a frozen config dataclass's fields in place.

    `Fields(config).int("width", minimum=1)` reads `config.width`, checks it as
    `check_int(config, "width", ...)` does and writes the normalised value back. `optional=True`
    lets None through. Ints accept whole floats (10.0), as JSON and form widgets give them.
    """

    def __init__(self, config):
        self.config = config

    def _check(self, name: str, check, *args, optional: bool = False, **options) -> None:
        value = getattr(self.config, name)
        if optional and value is None:
            return
        object.__setattr__(self.config, name, check(self.config, name, value, *args, **options))

    def int(self, name: str, *, minimum: int | None = None, maximum: int | None = None, optional: bool = False):
        self._check(name, check_int, minimum=minimum, maximum=maximum, whole_floats=True, optional=optional)

    def float(self, name: str, *, low=None, high=None, low_open=False, high_open=False, optional: bool = False):
        self._check(name, check_float, low=low, high=high, low_open=low_open, high_open=high_open, optional=optional)

    def rate(self, name: str):
        self._check(name, check_rate)

    def bool(self, name: str):
        self._check(name, check_bool)

    def choice(self, name: str, choices):
        self._check(name, check_choice, choices)

    def divides(self, name: str, total_field: str):
        self._check(name, check_divides, total_field, getattr(self.config, total_field))

    def fail(self, name: str, allowed: str) -> NoReturn:
        fail(self.config, name, getattr(self.config, name), allowed)


def preset_fields(cls, sizes: dict, name: str) -> dict:
    """The fields of the named size, for a config's `preset(name)`."""
    if name not in sizes:
        allowed = "choose one of " + ", ".join(map(repr, sizes)) + did_you_mean(name, sizes)
        raise ConfigError(cls, "preset", name, allowed, message=f"{cls.__name__}.preset got {name!r}: {allowed}.")
    return dict(sizes[name])
