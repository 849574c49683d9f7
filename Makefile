# Two commands do everything on a fresh machine: `make reproduce` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of this release lies on the build machines; on a GPU machine use e.g.
#   make TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" reproduce
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= cpu
# ImageNet HRNet checkpoint for the backbone (the paper profile starts from it), e.g.
#   make reproduce PROFILE=paper PRETRAINED=hrnet_w32-36af842e.pth
PRETRAINED ?=
# Released baseline checkpoints (HRNet model-zoo names, registered names or a released.json), e.g.
#   make reproduce PROFILE=paper RELEASED=~/weights
RELEASED ?=
LAB_ARGS ?=
REPRODUCE_ARGS ?=
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed
# The torch spec last installed; a different TORCH_SPEC reinstalls torch.
TORCH_STAMP := $(VENV)/.torch-spec

.PHONY: reproduce ablation noise test test-fast lint install clean-runs lab FORCE

$(TORCH_STAMP): FORCE
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if [ "$$(cat $(TORCH_STAMP) 2>/dev/null)" != "$(TORCH_SPEC)" ]; then \
		echo "installing $(TORCH_SPEC)"; \
		$(BIN)/pip install --quiet --upgrade pip && \
		$(BIN)/pip install --quiet --force-reinstall --no-deps $(TORCH_SPEC) && \
		$(BIN)/pip install --quiet $(TORCH_SPEC) && \
		echo "$(TORCH_SPEC)" > $(TORCH_STAMP); \
	fi

$(STAMP): pyproject.toml $(TORCH_STAMP)
	@if [ ! -f $(STAMP) ] || [ pyproject.toml -nt $(STAMP) ]; then \
		$(BIN)/pip install --quiet -e '.[test]' && touch $(STAMP); fi

install: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/mfvpose reproduce --profile $(PROFILE) --figures-dir figures/$(PROFILE) \
		$(if $(PRETRAINED),--pretrained $(PRETRAINED)) $(if $(RELEASED),--released $(RELEASED)) $(REPRODUCE_ARGS)

# Table 4 alone at the profile designed to resolve 2.0 PCKh (9 paired seeds x 4 rows, about 1.5 hours on
# 2 cores): notebook 16 at PROFILE=ablation, figures in figures/ablation.
ablation: $(STAMP)
	$(BIN)/mfvpose reproduce --profile ablation --only 16 --figures-dir figures/ablation $(REPRODUCE_ARGS)

# The noise study's levers at PROFILE (about 1.5 CPU-hours at cpu): runs in runs/$(PROFILE)/run/noise,
# the lever table and figure in figures/$(PROFILE); notebook 16 shows them.
noise: $(STAMP)
	$(BIN)/mfvpose noise --profile $(PROFILE)

# JupyterLab on runs/$(PROFILE)/lab: the notebooks pointed at what `make reproduce` left there, their
# figures in runs/$(PROFILE)/lab/figures. LAB_ARGS that `mfvpose lab` does not know go to jupyter lab:
#   make lab LAB_ARGS="--no-browser --port 8888 --ServerApp.token=''"
lab: $(STAMP)
	$(BIN)/mfvpose lab --profile $(PROFILE) $(LAB_ARGS)

# pytest exits 5 when it collected nothing: that is a failure here.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

# The fast lane: no notebook runs, no browser, no subprocesses (about four and a half minutes on 2 cores).
test-fast: $(STAMP)
	@$(BIN)/python -m pytest -m "not slow and not browser and not subprocess" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check mfvpose_lib tests

clean-runs:
	rm -rf runs
