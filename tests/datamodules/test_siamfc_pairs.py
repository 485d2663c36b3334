"""SiamFC's crops and augmentation as options of the pair pipeline (siamfc-pytorch transforms.py): one stretch
factor for both axes in [0.95, 1.05], whole-pixel shifts of -4..4 (its random 239 crop of the 247 centre crop), a
random cv2 interpolation per crop, RGB 0-255 crops; the boxes still follow the pixels; the options off draw
exactly what the pipeline drew before they existed."""
import cv2
import numpy as np

from datamodules.augment import RANDOM_INTERPOLATIONS, CropJitter, draw_crop
from datamodules.pairs import PairConfig, PairDataset, SourceSpec
from tracking.crops import context_size

SIAMFC = dict(template_size=127, search_size=239, template_shift=4, template_scale=0.05, search_shift=4,
              search_scale=0.05, same_scale_xy=True, integer_shift=True, interpolation="random", template_blur=0.0,
              search_blur=0.0, template_color=0.0, search_color=0.0, gray=0.0, negative=0.0, image_format="rgb255")


class ColoredRectangles:
    """In-memory source: gray frames with one pure-red rectangle per frame at a known integer box."""

    name = "rectangles"
    default_frame_range = 3

    def __init__(self, tracks=2, frames=4, seed=0):
        rng = np.random.default_rng(seed)
        self.boxes = [np.stack([rng.integers(150, 300, frames), rng.integers(120, 220, frames),
                                rng.integers(60, 120, frames), rng.integers(50, 100, frames)], axis=1).astype(float)
                      for _ in range(tracks)]

    def __len__(self):
        return len(self.boxes)

    def get_sequence_info(self, index):
        valid = np.ones(len(self.boxes[index]), dtype=bool)
        return {"bbox": self.boxes[index], "valid": valid, "visible": valid}

    def get_frames(self, index, positions):
        images, boxes = [], []
        for position in positions:
            x, y, w, h = (int(v) for v in self.boxes[index][position])
            image = np.full((480, 640, 3), 60, dtype=np.uint8)
            image[y:y + h, x:x + w] = (255, 0, 0)
            images.append(image)
            boxes.append(self.boxes[index][position].copy())
        return images, boxes


def test_siamfc_draws_one_stretch_whole_pixel_shifts_and_random_interpolations():
    rng = np.random.default_rng(0)
    jitter = CropJitter(239, shift=4, scale=0.05, same_scale=True, integer_shift=True, random_interpolation=True)
    draws = [draw_crop(jitter, rng) for _ in range(9000)]
    scales = np.array([d.scale_x for d in draws])
    assert all(d.scale_x == d.scale_y for d in draws) and 0.95 <= scales.min() and scales.max() <= 1.05
    offsets = np.array([[d.offset_x, d.offset_y] for d in draws])
    assert np.array_equal(offsets, np.round(offsets)) and set(np.unique(offsets)) == set(range(-4, 5))
    frequencies = np.bincount((offsets + 4).astype(int).ravel(), minlength=9) / offsets.size
    np.testing.assert_allclose(frequencies, 1 / 9, atol=0.015)  # each of the 9 offsets equally likely
    interpolations = np.array([d.interpolation for d in draws])
    assert set(interpolations) == set(RANDOM_INTERPOLATIONS)
    np.testing.assert_allclose(np.bincount(interpolations)[list(RANDOM_INTERPOLATIONS)] / len(draws), 0.2, atol=0.02)


def test_options_off_draw_what_the_pipeline_drew_before():
    jitter = CropJitter(255, shift=64, scale=0.18, blur=0.2, color=1.0)
    draw = draw_crop(jitter, np.random.default_rng(5))
    rng = np.random.default_rng(5)  # the same stream, consumed as before the options existed
    u = rng.uniform(-1.0, 1.0, size=4)
    assert (draw.scale_x, draw.scale_y, draw.offset_x, draw.offset_y) == (1 + u[0] * 0.18, 1 + u[1] * 0.18,
                                                                          u[2] * 64, u[3] * 64)
    assert draw.interpolation == cv2.INTER_LINEAR


def test_siamfc_pairs_are_rgb255_crops_whose_boxes_follow_the_pixels():
    source = ColoredRectangles()
    dataset = PairDataset([SourceSpec(source)], PairConfig(**SIAMFC), videos_per_epoch=16, seed=2)
    seen = set()
    for index in range(16):
        sample = dataset.sample(index)
        seen.add(sample.draws["search"].interpolation)
        assert sample.template.shape == (3, 127, 127) and sample.search.shape == (3, 239, 239)
        for crop, box, size in ((sample.search, sample.search_box, 239), (sample.template, sample.template_box, 127)):
            centre = (box[:2] + box[2:]) / 2
            offset = centre - (size - 1) / 2
            np.testing.assert_allclose(offset, np.round(offset), atol=1e-9)  # whole-pixel shifts ...
            assert np.all(np.abs(offset) <= 4)  # ... of at most 4
            # RGB, 0-255: the red target's centre is (255, 0, 0), the gray background (60, 60, 60)
            row, column = (int(round(v)) for v in centre[::-1])
            np.testing.assert_allclose(crop[:, row, column], [255, 0, 0], atol=1)
            np.testing.assert_allclose(crop[:, row, int(box[0]) - 4], [60, 60, 60], atol=1)
            # the box follows the pixels: red extent along the centre row and column (nearest / Lanczos may move
            # an edge by half a pixel more than bilinear)
            red = (crop[0] > 127.5) & (crop[1] < 127.5)
            columns, rows = np.flatnonzero(red[row]), np.flatnonzero(red[:, column])
            measured = [columns.min() - 0.5, rows.min() - 0.5, columns.max() + 0.5, rows.max() + 0.5]
            np.testing.assert_allclose(measured, box, atol=1.0)
    assert len(seen) >= 3  # several interpolations met


def test_siamfc_stretch_keeps_the_aspect_ratio():
    source = ColoredRectangles(tracks=1, frames=2)
    dataset = PairDataset([SourceSpec(source)], PairConfig(**SIAMFC), videos_per_epoch=8, seed=4)
    for index in range(8):
        sample = dataset.sample(index)
        _, track, position = sample.search_ref
        w, h = source.boxes[track][position][2:]
        box = sample.search_box
        scale = sample.draws["search"].scale_x
        expected = np.array([w, h]) * 127 / context_size(w, h) / scale  # one factor on both axes
        np.testing.assert_allclose([box[2] - box[0], box[3] - box[1]], expected, rtol=1e-9)
        assert sample.draws["search"].scale_y == scale
