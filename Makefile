# One-command setup, run and test for the three-project portfolio. `make help` lists targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONSTRAINTS := .ci/constraints.txt
# Outside this machine a CPU-only laptop should take torch from PyTorch's CPU index:
#   make setup TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
TORCH_INDEX_URL ?=
PROJECTS := $(sort $(wildcard [0-9]-*))
NOTEBOOKS := $(sort $(wildcard [0-9]-*/*.ipynb))
BENCHMARKS := $(sort $(wildcard [0-9]-*/benchmarks/bench_*.py))
# Each project folder is a package (its pyproject.toml), installed editable with its extras:
# every requirements-<extra>.txt beside its requirements.txt is one ([app], [spark]).
comma := ,
space := $(subst ,, )
extras_of = $(subst $(space),$(comma),$(patsubst $(1)/requirements-%.txt,%,$(wildcard $(1)/requirements-*.txt)))
install_project = -e ./$(1)$(if $(call extras_of,$(1)),[$(call extras_of,$(1))])
PROJECT_INSTALLS := $(foreach p,$(PROJECTS),$(call install_project,$(p)))
# Folders the type checker reads: the shared package and every project's package.
PACKAGE_DIRS := shared/mlshared $(sort $(patsubst %/__init__.py,%,$(wildcard [0-9]-*/*/__init__.py)))
# `make run DATA_DIR=/path/to/data` maps a folder laid out like the README's "Local data" table
# to the per-dataset variables; each can also be set on its own.
DATA_DIR ?=
ifneq ($(DATA_DIR),)
export CIFAR10_PATH ?= $(DATA_DIR)/cifar10
export MOBILENETV2_WEIGHTS ?= $(DATA_DIR)/weights/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5
export MOVIELENS_PATH ?= $(DATA_DIR)/movielens/ml-100k
export LIAR_PATH ?= $(DATA_DIR)/liar
export CONSTRAINT_PATH ?= $(DATA_DIR)/constraint
endif
PYTEST_FLAGS ?=
# Colab's versions (.ci/colab-pins.txt) in two environments: Colab's Python 3.13 for everything
# but the torch project, whose CPU wheel here is for Python 3.11 only. A new project's tests and
# folder go in one of the two lists.
COLAB_PINS := .ci/colab-pins.txt
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) $(shell command -v python3.13))
COLAB313 := .venv-colab313
COLAB311 := .venv-colab311
COLAB313_PROJECTS := 1-image-classification 2-recommendation-system
COLAB313_TESTS := tests/shared tests/test_notebook_conventions.py tests/image_classification tests/recommendation
COLAB311_PROJECTS := 3-misinformation-detector
COLAB311_TESTS := tests/misinformation
SMOKE_PYTEST = PORTFOLIO_MODE=smoke $(1)/bin/python -m pytest -m "not gpu and not browser" --nbval-lax \
	--nbval-current-env --nbval-cell-timeout=600 $(PYTEST_FLAGS)
APP_DIR := 3-misinformation-detector

.PHONY: help setup setup-colab lock test test-colab unit notebooks lint format run smoke lab app bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	$(PYTHON) -m venv $(VENV)

setup: $(PY)  ## create .venv and install the projects, the shared package and the test tools
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) $(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL)) \
		-r tests/requirements.txt -e shared $(PROJECT_INSTALLS)
	$(PY) -m pip check
	# Test peer for metric parity: its declared dependencies pin an older stack, but its
	# evaluation module imports cleanly with ours.
	$(PY) -m pip install --quiet --no-deps -c $(CONSTRAINTS) recommenders
	@echo "Set up. Next: make test (or make run, make lab, make app)."

setup-colab:  ## two more environments with Colab's package versions, for make test-colab
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found: make setup-colab PYTHON313=/path/to/python3.13"; exit 1; }
	test -x $(COLAB313)/bin/python || $(PYTHON313) -m venv $(COLAB313)
	test -x $(COLAB311)/bin/python || $(PYTHON) -m venv $(COLAB311)
	$(COLAB313)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB311)/bin/python -m pip install --quiet --upgrade pip
	$(COLAB313)/bin/python -m pip install --quiet -c $(COLAB_PINS) -r tests/requirements.txt -e shared \
		$(foreach p,$(COLAB313_PROJECTS),$(call install_project,$(p)))
	$(COLAB311)/bin/python -m pip install --quiet -c $(COLAB_PINS) -r tests/requirements.txt -e shared \
		$(foreach p,$(COLAB311_PROJECTS),$(call install_project,$(p)))

test-colab:  ## unit tests and smoke notebooks under Colab's versions (run make setup-colab first)
	$(call SMOKE_PYTEST,$(COLAB313)) $(COLAB313_TESTS) $(COLAB313_PROJECTS)
	$(call SMOKE_PYTEST,$(COLAB311)) $(COLAB311_TESTS) $(COLAB311_PROJECTS)

lock:  ## re-pin .ci/constraints.txt to the versions installed in .venv (after changing requirements)
	@{ echo "# Exact versions for local and CI installs (make setup). Regenerate with: make lock"; \
	   echo "# torch is the CPU build on machines whose pip finds it locally; see the README."; \
	   $(PY) -m pip freeze --exclude-editable | grep -v -E '^(mlshared|cifar-transfer|cifar_transfer|recsys|misinfo)==' | sed -E 's/\+[a-z0-9.]+$$//'; } > $(CONSTRAINTS)

lint:  ## ruff lint and format check, mypy on every package
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy $(PACKAGE_DIRS)

format:  ## apply ruff's fixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

unit:  ## unit tests only (no notebooks)
	PORTFOLIO_MODE=smoke $(PY) -m pytest -m "not gpu" $(PYTEST_FLAGS)

notebooks:  ## execute every notebook in smoke mode with nbval
	PORTFOLIO_MODE=smoke $(PY) -m pytest -m "notebook" --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=600 $(NOTEBOOKS) $(PYTEST_FLAGS)

test: lint  ## the whole suite: lint, unit tests, notebook conventions, every notebook in smoke mode
	PORTFOLIO_MODE=smoke $(PY) -m pytest -m "not gpu" --nbval-lax --nbval-current-env \
		--nbval-cell-timeout=600 --durations=15 $(PYTEST_FLAGS)

run:  ## execute the notebooks with the cpu recipe on real data; figures + metrics land in */outputs/
	@for nb in $(NOTEBOOKS); do \
		echo "== $$nb (cpu recipe)"; \
		PORTFOLIO_MODE=cpu $(VENV)/bin/jupyter nbconvert --to notebook --execute \
			--ExecutePreprocessor.timeout=-1 --output-dir "$$(dirname $$nb)/outputs/executed" "$$nb" || exit 1; \
	done

smoke:  ## the same notebooks in smoke mode: synthetic data, offline, a few minutes
	@for nb in $(NOTEBOOKS); do \
		echo "== $$nb (smoke)"; \
		PORTFOLIO_MODE=smoke $(VENV)/bin/jupyter nbconvert --to notebook --execute \
			--ExecutePreprocessor.timeout=600 --output-dir "$$(dirname $$nb)/outputs/smoke/executed" "$$nb" || exit 1; \
	done

lab:  ## start JupyterLab in the repo
	$(VENV)/bin/jupyter lab

app:  ## start the Streamlit misinformation app (trains quick model sets first if there are none)
	@ls $(APP_DIR)/models/manifest.sha256 $(APP_DIR)/models/*/manifest.sha256 >/dev/null 2>&1 || (cd $(APP_DIR) && \
		$(if $(CONSTRAINT_PATH),../$(PY) -m misinfo.train --recipe quick --data constraint:$(CONSTRAINT_PATH) --out models/constraint &&) \
		$(if $(LIAR_PATH),../$(PY) -m misinfo.train --recipe quick --data liar:$(LIAR_PATH) --out models/liar &&) \
		$(if $(CONSTRAINT_PATH)$(LIAR_PATH),true,../$(PY) -m misinfo.train --recipe quick --data synthetic --out models/synthetic))
	cd $(APP_DIR) && ../$(VENV)/bin/streamlit run app.py

bench:  ## run every project's benchmarks; JSON lands in */outputs/benchmarks/
	@for b in $(BENCHMARKS); do echo "== $$b"; (cd "$$(dirname $$(dirname $$b))" && ../$(PY) "benchmarks/$$(basename $$b)") || exit 1; done

clean:  ## remove smoke outputs, executed notebooks and caches (keeps .venv and committed results)
	rm -rf [0-9]-*/outputs/smoke [0-9]-*/outputs/executed .pytest_cache .ruff_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
