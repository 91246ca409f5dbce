# The two commands of the README. Each sets up .venv (once, again when pyproject.toml changes).
#   make lab    install with JupyterLab and open it on notebooks/
#   make test   install with test tools and run the whole suite (tests/ and notebooks/)
#   make demo   the headless main job: train a small model on embedded data and report

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, so `make test` after `make lab` only adds the test tools.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

lab: $(VENV)/.installed-lab
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

test: $(VENV)/.installed-test
	NBMODELS_RUNS_DIR="$${NBMODELS_RUNS_DIR:-$(CURDIR)/build/test-runs}" $(BIN)/python -m pytest

demo: $(VENV)/.installed-test
	$(BIN)/nbmodels demo

bench: $(VENV)/.installed-test
	$(BIN)/python bench/recording_overhead.py

clean:
	rm -rf $(VENV) build .pytest_cache
