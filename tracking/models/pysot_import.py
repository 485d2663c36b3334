"""Key mapping between pysot's (the reference implementation's) SiamRPN++ state dicts and ``SiamRPN``'s.

pysot names (``ModelBuilder``):

- ``backbone.*``: ResNet / MobileNetV2 keys as ours; 'alexnetlegacy' keeps its layers in ``features.N``
  (ours: ``layer1``..``layer5``, pysot's 'alexnet' naming).
- ``neck.downsample{2,3,4}.downsample.{0,1}.*`` (one level: ``neck.downsample.downsample.{0,1}.*``) for our
  ``neck.adjust.{i}.{conv,bn}.*``.
- ``rpn_head.rpn{2,3,4}.{cls,loc}.{conv_kernel,conv_search}.{0,1}.*`` and ``.head.{0,1,3}.*`` (MultiRPN; a
  single DepthwiseRPN drops the ``rpn{n}`` level) for our ``head.levels.{i}.{cls,loc}.{template_conv,
  search_conv}.{conv,bn}.*``, ``.fusion.{conv,bn}.*`` and ``.predict.*``; ``rpn_head.{cls,loc}_weight``.
- Up-channel heads: ``rpn_head.{template,search}_{cls,loc}_conv.*`` and ``rpn_head.loc_adjust.*``.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch

from tracking.errors import DataError
from tracking.torch_files import torch_load_options
from tracking.models.backbones import ALEXNET_LEGACY_FEATURES
_DW_PARTS = {"template_conv.conv": "conv_kernel.0", "template_conv.bn": "conv_kernel.1",
             "search_conv.conv": "conv_search.0", "search_conv.bn": "conv_search.1",
             "fusion.conv": "head.0", "fusion.bn": "head.1", "predict": "head.3"}


def _pysot_head_prefix(config, level: int) -> str:
    # pysot builds a bare DepthwiseRPN / UPChannelRPN for its single-level models without neck (AlexNet)
    if len(config.used_layers) == 1 and (config.neck_channels is None or config.head == "up"):
        return "rpn_head."
    return f"rpn_head.rpn{level + 2}."


def suite_key_to_pysot(key: str, config, alexnet_legacy: bool = True) -> str:
    """Our state-dict key -> pysot's (``alexnet_legacy``: AlexNet under 'alexnetlegacy' ``features.N``)."""
    if key.startswith("backbone."):
        match = re.fullmatch(r"backbone\.layer(\d)\.([01])\.(.+)", key)
        if config.backbone == "alexnet_legacy" and alexnet_legacy and match:
            index = ALEXNET_LEGACY_FEATURES[int(match.group(1))][int(match.group(2))]
            return f"backbone.features.{index}.{match.group(3)}"
        return key
    match = re.fullmatch(r"neck\.adjust\.(\d+)\.(conv|bn)\.(.+)", key)
    if match:
        level, part, rest = int(match.group(1)), match.group(2), match.group(3)
        name = "downsample" if len(config.used_layers) == 1 else f"downsample{level + 2}"
        return f"neck.{name}.downsample.{0 if part == 'conv' else 1}.{rest}"
    match = re.fullmatch(r"head\.(cls|loc)_weight", key)
    if match:
        return f"rpn_head.{match.group(1)}_weight"
    match = re.fullmatch(r"head\.levels\.(\d+)\.(.+)", key)
    if match:
        level, rest = int(match.group(1)), match.group(2)
        prefix = _pysot_head_prefix(config, level)
        if config.head == "up":
            return prefix + rest  # same module names as pysot's UPChannelRPN
        branch_match = re.fullmatch(r"(cls|loc)\.(template_conv\.conv|template_conv\.bn|search_conv\.conv|"
                                    r"search_conv\.bn|fusion\.conv|fusion\.bn|predict)\.(\w+)", rest)
        if branch_match:
            branch, part, leaf = branch_match.groups()
            return f"{prefix}{branch}.{_DW_PARTS[part]}.{leaf}"
    raise KeyError(f"no pysot name for parameter {key!r}")


def pysot_key_mapping(model, alexnet_legacy: bool = True) -> dict[str, str]:
    """``{our key: pysot key}`` for every entry of a ``SiamRPN``'s state dict."""
    return {key: suite_key_to_pysot(key, model.config, alexnet_legacy) for key in model.state_dict()}


def suite_to_pysot(model) -> dict[str, torch.Tensor]:
    """Our model's state dict under pysot's names (the layout of a pysot ``model.pth``)."""
    mapping = pysot_key_mapping(model)
    state = model.state_dict()
    return {mapping[key]: value for key, value in state.items()}


def unwrap_pysot_checkpoint(data, source="checkpoint", reference: str = "pysot") -> dict[str, torch.Tensor]:
    """The raw state dict of a ``reference`` (pysot, siamfc-pytorch) file: optionally under ``state_dict``,
    optionally ``module.``-prefixed (saved from a ``DataParallel``)."""
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not data:
        raise DataError(source, f"not a {reference} state dict (expected a dict of tensors, maybe under 'state_dict')")
    out = {}
    for key, value in data.items():
        key = str(key)
        if key.startswith("module."):
            key = key[len("module."):]
        if not isinstance(value, torch.Tensor):
            raise DataError(source, f"entry {key!r} is a {type(value).__name__}, not a tensor")
        out[key] = value
    return out


def pysot_to_suite(pysot_state: dict, model, source="checkpoint") -> dict[str, torch.Tensor]:
    """A pysot state dict renamed for ``model`` (a ``SiamRPN`` of the matching config), shapes checked.

    Missing BatchNorm ``num_batches_tracked`` counters (absent in old PyTorch checkpoints) are filled with the
    model's own; any other missing, unexpected or mis-shaped entry raises ``DataError`` listing them.
    """
    pysot_state = unwrap_pysot_checkpoint(pysot_state, source)
    own = model.state_dict()
    legacy = any(k.startswith("backbone.features.") for k in pysot_state)
    mapping = pysot_key_mapping(model, alexnet_legacy=legacy)
    converted, missing = {}, []
    for ours, theirs in mapping.items():
        if theirs in pysot_state:
            converted[ours] = pysot_state[theirs]
        elif ours.endswith("num_batches_tracked"):
            converted[ours] = own[ours].clone()
        else:
            missing.append(theirs)
    unexpected = sorted(set(pysot_state) - set(mapping.values()))
    config_name = model.config.backbone
    if missing:
        raise DataError(source, f"{len(missing)} weights of this {config_name} network are missing, e.g. {missing[:6]} "
                                f"(is this checkpoint of another config?)")
    if unexpected:
        raise DataError(source, f"{len(unexpected)} entries do not belong to this {config_name} network, e.g. "
                                f"{unexpected[:6]} (is this checkpoint of another config?)")
    wrong = [f"{mapping[k]}: {tuple(v.shape)} (expected {tuple(own[k].shape)})" for k, v in converted.items()
             if v.shape != own[k].shape]
    if wrong:
        raise DataError(source, f"{len(wrong)} weights have the wrong shape for this {config_name} network: {wrong[:4]}")
    return {k: v.to(own[k].dtype) for k, v in converted.items()}


def read_pysot_checkpoint(path, trust_pickle: bool = False, reference: str = "pysot") -> dict[str, torch.Tensor]:
    """Read a ``reference`` (pysot ``model.pth``, siamfc-pytorch ``siamfc_alexnet_e50.pth``) checkpoint; pickled
    non-tensor objects need ``trust_pickle`` (only for trusted files)."""
    path = Path(path)
    options = torch_load_options(path, f"{reference} checkpoint")
    try:
        data = torch.load(path, map_location="cpu", weights_only=not trust_pickle, **options)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a bad file
        hint = "" if trust_pickle else " (if the file is trusted and holds other pickled objects, pass trust_pickle)"
        raise DataError(path, f"cannot read checkpoint ({type(error).__name__}: {error}){hint}") from error
    return unwrap_pysot_checkpoint(data, path, reference)
