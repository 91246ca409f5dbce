"""Field checks for the frozen config dataclasses (TrainConfig, GPTConfig, ...).

Each check reads `config.<name>`, normalizes it in place (10.0 -> 10, 1 -> 1.0) and on a bad
value raises `ValueError` naming the config, the field, the value and what is allowed, e.g.
"GPTConfig.num_heads=5 is not allowed: it must divide hidden_dim=32."
"""

from __future__ import annotations

import math


def fail(config, name: str, allowed: str):
    value = getattr(config, name)
    raise ValueError(f"{type(config).__name__}.{name}={value!r} is not allowed: {allowed}.")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_int(config, name: str, minimum: int | None = None, maximum: int | None = None) -> None:
    value = getattr(config, name)
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 10.0 from JSON or a slider is fine
    bounds = f" >= {minimum}" if maximum is None and minimum is not None else ""
    if minimum is not None and maximum is not None:
        bounds = f" from {minimum} to {maximum}"
    if not _is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        fail(config, name, "it must be a whole number" + bounds)
    object.__setattr__(config, name, value)


def check_optional_int(config, name: str, minimum: int) -> None:
    if getattr(config, name) is not None:
        check_int(config, name, minimum=minimum)


def check_float(config, name: str, low=None, high=None, low_open=False, high_open=False) -> None:
    value = getattr(config, name)
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    allowed = "it must be a finite number" + (" " + " and ".join(bounds) if bounds else "")
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        fail(config, name, allowed)
    if low is not None and (value < low or (low_open and value == low)):
        fail(config, name, allowed)
    if high is not None and (value > high or (high_open and value == high)):
        fail(config, name, allowed)
    object.__setattr__(config, name, float(value))


def check_rate(config, name: str) -> None:
    """A dropout-like rate in [0, 1)."""
    value = getattr(config, name)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        fail(config, name, "it must be a number in [0, 1)")
    object.__setattr__(config, name, float(value))


def check_choice(config, name: str, choices: tuple) -> None:
    value = getattr(config, name)
    if not isinstance(value, str) or value not in choices:
        fail(config, name, "choose one of " + ", ".join(repr(c) for c in choices))


def check_bool(config, name: str) -> None:
    if not isinstance(getattr(config, name), bool):
        fail(config, name, "it must be True or False")


def check_divides(config, name: str, multiple: str) -> None:
    divisor, total = getattr(config, name), getattr(config, multiple)
    if total % divisor:
        fail(config, name, f"it must divide {multiple}={total}")


def preset_fields(cls, sizes: dict, name: str) -> dict:
    if name not in sizes:
        raise ValueError(f"{cls.__name__}.preset got {name!r}: choose one of " + ", ".join(map(repr, sizes)) + ".")
    return dict(sizes[name])
