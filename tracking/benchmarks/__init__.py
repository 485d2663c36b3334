"""Readers of the tracking benchmarks' on-disk layouts (no downloads, ever): OTB, VOT, GOT-10k, LaSOT, UAV123."""
from __future__ import annotations

from tracking.benchmarks.base import Benchmark, Sequence, read_image
from tracking.benchmarks.files import read_box_file, read_label_file
from tracking.benchmarks.got10k import GOT10k
from tracking.benchmarks.lasot import LaSOT
from tracking.benchmarks.otb import OTB, OTB_ATTRIBUTE_NAMES
from tracking.benchmarks.uav123 import UAV123
from tracking.benchmarks.vot import VOT

BENCHMARKS = {"otb": OTB, "vot": VOT, "got10k": GOT10k, "lasot": LaSOT, "uav123": UAV123}


def open_benchmark(kind: str, root, **options) -> Benchmark:
    """Open the benchmark of ``kind`` (otb, vot, got10k, lasot, uav123) at ``root``; ``options`` go to its
    reader (``version=`` for OTB, ``anno_type=`` for VOT, ``subset=`` for GOT-10k/LaSOT, ``variant=`` for UAV123)."""
    key = kind.lower().replace("-", "").replace("_", "")
    if key not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {kind!r}; use one of {sorted(BENCHMARKS)}")
    return BENCHMARKS[key](root, **options)


__all__ = ["BENCHMARKS", "Benchmark", "GOT10k", "LaSOT", "OTB", "OTB_ATTRIBUTE_NAMES", "Sequence", "UAV123", "VOT",
           "open_benchmark", "read_box_file", "read_image", "read_label_file"]
