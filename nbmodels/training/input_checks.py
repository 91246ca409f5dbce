"""Checks that catch bad training data before the first step, where TensorFlow would otherwise
fail with its own words (`Cast string to float`, `Received a label value of 5 which is outside
the valid range of [0, 2)`) or, worse, train on it (a NaN label becomes -2**63, or the run
"diverges").

Two stages, because some problems need the model:

- `check_lengths` refuses a source without examples (a lazy or tf.data source cannot show
  its emptiness any other way).
- `check_arrays` looks at the arrays alone (no examples, text targets, NaN or infinite
  values). `train()` calls it before it makes a run, so nothing is recorded.
- `check_fits_model` compares the arrays with the built model and its loss (the shape of an
  example and text against the model's input, label ids against its number of classes). It
  runs when the model is built, before the first step; the run ends `failed` with the
  message, and `train()` raises it in the foreground (in the background, `run.error` holds it).
  A model without static shapes (subclassed) is checked by running one example through it,
  and only when a sparse categorical loss needs its number of classes.

Arrays in memory are checked whole. A lazy or tf.data source is checked on its first example
only: reading every row to check it would defeat reading rows only when their batch is
served, so a bad value further in surfaces when training reaches it.

Every problem is one `ValueError` naming the array (`train x`, `validation y`,
`train x['ids']`), the value and its index, and what to do. The checks are vectorised and scan
big arrays in chunks, so they cost a fraction of one pass over the data in memory.
"""

from __future__ import annotations

import numbers

import numpy as np

from nbmodels.data.sources import ArraySource

_CHUNK_ELEMENTS = 1 << 22  # elements per scan chunk: bounded temporary memory on big arrays


def check_lengths(train, validation) -> None:
    """Raise ValueError when a lazy or tf.data source has no examples (empty arrays are left to
    `check_arrays`, which names their shape)."""
    for split, source in (("train", train), ("validation", validation)):
        if source is not None and not isinstance(source, ArraySource) and len(source) == 0:
            raise ValueError(
                f"The {'training' if split == 'train' else split} data has no examples ({split} is an empty "
                f"{type(source).__name__}): "
                + ("pass at least one batch of examples." if split == "train"
                   else "pass validation examples, or leave validation out (None).")
            )


def check_arrays(splits) -> None:
    """Raise ValueError for an empty split, text targets, or NaN/infinite numbers.

    `splits` maps a split name ("train", "validation") to its `(x, y)`; x may be a dict.
    Text features are left to `check_fits_model`: a model may take strings (TextVectorization).
    """
    for split, (x, y) in splits.items():
        for name, array, is_target in _named(split, x, y):
            if array.ndim == 0 or len(array) == 0:
                raise ValueError(
                    f"The {'training' if split == 'train' else split} data has no examples ({name} has shape "
                    f"{array.shape}): "
                    + ("pass at least one batch of examples." if split == "train"
                       else "pass validation examples, or leave validation out (None).")
                )
            if is_target:
                _check_not_text(name, array, "targets must be numbers: map class names to ids 0..K-1, "
                                "e.g. with np.unique(y, return_inverse=True)")
            _check_finite(name, array, "targets" if is_target else "features")


def check_fits_model(splits, model, loss) -> None:
    """Raise ValueError when the examples do not fit the model's input, or when a sparse
    categorical loss gets labels outside the model's classes."""
    inputs = _static_tensors(model, "inputs")
    outputs = _static_tensors(model, "outputs")
    for split, (x, y) in splits.items():
        if inputs is None:
            break
        if isinstance(x, dict):  # named arrays go to the model inputs of those names
            by_name = {spec.name: spec for spec in inputs}
            pairs = [(feature, by_name[key]) for feature, key in zip(_named(split, x), x) if key in by_name]
        else:
            pairs = list(zip(_named(split, x), inputs)) if len(inputs) == 1 else []
        for (name, array, _), spec in pairs:
            _check_fits_input(name, array, spec)
    if not _is_sparse_categorical(loss):
        return
    if outputs is None:
        # A subclassed model (or a Sequential one without an Input): its number of classes is
        # known once one example has gone through it.
        outputs = [_output_of_one_example(model, splits["train"][0], list(_named("train", splits["train"][0])))]
    if len(outputs) == 1:
        classes = outputs[0].shape[-1]
        if isinstance(classes, int):
            for split, (x, y) in splits.items():
                if y is not None:
                    _check_labels(f"{split} y", np.asarray(y), classes, getattr(loss, "ignore_class", None))


# ---- the arrays ----------------------------------------------------------------------


def _named(split, x, y=None):
    """(name, array, is_target) for each feature array, then the targets."""
    if isinstance(x, dict):
        for key, value in x.items():
            yield f"{split} x[{key!r}]", np.asarray(value), False
    else:
        yield f"{split} x", np.asarray(x), False
    if y is not None:
        yield f"{split} y", np.asarray(y), True


def _first(array: np.ndarray, is_bad) -> tuple | None:
    """Index of the first element where `is_bad(chunk)` is True, scanning rows in chunks."""
    rows = max(1, _CHUNK_ELEMENTS // max(1, int(np.prod(array.shape[1:], dtype=np.int64))))
    for start in range(0, len(array), rows):
        bad = is_bad(array[start : start + rows])
        if bad.any():
            index = np.unravel_index(int(np.argmax(bad)), bad.shape)  # argmax: the first True
            return (start + int(index[0]), *map(int, index[1:]))
    return None


def _at(name: str, index: tuple) -> str:
    return f"{name}[{', '.join(map(str, index))}]"


def _check_finite(name: str, array: np.ndarray, what: str) -> None:
    if not np.issubdtype(array.dtype, np.floating):
        return
    index = _first(array, lambda chunk: ~np.isfinite(chunk))
    if index is not None:
        value = array[index].item()
        raise ValueError(
            f"{_at(name, index)} = {value}: {what} must be finite numbers, and "
            f"{'a NaN' if np.isnan(value) else 'an infinite'} value would make the loss NaN. Drop or fill "
            f"the missing values first (e.g. np.nan_to_num, or keep rows where np.isfinite(...).all(axis=1))."
        )


def _first_text(array: np.ndarray):
    """(index, value) of the first str/bytes element, or None. Object arrays are rare and
    small, so they are scanned element by element."""
    if array.dtype.kind in "US":
        first = (0,) * array.ndim
        return first, array[first].item()
    if array.dtype.kind == "O":
        for index in np.ndindex(array.shape):
            value = array[index]
            if isinstance(value, (str, bytes)) or not isinstance(value, (numbers.Number, np.generic)):
                return index, value
    return None


def _check_not_text(name: str, array: np.ndarray, fix: str) -> None:
    found = _first_text(array)
    if found is not None:
        index, value = found
        raise ValueError(f"{_at(name, index)} = {value!r} is not a number ({name} has dtype {array.dtype}): {fix}.")


# ---- against the model ---------------------------------------------------------------


def _static_tensors(model, attribute: str):
    """model.inputs / model.outputs of a functional or Sequential model, else None
    (a subclassed model, or a Sequential model without an Input, has none before its first call)."""
    try:
        tensors = getattr(model, attribute)
    except (AttributeError, ValueError):
        return None
    return list(tensors) if tensors else None


def _check_fits_input(name: str, array: np.ndarray, spec) -> None:
    expected = tuple(spec.shape[1:])
    if spec.dtype == "string":
        return  # the model takes text itself (TextVectorization, StringLookup)
    _check_not_text(name, array, f"the model's input takes {spec.dtype} numbers; encode text first "
                    "(e.g. with nbmodels.data.CharTokenizer), or convert numbers written as text with "
                    "x.astype('float32')")
    example = array.shape[1:]
    fits = len(example) == len(expected) and all(e is None or e == a for e, a in zip(expected, example))
    if not fits:
        raise ValueError(
            f"{name} has shape {array.shape}, so one example has shape {example}, but the model's input "
            f"takes examples of shape {tuple(expected)} (input shape {tuple(spec.shape)}). Give {name} "
            f"examples of shape {tuple(expected)}, or build the model with keras.Input({example})."
        )


def _output_of_one_example(model, x, features):
    """The output of a model without static shapes on the first training example. Eager, as
    `_ensure_built` on resume: for a GPT a symbolic call costs several times more. The model is
    built by it, as fit() would build it."""
    import keras

    for name, array, _ in features:
        _check_not_text(name, array, "the model takes numbers; encode text first (e.g. with "
                        "nbmodels.data.CharTokenizer), or convert numbers written as text with x.astype('float32')")
    sample = keras.tree.map_structure(lambda a: np.asarray(a[:1]), x)
    try:
        output = model(sample, training=False)
    except Exception as error:  # noqa: BLE001 - any failure here means the data does not fit the model
        shapes = ", ".join(f"{name} {array.shape} {array.dtype}" for name, array, _ in features)
        raise ValueError(
            f"The model cannot take one training example ({shapes}): {type(error).__name__}: {error}. "
            "Give examples of the shape and type the model expects."
        ) from error
    return keras.tree.flatten(output)[0]


def _is_sparse_categorical(loss) -> bool:
    import keras

    if isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        return True
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", None)
    return name in ("sparse_categorical_crossentropy", "SparseCategoricalCrossentropy")


def _check_labels(name: str, y: np.ndarray, classes: int, ignore_class) -> None:
    if y.dtype.kind not in "iuf":
        return  # text labels are caught by check_arrays
    integral = np.issubdtype(y.dtype, np.integer)
    if integral and y.size and y.min() >= 0 and y.max() < classes:
        return  # the common case: two reductions, no temporary arrays

    def is_bad(chunk):
        bad = (chunk < 0) | (chunk >= classes)
        if not integral:
            bad |= chunk != np.floor(chunk)
        if ignore_class is not None:
            bad &= chunk != ignore_class
        return bad

    index = _first(y, is_bad)
    if index is not None:
        value = y[index].item()
        if value != np.floor(value):
            raise ValueError(
                f"{_at(name, index)} = {value!r} is not a class id: sparse categorical cross-entropy takes "
                f"whole-number labels in [0, {classes}) for this model's {classes} classes. Map the labels "
                "to class ids first."
            )
        high = int(np.max(y)) if integral else float(np.max(y))
        raise ValueError(
            f"{_at(name, index)} = {value!r} is not a class of this model: its output has {classes} classes, "
            f"so sparse categorical cross-entropy takes integer labels in [0, {classes}). Fix the labels, or "
            f"build the model with one output per class (the largest label is {high}, so at least "
            f"{max(classes, int(np.floor(high)) + 1)} outputs)."
        )
