"""The notebooks' defaults are sized for a person; the tests make them tiny through the
environment variables the notebooks read, and each notebook says at its top how long it takes."""

import re
from pathlib import Path

import nbformat
import pytest

from tests.browser.test_notebooks_browser import TEST_SIZES

REPO = Path(__file__).parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# os.environ.get("NBMODELS_...", "default") in a notebook's code
SIZE_KNOB = re.compile(r"""os\.environ\.get\(\s*["'](NBMODELS_(?!RUNS_DIR)[A-Z_]+)["']\s*,\s*["']([^"']*)["']""")


def knobs(path: Path) -> dict[str, str]:
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    return dict(SIZE_KNOB.findall(code))


def make_test_sizes() -> dict[str, str]:
    """The NAME=value pairs the Makefile's `test` target runs pytest with."""
    makefile = (REPO / "Makefile").read_text().replace("\\\n", " ")
    line = re.search(r"^NOTEBOOK_TEST_SIZES\s*:?=(.*)$", makefile, re.M)
    assert line, "the Makefile defines no NOTEBOOK_TEST_SIZES for its test target"
    assert "$(NOTEBOOK_TEST_SIZES)" in makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    return dict(re.findall(r"(\w+)=(\S+)", line.group(1)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_make_test_and_the_browser_tests_set_every_size_a_notebook_reads(path):
    read = knobs(path)
    for name in read:
        assert name in make_test_sizes(), f"{path.name} reads {name}; the Makefile's test target does not set it"
        assert name in TEST_SIZES, f"{path.name} reads {name}; tests/browser does not set it"
        assert make_test_sizes()[name] == TEST_SIZES[name], name


def test_text_generation_defaults_to_a_model_that_learns_text():
    """Notebook 01 once defaulted to the test size: loss 3.19 (uniform 4.6), a playground of spaces."""
    read = knobs(REPO / "notebooks" / "01_text_generation.ipynb")
    assert read["NBMODELS_NOTEBOOK_GPT_SIZE"] != "tiny"
    assert int(read["NBMODELS_NOTEBOOK_STEPS"]) >= 1000
    assert make_test_sizes()["NBMODELS_NOTEBOOK_GPT_SIZE"] == "tiny"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_states_its_time_at_the_top(path):
    top = nbformat.read(path, as_version=4).cells[0].source
    assert re.search(r"\*\*Accelerator:\*\*.*\b(\d+ s|seconds?|minutes?)\b", top, re.S), top
