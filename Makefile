# The README's first commands: `make demo` and `make test`. Each does its own set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: install demo test test-slow bench clean

install: $(INSTALLED)

# torch is pinned to 2.13.0 in pyproject.toml: a looser pin would pull a multi-GB CUDA build.
$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

demo: install
	$(BIN)/actorcritic train ppo --env CartPole-v1 --total-steps 100000 --seed 0

# the formatter and the linter first (ruff, configured in pyproject.toml), then the tests
test: install
	$(BIN)/ruff format --check --quiet src tests benchmarks scripts
	$(BIN)/ruff check --quiet src tests benchmarks scripts
	$(BIN)/python -m pytest -n auto --dist loadscope

test-slow: install
	$(BIN)/python -m pytest -m slow

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python benchmarks/ppo_vs_sb3.py

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
