"""What every vision model checks about the images it is given: one message for a wrong shape."""

from __future__ import annotations


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
        hint = "add the channel axis: images[..., None]"
    else:
        hint = "resize the images or build the model for this shape"
    raise ValueError(
        f"{model.name} ({type(model).__name__}) takes images of shape (batch, height, width, channels) = "
        f"{expected}; got shape {given}: {hint}."
    )
