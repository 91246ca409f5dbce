"""What every vision model checks about the images it is given: one message for a wrong shape,
and grayscale images taken with or without their channel axis."""

from __future__ import annotations

from keras import ops


def with_channel_axis(images, image_shape: tuple):
    """`images` (B, H, W) as (B, H, W, 1) when the model takes one channel, else as given.

    So a grayscale model predicts on the very arrays a user trained it on (MNIST-like
    `(N, 28, 28)`), with or without the channel axis; `check_image_batch` judges the rest.
    """
    try:
        rank = len(images.shape)
    except ValueError:  # unknown rank: a compiled predict retraced for batches of both ranks
        return ops.reshape(images, (-1, *image_shape))  # (B, H, W, C)
    if rank == 3 and image_shape[2] == 1 and tuple(images.shape[1:]) == tuple(image_shape[:2]):
        return ops.expand_dims(images, -1)  # (B, H, W) -> (B, H, W, 1)
    return images


def check_image_batch(model, images, image_shape: tuple) -> None:
    """Raise ValueError when `images` is not a batch `(B, H, W, C)` of `image_shape` `(H, W, C)`.

    Only sizes known when the model is called are compared (the batch axis, or any axis of a
    symbolic input, may be unknown), so it costs nothing inside a compiled step.
    """
    given = tuple(images.shape)
    expected = (None, *image_shape)
    fits = len(given) == 4 and all(size is None or size == want for size, want in zip(given[1:], image_shape))
    if fits:
        return
    if len(given) == 4 and given[1:3] == tuple(image_shape[:2]):
        hint = (f"it has {given[3]} channels where {image_shape[2]} were configured "
                f"(grayscale images have 1, colour ones 3)")
    elif len(given) == 3 and given[1:] == tuple(image_shape[:2]):
        hint = (f"these are grayscale images without a channel axis, and the model takes {image_shape[2]} "
                "channels: build it for channels=1, or give colour images")
    else:
        hint = "resize the images or build the model for this shape"
    raise ValueError(
        f"{model.name} ({type(model).__name__}) takes images of shape (batch, height, width, channels) = "
        f"{expected}; got shape {given}: {hint}."
    )
