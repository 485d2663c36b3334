"""Convert a published pysot SiamRPN/SiamRPN++ checkpoint into a suite checkpoint that `make eval-*` runs.

    python -m experiments.import_pysot --pysot model.pth --config siamrpn_r50_l234_dwxcorr --out x.ckpt

``--config`` is a preset of ``tracking.models.config.PRESETS`` (siamrpn_r50_l234_dwxcorr, its _otb variant,
siamrpn_alex_dwxcorr, siamrpn_mobilev2_l234_dwxcorr, ...) or a YAML file of config keys (may name a
``preset``). ``--out`` is a ``.ckpt`` file, or a directory that receives ``<config name>.ckpt``.
The result is a Lightning checkpoint of ``lightning_modules.siamrpnpp.SiamRPNppModule`` (its state dict,
hyper-parameters with the config, the suite entry), loadable by ``load_from_checkpoint`` and
``lightning_modules.checkpoints.load_tracker``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytorch_lightning as pl
import torch
import yaml

from tracking.errors import DataError
from tracking.models.config import PRESETS, SiamRPNConfig, config_from_dict
from tracking.models.pysot_import import pysot_to_suite, read_pysot_checkpoint


def load_config(name_or_path: str) -> SiamRPNConfig:
    if name_or_path in PRESETS:
        return PRESETS[name_or_path]
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        values = yaml.safe_load(path.read_text()) or {}
        if not isinstance(values, dict):
            raise DataError(path, "expected a mapping of SiamRPN config keys")
        values = values.get("model", values)  # a full training config: its model section
        try:
            return config_from_dict(values, source=str(path))
        except ValueError as error:
            raise DataError(path, str(error)) from None
    raise ValueError(f"unknown config {name_or_path!r}: give a preset ({', '.join(sorted(PRESETS))}) or a YAML file")


def build_checkpoint(pysot_state: dict, config: SiamRPNConfig, source="checkpoint") -> dict:
    """A Lightning checkpoint dict of ``SiamRPNppModule`` holding the converted pysot weights."""
    from lightning_modules.siamrpnpp import SiamRPNppModule

    module = SiamRPNppModule(model=config)
    module.model.load_state_dict(pysot_to_suite(pysot_state, module.model, source))
    checkpoint = {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": pl.__version__,
        "state_dict": module.state_dict(),
        "hparams_name": "kwargs",
        "hyper_parameters": dict(module.hparams),
        "imported_from": {"pysot": str(source), "config": config.name},
    }
    module.on_save_checkpoint(checkpoint)
    return checkpoint


def convert(pysot_path, config: str | SiamRPNConfig, out, trust_pickle: bool = False) -> Path:
    config = config if isinstance(config, SiamRPNConfig) else load_config(config)
    out = Path(out)
    if out.suffix != ".ckpt":
        out = out / f"{config.name}.ckpt"
    state = read_pysot_checkpoint(pysot_path, trust_pickle=trust_pickle)
    checkpoint = build_checkpoint(state, config, source=pysot_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    torch.save(checkpoint, partial)
    partial.replace(out)  # never leave a half-written checkpoint behind
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pysot", required=True, help="pysot model.pth (state dict, maybe under 'state_dict')")
    parser.add_argument("--config", required=True, help=f"preset name ({', '.join(sorted(PRESETS))}) or YAML")
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
