"""The precision a tracker runs its network in (the ``precision`` tracker value): ``fp32`` (the default, the
reference implementations' precision, so boxes can be compared with theirs), ``bf16`` or ``fp16`` (the network
under ``torch.autocast`` of that dtype; the decoding stays float32/float64), or ``auto``: the fastest native one
of the tracker's device, chosen when the tracker is built and recorded in its parameters (so in the run identity
of its results): bf16 on GPUs that have it, fp16 on older GPUs, bf16 on CPUs with bf16 instructions, else fp32.

Half precision pays only where the device computes it natively: on GPUs (bf16 from Ampere on, fp16 on older ones)
and on CPUs announcing ``avx512_bf16`` / ``amx_bf16``. Elsewhere (e.g. an AVX2-only AMD EPYC) bf16 autocast on the
CPU emulates bf16 and is slower than fp32, so asking for it there warns.
"""
from __future__ import annotations

import functools
import warnings
from pathlib import Path

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def check_precision(precision: str) -> str:
    if precision not in (*PRECISIONS, "auto"):
        raise ValueError(f"precision must be one of {(*PRECISIONS, 'auto')}, got {precision!r}")
    return precision


def resolve_precision(precision: str, device, cpuinfo: str | None = None) -> str:
    """``precision`` itself, or for ``auto`` the fastest native one on ``device`` (module docstring)."""
    if check_precision(precision) != "auto":
        return precision
    device = torch.device(device)
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if device.type == "cpu" and cpu_bf16_flags(cpuinfo) else "fp32"


def cpu_bf16_flags(cpuinfo: str | None = None) -> list[str]:
    """The bf16 instruction sets this CPU announces (``/proc/cpuinfo`` flags; empty where unknown)."""
    if cpuinfo is None:
        cpuinfo = _cpuinfo()
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


@functools.lru_cache(maxsize=1)
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def autocast_dtype(precision: str, device, cpuinfo: str | None = None) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device`` (None for fp32), with a warning where that dtype is not
    native: bf16 on a CPU without bf16 instructions, fp16 on any CPU, bf16 on a GPU without bf16."""
    if check_precision(precision) == "auto":
        raise ValueError("precision='auto' is resolved for a device first (resolve_precision)")
    dtype = PRECISIONS[precision]
    device = torch.device(device)
    if dtype is None:
        return None
    if device.type == "cpu" and (dtype is torch.float16 or not cpu_bf16_flags(cpuinfo)):
        warnings.warn(f"precision={precision} on a CPU without {precision} instructions "
                      f"({' / '.join(BF16_CPU_FLAGS)} for bf16; none for fp16): autocast emulates it, slower "
                      "than fp32 here", stacklevel=3)
    elif device.type == "cuda" and dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
        warnings.warn("precision=bf16 on a GPU without bf16: use precision=fp16", stacklevel=3)
    return dtype
