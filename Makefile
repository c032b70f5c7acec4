# Heartfelt: `make test` and `make run` are the two commands a newcomer needs (see README).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
MODEL  ?= models/heartfelt-minilm
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: test run model corpus validate lint format evaluate bench clean help

help:
	@echo "make test   - create .venv, install with dev extras, lint, build the model if absent, run pytest"
	@echo "make run    - create .venv, install, build the model if absent, serve the API on 127.0.0.1:8000"
	@echo "make model  - (re)build $(MODEL) if absent; make corpus / validate / evaluate / bench / lint / format"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[train]"
	touch $@

model: $(VENV)/.installed
	@test -f $(MODEL)/model.safetensors -a -f $(MODEL)/heartfelt.json || $(BIN)/heartfelt train --output $(MODEL)
	@test -f $(MODEL)/model.int8.onnx || $(BIN)/heartfelt export --model $(MODEL)

corpus: $(VENV)/.installed-dev
	$(BIN)/python -m training.data.build
	$(BIN)/python -m training.data.validate

validate: $(VENV)/.installed-dev
	$(BIN)/python -m training.data.validate

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(VENV)/.installed-dev lint
	@$(MAKE) --no-print-directory model VENV=$(VENV)
	$(BIN)/pytest

evaluate: model
	$(BIN)/heartfelt evaluate --model $(MODEL)

bench: model $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks.run --model $(MODEL)

run: model
	$(BIN)/heartfelt serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
