"""Convert a published pysot SiamRPN/SiamRPN++ checkpoint into a suite checkpoint that `make eval-*` runs.

    python -m experiments.import_pysot --pysot model.pth --config siamrpnpp/r50_l234_dwxcorr --out x.ckpt

``--config`` is a training config (``experiments/configs/siamrpnpp/<variant>.yaml``: r50_l234_dwxcorr, its _otb
variant, alex_dwxcorr, mobilev2_l234_dwxcorr, ...), a YAML path, or pysot's experiment name
(``siamrpn_r50_l234_dwxcorr``, or its ``experiments/siamrpn_r50_l234_dwxcorr/config.yaml``) for the configs that
restate one: the module it describes (network and tracker values) receives the weights. ``--out`` is a ``.ckpt`` file, or a directory that receives ``<variant>.ckpt``.
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


# pysot's experiment folders (``experiments/<name>/config.yaml``) -> the suite configs that restate them
PYSOT_EXPERIMENTS = {
    "siamrpn_alex_dwxcorr": "siamrpnpp/alex_dwxcorr",
    "siamrpn_r50_l234_dwxcorr": "siamrpnpp/r50_l234_dwxcorr",
    "siamrpn_r50_l234_dwxcorr_otb": "siamrpnpp/r50_l234_dwxcorr_otb",
    "siamrpn_mobilev2_l234_dwxcorr": "siamrpnpp/mobilev2_l234_dwxcorr",
}


def suite_config(config: str) -> str:
    """``config`` as a suite config: a pysot experiment name (``siamrpn_r50_l234_dwxcorr``) or its config path
    (``.../experiments/siamrpn_r50_l234_dwxcorr/config.yaml``) becomes the suite config restating it; anything
    else is returned as given (a suite config name or YAML path)."""
    path = Path(config)
    name = path.parent.name if path.name == "config.yaml" else config
    return PYSOT_EXPERIMENTS.get(name, config)


def convert(pysot_path, config: str, out, trust_pickle: bool = False) -> Path:
    from experiments.config_library import build_model

    config = suite_config(config)
    module = build_model(config, seed=False)
    state = read_pysot_checkpoint(pysot_path, trust_pickle=trust_pickle)
    return write_checkpoint(build_checkpoint(state, module, source=pysot_path, config=config), out, config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pysot", required=True, help="pysot model.pth (state dict, maybe under 'state_dict')")
    parser.add_argument("--config", required=True,
                        help="training config (siamrpnpp/<variant>), a YAML path, or pysot's experiment name "
                             f"({', '.join(PYSOT_EXPERIMENTS)}) or its config.yaml")
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
