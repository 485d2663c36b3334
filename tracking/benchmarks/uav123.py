"""UAV123 / UAV20L reader.

Layout: ``<root>/data_seq/UAV123/<folder>/000001.jpg`` (UAV20L shares these folders) and
``<root>/anno/<UAV123|UAV20L>/<name>.txt`` (x, y, w, h, comma-separated; ``NaN,NaN,NaN,NaN`` where the target
is absent, which become NaN rows with ``tags["absent"]``). Rows are kept as the file has them (zero-size boxes
and partly NaN rows too), since got10k's ``ExperimentUAV123`` scores them.

Several UAV123 sequences are sub-ranges of one long recording (``bird1_1`` .. ``bird1_3`` share ``bird1/``).
``UAV_FRAME_RANGES`` is the frame table of the benchmark's ``configSeqs.m``: ``name:first-last``, the folder
being the name without its ``_<k>`` suffix. A sequence not in the table spans its whole folder.
"""
from __future__ import annotations

import re

import numpy as np

from tracking.benchmarks.base import Benchmark, Sequence
from tracking.benchmarks.files import check_frame_count, frame_number, invalid_box_rows, list_images, read_box_file
from tracking.errors import DataError

_UAV123_TABLE = """
bike1:1-3085 bike2:1-553 bike3:1-433 bird1_1:1-253 bird1_2:775-1477 bird1_3:1573-2437 boat1:1-901
boat2:1-799 boat3:1-901 boat4:1-553 boat5:1-505 boat6:1-805 boat7:1-535 boat8:1-685 boat9:1-1399
building1:1-469 building2:1-577 building3:1-829 building4:1-787 building5:1-481 car1_1:1-751
car1_2:751-1627 car1_3:1627-2629 car2:1-1321 car3:1-1717 car4:1-1345 car5:1-745 car6_1:1-487
car6_2:487-1807 car6_3:1807-2953 car6_4:2953-3925 car6_5:3925-4861 car7:1-1033 car8_1:1-1357
car8_2:1357-2575 car9:1-1879 car10:1-1405 car11:1-337 car12:1-499 car13:1-415 car14:1-1327 car15:1-469
car16_1:1-415 car16_2:415-1993 car17:1-1057 car18:1-1207 group1_1:1-1333 group1_2:1333-2515
group1_3:2515-3925 group1_4:3925-4873 group2_1:1-907 group2_2:907-1771 group2_3:1771-2683
group3_1:1-1567 group3_2:1567-2827 group3_3:2827-4369 group3_4:4369-5527 person1:1-799 person2_1:1-1189
person2_2:1189-2623 person3:1-643 person4_1:1-1501 person4_2:1501-2743 person5_1:1-877
person5_2:877-2101 person6:1-901 person7_1:1-1249 person7_2:1249-2065 person8_1:1-1075
person8_2:1075-1525 person9:1-661 person10:1-1021 person11:1-721 person12_1:1-601 person12_2:601-1621
person13:1-883 person14_1:1-847 person14_2:847-1813 person14_3:1813-2923 person15:1-1339 person16:1-1147
person17_1:1-1501 person17_2:1501-2347 person18:1-1393 person19_1:1-1243 person19_2:1243-2791
person19_3:2791-4357 person20:1-1783 person21:1-487 person22:1-199 person23:1-397 truck1:1-463
truck2:1-385 truck3:1-535 truck4_1:1-577 truck4_2:577-1261 uav1_1:1-1555 uav1_2:1555-2377
uav1_3:2473-3469 uav2:1-133 uav3:1-265 uav4:1-157 uav5:1-139 uav6:1-109 uav7:1-373 uav8:1-301
wakeboard1:1-421 wakeboard2:1-733 wakeboard3:1-823 wakeboard4:1-697 wakeboard5:1-1675 wakeboard6:1-1165
wakeboard7:1-199 wakeboard8:1-1543 wakeboard9:1-355 wakeboard10:1-469 car1_s:1-1475 car2_s:1-320
car3_s:1-1300 car4_s:1-830 person1_s:1-1600 person2_s:1-250 person3_s:1-505
"""
_UAV20L_TABLE = """
bike1:1-3085 bird1:1-2437 car1:1-2629 car3:1-1717 car6:1-4861 car8:1-2575 car9:1-1879 car16:1-1993
group1:1-4873 group2:1-2683 group3:1-5527 person2:1-2623 person4:1-2743 person5:1-2101 person7:1-2065
person14:1-2923 person17:1-2347 person19:1-4357 person20:1-1783 uav1:1-3469
"""


def _parse_table(table: str) -> dict[str, tuple[str, int, int]]:
    ranges = {}
    for entry in table.split():
        name, _, span = entry.partition(":")
        first, _, last = span.partition("-")
        ranges[name] = (re.sub(r"_\d+$", "", name), int(first), int(last))
    return ranges


# variant -> sequence name -> (image folder, first frame, last frame), 1-based inclusive.
UAV_FRAME_RANGES = {"UAV123": _parse_table(_UAV123_TABLE), "UAV20L": _parse_table(_UAV20L_TABLE)}


class UAV123(Benchmark):
    name = "uav123"

    def __init__(self, root, variant: str = "UAV123"):
        super().__init__(root)
        if variant.upper() not in UAV_FRAME_RANGES:
            raise ValueError(f"variant must be 'UAV123' or 'UAV20L', got {variant!r}")
        self.variant = variant.upper()
        self.annotation_root = self.root / "anno" / self.variant
        if not self.annotation_root.is_dir():
            raise DataError(self.annotation_root, f"{self.variant} annotation folder does not exist")
        self.sequence_names = sorted(p.stem for p in self.annotation_root.glob("*.txt"))
        if not self.sequence_names:
            raise DataError(self.annotation_root, "no annotation files (<name>.txt)")

    def load_sequence(self, name: str) -> Sequence:
        annotation = self.annotation_root / f"{name}.txt"
        folder_name, first, last = UAV_FRAME_RANGES[self.variant].get(name, (name, None, None))
        folder = self.root / "data_seq" / "UAV123" / folder_name
        images = list_images(folder)
        if first is not None:
            numbers = [frame_number(p) for p in images]
            if None in numbers:
                raise DataError(folder, "image names must be frame numbers (000001.jpg) to select the sub-sequence")
            images = [p for p, n in zip(images, numbers) if first <= n <= last]
            if len(images) != last - first + 1:
                raise DataError(folder, f"{name} needs frames {first}..{last}, found {len(images)} of them")
        boxes = read_box_file(annotation, columns=4)
        check_frame_count(annotation, len(boxes), len(images))
        # every row is kept as the file has it: got10k's ExperimentUAV123 leaves frames with a NaN out of the
        # scores and scores the others, zero-size boxes included
        absent = np.isnan(boxes).all(axis=1)
        return Sequence(name=name, frames=images, ground_truth=boxes, tags={"absent": absent},
                        meta={"annotation_file": annotation, "benchmark": "uav123", "variant": self.variant,
                              "invalid_boxes": int(invalid_box_rows(boxes).sum()),
                              "frame_range": (first, last) if first is not None else None})
