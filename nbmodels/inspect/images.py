"""Where an image model looked: ViT attention and rollout on the patch grid, and Grad-CAM for convnets.

Plain functions with numpy out, like the rest of `nbmodels.inspect`: a dashboard overlays what
they return on the images, and a test scores them against ground truth (the "marker" set records
the patch and box that decide each image's class).

- `vit_attention`: one layer's attention of the class token (or of a patch) over the patches,
  `(B, grid, grid)`.
- `vit_rollout`: attention rollout of the class token over the patches, `(B, grid, grid)`.
- `upsample`: a `(B, grid, grid)` map to `(B, H, W)`, for overlays.
- `grad_cam`: Grad-CAM heatmaps `(B, H, W)` in [0, 1] of any Keras convnet; `conv_layers` lists
  the layers it can explain, `grad_cam_layer` its default.

Example:
>>> import numpy as np
>>> from nbmodels.inspect import grad_cam, upsample, vit_attention, vit_rollout
>>> from nbmodels.models import ConvNet, ConvNetConfig, ViT, ViTConfig
>>> images = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
>>> vit = ViT(ViTConfig.preset("tiny"))  # 8x8 images, patch 2: a 4x4 grid
>>> vit_attention(vit, images).shape, vit_attention(vit, images, layer=0, head=1, query=5).shape
((3, 4, 4), (3, 4, 4))
>>> rollout = vit_rollout(vit, images)
>>> rollout.shape, upsample(rollout, 8).shape
((3, 4, 4), (3, 8, 8))
>>> heatmaps = grad_cam(ConvNet(ConvNetConfig.preset("tiny")), images)
>>> heatmaps.shape, bool(heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0)
((3, 8, 8), True)
"""

from __future__ import annotations

import contextlib

import numpy as np

from nbmodels.checks import check_choice, check_int, fail
from nbmodels.inspect.attention import CLS_LABEL, AttentionMap, attention_rollout

# Keras, TensorFlow and the models are imported inside the functions: `nbmodels.inspect` stays
# as light to import as its numpy-only siblings.

UPSAMPLING = ("nearest", "bilinear")


def _conv_layer_types() -> tuple:
    import keras

    return keras.layers.Conv2D, keras.layers.SeparableConv2D, keras.layers.DepthwiseConv2D


def vit_attention(model, images, layer: int = -1, head: int | None = None, query="cls") -> np.ndarray:
    """Where `query` attends over the patches at `layer`, as maps on the patch grid.

    Args:
        model: a `ViT`.
        images: `(B, H, W, C)` images of the model's shape (one image `(H, W, C)` is a batch of one).
        layer: which layer's attention; negative counts from the end (-1: the last).
        head: which head; None averages the heads.
        query: `"cls"` (the class token, whose state the classifier reads) or a patch index,
            row-major over the grid (patch `(i, j)` is `i * grid + j`).

    Returns:
        `(B, grid, grid)` float32: the query's attention to each patch. Each attention row
        sums to 1 over the class token and the patches; the class token's share is left out
        here, so a map sums to at most 1.
    """
    owner = "vit_attention"
    _check_vit(owner, model)
    scores = _scores(model, images)  # (L, B, N, T, T), T = 1 + grid * grid
    layers, _, heads, positions, _ = scores.shape
    layer = _check_index(owner, "layer", layer, layers, f"the model has {layers} layers")
    if head is not None:
        head = _check_index(owner, "head", head, heads, f"the model has {heads} heads")
    patches = positions - 1
    if isinstance(query, str):
        check_choice(owner, "query", query, ("cls",))
        row = 0
    else:
        row = 1 + check_int(owner, "query", query, minimum=0, maximum=patches - 1,
                            why=f"a patch index: the model has {patches} patches; or 'cls' for the class token")
    chosen = scores[layer, :, :, row, 1:]  # (B, N, patches)
    per_image = chosen.mean(axis=1) if head is None else chosen[:, head]  # (B, patches)
    return _on_grid(per_image)


def vit_rollout(model, images, head_reduction: str = "mean") -> np.ndarray:
    """Attention rollout (`nbmodels.inspect.attention_rollout`) of the class token over the patches.

    Follows the class token's attention through every layer (heads reduced by `"mean"` or
    `"max"`, the skip connection counted), so it shows which patches reach the state the
    classifier reads.

    Returns:
        `(B, grid, grid)` float32; the class token's own share is left out (a map sums to at most 1).
    """
    _check_vit("vit_rollout", model)
    scores = _scores(model, images)  # (L, B, N, T, T)
    positions = scores.shape[-1]
    tokens = [CLS_LABEL] + [f"patch {i}" for i in range(positions - 1)]
    rollouts = [
        attention_rollout(AttentionMap(scores=scores[:, b], tokens=tokens, causal=False),
                          head_reduction=head_reduction)[0, 1:]  # the class token's row, over the patches
        for b in range(scores.shape[1])
    ]
    return _on_grid(np.stack(rollouts))  # (B, grid, grid)


def upsample(grid_map, image_size, method: str = "nearest") -> np.ndarray:
    """Maps `(B, h, w)` (or one `(h, w)`) resized to `(B, H, W)` float32, to lay over the images.

    Args:
        grid_map: patch-grid or feature-map values.
        image_size: `H` (square) or `(H, W)`.
        method: `"nearest"` repeats each cell over the pixels it covers (a patch's value over
            the patch: exact for ViT maps); `"bilinear"` blends neighbouring cells (smooth, as
            Grad-CAM maps are usually shown).
    """
    import keras

    owner = "upsample"
    check_choice(owner, "method", method, UPSAMPLING)
    maps = np.asarray(grid_map, dtype=np.float32)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or maps.size == 0:
        fail(owner, "grid_map", grid_map, f"it must be (B, h, w) or (h, w) maps, got shape {maps.shape}")
    sizes = (image_size, image_size) if not isinstance(image_size, (tuple, list)) else tuple(image_size)
    if len(sizes) != 2:
        fail(owner, "image_size", image_size, "it must be H or (H, W)")
    height, width = (check_int(owner, "image_size", size, minimum=1) for size in sizes)
    resized = keras.ops.image.resize(maps[..., None], (height, width), interpolation=method)  # (B, H, W, 1)
    return np.asarray(keras.ops.convert_to_numpy(resized), dtype=np.float32)[..., 0]


def grad_cam(model, images, class_index=None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): which pixels the chosen convolution layer saw as
    evidence for a class.

    The gradient of the class's output with respect to the layer's feature maps, averaged over
    space, weighs each channel; the ReLU of the weighted sum of channels is the map, scaled to
    a maximum of 1 per image and upsampled bilinearly to the image.

    Args:
        model: any Keras image model: a `ConvNet`, a `keras.Sequential` or functional convnet,
            or one nesting another (a transfer backbone).
        images: `(B, H, W, C)` (one image `(H, W, C)` is a batch of one).
        class_index: the class to explain: None (each image's predicted class), one int, or
            one per image `(B,)`.
        layer: the name of a convolution layer; None picks the last one the model holds whose
            feature map is more than one pixel (a backbone ending at 1x1, as MobileNetV3 does
            on 32 px images, says nothing about where).

    Returns:
        `(B, H, W)` float32 in [0, 1]; all zeros where nothing in the layer argues for the class.

    The output differentiated is the model's own: logits for nbmodels' models, the
    probability for a model that ends in a softmax. Needs the TensorFlow backend.
    """
    import tensorflow as tf  # the gradient tape: Grad-CAM needs gradients of an eager call

    owner = "grad_cam"
    conv = _conv_layer(owner, model, layer)
    batch = _image_batch(images)  # (B, H, W, C)
    with tf.GradientTape() as tape, _capturing(conv, tape) as captured:
        outputs = model(batch, training=False)  # (B, num_classes)
        outputs = tf.cast(outputs, tf.float32)
        classes = _classes(owner, class_index, outputs)  # (B,)
        chosen = tf.gather(outputs, classes, axis=1, batch_dims=1)  # (B,)
    if not captured:
        fail(owner, "layer", conv.name, "the model's call never ran this layer; pick one it uses")
    features = captured[-1]  # (B, h, w, channels)
    gradients = tape.gradient(chosen, features)  # (B, h, w, channels)
    weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=(1, 2), keepdims=True)  # (B, 1, 1, channels)
    cam = tf.nn.relu(tf.reduce_sum(weights * tf.cast(features, tf.float32), axis=-1)).numpy()  # (B, h, w)
    peaks = cam.max(axis=(1, 2), keepdims=True)
    cam = np.where(peaks > 0, cam / np.where(peaks > 0, peaks, 1.0), 0.0)
    return np.clip(upsample(cam, batch.shape[1:3], method="bilinear"), 0.0, 1.0)


def _check_vit(owner: str, model) -> None:
    from nbmodels.models.vision.vit import ViT

    if not isinstance(model, ViT):
        fail(owner, "model", model, (
            f"it is a {type(model).__name__}; attention on the image grid needs an nbmodels.models.ViT "
            "(for a convnet use grad_cam)"
        ))


def _image_batch(images) -> np.ndarray:
    batch = np.asarray(images, dtype=np.float32)
    return batch[None] if batch.ndim == 3 else batch  # (B, H, W, C)


def _scores(model, images) -> np.ndarray:
    return np.asarray(model.attention_scores(_image_batch(images)), dtype=np.float32)  # (L, B, N, T, T)


def _on_grid(per_patch: np.ndarray) -> np.ndarray:
    """`(B, patches)` as `(B, grid, grid)` float32: patches are row-major on a square grid."""
    grid = int(round(per_patch.shape[1] ** 0.5))
    return per_patch.reshape(per_patch.shape[0], grid, grid).astype(np.float32)


def _check_index(owner: str, name: str, value, size: int, why: str) -> int:
    value = check_int(owner, name, value, minimum=-size, maximum=size - 1, why=f"{why}; negative counts from the end")
    return value % size


def _all_layers(model) -> list:
    """Every layer `model` holds, depth first in the order it tracks them (nested models opened)."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found += _all_layers(layer)
    return found


def conv_layers(model) -> list:
    """The convolution layers `grad_cam` can explain, nested models (backbones) opened, in
    the order the model tracks them (`grad_cam_layer` is its default among them)."""
    conv_types = _conv_layer_types()
    return [layer for layer in _all_layers(model) if isinstance(layer, conv_types)]


def grad_cam_layer(model) -> str:
    """The name of the layer `grad_cam` explains by default: the model's last convolution whose
    feature map is more than one pixel."""
    return _conv_layer("grad_cam_layer", model, None).name


def _conv_layer(owner: str, model, name: str | None):
    layers, conv_types = _all_layers(model), _conv_layer_types()
    convs = conv_layers(model)
    if name is None:
        if not convs:
            fail(owner, "model", model, f"{type(model).__name__} has no Conv2D layer; Grad-CAM explains convnets")
        with_extent = [conv for conv in convs if _map_pixels(conv) != 1]
        return (with_extent or convs)[-1]
    conv_names = [layer.name for layer in convs]
    for layer in layers:
        if layer.name == name:
            if isinstance(layer, conv_types):
                return layer
            fail(owner, "layer", name, f"it is a {type(layer).__name__}, not a convolution layer; "
                                       f"pick one of {conv_names}")
    fail(owner, "layer", name, f"the model has no layer of that name; its convolution layers are {conv_names}")


def _map_pixels(layer) -> int | None:
    """Pixels of `layer`'s feature map where its output shape is known (functional models), else None."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # a layer of a subclassed model has no symbolic output
        return None
    return shape[1] * shape[2] if len(shape) == 4 and shape[1] and shape[2] else None


@contextlib.contextmanager
def _capturing(layer, tape):
    """Record `layer`'s outputs while the block runs, watched by `tape`.

    Keras 3 has no forward hooks, and a subclassed model (`ConvNet`) cannot be cut into a
    functional sub-model at a layer; so the layer's `call` is wrapped on the instance for the
    duration. Watching the output makes its gradient available even when the layer is frozen.
    """
    captured = []
    original = layer.call
    shadowed = layer.__dict__.get("call")  # a call already set on the instance, put back afterwards

    def recording_call(*args, **kwargs):
        output = original(*args, **kwargs)
        tape.watch(output)
        captured.append(output)
        return output

    layer.call = recording_call
    try:
        yield captured
    finally:
        if shadowed is None:
            del layer.call  # the class's call again
        else:
            layer.call = shadowed


def _classes(owner: str, class_index, outputs):
    import tensorflow as tf

    batch, num_classes = outputs.shape
    if class_index is None:
        return tf.argmax(outputs, axis=1, output_type=tf.int32)
    classes = np.asarray(class_index)
    if classes.ndim == 0:
        classes = np.full(batch, classes)
    if classes.shape != (batch,) or classes.dtype.kind not in "iu":
        fail(owner, "class_index", class_index, f"it must be None, one class id or one per image ({batch})")
    if classes.min() < 0 or classes.max() >= num_classes:
        fail(owner, "class_index", class_index, f"class ids run from 0 to {num_classes - 1}")
    return tf.constant(classes, tf.int32)
