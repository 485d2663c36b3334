"""Inference-only rewrites of a trained network that keep its function: applied to the trackers' copy of a
network, never to the module that trains."""
from __future__ import annotations

import copy
import functools

import torch
import torch.fx
import torch.nn as nn
import torchvision.models.inception as tv_inception
import torchvision.models.resnet as tv_resnet
from torch.nn.utils.fusion import fuse_conv_bn_eval

from tracking.models import backbones

# modules whose forward applies ``bn<k>`` directly to ``conv<k>``'s output (and nothing else uses either)
_CONV_BN_ATTRIBUTE_PAIRS = (backbones.BasicBlock, backbones.Bottleneck, backbones.ResNetBackbone,
                            tv_resnet.BasicBlock, tv_resnet.Bottleneck, tv_resnet.ResNet)
# sequences whose forward is nn.Sequential's (on a cropped input for the centre-aligned downsample)
_SEQUENCES = (nn.Sequential, backbones.CenterAlignedDownsample)


def inference_network(network: nn.Module, fold: bool = True, compile: bool = False,
                      channels_last: bool = False) -> nn.Module:
    """The tracker's copy of ``network`` (``network`` itself when no rewrite is asked for): BatchNorm folded
    (``fold_batchnorm``), its convolution weights in channels-last memory order (``channels_last``: for trackers
    that hand the network NHWC input, so oneDNN does not reorder every weight at every call, e.g. 2.3 ms a frame
    on SiamRPN++ AlexNet; the same values) and/or its search path compiled (``compile_for_inference``)."""
    if not (fold or compile or channels_last):
        return network
    network = fold_batchnorm(network) if fold else copy.deepcopy(network).eval()
    if channels_last:
        network = network.to(memory_format=torch.channels_last)
    if compile:
        compile_for_inference(network)
    return network


def compile_for_inference(network: nn.Module) -> nn.Module:
    """In place, the methods each submodule names in its ``compiled_methods`` class attribute (every backbone its
    ``forward``, SiamRPN++'s RPN head its ``correlate``: nearly all of a tracker's work) replaced by their
    ``frozen_compiled`` selves, on this instance only. Returns ``network``, which must not be copied afterwards
    (a copy's methods would still call this instance's)."""
    for module in network.modules():
        for name in getattr(module, "compiled_methods", ()):
            method = getattr(module, name)
            if not getattr(method, "frozen_compiled", False):
                object.__setattr__(module, name, frozen_compiled(method))
    return network


def frozen_compiled(method):
    """``method`` compiled by ``torch.compile`` (inductor, static shapes) with freezing: under inference mode its
    module's weights become constants of the compiled graph, so inductor prepacks the convolutions' weights once
    and fuses the residual additions, ReLUs and poolings around them (oneDNN post-ops), which eager PyTorch runs as
    separate passes over the feature maps. Every new input shape (the template, the search crops, each lockstep
    batch size) compiles once (seconds to a minute on a CPU); past torch's recompile limit (8 shapes) torch runs it
    eagerly. Inductor's freezing is a compile-time setting, so every call enters it (a shape met later compiles
    frozen too). The same function up to float rounding (about 1e-5 relative on the suite's networks), for the
    weights the module holds at each shape's first call: a compiled copy is for tracking, never trained or reloaded
    afterwards (the online tracker fine-tunes an uncompiled learner)."""
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
    1e-6 relative), one pass less over every feature map. Pairs are taken from plain ``nn.Sequential``s, the ResNet
    blocks and stems whose ``bn<k>`` follows ``conv<k>`` and Inception's conv-BN units; other BatchNorms (e.g.
    DenseNet's, which precede their convolutions) stay as they are; in traced modules (torchvision's feature
    extractors) every BN node fed only by a convolution node."""
    folded = copy.deepcopy(network).eval()
    for graph_module in [m for m in folded.modules() if isinstance(m, torch.fx.GraphModule)]:
        _fold_in_graph(graph_module)
    for parent in list(folded.modules()):
        if type(parent) in _SEQUENCES:
            names = list(parent._modules)
            pairs = list(zip(names, names[1:]))
        elif isinstance(parent, _CONV_BN_ATTRIBUTE_PAIRS):
            pairs = [(f"conv{name[2:]}", name) for name in parent._modules if name.startswith("bn")]
        elif isinstance(parent, tv_inception.BasicConv2d):  # conv -> bn -> relu
            pairs = [("conv", "bn")]
        else:
            continue
        for conv_name, bn_name in pairs:
            conv, bn = parent._modules.get(conv_name), parent._modules.get(bn_name)
            if _foldable(conv, bn):
                parent._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
                parent._modules[bn_name] = nn.Identity()
    return folded


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
