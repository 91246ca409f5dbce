"""A multilayer perceptron: the smallest model worth training, for demos and tests."""

from __future__ import annotations


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
    import keras

    if num_classes < 1 or any(h < 1 for h in hidden) or not 0.0 <= dropout < 1.0:
        raise ValueError(
            f"mlp() got num_classes={num_classes}, hidden={hidden}, dropout={dropout}: classes and "
            "widths must be >= 1 and dropout in [0, 1)."
        )
    inputs = keras.Input(tuple(input_shape))
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for width in hidden:
        x = keras.layers.Dense(width, activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    # Logits in float32 even under mixed precision, so losses are computed in full precision.
    outputs = keras.layers.Dense(num_classes, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)
