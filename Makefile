# Every target creates the virtual environment on first use; `make help` lists them.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LAB_KEYS := $(shell ls -d labs/lab[0-9][0-9]_* 2>/dev/null | sed -E 's|labs/lab([0-9]{2})_.*|\1|')

.DEFAULT_GOAL := help
.PHONY: help setup mock up test test-fast test-deep bench lint doctor list clean $(addprefix lab-,$(LAB_KEYS)) $(addprefix exercises-,$(LAB_KEYS))

help: ## list the targets
	@echo "Targets (each sets up .venv on first use):"
	@grep -hE '^[a-zA-Z0-9_%-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | awk -F'\t' '{printf "  make %-16s %s\n", $$1, $$2}'
	@for k in $(LAB_KEYS); do printf "  make lab-%-12s serve lab %s on 127.0.0.1:80%s\n" $$k $$k $$k; done
	@for k in $(LAB_KEYS); do printf "  make exercises-%-6s print lab %s's worked exercises\n" $$k $$k; done

setup: $(STAMP) ## create .venv and install pinned dependencies (reinstalls only when they change)

# One line per phase and one per package, so a first setup (about 5 minutes, about 2.5 GB: torch, transformers,
# sentence-transformers) never looks stuck.
$(STAMP): pyproject.toml constraints.txt
	@echo "setup 1/3: .venv with $$($(PYTHON) --version 2>&1)  (first time: about 5 minutes and 2.5 GB)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "setup 2/3: pip"
	@$(PY) -m pip install --quiet --upgrade "pip>=24"
	@echo "setup 3/3: the pinned packages from constraints.txt (one line each)"
	@set -o pipefail; $(PY) -m pip install --progress-bar off -c constraints.txt -e '.[dev]' \
	  | { grep --line-buffered -E '^(Collecting|Processing /|Successfully installed|ERROR)' || true; } \
	  | sed -u -E 's/^Collecting ([^ ]+).*/  \1/; s/^Processing [^ ]*\/([^/ ]+).*/  \1/; s/^(Successfully installed).*/  \1 (done)/'
	@touch $@
	@echo "setup done: .venv is ready ($$(du -sh $(VENV) 2>/dev/null | cut -f1))"

# Static pattern rules, not plain `lab-%:`: make skips implicit-rule search for .PHONY targets,
# so a plain pattern rule would never run for a phony lab-05.
# `make lab-06 PORT=9006` serves on another port.
$(addprefix lab-,$(LAB_KEYS)): lab-%: $(STAMP)
	$(PY) -m labs serve $* $(if $(PORT),--port $(PORT))

$(addprefix exercises-,$(LAB_KEYS)): exercises-%: $(STAMP)
	@$(PY) -m $$(ls -d labs/lab$*_* | head -1 | tr / .).exercises

mock: $(STAMP) ## serve the mock LLM provider on 127.0.0.1:8000, every lab's mock plugin loaded
	$(PY) -m labs mock $(if $(PORT),--port $(PORT))

up: $(STAMP) ## serve the mock and every lab at once (Ctrl-C stops all)
	$(PY) -m labs up

list: $(STAMP) ## list labs, ports and make targets
	@$(PY) -m labs list

# Two workers (pytest-xdist): CI has 2 cores, and most tests wait on one core at a time. Each worker has its own
# DATA_DIR, mock server and PostgreSQL cluster. `make test TEST_WORKERS=0` runs serially (easier to debug).
TEST_WORKERS ?= 2

test: $(STAMP) ## run the whole test suite (what CI runs)
	$(PY) -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal)

test-fast: $(STAMP) ## the suite without tests marked slow
	$(PY) -m pytest -m "not slow and not deep"

test-deep: $(STAMP) ## deep property runs only: schemathesis with 4x the examples and a random seed (FUZZ_SEED=n replays)
	$(PY) -m pytest -m deep

bench: $(STAMP) ## run every benchmark; results land in bench/results/
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP) ## ruff
	$(PY) -m ruff check .

doctor: $(STAMP) ## [OK]/[FAIL] per dependency and offline setting
	@$(PY) -m labs doctor

clean: ## remove .venv and .data
	rm -rf $(VENV) .data
