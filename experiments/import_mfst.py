"""An MFST checkpoint from its branches' sources, without training: the paper's two separately trained branches
assembled, or the published backbones with untrained SE blocks.

    python -m experiments.import_mfst --s outputs/runs/mfst/siamfc_se/checkpoints/last.ckpt \\
        --a outputs/runs/mfst/alexnet_se/checkpoints/last.ckpt --out mfst.ckpt            # the paper's MFST
    python -m experiments.import_mfst --s siamfc.ckpt --a bvlc_alexnet.npy --out mfst_backbones.ckpt

``--s`` / ``--a``: what ``MFSTModule`` accepts as ``siamfc_checkpoint`` / ``alexnet_weights``: an MFST checkpoint
holding that branch (its backbone, SE blocks and biases), a suite SiamFC checkpoint (``make train-siamfc``,
``make import-siamfc``) or a siamfc-pytorch file for S, ``bvlc_alexnet.npy`` (or a torchvision file with
``--config mfst/torchvision_alexnet``) for A. ``--config``: whose network and tracker values the checkpoint gets
(default ``mfst/mfst``). ``make eval-otb CKPT=mfst.ckpt`` runs it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from experiments.import_pysot import module_checkpoint, write_checkpoint
from tracking.errors import DataError

DEFAULT_CONFIG = "mfst/mfst"


def convert(out, s: str | None, a: str | None, config: str = DEFAULT_CONFIG) -> Path:
    """Build ``config``'s module with the branches from ``s`` / ``a`` (a branch the config has needs one)."""
    from experiments.config_library import build_model

    overrides = [f"--model.init_args.siamfc_checkpoint={s or ''}", f"--model.init_args.alexnet_weights={a or ''}"]
    module = build_model(config, *overrides, seed=False)
    given = {"s": s, "a": a}
    missing = [b.upper() for b in module.config.branches if not given[b]]
    if missing:
        raise ValueError(f"{config} has branch(es) {', '.join(missing)}: give --{' and --'.join(missing).lower()}")
    unused = [b.upper() for b, source in given.items() if source and b not in module.config.branches]
    if unused:
        raise ValueError(f"{config} has no branch {', '.join(unused)} (its branches: {list(module.config.branches)})")
    module.load_pretrained()
    origin = {"config": config, **{f"branch_{b}": str(source) for b, source in given.items() if source}}
    return write_checkpoint(module_checkpoint(module, origin), out, config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.import_mfst", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--s", help="branch S: an MFST run's checkpoint, a suite SiamFC checkpoint or a "
                                    "siamfc-pytorch file")
    parser.add_argument("--a", help="branch A: an MFST run's checkpoint or bvlc_alexnet.npy (a torchvision file for "
                                    "mfst/torchvision_alexnet)")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"MFST config (default {DEFAULT_CONFIG})")
    parser.add_argument("--out", required=True, help="output .ckpt file, or a directory")
    args = parser.parse_args(argv)
    try:
        out = convert(args.out, args.s, args.a, args.config)
    except (DataError, ValueError) as error:
        parser.exit(2, f"import-mfst: {error}\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
