"""How a classifier does, class by class: predictions, confusion, per-class scores, its mistakes.

Pure functions with numpy out, for the evaluation view and for tests: only `predictions` (and
`evaluate_classifier`, which calls it) runs the model; the rest is numpy on labels and
probabilities. Labels are class ids `0 .. num_classes - 1`; a label outside that range, or
arrays of different lengths, is a `ConfigError` naming the argument.

nbmodels models return logits (see `nbmodels.data.Dataset.loss`), so `predictions` turns
them into probabilities with a softmax in float32; a model that already ends in a softmax
takes `from_logits=False`.

Example:
>>> import numpy as np
>>> from nbmodels.inspect import confusion_matrix, most_confused, per_class_report, misclassified
>>> y_true = np.array([0, 0, 1, 1, 2, 2])
>>> y_pred = np.array([0, 1, 1, 1, 1, 2])
>>> confusion_matrix(y_true, y_pred, num_classes=3)  # rows: true class, columns: predicted
array([[1, 1, 0],
       [0, 2, 0],
       [0, 1, 1]])
>>> most_confused(confusion_matrix(y_true, y_pred, 3))
[(0, 1, 1), (2, 1, 1)]
>>> report = per_class_report(y_true, y_pred, 3, class_names=["cat", "dog", "fox"])
>>> report.summary()
'accuracy 0.6667 on 6 examples; macro F1 0.6667; weakest recall: cat 0.50, fox 0.50'
>>> report.classes[1]
ClassScores(name='dog', precision=0.5, recall=1.0, f1=0.6666666666666666, support=2)
>>> probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.7, 0.3]])
>>> mistakes = misclassified(np.array([0, 0, 0, 1]), probabilities)
>>> mistakes.indices, mistakes.predicted, mistakes.confidence, mistakes.true_probability
(array([1, 3, 2]), array([1, 0, 1]), array([0.8, 0.7, 0.6]), array([0.2, 0.3, 0.4]))
"""

from __future__ import annotations

import dataclasses

import numpy as np

from nbmodels.checks import ConfigError, check_bool, check_choice, check_int, fail
from nbmodels.data.sources import ArraySource, TFDataSource, as_source

SUMMARY_PAIRS = 3  # most-confused pairs a one-line summary names


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """A classifier's outputs on a set of examples, in the order of the examples.

    Args:
        probabilities: `(N, C)` float32, each row sums to 1.
        labels: `(N,)` int64, the predicted class of each example (the arg-max of the model's
            outputs, as Keras' accuracy takes it).
        targets: `(N,)` int64 true classes, or `None` when the examples came without them.
    """

    probabilities: np.ndarray
    labels: np.ndarray
    targets: np.ndarray | None = None

    @property
    def accuracy(self) -> float | None:
        """The share of examples predicted right, or None without targets."""
        return None if self.targets is None else float(np.mean(self.labels == self.targets))


@dataclasses.dataclass(frozen=True)
class ClassScores:
    """Precision, recall and F1 of one class, and its support (how many examples truly are it).

    A score whose denominator is zero (a class never predicted has no precision, one never
    present no recall) is 0.0, as scikit-learn's `zero_division=0` gives it.
    """

    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclasses.dataclass(frozen=True)
class Averages:
    """Precision, recall and F1 averaged over the classes: `macro` weighs each class the same
    (every class counts, present or not), `weighted` by its support."""

    precision: float
    recall: float
    f1: float


@dataclasses.dataclass(frozen=True)
class ClassificationReport:
    """Per-class scores with their averages and the overall accuracy.

    Args:
        classes: one `ClassScores` per class, in class-id order.
        macro: unweighted mean over all classes.
        weighted: mean weighted by each class's support.
        accuracy: share of examples predicted right.
        num_examples: how many examples were scored.
    """

    classes: tuple[ClassScores, ...]
    macro: Averages
    weighted: Averages
    accuracy: float
    num_examples: int

    def summary(self, weakest: int = 2) -> str:
        """One stable line: accuracy, macro F1 and the `weakest` classes by recall."""
        ranked = sorted(self.classes, key=lambda scores: (scores.recall, -scores.support, scores.name))
        ranked = [scores for scores in ranked if scores.support][:weakest]
        worst = ", ".join(f"{scores.name} {scores.recall:.2f}" for scores in ranked)
        return (f"accuracy {self.accuracy:.4f} on {self.num_examples} examples; macro F1 {self.macro.f1:.4f}"
                + (f"; weakest recall: {worst}" if worst else ""))


@dataclasses.dataclass(frozen=True, eq=False)
class Mistakes:
    """Misclassified examples, the ones the model was surest of first.

    Args:
        indices: `(M,)` positions of the examples in the evaluated set.
        true_labels: `(M,)` their true classes.
        predicted: `(M,)` the classes the model gave them.
        confidence: `(M,)` the probability of the predicted (wrong) class, descending.
        true_probability: `(M,)` the probability the model gave the true class.
    """

    indices: np.ndarray
    true_labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    true_probability: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


@dataclasses.dataclass(frozen=True, eq=False)
class ClassifierEvaluation:
    """Everything the evaluation view shows about a classifier on one split.

    Args:
        predictions: probabilities, predicted and true labels of every example.
        confusion: `(C, C)` counts, rows true class, columns predicted class.
        report: per-class precision/recall/F1 with averages.
        most_confused: `(true, predicted, count)` off-diagonal pairs, the largest first.
        mistakes: every misclassified example, the most confident first.
        class_names: one name per class.
    """

    predictions: Predictions
    confusion: np.ndarray
    report: ClassificationReport
    most_confused: list[tuple[int, int, int]]
    mistakes: Mistakes
    class_names: tuple[str, ...]

    @property
    def accuracy(self) -> float:
        return self.report.accuracy

    @property
    def num_examples(self) -> int:
        return self.report.num_examples

    def summary(self) -> str:
        """One stable line: accuracy, examples, and the most confused pairs as true→predicted (count)."""
        pairs = ", ".join(
            f"{self.class_names[true]}→{self.class_names[predicted]} ({count})"
            for true, predicted, count in self.most_confused[:SUMMARY_PAIRS]
        )
        return (f"accuracy {self.accuracy:.4f} on {self.num_examples} examples; "
                f"most confused: {pairs or 'none'}")


def predictions(model, data, *, batch_size: int = 256, from_logits: bool = True) -> Predictions:
    """Run `model` over `data` in order and keep its class probabilities and predicted labels.

    Args:
        model: a Keras classifier with one output of shape `(B, C)`.
        data: features alone (an array, or a dict of arrays, one row per example), an `(x, y)`
            pair, a Source (`nbmodels.data.LazySource`, read batch by batch) or a
            `tf.data.Dataset` of single `(x, y)` examples.
        batch_size: examples per forward pass.
        from_logits: the model returns logits (every nbmodels model does), turned into
            probabilities by a float32 softmax; `False` for a model that ends in a softmax.

    Returns:
        `Predictions`; `targets` is None when `data` has no labels.
    """
    batch_size = check_int("predictions", "batch_size", batch_size, minimum=1)
    from_logits = check_bool("predictions", "from_logits", from_logits)
    outputs, targets = _outputs(model, data, batch_size)
    return _predictions(outputs, targets, from_logits)


def _outputs(model, data, batch_size: int):
    """The model's outputs `(N, C)` over `data` in order, and the labels (None without them)."""
    outputs, targets = [], []
    for x, y in _batches(data, batch_size):
        outputs.append(_output(model, x))  # (B, C)
        targets.append(y)
    if not outputs:
        fail("predictions", "data", data, "it has no examples")
    have_targets = all(y is not None for y in targets)
    return np.concatenate(outputs), np.concatenate(targets) if have_targets else None


def _predictions(outputs, targets, from_logits: bool) -> Predictions:
    if from_logits:
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))  # no overflow
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
    else:
        if not _are_probabilities(outputs):
            raise ConfigError("predictions", "from_logits", from_logits, "True for a model that returns logits",
                              message="predictions(from_logits=False): the model's outputs are not probabilities "
                                      "(non-negative rows summing to 1); it returns logits: pass from_logits=True.")
        probabilities = outputs
    return Predictions(
        probabilities=probabilities.astype(np.float32),
        labels=np.argmax(outputs, axis=1).astype(np.int64),  # the outputs' arg-max: what Keras' accuracy counts
        targets=_labels("predictions", "data", targets, outputs.shape[1]) if targets is not None else None,
    )


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class): `(C, C)` int64, rows true, columns predicted.

    Args:
        y_true: `(N,)` true class ids in `0 .. num_classes - 1`.
        y_pred: `(N,)` predicted class ids, same range and length.
        num_classes: C; classes absent from both still get their row and column.
    """
    num_classes = check_int("confusion_matrix", "num_classes", num_classes, minimum=1)
    y_true = _labels("confusion_matrix", "y_true", y_true, num_classes)
    y_pred = _labels("confusion_matrix", "y_pred", y_pred, num_classes)
    _same_length("confusion_matrix", "y_pred", y_pred, "y_true", y_true)
    counts = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)


def per_class_report(y_true, y_pred, num_classes: int, class_names=None) -> ClassificationReport:
    """Precision, recall, F1 and support of every class, their macro and weighted means, and accuracy.

    Args:
        y_true: `(N,)` true class ids.
        y_pred: `(N,)` predicted class ids.
        num_classes: C; every class is reported (and averaged), present or not.
        class_names: C names; default the class ids as strings.

    A zero denominator gives 0.0 (scikit-learn's `zero_division=0`): a class never predicted
    has precision 0.0, a class never present recall 0.0 (and support 0).
    """
    confusion = confusion_matrix(y_true, y_pred, num_classes)
    return report_from_confusion(confusion, class_names)


def report_from_confusion(confusion, class_names=None) -> ClassificationReport:
    """`per_class_report` of a confusion matrix already counted (rows true, columns predicted)."""
    confusion = _checked_confusion("report_from_confusion", confusion)
    names = _class_names("report_from_confusion", class_names, len(confusion))
    hits = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)  # examples truly of each class
    predicted = confusion.sum(axis=0)  # examples given each class
    precision = _ratio(hits, predicted)
    recall = _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)  # = 2PR / (P + R), and 0.0 where both are 0
    total = int(support.sum())
    weights = support / total

    def averages(weights):
        return Averages(float(precision @ weights), float(recall @ weights), float(f1 @ weights))

    return ClassificationReport(
        classes=tuple(
            ClassScores(name, float(p), float(r), float(f), int(s))
            for name, p, r, f, s in zip(names, precision, recall, f1, support)
        ),
        macro=averages(np.full(len(confusion), 1.0 / len(confusion))),
        weighted=averages(weights),
        accuracy=float(hits.sum() / total),
        num_examples=total,
    )


def most_confused(confusion, k: int | None = 5) -> list[tuple[int, int, int]]:
    """The `k` largest off-diagonal cells of a confusion matrix as `(true, predicted, count)`.

    Largest count first; equal counts in (true, predicted) order; empty cells are left out.
    `k=None` gives them all.
    """
    confusion = _checked_confusion("most_confused", confusion)
    if k is not None:
        k = check_int("most_confused", "k", k, minimum=1, fix="or None for every confused pair")
    off_diagonal = confusion.copy()
    np.fill_diagonal(off_diagonal, 0)
    true, predicted = np.nonzero(off_diagonal)
    counts = off_diagonal[true, predicted]
    order = np.lexsort((predicted, true, -counts))  # the last key sorts first
    return [(int(true[i]), int(predicted[i]), int(counts[i])) for i in order[:k]]


def misclassified(y_true, probabilities, k: int | None = None, *, y_pred=None) -> Mistakes:
    """The examples predicted wrong, ranked by the model's confidence in its wrong answer.

    Args:
        y_true: `(N,)` true class ids.
        probabilities: `(N, C)` class probabilities (rows sum to 1), e.g. `Predictions.probabilities`.
        k: keep the `k` most confident mistakes; None keeps them all.
        y_pred: `(N,)` the predicted classes, when they were decided elsewhere (e.g. the arg-max
            of logits, `Predictions.labels`); default the arg-max of `probabilities`.

    Returns:
        `Mistakes`, the most confident first (equal confidence: in example order).
    """
    probabilities = _checked_probabilities("misclassified", "probabilities", probabilities)
    num_examples, num_classes = probabilities.shape
    y_true = _labels("misclassified", "y_true", y_true, num_classes)
    _same_length("misclassified", "y_true", y_true, "probabilities", probabilities)
    if y_pred is None:
        y_pred = np.argmax(probabilities, axis=1)
    y_pred = _labels("misclassified", "y_pred", y_pred, num_classes)
    _same_length("misclassified", "y_pred", y_pred, "probabilities", probabilities)
    if k is not None:
        k = check_int("misclassified", "k", k, minimum=1, fix="or None for every mistake")
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = probabilities[wrong, y_pred[wrong]]
    order = np.lexsort((wrong, -confidence))[:k]
    wrong = wrong[order]
    return Mistakes(
        indices=wrong,
        true_labels=y_true[wrong],
        predicted=y_pred[wrong],
        confidence=probabilities[wrong, y_pred[wrong]],
        true_probability=probabilities[wrong, y_true[wrong]],
    )


def evaluate_classifier(model, dataset, split: str = "validation", *, batch_size: int = 256,
                        class_names=None, from_logits: bool = True) -> ClassifierEvaluation:
    """Predict a split and bundle accuracy, confusion, per-class report, confused pairs and mistakes.

    Args:
        model: a Keras classifier returning `(B, C)` logits (or probabilities, `from_logits=False`).
        dataset: an `nbmodels.data.Dataset` (its `split` is evaluated, its `num_classes` and
            `extras["class_names"]` used), or labelled examples as `predictions` takes them.
        split: `"validation"` or `"train"`, for a Dataset.
        batch_size: examples per forward pass.
        class_names: C names; default the dataset's, else the class ids.
        from_logits: see `predictions`.

    Returns:
        A `ClassifierEvaluation`; its accuracy is the one Keras' `evaluate` reports for
        `"accuracy"` on the same examples.

    Example:
    >>> from nbmodels import data
    >>> from nbmodels.models import mlp
    >>> evaluation = evaluate_classifier(mlp((64,), 10), data.load("digits"))  # untrained: about 1 in 10 right
    >>> evaluation.confusion.shape, evaluation.predictions.probabilities.shape, evaluation.class_names[:3]
    ((10, 10), (359, 10), ('0', '1', '2'))
    >>> evaluation.summary()
    'accuracy ... on 359 examples; most confused: ...→... (...), ...'
    """
    examples, num_classes, names = _labelled_split(dataset, split)
    batch_size = check_int("evaluate_classifier", "batch_size", batch_size, minimum=1)
    from_logits = check_bool("evaluate_classifier", "from_logits", from_logits)
    outputs, targets = _outputs(model, examples, batch_size)
    if targets is None:
        fail("evaluate_classifier", "dataset", dataset, "its examples have no labels to evaluate against")
    width = outputs.shape[1]
    # Before the labels are checked against the outputs: a model built for other data is the
    # cause to name, not the labels it cannot predict.
    if num_classes is not None and num_classes != width:
        fail("evaluate_classifier", "model", model,
             f"it has {width} outputs but the dataset has num_classes={num_classes}; evaluate a model built for it")
    result = _predictions(outputs, targets, from_logits)
    confusion = confusion_matrix(result.targets, result.labels, width)
    names = _class_names("evaluate_classifier", class_names if class_names is not None else names, width)
    return ClassifierEvaluation(
        predictions=result,
        confusion=confusion,
        report=report_from_confusion(confusion, names),
        most_confused=most_confused(confusion, k=None),
        mistakes=misclassified(result.targets, result.probabilities, y_pred=result.labels),
        class_names=names,
    )


def _labelled_split(dataset, split):
    """(examples, num_classes or None, class names or None) of what `evaluate_classifier` was given."""
    if not (hasattr(dataset, "task") and hasattr(dataset, "train")):  # plain examples
        return dataset, None, None
    split = check_choice("evaluate_classifier", "split", split, ("validation", "train"))
    if dataset.task != "classification":
        fail("evaluate_classifier", "dataset", dataset, f"it is a {dataset.task} dataset; pass a classification one")
    examples = getattr(dataset, split)
    if examples is None:
        fail("evaluate_classifier", "split", split, "the dataset has no validation split: use split='train'")
    return examples, dataset.num_classes, dataset.extras.get("class_names")


def _batches(data, batch_size: int):
    """(x, y) numpy batches of `data` in order; y is None for features without labels."""
    if isinstance(data, (np.ndarray, dict)):  # features alone
        data = (data, None)
    source = as_source(data, name="predictions data")
    if isinstance(source, ArraySource):
        x, y = source.features, source.targets
        for start in range(0, len(source), batch_size):
            rows = slice(start, start + batch_size)
            yield _rows(x, rows), None if y is None else y[rows]
    elif isinstance(source, TFDataSource):
        for batch in source.examples().batch(batch_size).as_numpy_iterator():
            yield batch[0], batch[1] if len(batch) == 2 else None
    else:  # read by index, one batch at a time
        for start in range(0, len(source), batch_size):
            yield source.rows(np.arange(start, min(start + batch_size, len(source))))


def _rows(features, rows):
    return {key: value[rows] for key, value in features.items()} if isinstance(features, dict) else features[rows]


def _output(model, x) -> np.ndarray:
    output = model.predict_on_batch(x)
    if isinstance(output, (dict, list, tuple)) or np.ndim(output) != 2:
        shape = type(output).__name__ if isinstance(output, (dict, list, tuple)) else np.shape(output)
        fail("predictions", "model", model,
             f"it must return one (batch, classes) array of logits or probabilities, got {shape}")
    return np.asarray(output, dtype=np.float32)  # float32 even from a mixed-precision model


def _labels(owner: str, field: str, values, num_classes: int) -> np.ndarray:
    """`values` as a 1-D int64 array of class ids in [0, num_classes), or a ConfigError naming `field`."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == 1:  # (N, 1) labels, as Keras takes them
        array = array[:, 0]
    allowed = f"labels must be class ids, whole numbers from 0 to {num_classes - 1} (num_classes={num_classes})"
    if array.ndim != 1 or array.size == 0:
        raise ConfigError(owner, field, values, f"{allowed}, in a non-empty 1-D array",
                          message=f"{owner}.{field} must be a non-empty 1-D array of class ids, "
                                  f"got shape {array.shape}.")
    if not (np.issubdtype(array.dtype, np.integer) or
            (np.issubdtype(array.dtype, np.floating) and np.all(np.mod(array, 1) == 0))):
        raise ConfigError(owner, field, values, allowed, message=(
            f"{owner}.{field} must hold class ids (whole numbers), got dtype {array.dtype}; "
            "for probabilities or logits take their arg-max over the class axis."))
    bad = np.flatnonzero((array < 0) | (array >= num_classes))
    if bad.size:
        first = bad[0]
        raise ConfigError(owner, field, array[first].item(), allowed, message=(
            f"{owner}.{field}[{first}]={array[first].item()!r} is not allowed: {allowed}; "
            f"{bad.size} of {array.size} labels are out of range."))
    return array.astype(np.int64)


def _same_length(owner: str, field: str, array, other_field: str, other) -> None:
    if len(array) != len(other):
        raise ConfigError(owner, field, array, f"it must have one entry per example of {other_field}", message=(
            f"{owner}.{field} has {len(array)} entries but {other_field} has {len(other)}; "
            "they must describe the same examples."))


def _checked_probabilities(owner: str, field: str, values) -> np.ndarray:
    """`(N, C)` float probabilities: non-negative rows summing to 1 (the dtype kept, float64 for others)."""
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ConfigError(owner, field, values, "a non-empty (examples, classes) array", message=(
            f"{owner}.{field} must be a non-empty (examples, classes) array of probabilities, "
            f"got shape {array.shape}."))
    if not _are_probabilities(array):
        raise ConfigError(owner, field, values, "rows of probabilities", message=(
            f"{owner}.{field} are not probabilities (non-negative rows summing to 1): "
            "apply a softmax to logits first (nbmodels.inspect.predictions does)."))
    return array


def _are_probabilities(array) -> bool:
    return bool(np.all(np.isfinite(array)) and np.all(array >= 0) and np.allclose(array.sum(axis=1), 1.0, atol=1e-3))


def _checked_confusion(owner: str, confusion) -> np.ndarray:
    array = np.asarray(confusion)
    if (array.ndim != 2 or array.shape[0] != array.shape[1] or array.shape[0] == 0
            or not np.issubdtype(array.dtype, np.integer) or np.any(array < 0) or array.sum() == 0):
        raise ConfigError(owner, "confusion", confusion, "a square matrix of counts", message=(
            f"{owner}.confusion must be a non-empty square (classes, classes) matrix of non-negative whole "
            f"counts with at least one example, as confusion_matrix() returns; got shape {array.shape}, "
            f"dtype {array.dtype}."))
    return array.astype(np.int64)


def _class_names(owner: str, class_names, num_classes: int) -> tuple[str, ...]:
    if class_names is None:
        return tuple(str(index) for index in range(num_classes))
    names = tuple(str(name) for name in class_names)
    if len(names) != num_classes:
        fail(owner, "class_names", class_names, f"give one name per class ({num_classes}), got {len(names)}")
    return names


def _ratio(numerator, denominator) -> np.ndarray:
    """numerator / denominator, 0.0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    denominator = np.asarray(denominator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(denominator), where=denominator > 0)
