# Two commands do everything on a fresh machine: `make reproduce` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of this release lies on the build machines; on a GPU machine use e.g.
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" reproduce
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= cpu
REPRODUCE_ARGS ?=
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: reproduce test lint install clean-runs

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/mfvpose reproduce --profile $(PROFILE) --figures-dir figures/$(PROFILE) $(REPRODUCE_ARGS)

# pytest exits 5 when it collected nothing: that is a failure here.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check mfvpose_lib tests

clean-runs:
	rm -rf runs
