"""Inference-only rewrites of a trained network that keep its function: applied to the tracking copy of a
network (``tracking_copy``), never to the module that trains.

One mechanism says what may be rewritten: a module class declares ``inference_rewrites = Rewrites(...)``, which
of its convolution -> BatchNorm pairs fold (``fold``) and which of its methods compile (``compile``); classes the
suite does not own (torch's, torchvision's) are declared in ``FOREIGN_REWRITES``.
"""
from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import torch
import torch.fx
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# how a module names its convolution -> BatchNorm pairs
FOLD_RULES = ("sequence",  # consecutive children (nn.Sequential's forward)
              "numbered",  # ``conv<k>`` -> ``bn<k>`` attributes (ResNet blocks and stems)
              "conv_bn")   # ``conv`` -> ``bn`` (Inception's conv-BN-ReLU unit)


@dataclass(frozen=True)
class Rewrites:
    """What the tracking copy may rewrite in a module of this class: ``fold`` one of ``FOLD_RULES`` (or None),
    ``compile`` the names of methods compiled with frozen weights (a backbone's ``forward``, an RPN head's
    ``correlate``: nearly all of a tracker's work)."""

    fold: str | None = None
    compile: tuple[str, ...] = ()

    def __post_init__(self):
        if self.fold is not None and self.fold not in FOLD_RULES:
            raise ValueError(f"fold must be one of {FOLD_RULES} or None, got {self.fold!r}")


def _foreign_rewrites() -> dict[type, Rewrites]:
    import torchvision.models.inception as tv_inception
    import torchvision.models.resnet as tv_resnet

    numbered = Rewrites(fold="numbered")
    return {nn.Sequential: Rewrites(fold="sequence"), tv_resnet.BasicBlock: numbered,
            tv_resnet.Bottleneck: numbered, tv_resnet.ResNet: numbered,
            tv_inception.BasicConv2d: Rewrites(fold="conv_bn")}


FOREIGN_REWRITES = _foreign_rewrites()  # exact classes (a subclass may change ``forward``: it declares its own)


def rewrites_of(module: nn.Module) -> Rewrites:
    """The module's declared rewrites (its class's ``inference_rewrites``, else ``FOREIGN_REWRITES``)."""
    declared = getattr(type(module), "inference_rewrites", None)
    return declared if declared is not None else FOREIGN_REWRITES.get(type(module), Rewrites())


def tracking_copy(network: nn.Module, fold: bool = True, compile: bool = False,
                  channels_last: bool = False) -> nn.Module:
    """The copy of ``network`` a tracker runs (``network`` itself when no rewrite is asked for): BatchNorm folded
    (``fold_batchnorm``), its convolution weights in channels-last memory order (``channels_last``: for NHWC
    input, so oneDNN does not reorder every weight at every call; the same values) and/or its declared methods
    compiled (``compile_declared``)."""
    if not (fold or compile or channels_last):
        return network
    network = fold_batchnorm(network) if fold else copy.deepcopy(network).eval()
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    if compile:
        compile_declared(network)
    return network


def compile_declared(network: nn.Module) -> nn.Module:
    """In place, every method a submodule's ``Rewrites.compile`` names replaced by its ``frozen_compiled`` self,
    on this instance only. Returns ``network``, which must not be copied afterwards (a copy's methods would still
    call this instance's)."""
    for module in network.modules():
        for name in rewrites_of(module).compile:
            method = getattr(module, name)
            if not getattr(method, "frozen_compiled", False):
                object.__setattr__(module, name, frozen_compiled(method))
    return network


def frozen_compiled(method):
    """``method`` compiled by ``torch.compile`` (inductor, static shapes) with freezing: under inference mode its
    module's weights become constants of the compiled graph, so inductor prepacks the convolutions' weights once
    and fuses the residual additions, ReLUs and poolings around them (oneDNN post-ops), which eager PyTorch runs as
    separate passes over the feature maps. Every new input shape (the template, the search crops, each lockstep
    batch size) compiles once; past torch's recompile limit (8 shapes) torch runs it eagerly. Inductor's freezing
    is a compile-time setting, so every call enters it. The same function up to float rounding (about 1e-5
    relative), for the weights the module holds at each shape's first call: a compiled copy is for tracking, never
    trained or reloaded afterwards."""
    from torch._inductor import config as inductor_config

    compiled = torch.compile(method, dynamic=False)

    @functools.wraps(method)
    def call(*args, **kwargs):
        with inductor_config.patch(freezing=True):
            return compiled(*args, **kwargs)

    call.frozen_compiled = True
    return call


def fold_batchnorm(network: nn.Module) -> nn.Module:
    """A copy of ``network`` in eval mode with each BatchNorm2d that directly follows a Conv2d folded into that
    convolution (``w' = w * gamma / sqrt(var + eps)``, ``b' = (b - mean) * gamma / sqrt(var + eps) + beta``,
    torch's ``fuse_conv_bn_eval``) and replaced by an identity: the same function up to float rounding (about
    1e-6 relative), one pass less over every feature map. Pairs are those the modules declare (``Rewrites.fold``);
    other BatchNorms (e.g. DenseNet's, which precede their convolutions) stay as they are; in traced modules
    (torchvision's feature extractors) every BN node fed only by a convolution node folds."""
    folded = copy.deepcopy(network).eval()
    for graph_module in [m for m in folded.modules() if isinstance(m, torch.fx.GraphModule)]:
        _fold_in_graph(graph_module)
    for parent in list(folded.modules()):
        for conv_name, bn_name in _fold_pairs(parent):
            conv, bn = parent._modules.get(conv_name), parent._modules.get(bn_name)
            if _foldable(conv, bn):
                parent._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
                parent._modules[bn_name] = nn.Identity()
    return folded


def _fold_pairs(parent: nn.Module) -> list[tuple[str, str]]:
    rule = rewrites_of(parent).fold
    names = list(parent._modules)
    if rule == "sequence":
        return list(zip(names, names[1:]))
    if rule == "numbered":
        return [(f"conv{name[2:]}", name) for name in names if name.startswith("bn")]
    if rule == "conv_bn":
        return [("conv", "bn")]
    return []


def _foldable(conv, bn) -> bool:
    return (isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d and bn.track_running_stats
            and bn.running_mean is not None)


def _fold_in_graph(graph_module: torch.fx.GraphModule) -> None:
    """Conv -> BN pairs of a traced module (torchvision's feature extractors): a BN node whose only input is a
    convolution node used by nothing else takes the folded convolution's place."""
    modules = dict(graph_module.named_modules())
    for node in list(graph_module.graph.nodes):
        if node.op != "call_module" or len(node.args) != 1 or not isinstance(node.args[0], torch.fx.Node):
            continue
        source = node.args[0]
        if source.op != "call_module" or len(source.users) != 1:
            continue
        conv, bn = modules.get(source.target), modules.get(node.target)
        if not _foldable(conv, bn):
            continue
        parent_name, _, conv_name = source.target.rpartition(".")
        parent = graph_module.get_submodule(parent_name) if parent_name else graph_module
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
        modules[source.target] = getattr(parent, conv_name)
        node.replace_all_uses_with(source)
        graph_module.graph.erase_node(node)
    graph_module.graph.lint()
    graph_module.delete_all_unused_submodules()
    graph_module.recompile()
