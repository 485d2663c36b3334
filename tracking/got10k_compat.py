"""got10k 0.1.3 made usable here: offline, on numpy 2, with its VOT report fixed.

got10k is the reference our metrics are checked against, so it is patched as little as possible and each
patch says why. All patches are applied once, by :func:`import_got10k`; every other function calls it first.

- ``six``: got10k imports it without declaring it; the suite declares it in pyproject (nothing to patch).
- ``np.NaN``: removed in numpy 2 and still used by got10k's VOT experiment (``start_time = np.NaN`` when
  running, ``np.NaN`` in ``_calc_iou``) -> the alias is restored before got10k is imported.
- ``ExperimentVOT._calc_iou``: builds ``np.array`` from a mix of ``(1,)`` arrays and NaN scalars, which numpy
  >= 1.24 refuses (ragged array) -> replaced by the same computation returning one float per frame.
- Downloads: ``ExperimentOTB`` and ``ExperimentVOT`` construct their datasets with ``download=True`` (OTB then
  fetches every sequence that is not in the root) -> the dataset classes those experiments use are replaced by
  subclasses that never download, so an experiment only reads the existing root.
"""
from __future__ import annotations

import numpy as np

_PATCHED = False


def _restore_numpy_aliases() -> None:
    # numpy 2 raises AttributeError for np.NaN through its module __getattr__; a real attribute wins.
    if "NaN" not in np.__dict__:
        np.NaN = np.nan


def _vot_calc_iou(self, boxes, anno, bound, burnin=False):
    """got10k's ``ExperimentVOT._calc_iou`` with a float per frame instead of a ragged array.

    Same semantics as the original: with ``burnin``, every initialisation frame (record ``[1]``) and the
    ``self.burnin - 1`` frames after it are blanked; frames whose record is a code (``0``, ``1``, ``2``) are NaN;
    otherwise the polygon IoU with the ground truth, both clipped to the image ``bound``.
    """
    from got10k.utils.metrics import poly_iou

    if burnin:
        boxes = boxes.copy()
        init_indices = [i for i, box in enumerate(boxes) if box == [1.0]]
        for index in init_indices:
            boxes[index:index + self.burnin] = [[0]] * self.burnin
    ious = [
        float(poly_iou(np.array(record), gt, bound)[0]) if len(record) > 1 else np.nan
        for record, gt in zip(boxes, anno)
    ]
    return np.array(ious, dtype=float)


def _never_download(dataset_class):
    """A subclass of a got10k dataset class whose constructor ignores ``download=True``."""

    class NoDownload(dataset_class):
        def __init__(self, *args, **kwargs):
            kwargs["download"] = False
            super().__init__(*args, **kwargs)

    NoDownload.__name__ = dataset_class.__name__  # got10k prints type(dataset).__name__
    NoDownload.__qualname__ = dataset_class.__qualname__
    return NoDownload


def import_got10k():
    """Apply the patches above (idempotent) and return the ``got10k`` package."""
    global _PATCHED
    _restore_numpy_aliases()
    import got10k
    import got10k.experiments  # noqa: F401  (loads the experiment modules patched below)
    from got10k.experiments import otb as otb_module
    from got10k.experiments import vot as vot_module

    if not _PATCHED:
        vot_module.ExperimentVOT._calc_iou = _vot_calc_iou
        otb_module.OTB = _never_download(otb_module.OTB)
        vot_module.VOT = _never_download(vot_module.VOT)
        _PATCHED = True
    return got10k


def got10k_tracker_base():
    """got10k's ``Tracker`` base class (``tracking.tracker.as_got10k_tracker`` subclasses it)."""
    import_got10k()
    from got10k.trackers import Tracker

    return Tracker


def experiment_otb(root, version=2015, result_dir="results", report_dir="reports"):
    """got10k's ``ExperimentOTB`` over an existing OTB root (never downloads).

    got10k keeps only the sequences of ``version``'s official list that exist in ``root`` and, when scoring,
    reads ``<result_dir>/OTB<version>/<tracker>/<Seq>.txt`` and needs each sequence's images (it checks that
    the number of images equals the number of ground-truth rows).
    """
    import_got10k()
    from got10k.experiments import ExperimentOTB

    return ExperimentOTB(str(root), version=version, result_dir=str(result_dir), report_dir=str(report_dir))


def experiment_vot(root, version=2018, experiments=("supervised",), read_image=True,
                   result_dir="results", report_dir="reports"):
    """got10k's ``ExperimentVOT`` over an existing VOT root (``list.txt`` + sequence folders; never downloads).

    Results are read from ``<result_dir>/VOT<version>/<tracker>/baseline/<seq>/<seq>_NNN.txt``.
    """
    import_got10k()
    from got10k.experiments import ExperimentVOT

    return ExperimentVOT(str(root), version=version, read_image=read_image, experiments=experiments,
                         result_dir=str(result_dir), report_dir=str(report_dir))


def experiment_got10k(root, subset="val", result_dir="results", report_dir="reports"):
    """got10k's ``ExperimentGOT10k`` over ``<root>/<subset>/list.txt`` (GOT-10k never downloads).

    Results are read from ``<result_dir>/GOT-10k/<tracker>/<seq>/<seq>_NNN.txt``.
    """
    import_got10k()
    from got10k.experiments import ExperimentGOT10k

    return ExperimentGOT10k(str(root), subset=subset, result_dir=str(result_dir), report_dir=str(report_dir))


def experiment_uav123(root, version="UAV123", result_dir="results", report_dir="reports"):
    """got10k's ``ExperimentUAV123`` (``<root>/anno/<version>/<seq>.txt``; frames with NaN ground truth are
    left out of its scores). Results are read from ``<result_dir>/<version>/<tracker>/<seq>.txt``."""
    import_got10k()
    from got10k.experiments import ExperimentUAV123

    return ExperimentUAV123(str(root), version=version, result_dir=str(result_dir), report_dir=str(report_dir))
