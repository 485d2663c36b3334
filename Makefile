# Every target installs the project into .venv first when needed, so a fresh clone runs `make test` or
# `make demo` directly.
SHELL := /bin/bash
PYTHON := .venv/bin/python
STAMP := .venv/.installed-stamp
export NO_ALBUMENTATIONS_UPDATE := 1
export PYTHONUNBUFFERED := 1

OUT ?= outputs
NAME ?=
GPUS ?= 1
CONFIG ?=
DATA ?=
EXTRA ?=

.PHONY: install test test-fast demo score-otb score-vot score-lasot score-got10k \
        eval-otb eval-vot eval-uav123 eval-lasot eval-got10k show prepare-data bench-data \
        train-siamrpnpp import-pysot sweep bench clean

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider

demo: $(STAMP)
	$(PYTHON) -m experiments.demo --out $(OUT)/demo $(EXTRA)

# --- scoring existing result files -------------------------------------------------------------
score-otb score-vot score-lasot score-got10k: score-%: $(STAMP)
	$(PYTHON) -m experiments.score $* --results $(RESULTS) --data $(DATA) --out $(OUT) $(EXTRA)

# --- tracking a benchmark with a checkpoint ----------------------------------------------------
eval-otb eval-vot eval-uav123 eval-lasot eval-got10k: eval-%: $(STAMP)
	$(PYTHON) -m experiments.evaluate $* --ckpt $(CKPT) --data $(DATA) --out $(OUT) $(if $(NAME),--name $(NAME)) $(EXTRA)

show: $(STAMP)
	$(PYTHON) -m experiments.show --seq $(SEQ) --results $(RESULTS) --out $(OUT) $(EXTRA)

# --- training data -----------------------------------------------------------------------------
prepare-data: $(STAMP)
	$(PYTHON) -m experiments.prepare_data --dataset $(DATASET) --root $(ROOT) --out $(OUT) $(EXTRA)

bench-data: $(STAMP)
	$(PYTHON) -m experiments.bench_data $(EXTRA)

# --- SiamRPN++ ---------------------------------------------------------------------------------
TRAIN_CONFIG = $(or $(CONFIG),siamrpn_r50_l234_dwxcorr)
RUN ?= $(OUT)/runs/$(notdir $(basename $(TRAIN_CONFIG)))
train-siamrpnpp: $(STAMP)
	$(PYTHON) -m experiments.train --config $(TRAIN_CONFIG) --gpus $(GPUS) --data $(DATA) --out $(RUN) $(EXTRA)

import-pysot: $(STAMP)
	$(PYTHON) -m experiments.import_pysot --pysot $(PYSOT) --config $(CONFIG) --out $(OUT)

sweep: $(STAMP)
	$(PYTHON) -m experiments.sweep --sweep $(or $(SWEEP),siamrpnpp_hyperparameters) --out $(OUT)/sweep $(if $(CKPT),--ckpt $(CKPT)) $(if $(DATA),--data $(DATA)) $(EXTRA)

bench: $(STAMP)
	$(PYTHON) -m experiments.bench $(EXTRA)

clean:
	rm -rf outputs .pytest_cache
