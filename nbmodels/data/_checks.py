"""Option checks shared by the loaders.

Every check raises `ValueError` naming the option, the value and what is allowed, so a
typo in `load(...)` never surfaces as a numpy or TensorFlow error later.
"""

from __future__ import annotations

import numbers

import numpy as np


def check_int(option: str, value, *, minimum: int) -> int:
    # bool is an int subclass; `n=True` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{option}={value!r} is not allowed; it must be an integer >= {minimum}.")
    return int(value)


def check_float(option: str, value, *, minimum: float = 0.0, allow_minimum: bool = True) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < minimum or (value == minimum and not allow_minimum):
        bound = ">=" if allow_minimum else ">"
        raise ValueError(f"{option}={value!r} is not allowed; it must be a finite number {bound} {minimum}.")
    return float(value)


def check_fraction(option: str, value) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not 0.0 < value < 1.0:
        raise ValueError(f"{option}={value!r} is not allowed; it must be a number strictly between 0 and 1, e.g. 0.2.")
    return float(value)


def check_bool(option: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{option}={value!r} is not allowed; it must be True or False.")
    return bool(value)
