"""The registry: listing, register/load, option checking, Dataset, docs, import cost."""

import doctest
import importlib
import subprocess
import sys

import numpy as np
import pytest

from nbmodels import data

BUILT_IN = {
    "digits": ("classification", "embedded"),
    "python_docs": ("text", "embedded"),
    "linear_regression": ("regression", "generated"),
    "blobs": ("classification", "generated"),
    "key_token": ("classification", "generated"),
    "marker": ("classification", "generated"),
    "synthetic_interactions": ("retrieval", "generated"),
    "image_folder": ("classification", "local"),
    "mnist": ("classification", "download"),
    "fashion_mnist": ("classification", "download"),
    "cifar10": ("classification", "download"),
    "text_file": ("text", "download"),
    "imdb": ("classification", "download"),
    "tiny_shakespeare": ("text", "download"),
    "movielens_100k": ("retrieval", "download"),
    "movielens_1m": ("retrieval", "download"),
}


def test_list_datasets_has_every_built_in_with_task_and_source():
    infos = data.list_datasets()
    assert all(isinstance(info, data.DatasetInfo) for info in infos)
    assert {info.name: (info.task, info.source) for info in infos} == BUILT_IN
    assert all(info.description for info in infos)
    # Offline datasets come first, so a listing shows what works without a network.
    sources = [info.source for info in infos]
    assert sources.index("download") > max(i for i, s in enumerate(sources) if s != "download")


def test_info_lists_the_options_load_accepts():
    digits = next(info for info in data.list_datasets() if info.name == "digits")
    assert digits.options == ("validation_split", "seed", "flatten")


def test_unknown_name_lists_known_names_and_suggests_one():
    with pytest.raises(ValueError, match=r"load\.name='digts' is not allowed: choose one of 'digits'") as error:
        data.load("digts")
    message = str(error.value)
    assert "did you mean 'digits'" in message
    assert all(name in message for name in BUILT_IN)


def test_unknown_option_names_it_and_the_accepted_ones():
    with pytest.raises(ValueError, match=r"load\('digits'\)\.option='validaton_split' is not allowed") as error:
        data.load("digits", validaton_split=0.1)
    assert "did you mean 'validation_split'" in str(error.value)
    assert "choose one of 'validation_split', 'seed', 'flatten'" in str(error.value)


def test_options_of_a_loader_without_options_are_rejected():
    with pytest.raises(ValueError, match=r"load\('mnist'\)\.option='seed' is not allowed: 'mnist' takes no options"):
        data.load("mnist", seed=0)


def test_missing_required_option_shows_how_to_pass_it():
    with pytest.raises(ValueError, match=r"needs the option\(s\) path: load\('text_file', path=\.\.\.\)"):
        data.load("text_file")


@pytest.mark.parametrize(
    "name, options, fragment",
    [
        ("digits", {"validation_split": 1.5}, "validation_split=1.5"),
        ("digits", {"validation_split": 0}, "validation_split=0"),
        ("digits", {"seed": -1}, "seed=-1"),
        ("digits", {"seed": True}, "seed=True"),
        ("digits", {"flatten": "no"}, "flatten='no'"),
        ("python_docs", {"context": 1}, "context=1"),
        ("python_docs", {"stride": 0}, "stride=0"),
        ("blobs", {"n": 0}, "n=0"),
        ("blobs", {"classes": 1}, "classes=1"),
        ("blobs", {"spread": 0.0}, "spread=0.0"),
        ("linear_regression", {"noise": -0.5}, "noise=-0.5"),
        ("linear_regression", {"features": 2.5}, "features=2.5"),
        ("linear_regression", {"noise": float("nan")}, "noise=nan"),
    ],
)
def test_bad_option_value_names_option_value_and_what_is_allowed(name, options, fragment):
    with pytest.raises(ValueError, match="is not allowed") as error:
        data.load(name, **options)
    assert fragment in str(error.value)


def test_split_that_would_leave_an_empty_part_is_refused():
    with pytest.raises(ValueError, match="empty validation set"):
        data.load("blobs", n=4, validation_split=0.1)


def _xor(*, repeat=1):
    x = np.tile(np.array([[0, 0], [0, 1], [1, 0], [1, 1]], "float32"), (repeat, 1))
    return data.Dataset(task="classification", train=(x, (x[:, 0] != x[:, 1]).astype("int32")), num_classes=2)


def test_register_as_a_call_then_load_stamps_name_description_and_source(isolated_registry):
    assert data.register("xor", _xor, description="XOR.", task="classification", source="generated") is _xor
    ds = data.load("xor", repeat=3)
    assert (ds.name, ds.description, ds.source) == ("xor", "XOR.", "generated")
    assert ds.train[0].shape == (12, 2) and ds.input_shape == (2,)
    assert (ds.loss, ds.metrics) == ("sparse_categorical_crossentropy", ("accuracy",))
    assert "xor" in [info.name for info in data.list_datasets()]


def test_register_as_a_decorator_and_loader_with_any_options(isolated_registry):
    @data.register("anything", description="Takes any option.", task="regression", source="generated")
    def anything(**options):
        x = np.zeros((options.get("n", 3), 1), "float32")
        return data.Dataset(task="regression", train=(x, x[:, 0]))

    assert callable(anything)
    ds = data.load("anything", n=5, unused=True)
    assert (ds.loss, ds.metrics, ds.num_classes) == ("mse", ("mae",), None)


def test_duplicate_name_is_refused(isolated_registry):
    with pytest.raises(ValueError, match="'digits' is already registered"):
        data.register("digits", _xor, description="again", task="classification", source="embedded")


def test_re_registering_the_same_function_is_a_reload_not_a_duplicate(isolated_registry):
    importlib.reload(importlib.import_module("nbmodels.data.synthetic"))
    assert [info.name for info in data.list_datasets()].count("blobs") == 1


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"task": "clustering"}, "task='clustering'"),
        ({"source": "cloud"}, "source='cloud'"),
        ({"description": ""}, r"register\('new'\)\.description='' is not allowed: give one sentence"),
    ],
)
def test_register_checks_its_arguments(isolated_registry, kwargs, fragment):
    arguments = {"description": "d", "task": "classification", "source": "generated", **kwargs}
    with pytest.raises(ValueError, match=fragment):
        data.register("new", _xor, **arguments)


def test_register_refuses_a_loader_with_positional_only_parameters(isolated_registry):
    def positional(n, /):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="keyword options only; 'n'"):
        data.register("positional", positional, description="d", task="regression", source="generated")


def test_a_loader_whose_option_picks_the_task_registers_every_task(isolated_registry):
    @data.register("pairs_or_ratings", description="d", task=("retrieval", "regression"), source="generated")
    def pairs_or_ratings(*, ratings=False):
        x = {"user": np.arange(4, dtype="int32"), "item": np.arange(4, dtype="int32")}
        if ratings:
            return data.Dataset(task="regression", train=(x, np.ones(4, "float32")))
        return data.Dataset(task="retrieval", train=(x, None))

    info = next(info for info in data.list_datasets() if info.name == "pairs_or_ratings")
    assert (info.task, info.tasks) == ("retrieval", ("retrieval", "regression"))
    assert (data.load("pairs_or_ratings").task, data.load("pairs_or_ratings", ratings=True).task) == (
        "retrieval", "regression")
    data.register("listed", _xor, description="d", task=("retrieval", "regression"), source="generated")
    with pytest.raises(ValueError, match="a classification Dataset but was registered as retrieval or regression"):
        data.load("listed")


def test_loader_returning_the_wrong_thing_is_reported(isolated_registry):
    data.register("broken", lambda: "oops", description="d", task="regression", source="generated")
    with pytest.raises(TypeError, match="returned str, not a Dataset"):
        data.load("broken")
    data.register("mislabelled", _xor, description="d", task="regression", source="generated")
    with pytest.raises(ValueError, match="returned a classification Dataset but was registered as regression"):
        data.load("mislabelled")


def test_dataset_checks_its_fields():
    x = np.zeros((4, 2), "float32")
    with pytest.raises(ValueError, match="x has 4 examples but y has 3"):
        data.Dataset(task="regression", train=(x, np.zeros(3, "float32")))
    with pytest.raises(ValueError, match="needs num_classes"):
        data.Dataset(task="classification", train=(x, np.zeros(4, "int32")))
    with pytest.raises(ValueError, match="task='vision'"):
        data.Dataset(task="vision", train=(x, x))
    with pytest.raises(ValueError, match="must hold numpy arrays"):
        data.Dataset(task="regression", train=([1.0], [2.0]))


def test_dataset_is_frozen():
    ds = data.load("blobs", n=10)
    with pytest.raises(AttributeError):
        ds.name = "other"


def test_summary_is_one_deterministic_line_and_is_the_repr():
    first, second = data.load("blobs", seed=3), data.load("blobs", seed=3)
    assert first.summary() == second.summary() == (
        "blobs: classification, train x (480, 2) float32 -> y (480,) int32, "
        "validation 120, 3 classes, source generated"
    )
    assert repr(first) == f"Dataset({first.summary()})"
    assert "\n" not in repr(data.load("python_docs"))


@pytest.mark.parametrize("module", ["__init__", "registry", "text.corpus", "text.datasets", "images.datasets", "images.marker",
                                    "images.folder", "images.arrays", "synthetic", "network"])
def test_docstring_examples_run(module, isolated_registry):
    name = "nbmodels.data" if module == "__init__" else f"nbmodels.data.{module}"
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_import_and_offline_loads_stay_light():
    # Notebooks import nbmodels.data just to list datasets; that must not pay for TensorFlow.
    heavy = ("tensorflow", "keras", "sklearn", "plotly", "ipywidgets")
    script = (
        "import sys, nbmodels.data as d\n"
        f"heavy = {heavy!r}\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "d.load('python_docs'); d.load('blobs'); d.load('linear_regression')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.splitlines() == ["[]", "[]"]


def test_a_retrieval_loader_with_named_features_and_a_lazy_loader_register_and_load(isolated_registry):
    @data.register("pairs", description="Positive user-item pairs.", task="retrieval", source="generated")
    def pairs(*, n=6):
        users = np.arange(n, dtype="int32")
        return data.Dataset(task="retrieval", train=({"user": users, "item": users % 3}, None))

    @data.register("lazy_rows", description="Rows read by index.", task="regression", source="generated")
    def lazy_rows():
        return data.Dataset(task="regression", train=data.LazySource(
            100, load_row=lambda i: (np.full(4, i, "float32"), np.float32(i))))

    ds = data.load("pairs", n=4)
    assert (ds.name, ds.loss, ds.metrics, ds.input_shape) == ("pairs", "", (), {"user": (), "item": ()})
    assert ds.summary() == (
        "pairs: retrieval, train x {user: () int32, item: () int32} -> no y, 4 examples, no validation, "
        "source generated"
    )
    assert data.load("lazy_rows").summary() == (
        "lazy_rows: regression, train x (4,) float32 -> y () float32, 100 examples (LazySource), no validation, "
        "source generated"
    )
