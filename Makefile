# Every target installs the project into .venv first when needed, so a fresh clone runs `make test` or
# `make demo` directly. Path variables are quoted: folders with spaces or non-ASCII letters work.
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
TRACKER ?=
STEPS ?=
PAPER ?=
# the paper's name (its folder under experiments/configs/, demos/, ablations/); siamfc-online: siamfc_online's former
# spelling, still accepted
PAPER_NAME = $(subst siamfc-online,siamfc_online,$(PAPER))
BATCH ?=
# `make bench` times these configs (each paper adds its main ones)
BENCH_CONFIGS ?= siamrpnpp/r50_l234_dwxcorr siamrpnpp/alex_dwxcorr siamrpnpp/mobilev2_l234_dwxcorr siamrpnpp/demo \
                 siamfc/alexnet hsiamfc/vgg19 hsiamfc/resnet50 hsiamfc/densenet169 \
                 siamfc/imagenet_alexnet siamfc_online/imagenet_alexnet siamfc/imagenet_inception_v3 \
                 siamfc_online/imagenet_inception_v3 siamfc/imagenet_resnet34 siamfc_online/imagenet_resnet34 \
                 siamfc/imagenet_vgg19 siamfc_online/imagenet_vgg19 \
                 snscf/r50_l234_acf snscf/demo mfst/mfst

.PHONY: install test demo score-otb score-vot score-lasot score-got10k \
        eval-otb eval-vot eval-uav123 eval-lasot eval-got10k show prepare-data bench-data \
        train train-siamrpnpp import-pysot train-siamfc train-hsiamfc train-siamfc-online import-siamfc train-snscf \
        sweep bench bench-reference bench-gpu ablation train-mfst import-mfst clean

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv .venv
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# one pytest worker per core of the CI machine (2, one torch thread each: tests/conftest.py); idle workers take
# tests queued on the other (the resume grid's kill chains run side by side)
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal

# `make demo PAPER=<paper>` runs that paper's plan (experiments/demos/<paper>.py) into OUT/demo-<paper>
demo: $(STAMP)
	$(PYTHON) -m experiments.demo --out "$(OUT)/demo$(if $(PAPER_NAME),-$(PAPER_NAME))" \
		$(if $(PAPER_NAME),--paper "$(PAPER_NAME)") $(EXTRA)

# --- scoring existing result files -------------------------------------------------------------
score-otb score-vot score-lasot score-got10k: score-%: $(STAMP)
	$(PYTHON) -m experiments.score $* --results "$(RESULTS)" --data "$(DATA)" --out "$(OUT)" $(EXTRA)

# --- tracking a benchmark with a checkpoint ----------------------------------------------------
eval-otb eval-vot eval-uav123 eval-lasot eval-got10k: eval-%: $(STAMP)
	$(PYTHON) -m experiments.evaluate $* --ckpt "$(CKPT)" --data "$(DATA)" --out "$(OUT)" --gpus $(GPUS) \
		$(if $(NAME),--name "$(NAME)") $(if $(TRACKER),--tracker "$(TRACKER)") $(if $(BATCH),--batch $(BATCH)) $(EXTRA)

# RESULTS: result folders separated by ':' (names may contain spaces); CKPT (+ TRACKER) also tracks live
show: $(STAMP)
	$(PYTHON) -m experiments.show --seq "$(SEQ)" $(if $(RESULTS),--results "$(RESULTS)") \
		$(if $(CKPT),--ckpt "$(CKPT)") $(if $(TRACKER),--tracker "$(TRACKER)") --out "$(OUT)" $(EXTRA)

# --- training data -----------------------------------------------------------------------------
prepare-data: $(STAMP)
	$(PYTHON) -m experiments.prepare_data --dataset "$(DATASET)" --root "$(ROOT)" --out "$(OUT)" $(EXTRA)

bench-data: $(STAMP)
	$(PYTHON) -m experiments.bench_data $(EXTRA)

# --- training: any paper's config (CONFIG=<paper>/<variant>); one line per paper below ----------
RUN ?= $(OUT)/runs/$(CONFIG)
train: $(STAMP)
	test -n "$(CONFIG)" || { echo "make train: CONFIG=<paper>/<variant> (python -m experiments.train --list_configs)"; exit 2; }
	$(PYTHON) -m experiments.train --config "$(CONFIG)" --gpus $(GPUS) --out "$(RUN)" \
		$(if $(DATA),--data_root "$(DATA)") $(if $(STEPS),--trainer.max_steps=$(STEPS)) $(EXTRA)

train-siamrpnpp: CONFIG := $(or $(CONFIG),siamrpnpp/r50_l234_dwxcorr)
train-siamrpnpp: train

import-pysot: $(STAMP)
	$(PYTHON) -m experiments.import_pysot --pysot "$(PYSOT)" --config "$(CONFIG)" --out "$(OUT)"

train-siamfc: CONFIG := $(or $(CONFIG),siamfc/alexnet)
train-siamfc: train

train-hsiamfc: CONFIG := $(or $(CONFIG),hsiamfc/vgg19)
train-hsiamfc: train

train-siamfc-online: CONFIG := $(or $(CONFIG),siamfc_online/imagenet_alexnet)
train-siamfc-online: train

train-snscf: CONFIG := $(or $(CONFIG),snscf/r50_l234_acf)
train-snscf: train

# MFST's SE blocks on frozen backbones: EXTRA="--model.init_args.siamfc_checkpoint=... --model.init_args.alexnet_weights=bvlc_alexnet.npy"
train-mfst: CONFIG := $(or $(CONFIG),mfst/mfst)
train-mfst: train

# an MFST checkpoint from its branches: S=/A= an MFST run's checkpoint (mfst/siamfc_se, mfst/alexnet_se), a SiamFC
# checkpoint, bvlc_alexnet.npy (CONFIG default mfst/mfst)
import-mfst: $(STAMP)
	$(PYTHON) -m experiments.import_mfst $(if $(S),--s "$(S)") $(if $(A),--a "$(A)") \
		--config "$(or $(CONFIG),mfst/mfst)" --out "$(OUT)"

# SIAMFC=siamfc-pytorch checkpoint (CONFIG default siamfc/alexnet), or IMAGENET=torchvision weights CONFIG=hsiamfc/...
import-siamfc: $(STAMP)
	$(PYTHON) -m experiments.import_siamfc $(if $(SIAMFC),--siamfc "$(SIAMFC)") $(if $(IMAGENET),--imagenet "$(IMAGENET)") \
		--config "$(or $(CONFIG),siamfc/alexnet)" --out "$(OUT)"

# --- evaluation at scale -----------------------------------------------------------------------
sweep: $(STAMP)
	$(PYTHON) -m experiments.sweep --sweep "$(or $(SWEEP),siamrpnpp_hyperparameters)" --out "$(OUT)/sweep" \
		$(if $(CKPT),--ckpt "$(CKPT)") $(if $(DATA),--data "$(DATA)") $(if $(TRACKER),--tracker "$(TRACKER)") \
		$(if $(BATCH),--batch $(BATCH)) $(EXTRA)

bench: $(STAMP)
	$(PYTHON) -m experiments.bench --configs $(BENCH_CONFIGS) $(EXTRA)

# the README's GPU figures, on a GPU machine: bf16, tracker batch 1 / 8 / 32 in lockstep with the crops on the
# device, training pairs/s; into OUT/gpu_figures.json (with the device's name)
bench-gpu: $(STAMP)
	$(PYTHON) -m experiments.bench --device cuda --precision bf16 --configs $(BENCH_CONFIGS) --batches 8 32 \
		--set crop_on_device=true --json "$(OUT)/gpu_figures.json" $(EXTRA)

# our trackers beside the restated reference trackers (pysot, siamfc-pytorch): same weights, frames and CPU
bench-reference: $(STAMP)
	$(PYTHON) -m experiments.bench_reference $(EXTRA)

# `make ablation PAPER=snscf DATA=/data/OTB100 [BENCH=vot]`: the paper's ablation columns (experiments/ablations/) from
# their run folders under OUT/runs (make train CONFIG=...), side by side with the paper's numbers
ablation: $(STAMP)
	test -n "$(PAPER)" -a -n "$(DATA)" || { echo "make ablation: PAPER=<paper> DATA=<benchmark root> [BENCH=otb|vot]"; exit 2; }
	$(PYTHON) -m experiments.ablation --paper "$(PAPER_NAME)" --data "$(DATA)" --runs "$(OUT)/runs" \
		--out "$(OUT)/ablation-$(PAPER_NAME)" $(if $(BENCH),--benchmark "$(BENCH)") $(EXTRA)

clean:
	rm -rf outputs .pytest_cache
