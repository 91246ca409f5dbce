"""Argument checks shared by the layers, so every bad value fails the same clear way."""

from __future__ import annotations

import numbers


def check_positive_int(layer: str, name: str, value) -> None:
    """Raise `ValueError` unless `value` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{layer} got {name}={value!r}: it must be an integer >= 1.")


def check_rate(layer: str, name: str, value) -> None:
    """Raise `ValueError` unless `value` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{layer} got {name}={value!r}: it must be a number in [0, 1).")


def check_positive_float(layer: str, name: str, value) -> None:
    """Raise `ValueError` unless `value` is a number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(f"{layer} got {name}={value!r}: it must be a number > 0.")
