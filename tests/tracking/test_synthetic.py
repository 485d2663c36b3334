"""The synthetic video generator and the benchmark-format writers."""
from __future__ import annotations

import numpy as np
import pytest

import tracking.synthetic.video as video_module
from tracking.boxes import polygon_bounds
from tracking.synthetic import generate_video, generate_videos, write_got10k, write_otb, write_vot
from tracking.synthetic.__main__ import main as synthetic_cli
from tracking.synthetic.video import TAG_NAMES
from tracking.synthetic.writers import format_number, got10k_cover_level

SIZE = (64, 80)
# A NaN or overflow while rendering would silently become garbage pixels after the uint8 cast.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


@pytest.fixture(scope="module")
def hard_videos():
    return generate_videos(11, 4, num_frames=30, size=SIZE, difficulty="hard")


def test_same_seed_gives_identical_video():
    first = generate_video(5, num_frames=12, size=SIZE, difficulty="hard")
    second = generate_video(5, num_frames=12, size=SIZE, difficulty="hard")
    assert all(np.array_equal(a, b) for a, b in zip(first.frames, second.frames))
    np.testing.assert_array_equal(first.boxes, second.boxes)
    np.testing.assert_array_equal(first.polygons, second.polygons)
    np.testing.assert_array_equal(first.visible_ratio, second.visible_ratio)
    assert first.attributes == second.attributes
    assert all(np.array_equal(first.tags[k], second.tags[k]) for k in TAG_NAMES)
    other = generate_video(6, num_frames=12, size=SIZE, difficulty="hard")
    assert not np.array_equal(first.frames[0], other.frames[0])


def test_generate_videos_uses_distinct_reproducible_seeds():
    videos = generate_videos(3, 3, num_frames=4, size=SIZE)
    again = generate_videos(3, 3, num_frames=4, size=SIZE)
    assert [v.name for v in videos] == ["synthetic3_000", "synthetic3_001", "synthetic3_002"]
    assert len({v.meta["seed"] for v in videos}) == 3
    assert all(np.array_equal(a.frames[-1], b.frames[-1]) for a, b in zip(videos, again))
    assert not np.array_equal(videos[0].frames[0], videos[1].frames[0])


def test_shapes_and_absence_are_consistent(hard_videos):
    for video in hard_videos:
        n = len(video)
        assert n == 30 and all(f.shape == (*SIZE, 3) and f.dtype == np.uint8 for f in video.frames)
        assert video.boxes.shape == (n, 4) and video.polygons.shape == (n, 8) and video.visible_ratio.shape == (n,)
        assert np.all((video.visible_ratio >= 0) & (video.visible_ratio <= 1))
        absent = video.visible_ratio == 0
        np.testing.assert_array_equal(np.isnan(video.boxes).all(axis=1), absent)
        np.testing.assert_array_equal(np.isnan(video.polygons).all(axis=1), absent)
        np.testing.assert_array_equal(video.tags["absent"], absent)
        assert not absent[0] and video.visible_ratio[0] == 1.0  # a clean first frame to initialise on
        for name in TAG_NAMES:
            assert video.tags[name].dtype == bool and video.tags[name].shape == (n,)
        visible = ~absent
        # The box is the rotated rectangle's bounds clipped to the frame (two-decimal rounding).
        bounds = polygon_bounds(video.polygons[visible])
        x1 = np.clip(bounds[:, 0], 0, SIZE[1])
        y1 = np.clip(bounds[:, 1], 0, SIZE[0])
        x2 = np.clip(bounds[:, 0] + bounds[:, 2], 0, SIZE[1])
        y2 = np.clip(bounds[:, 1] + bounds[:, 3], 0, SIZE[0])
        np.testing.assert_allclose(video.boxes[visible], np.stack([x1, y1, x2 - x1, y2 - y1], 1), atol=0.021)


def test_every_tag_and_attribute_occurs(hard_videos):
    for name in TAG_NAMES:
        assert any(v.tags[name].any() for v in hard_videos), name
    found = set().union(*(v.attributes for v in hard_videos))
    assert {"OCC", "OV", "IV", "SV", "FM", "IPR", "MB", "BC"} <= found


def test_easy_has_no_occlusion_out_of_view_or_rotation():
    for seed in range(3):
        video = generate_video(seed, num_frames=20, size=SIZE, difficulty="easy")
        assert np.all(video.visible_ratio == 1.0)
        assert not video.tags["occlusion"].any() and not video.tags["out_of_view"].any()
        assert "IPR" not in video.attributes and "OCC" not in video.attributes
        corners = video.polygons.reshape(-1, 4, 2)
        np.testing.assert_allclose(corners[:, 0, 1], corners[:, 1, 1], atol=0.011)  # top edge stays horizontal


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="difficulty"):
        generate_video(0, num_frames=5, size=SIZE, difficulty="extreme")
    with pytest.raises(ValueError, match="num_frames"):
        generate_video(0, num_frames=0, size=SIZE)


def test_boxes_match_the_drawn_target(monkeypatch):
    """Render with a flat grey world and a pure magenta target: the magenta pixels must fill the box."""
    real_texture = video_module._render_pattern_texture
    calls = []

    def flat_texture(rng, height, width, hue, pattern):
        real_texture(rng, height, width, hue, pattern)  # keep the random stream as in normal rendering
        calls.append(1)
        color = (255.0, 0.0, 255.0) if len(calls) == 1 else (90.0, 90.0, 90.0)  # target first, then distractors
        return np.broadcast_to(np.float32(color), (height, width, 3)).copy()

    def flat_background(rng, height, width):
        return np.full((height, width, 3), 128.0, np.float32)

    monkeypatch.setattr(video_module, "_render_pattern_texture", flat_texture)
    monkeypatch.setattr(video_module, "_render_background", flat_background)
    checked = 0
    for seed in (1, 2, 4):
        calls.clear()
        video = video_module.generate_video(seed, num_frames=30, size=SIZE, difficulty="hard")
        for index, frame in enumerate(video.frames):
            rgb = frame.astype(int)
            magenta = (rgb[..., 0] - rgb[..., 1] > 40) & (rgb[..., 2] - rgb[..., 1] > 40)
            if video.visible_ratio[index] == 0:
                assert not magenta.any(), (seed, index)
                continue
            if video.tags["motion_blur"][index] or video.visible_ratio[index] < 0.05:
                continue
            ys, xs = np.nonzero(magenta)
            x, y, w, h = video.boxes[index]
            # Every target pixel lies inside the box ...
            assert xs.min() >= np.floor(x) - 1 and xs.max() + 1 <= np.ceil(x + w) + 1, (seed, index)
            assert ys.min() >= np.floor(y) - 1 and ys.max() + 1 <= np.ceil(y + h) + 1, (seed, index)
            if not video.tags["occlusion"][index]:
                # ... and an unoccluded target fills it (up to anti-aliased rotated corners).
                assert xs.min() <= x + 2 and xs.max() + 1 >= x + w - 2, (seed, index)
                assert ys.min() <= y + 2 and ys.max() + 1 >= y + h - 2, (seed, index)
            checked += 1
    assert checked > 50


def test_writers_are_deterministic(tmp_path):
    videos = generate_videos(2, 2, num_frames=5, size=SIZE, difficulty="hard")
    for writer in (write_otb, write_vot, write_got10k):
        writer(videos, tmp_path / "a" / writer.__name__)
        writer(videos, tmp_path / "b" / writer.__name__)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 30
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)


def test_writing_twice_to_one_root_keeps_the_list(tmp_path):
    first = generate_videos(1, 1, num_frames=3, size=SIZE)
    second = generate_videos(2, 1, num_frames=3, size=SIZE)
    write_vot(first, tmp_path)
    write_vot(second, tmp_path)
    assert (tmp_path / "list.txt").read_text().split() == ["synthetic1_000", "synthetic2_000"]


def test_format_number_and_cover_levels():
    assert [format_number(v) for v in (12.0, 12.5, 12.34, -0.001, float("nan"))] == ["12", "12.5", "12.34", "0",
                                                                                     "NaN"]
    levels = got10k_cover_level([0.0, 0.01, 0.15, 0.16, 0.5, 0.9, 0.95, 0.999, 1.0])
    np.testing.assert_array_equal(levels, [0, 1, 1, 2, 4, 6, 7, 7, 8])


def test_cli_writes_a_benchmark(tmp_path, capsys):
    names = synthetic_cli(["--format", "lasot", "--out", str(tmp_path), "--count", "2", "--frames", "4",
                           "--seed", "9", "--size", "48", "64"])
    assert names == ["synthetic-1", "synthetic-2"]
    assert sorted(p.name for p in (tmp_path / "synthetic" / "synthetic-2" / "img").iterdir()) == [
        f"{i:08d}.jpg" for i in range(1, 5)]
    assert (tmp_path / "testing_set.txt").read_text().split() == names
    assert "wrote 2 sequences" in capsys.readouterr().out


def test_cli_writes_training_formats(tmp_path):
    from datamodules.sources import open_source

    names = synthetic_cli(["--format", "vid", "--out", str(tmp_path / "vid"), "--count", "2", "--frames", "4",
                           "--size", "64", "80"])
    assert len(names) == 2
    assert len(open_source("vid", tmp_path / "vid", progress=False)) >= 2
