# The two commands of the README. Each sets up .venv (once, again when pyproject.toml changes).
#   make lab    install with JupyterLab and open it on notebooks/
#   make test   install with test tools and run the whole suite (extension/ unit tests, tests/, notebooks/)
#   make demo   the headless main job: train a small model on embedded data and report

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The JupyterLab sidebar's sources: a change rebuilds it on the next `make lab` / `make test`.
EXTENSION_SOURCES := extension/package.json $(wildcard extension/src/*.ts extension/style/*)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test test-ipywidgets7 demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per extra, so `make test` after `make lab` only adds the test tools.
# The build tools go into the venv first and the install skips pip's isolated build env: that
# env would install JupyterLab a second time (about a minute). The wheel build runs `jlpm` in
# extension/ (hatch-jupyter-builder), which needs the venv's bin on PATH.
$(VENV)/.installed-%: pyproject.toml $(EXTENSION_SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet hatchling hatch-jupyter-builder editables "jupyterlab>=4.2,<5"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pip install --quiet --no-build-isolation -e ".[$*]"
	touch $@

lab: $(VENV)/.installed-lab
	$(BIN)/jupyter lab $(ALLOW_ROOT) notebooks/

# The notebooks' defaults are sized for a person (minutes on a CPU); the tests run them tiny.
NOTEBOOK_TEST_SIZES := NBMODELS_QUICKSTART_EPOCHS=5 NBMODELS_NOTEBOOK_GPT_SIZE=tiny NBMODELS_NOTEBOOK_STEPS=150 \
	NBMODELS_NOTEBOOK_CLASSIFIER_SIZE=tiny NBMODELS_NOTEBOOK_EPOCHS=4 NBMODELS_NOTEBOOK_VISION_EPOCHS=3 \
	NBMODELS_NOTEBOOK_TRANSFER_SIZE=tiny NBMODELS_NOTEBOOK_TRANSFER_EPOCHS=3 \
	NBMODELS_NOTEBOOK_RECSYS_SIZE=tiny NBMODELS_NOTEBOOK_RECSYS_EPOCHS=2

test: $(VENV)/.installed-test
	cd extension && PATH="$(CURDIR)/$(BIN):$$PATH" jlpm test
	NBMODELS_RUNS_DIR="$${NBMODELS_RUNS_DIR:-$(CURDIR)/build/test-runs}" $(NOTEBOOK_TEST_SIZES) $(BIN)/python -m pytest

# The dashboards' tests again under ipywidgets 7.7 (what Colab may ship), put ahead of the
# venv's ipywidgets 8 on PYTHONPATH.
test-ipywidgets7: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet --no-deps --target build/ipywidgets7 "ipywidgets==7.7.*" \
		"jupyterlab_widgets<3" "widgetsnbextension<4" ipython_genutils
	PYTHONPATH=build/ipywidgets7 $(BIN)/python -m pytest tests/dashboards -p no:cacheprovider

demo: $(VENV)/.installed-test
	$(BIN)/nbmodels demo

# Side-by-side benchmarks (keras-hub is the peer, from the `bench` extra); see bench/README.md.
# NANOGPT=path/to/nanoGPT [NANOGPT_PYTHON=a python with torch] runs nanoGPT beside the baby GPT.
bench: $(VENV)/.installed-test $(VENV)/.installed-bench
	$(BIN)/python bench/recording_overhead.py
	$(BIN)/python bench/dashboard_overhead.py
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/shakespeare.py $(if $(NANOGPT),--nanogpt $(NANOGPT) --nanogpt-python $(or $(NANOGPT_PYTHON),python3))
	$(BIN)/python bench/vision_mnist.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/movielens.py

clean:
	rm -rf $(VENV) build .pytest_cache extension/node_modules extension/lib extension/tsconfig.tsbuildinfo nbmodels/labextension
