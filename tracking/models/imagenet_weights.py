"""The ImageNet weights a paper's training starts from, found in torchvision's cache: ``imagenet_state_dict``.

``pretrained_backbone: imagenet`` in a config resolves, per backbone (``Backbone.imagenet_source()``):

- torchvision's backbones (``resnet50``, ``torchvision_vgg19``, ...): torchvision's file of the weights the papers
  used (``IMAGENET1K_V1`` / ``DEFAULT``), under its own name in ``<torch hub dir>/checkpoints/`` (what
  ``torchvision.models.resnet50(weights=...)`` reads and writes), downloaded there when the machine is online;
- pysot's layouts (``resnet50_pysot``, ``alexnet_legacy``, ``mobilenetv2``): pysot's ``pretrained_models/`` file
  (``resnet50.model``, ``alexnet-bn.pth``, ``mobilenet_v2.pth``: pysot's README links them; there is no URL to
  download from), copied into the same folder.

The hub directory is ``$TORCH_HOME/hub`` (default ``~/.cache/torch/hub``). A missing file that cannot be
downloaded is a ``DataError`` naming the file, where it comes from, and the two ways on: put it there (or give
``pretrained_backbone=PATH``), or train from random weights on purpose with ``pretrained_backbone=none``.
"""
from __future__ import annotations

import socket
from pathlib import Path

import torch

from tracking.errors import DataError

DOWNLOAD_TIMEOUT_S = 30  # a machine without network fails here instead of hanging


def imagenet_weights_file(file_name: str) -> Path:
    """Where the cache keeps ``file_name``: ``<torch hub dir>/checkpoints/<file_name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def imagenet_state_dict(backbone) -> dict:
    """The ImageNet state dict of ``backbone`` (see the module docstring), downloading torchvision's file into
    the cache when it is missing and the machine is online."""
    from tracking.models.backbones import read_state_dict

    file_name, url, origin = backbone.imagenet_source()
    path = imagenet_weights_file(file_name)
    if not path.is_file() and url is not None:
        _download(url, path)
    if not path.is_file():
        reason = "this machine could not download it" if url is not None else "it cannot be downloaded"
        raise DataError(path, f"ImageNet weights of the {type(backbone).__name__} backbone not found ({origin}; "
                              f"{reason}). Put the file there or pass --model.init_args.pretrained_backbone=PATH; "
                              "to train from random weights on purpose: --model.init_args.pretrained_backbone=none")
    return read_state_dict(path)


def _download(url: str, path: Path) -> None:
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), progress=True)  # a temporary file, renamed when whole
    except OSError:  # offline (URLError, timeout), or a server refusing: reported by the caller
        path.unlink(missing_ok=True)
    finally:
        socket.setdefaulttimeout(previous)
