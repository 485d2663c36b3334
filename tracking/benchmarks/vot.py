"""VOT (2016-2019 short-term) reader.

Layout: ``<root>/list.txt`` naming the sequences; ``<root>/<seq>/00000001.jpg`` (or ``<seq>/color/...`` as
the newer toolkit stores them); ``<seq>/groundtruth.txt`` with 8-value polygons (4-value rectangles are turned
into polygons); per-frame tag files ``<tag>.tag`` (or ``<tag>.label``) with one 0/1 per line, which may stop
early (the rest is 0) and may be missing (all 0).

``anno_type="default"`` keeps (N, 8) polygons; ``"rect"`` gives (N, 4) ``xywh`` boxes converted the way VOT
trackers do (``tracking.boxes.polygon_to_xywh``). ``meta["image_size"]`` is ``(height, width)`` of frame 1.
"""
from __future__ import annotations

import numpy as np

from tracking.benchmarks.base import Benchmark, Sequence, read_image
from tracking.benchmarks.files import check_frame_count, check_polygons, list_images, read_box_file, read_label_file
from tracking.boxes import polygon_to_xywh, xywh_to_polygon
from tracking.errors import DataError

VOT_TAGS = ("camera_motion", "illum_change", "motion_change", "occlusion", "size_change")
ANNOTATION_TYPES = ("default", "rect")


class VOT(Benchmark):
    name = "vot"

    def __init__(self, root, anno_type: str = "default"):
        super().__init__(root)
        if anno_type not in ANNOTATION_TYPES:
            raise ValueError(f"anno_type must be one of {ANNOTATION_TYPES}, got {anno_type!r}")
        self.anno_type = anno_type
        list_file = self.root / "list.txt"
        if not list_file.is_file():
            raise DataError(list_file, "VOT sequence list does not exist")
        self.sequence_names = [line.strip() for line in list_file.read_text().splitlines() if line.strip()]
        if not self.sequence_names:
            raise DataError(list_file, "the sequence list is empty")
        for number, name in enumerate(self.sequence_names, start=1):
            if not (self.root / name).is_dir():
                raise DataError(list_file, f"sequence folder {self.root / name} does not exist", line=number)

    def load_sequence(self, name: str) -> Sequence:
        folder = self.root / name
        image_folder = folder / "color" if (folder / "color").is_dir() else folder
        images = list_images(image_folder)
        annotation = folder / "groundtruth.txt"
        regions = read_box_file(annotation, columns=(8, 4))
        if regions.shape[1] == 4:
            check_polygons(xywh_to_polygon(regions), annotation)
            regions = xywh_to_polygon(regions)
        check_polygons(regions, annotation)
        check_frame_count(annotation, len(regions), len(images))

        tags = {}
        tag_names = list(VOT_TAGS) + sorted({p.stem for p in folder.glob("*.tag")} - set(VOT_TAGS))
        for tag in tag_names:
            path = folder / f"{tag}.tag"
            if not path.is_file():
                path = folder / f"{tag}.label"
            if path.is_file():
                tags[tag] = read_label_file(path, length=len(images), pad=True).astype(bool)
            else:
                tags[tag] = np.zeros(len(images), dtype=bool)

        height, width = read_image(images[0]).shape[:2]
        ground_truth = polygon_to_xywh(regions) if self.anno_type == "rect" else regions
        return Sequence(name=name, frames=images, ground_truth=ground_truth, tags=tags,
                        meta={"image_size": (height, width), "annotation_file": annotation, "benchmark": "vot",
                              "anno_type": self.anno_type})
