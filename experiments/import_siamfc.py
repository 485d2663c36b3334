"""Suite checkpoints from published weights that `make eval-*` runs: a siamfc-pytorch SiamFC, or the ImageNet
weights Hierarchical SiamFC tracks with as they are.

    python -m experiments.import_siamfc --siamfc siamfc_alexnet_e50.pth --out siamfc.ckpt          # siamfc/alexnet
    python -m experiments.import_siamfc --imagenet vgg19-dcbb9e9d.pth --config hsiamfc/vgg19 --out vgg19.ckpt

``--siamfc``: a siamfc-pytorch checkpoint (``Net.state_dict()``, maybe under ``state_dict`` or with ``module.``
prefixes, with or without ``num_batches_tracked``) into the module of ``--config`` (default ``siamfc/alexnet``;
any ``siamfc/*`` config of the full-width AlexNet). ``--imagenet``: a torchvision ImageNet state dict (the file
torchvision downloads, e.g. ``vgg19-dcbb9e9d.pth``, ``resnet50-0676ba61.pth``, ``densenet169-b2777c0a.pth``) into
the backbone of an ``hsiamfc/*`` config. ``--out``: a ``.ckpt`` file, or a directory that receives
``<variant>.ckpt``. The result is a Lightning checkpoint of ``lightning_modules.siamfc.SiamFCModule``: ``make
eval-otb CKPT=x.ckpt`` runs its default tracker (``TRACKER=`` another: siamfc, hierarchical, conv3 ...).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from experiments.import_pysot import module_checkpoint, write_checkpoint
from tracking.errors import DataError
from tracking.models.siamfc_import import read_siamfc_checkpoint, siamfc_to_suite

DEFAULT_CONFIG = "siamfc/alexnet"


def convert(out, config: str = DEFAULT_CONFIG, siamfc: str | None = None, imagenet: str | None = None,
            trust_pickle: bool = False) -> Path:
    """Build ``config``'s module, load the weights (``siamfc`` or ``imagenet``, exactly one) and save it."""
    from experiments.config_library import build_model

    if (siamfc is None) == (imagenet is None):
        raise ValueError("give exactly one of --siamfc (a siamfc-pytorch checkpoint) or --imagenet (torchvision "
                         "ImageNet weights for an hsiamfc/* config)")
    module = build_model(config, seed=False)
    if siamfc is not None:
        state = read_siamfc_checkpoint(siamfc, trust_pickle=trust_pickle)
        module.model.load_state_dict(siamfc_to_suite(state, module.model, siamfc))
        origin = {"siamfc-pytorch": str(siamfc), "config": config}
    else:
        if not module.config.backbone.startswith("torchvision_"):
            raise DataError(imagenet, f"--imagenet loads torchvision ImageNet weights; {config}'s backbone is "
                                      f"{module.config.backbone!r} (use an hsiamfc/* config)")
        module.model.backbone.load_pretrained(str(imagenet))
        origin = {"imagenet": str(imagenet), "config": config}
    return write_checkpoint(module_checkpoint(module, origin), out, config)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.import_siamfc", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--siamfc", help="siamfc-pytorch checkpoint (siamfc_alexnet_e50.pth)")
    source.add_argument("--imagenet", help="torchvision ImageNet weights for an hsiamfc/* config's backbone")
    parser.add_argument("--config", default=DEFAULT_CONFIG,
                        help=f"training config (default {DEFAULT_CONFIG}; hsiamfc/<variant> for --imagenet) or a YAML")
    parser.add_argument("--out", required=True, help="output .ckpt file, or a directory")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow arbitrary pickled objects in the file (only for files you trust)")
    args = parser.parse_args(argv)
    try:
        out = convert(args.out, args.config, args.siamfc, args.imagenet, trust_pickle=args.trust_pickle)
    except (DataError, ValueError) as error:
        parser.exit(2, f"import-siamfc: {error}\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
