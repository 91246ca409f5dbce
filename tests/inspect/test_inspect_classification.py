"""inspect.classification: confusion, per-class scores, confused pairs and mistakes on hand-made labels,
against scikit-learn on random ones, bad inputs, and a trained digits classifier whose evaluation
agrees with Keras' own."""

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as sk

from nbmodels import TrainConfig, data, train
from nbmodels.checks import ConfigError
from nbmodels.data import LazySource
from nbmodels.inspect import (
    confusion_matrix, evaluate_classifier, misclassified, most_confused, per_class_report, predictions,
    report_from_confusion,
)
from nbmodels.inspect import classification as classification_module
from nbmodels.models import mlp

# 4 classes; class 3 is never present and class 2 never predicted.
Y_TRUE = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 0, 1, 1, 1, 0, 1, 1, 3])


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    assert confusion_matrix(Y_TRUE, Y_PRED, 4).tolist() == [
        [2, 1, 0, 0],
        [0, 2, 0, 0],
        [1, 2, 0, 1],
        [0, 0, 0, 0],
    ]


def test_report_on_hand_made_labels_with_absent_and_unpredicted_classes():
    report = per_class_report(Y_TRUE, Y_PRED, 4, class_names=["a", "b", "c", "d"])
    a, b, c, d = report.classes
    assert (a.name, a.precision, a.recall, a.support) == ("a", 2 / 3, 2 / 3, 3)
    assert (b.precision, b.recall, b.f1, b.support) == (2 / 5, 1.0, pytest.approx(4 / 7), 2)
    # c is never predicted: precision 0.0 (no division by zero), recall 0/4.
    assert (c.precision, c.recall, c.f1, c.support) == (0.0, 0.0, 0.0, 4)
    # d is never present but predicted once: recall 0.0, precision 0/1.
    assert (d.precision, d.recall, d.f1, d.support) == (0.0, 0.0, 0.0, 0)
    assert report.accuracy == 4 / 9 and report.num_examples == 9
    assert report.macro.recall == pytest.approx((2 / 3 + 1.0) / 4)
    assert report.weighted.recall == pytest.approx(report.accuracy)  # support-weighted recall is accuracy
    assert report.summary() == "accuracy 0.4444 on 9 examples; macro F1 0.3095; weakest recall: c 0.00, a 0.67"


def test_most_confused_ranks_off_diagonal_cells():
    confusion = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert most_confused(confusion) == [(2, 1, 2), (0, 1, 1), (2, 0, 1), (2, 3, 1)]
    assert most_confused(confusion, k=2) == [(2, 1, 2), (0, 1, 1)]
    assert most_confused(np.eye(3, dtype=int) * 5) == []


def test_misclassified_ranks_by_confidence_in_the_wrong_answer():
    probabilities = np.array([
        [0.6, 0.3, 0.1],  # right
        [0.1, 0.7, 0.2],  # wrong, 0.7 sure
        [0.05, 0.05, 0.9],  # wrong, 0.9 sure
        [0.2, 0.5, 0.3],  # wrong, 0.5 sure
        [0.1, 0.7, 0.2],  # wrong, 0.7 sure: ties keep example order
    ], dtype=np.float32)
    mistakes = misclassified(np.array([0, 0, 1, 2, 2]), probabilities)
    assert mistakes.indices.tolist() == [2, 1, 4, 3]
    assert mistakes.predicted.tolist() == [2, 1, 1, 1]
    assert mistakes.true_labels.tolist() == [1, 0, 2, 2]
    np.testing.assert_allclose(mistakes.confidence, [0.9, 0.7, 0.7, 0.5])
    np.testing.assert_allclose(mistakes.true_probability, [0.05, 0.1, 0.2, 0.3])
    assert mistakes.confidence.dtype == np.float32
    assert len(misclassified(np.array([0, 0, 1, 2, 2]), probabilities, k=2)) == 2
    assert len(misclassified(np.array([0, 1, 2, 1, 1]), probabilities)) == 0


@pytest.mark.filterwarnings("ignore:A single label was found")  # scikit-learn on one class; labels= is given
@settings(max_examples=60, deadline=None)
@given(
    num_classes=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
    size=st.integers(1, 60),
)
def test_agrees_with_scikit_learn_on_random_labels(num_classes, seed, size):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, num_classes, size)
    y_pred = rng.integers(0, num_classes, size)
    labels = list(range(num_classes))
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, num_classes), sk.confusion_matrix(y_true, y_pred, labels=labels)
    )
    report = per_class_report(y_true, y_pred, num_classes)
    per_class = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0.0)
    ours = np.array([[s.precision, s.recall, s.f1, s.support] for s in report.classes]).T
    np.testing.assert_allclose(ours, np.array(per_class, dtype=float), atol=1e-12)
    for average in ("macro", "weighted"):
        expected = sk.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average,
                                                      zero_division=0.0)[:3]
        got = getattr(report, average)
        np.testing.assert_allclose([got.precision, got.recall, got.f1], expected, atol=1e-12)
    assert report.accuracy == pytest.approx(sk.accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("call, field, message", [
    (lambda: confusion_matrix([0, 1, 4], [0, 1, 1], 4), "y_true",
     r"confusion_matrix\.y_true\[2\]=4 is not allowed: labels must be class ids, whole numbers from 0 to 3"),
    (lambda: confusion_matrix([0, 1], [0, -1], 4), "y_pred", r"confusion_matrix\.y_pred\[1\]=-1 is not allowed"),
    (lambda: confusion_matrix([0, 1, 1], [0, 1], 4), "y_pred",
     r"confusion_matrix\.y_pred has 2 entries but y_true has 3"),
    (lambda: confusion_matrix([], [], 4), "y_true", r"non-empty 1-D array of class ids"),
    (lambda: confusion_matrix([0.5, 1.0], [0, 1], 4), "y_true", r"whole numbers\), got dtype float64"),
    (lambda: confusion_matrix([0, 1], [0, 1], 0), "num_classes", r"confusion_matrix\.num_classes=0 is not allowed"),
    (lambda: per_class_report([0, 1], [0, 1], 2, class_names=["a"]), "class_names", r"one name per class \(2\)"),
    (lambda: most_confused(np.ones((2, 3), int)), "confusion", r"square"),
    (lambda: most_confused(np.eye(2, dtype=int), k=0), "k", r"most_confused\.k=0 is not allowed"),
    (lambda: misclassified([0, 1], np.array([[0.5, 0.5]])), "y_true", r"y_true has 2 entries but probabilities has 1"),
    (lambda: misclassified([0, 2], np.array([[0.5, 0.5], [1.0, 0.0]])), "y_true", r"y_true\[1\]=2 is not allowed"),
    (lambda: misclassified([0], np.array([[3.0, -1.0]])), "probabilities", r"are not probabilities"),
    (lambda: report_from_confusion(np.zeros((2, 2), int)), "confusion", r"at least one example"),
])
def test_bad_inputs_raise_config_errors_naming_the_argument(call, field, message):
    with pytest.raises(ConfigError, match=message) as caught:
        call()
    assert caught.value.field == field


def test_labels_of_shape_n_by_1_are_accepted():
    assert confusion_matrix(np.array([[0], [1]]), np.array([1, 1]), 2).tolist() == [[0, 1], [0, 1]]


@pytest.fixture(scope="module")
def trained_digits(tmp_path_factory):
    dataset = data.load("digits")
    run = train(lambda: mlp((64,), 10, hidden=(32,)), dataset,
                TrainConfig(steps=300, batch_size=32, learning_rate=3e-3),
                root=tmp_path_factory.mktemp("runs"), verbose=False)
    assert run.status == "finished"
    return run.model, dataset


def test_evaluation_of_a_trained_digits_classifier_agrees_with_keras(trained_digits):
    model, dataset = trained_digits
    x, y = dataset.validation
    evaluation = evaluate_classifier(model, dataset)
    keras_accuracy = model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"]
    assert evaluation.accuracy == pytest.approx(keras_accuracy, abs=1e-6)
    assert evaluation.accuracy > 0.85  # it learned
    confusion = evaluation.confusion
    assert confusion.sum() == len(y) == evaluation.num_examples == 359
    assert np.trace(confusion) / confusion.sum() == pytest.approx(evaluation.accuracy, abs=1e-12)
    np.testing.assert_allclose(evaluation.predictions.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert len(evaluation.mistakes) == confusion.sum() - np.trace(confusion)
    assert np.all(np.diff(evaluation.mistakes.confidence) <= 0)  # most confident first
    assert evaluation.class_names == tuple(str(digit) for digit in range(10))
    true, predicted, count = evaluation.most_confused[0]
    assert confusion[true, predicted] == count == confusion[~np.eye(10, dtype=bool)].max()
    summary = evaluation.summary()
    assert summary.startswith(f"accuracy {evaluation.accuracy:.4f} on 359 examples; most confused: ")
    assert f"{true}→{predicted} ({count})" in summary


def test_predictions_read_arrays_sources_and_tf_data_alike(trained_digits):
    import tensorflow as tf

    model, dataset = trained_digits
    x, y = dataset.validation
    from_arrays = predictions(model, (x, y), batch_size=100)
    features_only = predictions(model, x, batch_size=64)
    lazy = predictions(model, LazySource(len(x), load_row=lambda i: (x[i], y[i])), batch_size=50)
    pipeline = predictions(model, tf.data.Dataset.from_tensor_slices((x, y)), batch_size=128)
    assert features_only.targets is None and features_only.accuracy is None
    for other in (features_only, lazy, pipeline):
        np.testing.assert_array_equal(other.labels, from_arrays.labels)
        np.testing.assert_allclose(other.probabilities, from_arrays.probabilities, atol=1e-5)
    np.testing.assert_array_equal(lazy.targets, y)
    train_evaluation = evaluate_classifier(model, dataset, split="train")
    assert train_evaluation.num_examples == len(dataset.train[1])


def test_models_ending_in_softmax_take_from_logits_false(trained_digits):
    import keras

    model, dataset = trained_digits
    x, _ = dataset.validation
    softmax = keras.Sequential([model, keras.layers.Softmax()])
    with_softmax = predictions(softmax, x, from_logits=False)
    np.testing.assert_array_equal(with_softmax.labels, predictions(model, x).labels)
    with pytest.raises(ConfigError, match=r"not probabilities.*pass from_logits=True") as caught:
        predictions(model, x, from_logits=False)
    assert caught.value.field == "from_logits"


def test_evaluate_classifier_refuses_what_it_cannot_score(trained_digits):
    model, dataset = trained_digits
    no_validation = data.Dataset(task="classification", train=dataset.train, num_classes=10)
    with pytest.raises(ConfigError, match=r"no validation split: use split='train'"):
        evaluate_classifier(model, no_validation)
    with pytest.raises(ConfigError, match=r"evaluate_classifier\.split='test' is not allowed"):
        evaluate_classifier(model, dataset, split="test")
    x, y = dataset.validation
    with pytest.raises(ConfigError, match=r"10 outputs but the dataset has num_classes=12"):
        evaluate_classifier(model, data.Dataset(task="classification", train=(x, y), validation=(x, y),
                                                num_classes=12))
    with pytest.raises(ConfigError, match=r"no labels to evaluate against"):
        evaluate_classifier(model, x)
    # A model built for fewer classes than the labels hold: the model is named, not the labels.
    import keras

    three_classes = keras.Sequential([keras.Input(x.shape[1:]), keras.layers.Dense(3)])
    with pytest.raises(ConfigError, match=r"3 outputs but the dataset has num_classes=10"):
        evaluate_classifier(three_classes, dataset)


def test_docstring_examples():
    result = doctest.testmod(classification_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
