"""OTB-2013 / OTB-2015 (TB-50, TB-100) reader.

Layout: ``<root>/<Name>/img/0001.jpg ...`` and ``<root>/<Name>/groundtruth_rect.txt`` (x, y, w, h, 1-based,
separated by commas, tabs or spaces). Sequences with two targets have ``groundtruth_rect.1.txt`` and
``groundtruth_rect.2.txt`` and become ``Name.1`` / ``Name.2`` (got10k's naming). Some sequences are annotated
on a sub-range of their images (``OTB_FRAME_RANGES``, from the OTB benchmark's sequence configuration).

Attributes come from ``<root>/attributes.json`` (``{name: {"attr": ["Occlusion", ...], ...}}``) or from the
OTB toolkit's ``<root>/anno/att/<Name>.txt`` (11 comma-separated flags in ``OTB_ATTRIBUTE_NAMES`` order), and
are reported as abbreviations (``"OCC"``, ``"SV"``, ...).

Ground-truth rows are kept as the file has them, also the ``0,0,0,0`` rows of the distributed OTB-100
(``Board``, ``Twinnings``) and NaN rows: got10k's ``ExperimentOTB`` scores such frames (overlap 0 or NaN, the
centre error computed from the degenerate box). Refused are what no toolkit reads: a wrong number of values,
text in a number field, fewer or more lines than images. Tracking needs a valid first box (the runner checks it).
"""
from __future__ import annotations

import json
from pathlib import Path

from tracking.benchmarks.base import Benchmark, Sequence
from tracking.benchmarks.files import (check_frame_count, frame_number, invalid_box_rows, list_images,
                                       read_box_file, read_label_file)
from tracking.errors import DataError

__all__ = ["OTB", "OTB_ATTRIBUTE_NAMES", "OTB_FRAME_RANGES", "read_box_file"]

# Abbreviation -> full name, in the order of the OTB toolkit's per-sequence attribute flags.
OTB_ATTRIBUTE_NAMES = {
    "IV": "Illumination Variation",
    "SV": "Scale Variation",
    "OCC": "Occlusion",
    "DEF": "Deformation",
    "MB": "Motion Blur",
    "FM": "Fast Motion",
    "IPR": "In-Plane Rotation",
    "OPR": "Out-of-Plane Rotation",
    "OV": "Out-of-View",
    "BC": "Background Clutters",
    "LR": "Low Resolution",
}
_ABBREVIATIONS = {full.lower(): short for short, full in OTB_ATTRIBUTE_NAMES.items()}

# The OTB-2015 special cases, in one table: folder -> (first image, last image or None for the last one,
# ground-truth lines to skip at the start, ground-truth file to use when not groundtruth_rect.txt).
# Frames outside the range have no annotation. Tiger1's first 5 annotated frames are left out by the
# benchmark (its "initOmit"), so both its first 5 images and first 5 ground-truth lines are skipped.
OTB_FRAME_RANGES: dict[str, tuple[int, int | None, int, str | None]] = {
    "David": (300, 770, 0, None),
    "Football1": (1, 74, 0, None),
    "Freeman3": (1, 460, 0, None),
    "Freeman4": (1, 283, 0, None),
    "Diving": (1, 215, 0, None),
    "BlurCar1": (247, 988, 0, None),
    "BlurCar3": (3, 359, 0, None),
    "BlurCar4": (18, 397, 0, None),
    "Tiger1": (1, 354, 5, None),
    "Human4": (1, 667, 0, "groundtruth_rect.2.txt"),  # groundtruth_rect.1.txt is empty in the release
}

_OTB2013 = """Basketball Bolt Boy Car4 CarDark CarScale Coke Couple Crossing David David2 David3 Deer Dog1 Doll Dudek
FaceOcc1 FaceOcc2 Fish FleetFace Football Football1 Freeman1 Freeman3 Freeman4 Girl Ironman Jogging Jumping Lemming
Liquor Matrix Mhyang MotorRolling MountainBike Shaking Singer1 Singer2 Skating1 Skiing Soccer Subway Suv Sylvester
Tiger1 Tiger2 Trellis Walking Walking2 Woman""".split()
_TB50 = """Basketball Biker Bird1 BlurBody BlurCar2 BlurFace BlurOwl Bolt Box Car1 Car4 CarDark CarScale ClifBar Couple
Crowds David Deer Diving DragonBaby Dudek Football Freeman4 Girl Human3 Human4 Human6 Human9 Ironman Jump Jumping
Liquor Matrix MotorRolling Panda RedTeam Shaking Singer2 Skating1 Skating2 Skiing Soccer Surfer Sylvester Tiger2
Trellis Walking Walking2 Woman""".split()
_TB100 = """Bird2 BlurCar1 BlurCar3 BlurCar4 Board Bolt2 Boy Car2 Car24 Coke Coupon Crossing Dancer Dancer2 David2
David3 Dog Dog1 Doll FaceOcc1 FaceOcc2 Fish FleetFace Football1 Freeman1 Freeman3 Girl2 Gym Human2 Human5 Human7
Human8 Jogging KiteSurf Lemming Man Mhyang MountainBike Rubik Singer1 Skater Skater2 Subway Suv Tiger1 Toy Trans
Twinnings Vase""".split() + _TB50
OTB_VERSIONS = {2013: _OTB2013, 2015: _TB100, "otb2013": _OTB2013, "otb2015": _TB100, "tb50": _TB50,
                "tb100": _TB100}


def _annotation_files(folder: Path) -> list[Path]:
    """Non-empty ``groundtruth*.txt`` files of a sequence folder, in name order (special table first)."""
    special = OTB_FRAME_RANGES.get(folder.name)
    if special and special[3] and (folder / special[3]).is_file():
        return [folder / special[3]]
    files = sorted(folder.glob("groundtruth*.txt"))
    return [f for f in files if f.read_text().strip()]


class OTB(Benchmark):
    """OTB sequences under ``root``: all folders with ground truth, or those of ``version``
    (2013, 2015, "tb50", "tb100"; None = everything found).

    ``images=False`` reads the ground truth alone (``<Seq>/groundtruth_rect*.txt``, no ``img/`` needed), enough for
    scoring result files; sequences then have no frame paths, and all-NaN (unannotated) rows are allowed.
    """

    name = "otb"

    def __init__(self, root, version: int | str | None = None, images: bool = True):
        super().__init__(root)
        self.with_images = images
        if version is not None and version not in OTB_VERSIONS:
            raise ValueError(f"unknown OTB version {version!r}; use one of {list(OTB_VERSIONS)} or None")
        self.version = version
        if version is None:
            folders = sorted(p for p in self.root.iterdir() if p.is_dir())
        else:
            folders = sorted(self.root / n for n in OTB_VERSIONS[version] if (self.root / n).is_dir())
            self.missing = [n for n in OTB_VERSIONS[version] if not (self.root / n).is_dir()]
        self._annotations: dict[str, tuple[Path, Path]] = {}
        for folder in folders:
            files = _annotation_files(folder)
            for index, path in enumerate(files, start=1):
                name = folder.name if len(files) == 1 else f"{folder.name}.{index}"
                self._annotations[name] = (folder, path)
        self.sequence_names = list(self._annotations)
        if not self.sequence_names:
            which = "sequence folder with a groundtruth*.txt" if version is None else f"OTB {version} sequence"
            raise DataError(self.root, f"no {which} found")
        self._attributes = self._read_attributes_json()

    def _read_attributes_json(self) -> dict[str, list[str]]:
        path = self.root / "attributes.json"
        if not path.is_file():
            return {}
        try:
            table = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise DataError(path, f"invalid JSON: {error.msg}", line=error.lineno) from None
        if not isinstance(table, dict):
            raise DataError(path, "expected an object mapping sequence names to {'attr': [...]} entries")
        result = {}
        for name, entry in table.items():
            names = entry.get("attr") if isinstance(entry, dict) else entry
            if not isinstance(names, list):
                raise DataError(path, f"{name!r}: expected a list of attribute names under 'attr'")
            result[name] = [self._abbreviation(a, path, name) for a in names]
        return result

    @staticmethod
    def _abbreviation(attribute: str, path: Path, sequence: str) -> str:
        if attribute in OTB_ATTRIBUTE_NAMES:
            return attribute
        short = _ABBREVIATIONS.get(str(attribute).lower())
        if short is None:
            raise DataError(path, f"{sequence!r}: unknown OTB attribute {attribute!r}")
        return short

    def _attributes_of(self, name: str, folder: Path) -> list[str]:
        for key in (name, folder.name):
            if key in self._attributes:
                return self._attributes[key]
        flags_path = self.root / "anno" / "att" / f"{folder.name}.txt"
        if flags_path.is_file():
            flags = read_label_file(flags_path, one_line=True)
            if len(flags) != len(OTB_ATTRIBUTE_NAMES):
                raise DataError(flags_path, f"expected {len(OTB_ATTRIBUTE_NAMES)} attribute flags, got {len(flags)}")
            return [a for a, flag in zip(OTB_ATTRIBUTE_NAMES, flags) if flag]
        return []

    def load_sequence(self, name: str) -> Sequence:
        folder, annotation = self._annotations[name]
        images = list_images(folder / "img") if self.with_images else []
        boxes = read_box_file(annotation, columns=4)
        first_line = 1
        special = OTB_FRAME_RANGES.get(folder.name)
        if special is not None:
            first, last, omit, _ = special
            numbers = [frame_number(p) for p in images]
            if None not in numbers:
                images = [p for p, n in zip(images, numbers) if first + omit <= n and (last is None or n <= last)]
            boxes, first_line = boxes[omit:], 1 + omit
        if self.with_images:
            if not len(images):
                raise DataError(folder / "img", "no images in the annotated frame range")
            check_frame_count(annotation, len(boxes), len(images))
        # rows as the file has them, 0,0,0,0 (Board, Twinnings) and NaN included: got10k's ExperimentOTB scores
        # them (overlap 0 / NaN, the centre error from the degenerate box); only the first box must be valid
        # for tracking, which the evaluation runner checks
        return Sequence(name=name, frames=images, ground_truth=boxes,
                        attributes=self._attributes_of(name, folder),
                        meta={"annotation_file": annotation, "benchmark": "otb", "first_line": first_line,
                              "invalid_boxes": int(invalid_box_rows(boxes).sum()),
                              "ground_truth_only": not self.with_images})
