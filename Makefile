# Two commands set everything up on a fresh Debian machine with Python 3:
#   make book   -> builds the HTML book into _build/html (real NHANES data if reachable, else synthetic)
#   make test   -> runs the test suite (installs R and TeX for the parity and PDF tests when root)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-12)

R_PACKAGES := r-base-core r-cran-survey r-cran-rms r-cran-haven r-cran-jsonlite r-cran-segmented
TEX_PACKAGES := latexmk texlive-latex-recommended texlive-fonts-recommended texlive-latex-extra tex-gyre poppler-utils
# headless Chromium measures the built pages at phone and desktop widths (tests/layout_probe.py)
BROWSER_PACKAGES := chromium

.PHONY: book pdf test venv r-deps tex-deps browser-deps bench clean

venv: $(STAMP)
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || scripts/ensure-debian-packages.sh "the Python venv module" python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*; touch $@

book: venv
	$(BIN)/nhmg build

pdf: venv
	scripts/ensure-debian-packages.sh "the PDF build" $(TEX_PACKAGES)
	$(BIN)/nhmg build --pdf

r-deps:
	@scripts/ensure-debian-packages.sh "the R parity tests" $(R_PACKAGES) \
	  || { if [ "$${CI:-}" = "true" ]; then echo "CI needs R for the parity tests" >&2; exit 1; \
	       else echo "R parity tests will be skipped." >&2; fi; }

tex-deps:
	@scripts/ensure-debian-packages.sh "the PDF build" $(TEX_PACKAGES) \
	  || { if [ "$${CI:-}" = "true" ]; then echo "CI builds the PDF and needs TeX" >&2; exit 1; \
	       else echo "The PDF test will be skipped." >&2; fi; }

browser-deps:
	@scripts/ensure-debian-packages.sh "the page layout test" $(BROWSER_PACKAGES) \
	  || { if [ "$${CI:-}" = "true" ]; then echo "CI measures the pages and needs Chromium" >&2; exit 1; \
	       else echo "The page layout test will be skipped." >&2; fi; }

test: venv r-deps tex-deps browser-deps
	$(BIN)/python -m pytest

bench: venv
	$(BIN)/python benchmarks/bench_mediation.py
	$(BIN)/python benchmarks/bench_threshold.py

clean:
	rm -rf _build .pytest_cache

# The chapters as notebooks: `make notebooks` writes each one executed (figures, tables, glued
# numbers filled in) to notebooks/<chapter>.ipynb; `make lab` adds JupyterLab (requirements-lab.txt)
# to .venv and opens the repository in it (a chapter's .md opens as a notebook through jupytext).
.PHONY: notebooks lab
LAB_STAMP := $(VENV)/.lab-$(shell cat requirements-lab.txt | sha256sum | cut -c1-12)

notebooks: venv
	$(BIN)/python -m nhmg_lib.book.notebooks notebooks

$(LAB_STAMP): requirements-lab.txt $(STAMP)
	$(BIN)/python -m pip install --quiet -r requirements-lab.txt
	rm -f $(VENV)/.lab-*; touch $@

lab: venv $(LAB_STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" $(if $(filter 0,$(shell id -u)),--allow-root)
