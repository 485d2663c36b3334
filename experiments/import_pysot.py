"""Convert a published pysot SiamRPN/SiamRPN++ checkpoint into a suite checkpoint that `make eval-*` runs.

    python -m experiments.import_pysot --pysot model.pth --config siamrpnpp/r50_l234_dwxcorr --out x.ckpt

``--config`` is a training config (``experiments/configs/siamrpnpp/<variant>.yaml``: r50_l234_dwxcorr, its _otb
variant, alex_dwxcorr, mobilev2_l234_dwxcorr, ...) or a YAML path: the module it describes (network and tracker
values) receives the weights. ``--out`` is a ``.ckpt`` file, or a directory that receives ``<variant>.ckpt``.
The result is a Lightning checkpoint of ``lightning_modules.siamrpnpp.SiamRPNppModule`` (its state dict,
hyper-parameters with the config, the suite entry), loadable by ``load_from_checkpoint`` and
``lightning_modules.checkpoints.load_tracker``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytorch_lightning as pl
import torch

from tracking.errors import DataError
from tracking.models.pysot_import import pysot_to_suite, read_pysot_checkpoint


def module_checkpoint(module, imported_from: dict) -> dict:
    """A Lightning checkpoint dict of a suite ``module`` as it is (weights, hyper-parameters, the suite entry),
    recording where its weights came from."""
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": pl.__version__,
        "state_dict": module.state_dict(),
        "hparams_name": "kwargs",
        "hyper_parameters": dict(module.hparams),
        "imported_from": imported_from,
    }
    module.on_save_checkpoint(checkpoint)
    return checkpoint


def write_checkpoint(checkpoint: dict, out, config: str) -> Path:
    """Save to ``out`` (a ``.ckpt`` file, or a directory receiving ``<variant>.ckpt``) atomically."""
    out = Path(out)
    if out.suffix != ".ckpt":
        out = out / f"{Path(config).stem}.ckpt"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(out)  # never leave a half-written checkpoint behind
    return out


def build_checkpoint(pysot_state: dict, module, source="checkpoint", config: str = "") -> dict:
    """A Lightning checkpoint dict of ``module`` (a ``SiamRPNppModule``) holding the converted pysot weights."""
    module.model.load_state_dict(pysot_to_suite(pysot_state, module.model, source))
    return module_checkpoint(module, {"pysot": str(source), "config": config})


def convert(pysot_path, config: str, out, trust_pickle: bool = False) -> Path:
    from experiments.train import build_model

    module = build_model(config, seed=False)
    state = read_pysot_checkpoint(pysot_path, trust_pickle=trust_pickle)
    return write_checkpoint(build_checkpoint(state, module, source=pysot_path, config=config), out, config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pysot", required=True, help="pysot model.pth (state dict, maybe under 'state_dict')")
    parser.add_argument("--config", required=True, help="training config (siamrpnpp/<variant>) or a YAML path")
    parser.add_argument("--out", required=True, help="output .ckpt file, or a directory")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow arbitrary pickled objects in the pysot file (only for files you trust)")
    args = parser.parse_args(argv)
    try:
        out = convert(args.pysot, args.config, args.out, trust_pickle=args.trust_pickle)
    except (DataError, ValueError) as error:
        parser.exit(2, f"import-pysot: {error}\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
