"""A multilayer perceptron: the smallest model worth training, for demos and tests."""

from __future__ import annotations

import numbers

from nbmodels.checks import check_int, check_rate, fail


def mlp(input_shape, num_classes: int, hidden: tuple[int, ...] = (64,), dropout: float = 0.0, name: str = "mlp"):
    """A dense classifier that returns logits.

    Args:
        input_shape: shape of one example, e.g. `(64,)`; images are flattened.
        num_classes: number of outputs (logits).
        hidden: widths of the hidden ReLU layers.
        dropout: dropout rate after each hidden layer.

    Example:
    >>> from nbmodels.models import mlp
    >>> mlp((64,), 10, hidden=(32,)).count_params()
    2410
    """
    num_classes = check_int("mlp", "num_classes", num_classes, minimum=1)
    if not isinstance(hidden, (tuple, list)) or not all(
        isinstance(width, numbers.Integral) and not isinstance(width, bool) and width >= 1 for width in hidden
    ):
        fail("mlp", "hidden", hidden, "it must be a sequence of widths, whole numbers >= 1, e.g. (64,) or (128, 64)")
    hidden = tuple(int(width) for width in hidden)
    dropout = check_rate("mlp", "dropout", dropout)

    import keras

    inputs = keras.Input(tuple(input_shape))
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for width in hidden:
        x = keras.layers.Dense(width, activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    # Logits in float32 even under mixed precision, so losses are computed in full precision.
    outputs = keras.layers.Dense(num_classes, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)
