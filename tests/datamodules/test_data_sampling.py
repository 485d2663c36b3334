"""Pair sampling: exact box bookkeeping under every augmentation, spatial-aware shift distribution, negatives,
determinism and DDP sharding."""
import itertools

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from datamodules.augment import CropJitter, draw_crop
from tracking.network_input import to_network_layout
from datamodules.pairs import PairConfig, PairDataset, PairSampler, SourceSpec
from tracking.crops import context_size

FRAME_HEIGHT, FRAME_WIDTH = 480, 640


class RectangleSource:
    """In-memory source: black frames with one white rectangle per frame at a known integer box.

    Track ``t`` has ``frames`` frames; the rectangle moves and changes size so every frame differs.
    """

    name = "rectangles"
    default_frame_range = 2

    def __init__(self, tracks=3, frames=4, seed=0):
        rng = np.random.default_rng(seed)
        self.boxes = []
        for _ in range(tracks):
            w = rng.integers(70, 160, size=frames)
            h = rng.integers(70, 140, size=frames)
            x = rng.integers(20, FRAME_WIDTH - 180, size=frames)
            y = rng.integers(20, FRAME_HEIGHT - 160, size=frames)
            self.boxes.append(np.stack([x, y, w, h], axis=1).astype(np.float64))

    def __len__(self):
        return len(self.boxes)

    def get_sequence_info(self, index):
        boxes = self.boxes[index]
        valid = np.ones(len(boxes), dtype=bool)
        return {"bbox": boxes, "valid": valid, "visible": valid}

    def get_frames(self, index, frame_ids):
        images, boxes = [], []
        for position in frame_ids:
            x, y, w, h = (int(v) for v in self.boxes[index][position])
            image = np.zeros((FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
            image[y:y + h, x:x + w] = 255
            images.append(image)
            boxes.append(self.boxes[index][position].copy())
        return images, boxes


def measured_extent(crop_chw: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Corners of the white rectangle measured in a crop: 50% crossings along the box's center row/column."""
    intensity = crop_chw.mean(axis=0)
    bright = intensity > 127.5
    center_x, center_y = int(round((box[0] + box[2]) / 2)), int(round((box[1] + box[3]) / 2))
    columns = np.flatnonzero(bright[center_y])
    rows = np.flatnonzero(bright[:, center_x])
    # a pixel center is bright when it lies inside the edge: first bright pixel - 1/2 is the edge (within 1 px)
    return np.array([columns.min() - 0.5, rows.min() - 0.5, columns.max() + 0.5, rows.max() + 0.5])


def test_search_box_matches_the_pixels_under_every_augmentation_combination():
    source = RectangleSource(tracks=3, frames=4)
    combos = list(itertools.product([0.0, 64.0], [0.0, 0.18], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0]))
    checked = 0
    for number, (shift, scale, flip, blur, gray, color) in enumerate(combos):
        config = PairConfig(search_shift=shift, search_scale=scale, search_flip=flip, search_blur=blur,
                            search_color=color, template_flip=flip, template_blur=blur, template_color=color,
                            gray=gray, negative=0.0)
        dataset = PairDataset([SourceSpec(source)], config, videos_per_epoch=8, seed=number)
        for index in range(2):
            sample = dataset.sample(index)
            for crop, box in ((sample.search, sample.search_box), (sample.template, sample.template_box)):
                inside = (box[0] > 1) and (box[1] > 1) and (box[2] < crop.shape[2] - 2) and (box[3] < crop.shape[1] - 2)
                assert inside, "test frames are made so the target stays in the crop"
                # the issue asks for 1 px; measuring by whole pixels is good to 0.5 px, so 0.75 also catches
                # half-pixel convention slips
                np.testing.assert_allclose(measured_extent(crop, box), box, atol=0.75,
                                           err_msg=f"shift={shift} scale={scale} flip={flip} blur={blur} "
                                                   f"gray={gray} color={color}")
                checked += 1
    assert checked == len(combos) * 2 * 2


def test_search_box_is_the_projected_ground_truth():
    """The box equals the frame box mapped by the crop's scale and offset (size w * 127 / s_z / jitter)."""
    source = RectangleSource(tracks=2, frames=3)
    config = PairConfig(negative=0.0)
    dataset = PairDataset([SourceSpec(source)], config, videos_per_epoch=20, seed=3)
    for index in range(20):
        sample = dataset.sample(index)
        _, track, position = sample.search_ref
        x, y, w, h = source.boxes[track][position]
        draw = sample.draws["search"]
        scale = 127 / context_size(w, h)
        expected_w, expected_h = w * scale / draw.scale_x, h * scale / draw.scale_y
        box = sample.search_box
        np.testing.assert_allclose([box[2] - box[0], box[3] - box[1]], [expected_w, expected_h], rtol=1e-9)
        np.testing.assert_allclose([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2],
                                   [127 + draw.offset_x, 127 + draw.offset_y], atol=1e-9)


def test_template_is_centered():
    source = RectangleSource()
    exact = PairDataset([SourceSpec(source)], PairConfig(template_shift=0, template_scale=0, negative=0),
                        videos_per_epoch=10, seed=1)
    jittered = PairDataset([SourceSpec(source)], PairConfig(negative=0), videos_per_epoch=10, seed=1)
    for index in range(10):
        sample = exact.sample(index)
        box = sample.template_box
        np.testing.assert_allclose([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], [63.0, 63.0], atol=1e-9)
        _, track, position = sample.template_ref
        w, h = source.boxes[track][position][2:]
        np.testing.assert_allclose(box[2] - box[0], w * 127 / context_size(w, h), rtol=1e-9)
        np.testing.assert_allclose(measured_extent(sample.template, box), box, atol=1.0)
        box = jittered.sample(index).template_box
        assert abs((box[0] + box[2]) / 2 - 63) <= 4 and abs((box[1] + box[3]) / 2 - 63) <= 4


def _ks_uniform(values: np.ndarray, low: float, high: float) -> float:
    """Kolmogorov-Smirnov distance between the sample and U(low, high)."""
    values = np.sort(values)
    cdf = (values - low) / (high - low)
    n = len(values)
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


def test_shift_is_uniform_over_plus_minus_64():
    source = RectangleSource(tracks=4, frames=4)
    dataset = PairDataset([SourceSpec(source)], PairConfig(negative=0.0, search_blur=0.0),
                          videos_per_epoch=300, seed=11)
    offsets = []
    for index in range(300):
        box = dataset.sample(index).search_box
        offsets += [(box[0] + box[2]) / 2 - 127, (box[1] + box[3]) / 2 - 127]
    offsets = np.array(offsets)
    assert offsets.min() >= -64 - 1e-9 and offsets.max() <= 64 + 1e-9
    assert offsets.min() < -60 and offsets.max() > 60
    n = len(offsets)
    assert _ks_uniform(offsets, -64, 64) < 1.63 / np.sqrt(n)  # KS test at the 1% level
    # the scale jitter does not bias the offset: the same test on many draws of the crop parameters
    rng = np.random.default_rng(5)
    draws = [draw_crop(CropJitter(255, shift=64, scale=0.18), rng) for _ in range(20000)]
    x_offsets = np.array([d.offset_x for d in draws])
    assert _ks_uniform(x_offsets, -64, 64) < 1.63 / np.sqrt(len(x_offsets))
    assert _ks_uniform(np.array([d.offset_y for d in draws]), -64, 64) < 1.63 / np.sqrt(len(x_offsets))
    # a non-uniform sample fails the same test (the test can fail)
    assert _ks_uniform(np.clip(rng.normal(0, 30, 2000), -64, 64), -64, 64) > 1.63 / np.sqrt(2000)


def test_power_of_two_scale_is_snscf_rescaling():
    """SNS-CF: one factor 2 ** U(-a, a) per crop (a = 1/8 exemplar, 1/4 search), log-uniform; boxes follow it."""
    rng = np.random.default_rng(7)
    draws = [draw_crop(CropJitter(255, shift=8, scale=0.25, same_scale=True, power_of_two_scale=True), rng)
             for _ in range(20000)]
    exponents = np.log2([d.scale_x for d in draws])
    assert all(d.scale_x == d.scale_y for d in draws)
    assert exponents.min() >= -0.25 and exponents.max() <= 0.25
    assert _ks_uniform(exponents, -0.25, 0.25) < 1.63 / np.sqrt(len(exponents))
    assert _ks_uniform(np.array([d.offset_x for d in draws]), -8, 8) < 1.63 / np.sqrt(len(draws))
    # the linear law on the same numbers is not log-uniform (the test can tell them apart)
    linear = np.log2(1 + rng.uniform(-1, 1, 20000) * (2 ** 0.25 - 1))
    assert _ks_uniform(linear, -0.25, 0.25) > 1.63 / np.sqrt(len(linear))
    source = RectangleSource(tracks=2, frames=3)
    config = PairConfig(template_shift=8, template_scale=0.125, search_shift=8, search_scale=0.25,
                        same_scale_xy=True, power_of_two_scale=True, negative=0.0, search_blur=0.0)
    dataset = PairDataset([SourceSpec(source)], config, videos_per_epoch=10, seed=4)
    for index in range(10):
        sample = dataset.sample(index)
        for crop, box in ((sample.search, sample.search_box), (sample.template, sample.template_box)):
            np.testing.assert_allclose(measured_extent(crop, box), box, atol=0.75)
        draw = sample.draws["template"]
        assert abs(np.log2(draw.scale_x)) <= 0.125 and abs(draw.offset_x) <= 8


@pytest.mark.parametrize("shift", [0.0, 16.0, 32.0])
def test_smaller_shift_ranges_and_shift_zero_is_always_centered(shift):
    source = RectangleSource()
    dataset = PairDataset([SourceSpec(source)], PairConfig(search_shift=shift, search_flip=0.5, negative=0.3),
                          videos_per_epoch=40, seed=2)
    centers = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]
                        for b in (dataset.sample(i).search_box for i in range(40))])
    assert np.abs(centers - 127).max() <= shift + 1e-9
    if shift == 0:
        np.testing.assert_allclose(centers, 127.0, atol=1e-9)


def test_negative_pairs_come_from_other_tracks():
    source = RectangleSource(tracks=3, frames=3)
    other = RectangleSource(tracks=2, frames=2, seed=5)
    dataset = PairDataset([SourceSpec(source), SourceSpec(other)], PairConfig(negative=1.0),
                          videos_per_epoch=60, seed=4)
    pairs = [dataset.sample(i) for i in range(60)]
    assert all(p.negative for p in pairs)
    assert all(p.template_ref[:2] != p.search_ref[:2] for p in pairs)
    assert {p.search_ref[0] for p in pairs} == {0, 1}  # negatives also drawn from the other source
    positives = PairDataset([SourceSpec(source)], PairConfig(negative=0.0), videos_per_epoch=30, seed=4)
    for index in range(30):
        sample = positives.sample(index)
        assert not sample.negative and sample.template_ref[:2] == sample.search_ref[:2]
        assert abs(sample.template_ref[2] - sample.search_ref[2]) <= source.default_frame_range


def test_negative_rate_follows_its_probability():
    dataset = PairDataset([SourceSpec(RectangleSource(tracks=3, frames=2))],
                          PairConfig(negative=0.2, search_blur=0.0), videos_per_epoch=400, seed=8)
    rate = np.mean([dataset.sample(i).negative for i in range(400)])
    assert 0.14 < rate < 0.26


def test_frame_range_one_image_datasets_pair_the_same_image():
    source = RectangleSource(tracks=3, frames=1)
    dataset = PairDataset([SourceSpec(source, frame_range=1)], PairConfig(negative=0.0), videos_per_epoch=10)
    for index in range(10):
        sample = dataset.sample(index)
        assert sample.template_ref == sample.search_ref


def test_search_after_template_is_mfsts_forward_sampler():
    """MFST's released sampler: the search frame 1..frame_range usable frames after the template, never the same
    frame (pysot's default picks either side and may pick the template itself); gaps cover 1..range."""
    from datamodules.pairs import forward_pair

    source = RectangleSource(tracks=2, frames=12)
    forward = PairDataset([SourceSpec(source, frame_range=4)], PairConfig(negative=0.0, search_after_template=True),
                          videos_per_epoch=400)
    gaps = [forward.sample(index).search_ref[2] - forward.sample(index).template_ref[2] for index in range(400)]
    assert min(gaps) == 1 and max(gaps) == 4 and set(gaps) == {1, 2, 3, 4}
    either = PairDataset([SourceSpec(source, frame_range=4)], PairConfig(negative=0.0), videos_per_epoch=400)
    gaps = [either.sample(index).search_ref[2] - either.sample(index).template_ref[2] for index in range(400)]
    assert min(gaps) < 0 and 0 in gaps
    rng = np.random.default_rng(0)
    assert forward_pair(1, 100, rng) == (0, 0)
    assert all(forward_pair(3, 100, rng) in {(0, 1), (0, 2), (1, 2)} for _ in range(50))  # gap at most n - 1
    from experiments.config_library import resolved_config

    assert resolved_config("mfst/mfst").data.init_args.search_after_template is True


def test_epoch_mixes_sources_by_weight_and_num_use():
    a, b = RectangleSource(tracks=10, frames=1), RectangleSource(tracks=4, frames=1, seed=1)
    dataset = PairDataset([SourceSpec(a, weight=3.0), SourceSpec(b, weight=1.0)], PairConfig(),
                          videos_per_epoch=1000, seed=0)
    sources, tracks = dataset.epoch_picks(0)
    assert (sources == 0).sum() == 750 and (sources == 1).sum() == 250
    assert set(np.bincount(tracks[sources == 0], minlength=10)) == {75}  # every track used evenly
    other_epoch = dataset.epoch_picks(1)
    assert not np.array_equal(other_epoch[1], tracks)
    limited = PairDataset([SourceSpec(a, num_use=3), SourceSpec(b)], PairConfig(), videos_per_epoch=700, seed=0)
    sources, tracks = limited.epoch_picks(0)
    assert (sources == 0).sum() == 300 and len(np.unique(tracks[sources == 0])) == 3  # 3 videos used


def test_same_seed_same_pairs_and_formats_agree():
    source = RectangleSource()
    first = PairDataset([SourceSpec(source)], PairConfig(gray=0.5, search_flip=0.5), videos_per_epoch=5, seed=9)
    again = PairDataset([SourceSpec(source)], PairConfig(gray=0.5, search_flip=0.5), videos_per_epoch=5, seed=9)
    other = PairDataset([SourceSpec(source)], PairConfig(gray=0.5, search_flip=0.5), videos_per_epoch=5, seed=10)
    for index in (0, 3, 7):  # 7 lies in epoch 1
        a, b = first[index], again[index]
        for key in a:
            assert torch.equal(a[key], b[key])
    assert not torch.equal(first[0]["search"], other[0]["search"])
    rgb = PairDataset([SourceSpec(source)], PairConfig(gray=0.5, search_flip=0.5, image_format="rgb_normalized"),
                      videos_per_epoch=5, seed=9)
    bgr_sample, rgb_sample = first.sample(1), rgb.sample(1)
    assert np.array_equal(bgr_sample.search_box, rgb_sample.search_box)
    back_to_rgb = bgr_sample.search[::-1].transpose(1, 2, 0)
    np.testing.assert_allclose(to_network_layout(back_to_rgb, "rgb_normalized"), rgb_sample.search, atol=1e-4)
    with pytest.raises(ValueError, match="image_format"):
        PairConfig(image_format="bgr")


def test_batches_are_the_same_with_worker_processes():
    source = RectangleSource()
    dataset = PairDataset([SourceSpec(source)], PairConfig(), videos_per_epoch=12, seed=3)
    single = list(DataLoader(dataset, batch_size=4, sampler=PairSampler(12)))
    parallel = list(DataLoader(dataset, batch_size=4, sampler=PairSampler(12), num_workers=2,
                               multiprocessing_context="fork"))
    assert len(single) == len(parallel) == 3
    for a, b in zip(single, parallel):
        assert set(a) == {"template", "search", "template_box", "search_box", "negative"}
        assert a["template"].shape == (4, 3, 127, 127) and a["search"].shape == (4, 3, 255, 255)
        assert a["search_box"].dtype == torch.float32 and a["negative"].dtype == torch.bool
        for key in a:
            assert torch.equal(a[key], b[key])


def test_ddp_shards_cover_the_epoch_without_overlap():
    length, world = 100, 4
    shards = [list(PairSampler(length, num_replicas=world, rank=rank)) for rank in range(world)]
    assert all(len(shard) == length // world for shard in shards)
    assert sorted(sum(shards, [])) == list(range(length))
    later = PairSampler(length, num_replicas=world, rank=1)
    later.set_epoch(3)
    assert list(later) == [3 * length + i for i in shards[1]]
    uneven = [set(PairSampler(103, num_replicas=world, rank=r)) for r in range(world)]
    assert sum(len(s) for s in uneven) == 100 and len(set.union(*uneven)) == 100
    validation = PairSampler(10, num_replicas=2, rank=0, fixed=True)
    validation.set_epoch(5)
    assert list(validation) == [0, 2, 4, 6, 8]
    with pytest.raises(ValueError):
        PairSampler(10, num_replicas=2, rank=2)


def test_image_augmentations_are_the_references():
    """Blur: pysot's kernel (vertical line weight w + horizontal line 1 - w, odd size); color: subtract the offset;
    gray: equal channels."""
    import cv2

    from datamodules.augment import RGB_VAR, CropDraw, ImageAugmenter, reference_motion_blur

    rng = np.random.default_rng(0)
    image = rng.uniform(0, 255, size=(64, 80, 3)).astype(np.float32)
    for size, weight in ((5, 0.3), (21, 0.9), (45, 0.5)):
        kernel = np.zeros((size, size))
        kernel[:, size // 2] += weight / size
        kernel[size // 2, :] += (1 - weight) / size
        np.testing.assert_allclose(reference_motion_blur(image, size, weight), cv2.filter2D(image, -1, kernel),
                                   atol=1e-3)
    augmenter = ImageAugmenter()
    crop = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    offset = RGB_VAR @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
    plain = CropDraw(1, 1, 0, 0, flip=False, blur=False, color=None)
    colored = CropDraw(1, 1, 0, 0, flip=False, blur=False, color=offset)
    np.testing.assert_array_equal(augmenter(crop, plain, False, rng), crop.astype(np.float32))
    np.testing.assert_allclose(augmenter(crop, colored, False, rng), crop - offset, atol=1e-4)
    gray = augmenter(crop, plain, True, rng)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    blurred = augmenter(crop, CropDraw(1, 1, 0, 0, flip=False, blur=True, color=None), False, rng)
    assert blurred.std() < crop.astype(np.float32).std() * 0.8
