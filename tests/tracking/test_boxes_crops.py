import cv2
import numpy as np
import pytest
import torch

from tracking import boxes

from tracking.crops import context_size, crop_and_resize, crop_batch, search_size, window_bounds
from tracking.metrics.ope import iou


def test_xywh_corners_round_trip():
    b = np.array([[10.5, 20.0, 30.0, 40.25], [0, 0, 1, 1]])
    c = boxes.xywh_to_corners(b)
    np.testing.assert_allclose(c[0], [10.5, 20.0, 40.5, 60.25])
    np.testing.assert_allclose(boxes.corners_to_xywh(c), b)


def test_center_uses_reference_convention_and_round_trips():
    b = np.array([10.0, 20.0, 31.0, 41.0])
    c = boxes.xywh_to_cxcywh(b)
    np.testing.assert_allclose(c, [25.0, 40.0, 31.0, 41.0])  # x + (w - 1) / 2
    np.testing.assert_allclose(boxes.cxcywh_to_xywh(c), b)


def test_polygon_of_axis_aligned_box_maps_back_with_vot_one_pixel_convention():
    b = np.array([10.0, 20.0, 30.0, 40.0])
    poly = boxes.xywh_to_polygon(b)
    np.testing.assert_allclose(boxes.polygon_bounds(poly), b)
    # area-preserving VOT conversion adds one pixel to each side, keeping the polygon's center
    np.testing.assert_allclose(boxes.polygon_to_xywh(poly), [9.5, 19.5, 31.0, 41.0])


def test_rotated_polygon_keeps_center_and_area():
    cx, cy, w, h, angle = 50.0, 60.0, 40.0, 20.0, np.deg2rad(30)
    corners = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    poly = (corners @ rot.T + [cx, cy]).reshape(-1)
    box = boxes.polygon_to_xywh(poly)
    np.testing.assert_allclose(box[0] + box[2] / 2, cx)
    np.testing.assert_allclose(box[1] + box[3] / 2, cy)
    np.testing.assert_allclose((box[2] - 1) * (box[3] - 1), w * h, rtol=1e-9)


def test_iou_and_validity():
    a = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]])
    np.testing.assert_allclose(iou(a, b), [1.0, 50 / 150, 0.0])
    valid = boxes.is_valid_xywh([[0, 0, 1, 1], [0, 0, 0, 5], [np.nan, 0, 1, 1], [0, 0, -1, 2]])
    assert valid.tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="shape"):
        iou([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="4 values"):
        boxes.xywh_to_corners([1, 2, 3])


def test_context_and_search_sizes():
    assert context_size(40, 20) == pytest.approx(np.sqrt((40 + 30) * (20 + 30)))
    assert search_size(40, 20) == pytest.approx(np.sqrt(70 * 50) * 255 / 127)
    assert window_bounds(50.0, 11) == (44, 54)  # floor(50 - 6 + 0.5) = 44, spans 11 pixels


def _reference_crop(image, center, size, out):
    """Straightforward restatement of the reference: pad the whole image with its mean, slice, resize."""
    mean = image.mean(axis=(0, 1))
    pad = int(size) + 2
    padded = np.empty((image.shape[0] + 2 * pad, image.shape[1] + 2 * pad, 3), image.dtype)
    padded[...] = mean.astype(image.dtype)
    padded[pad:-pad, pad:-pad] = image
    x0 = int(np.floor(center[0] - (size + 1) / 2 + 0.5)) + pad
    y0 = int(np.floor(center[1] - (size + 1) / 2 + 0.5)) + pad
    patch = padded[y0:y0 + size, x0:x0 + size]
    return cv2.resize(patch, (out, out))


@pytest.mark.parametrize("center,size", [((40.0, 30.0), 31), ((3.0, 5.0), 41), ((75.5, 58.2), 63), ((40, 30), 127)])
def test_numpy_crop_equals_reference_including_mean_padding(center, size):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    out = crop_and_resize(image, center, size, 25)
    np.testing.assert_array_equal(out, _reference_crop(image, center, size, 25))
    full = crop_and_resize(image, center, size, size)  # no resize: exact pixels
    assert full.shape == (size, size, 3)


def test_crop_fills_outside_with_channel_mean():
    image = np.zeros((20, 20, 3), np.uint8)
    image[..., 0] = 200
    image[:10, :, 1] = 100  # channel mean 50
    out = crop_and_resize(image, (0.0, 0.0), 11, 11)
    assert out[0, 0].tolist() == [200, 50, 0]  # outside pixel = per-channel mean


@pytest.mark.parametrize("out_size", [15, 47])  # downscale and upscale
def test_batched_torch_crop_matches_numpy(out_size):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 50, 70, 3), dtype=np.uint8)
    centers = np.array([[35.0, 25.0], [2.0, 48.0], [60.3, 10.7]])
    sizes = np.array([31.0, 40.0, 25.0])
    expected = np.stack([crop_and_resize(images[i], centers[i], sizes[i], out_size).astype(np.float32)
                         for i in range(3)])
    # the numpy crop writes the mean into a uint8 canvas, which truncates it
    fill = torch.from_numpy(np.floor(images.mean(axis=(1, 2))))
    got = crop_batch(torch.from_numpy(images).permute(0, 3, 1, 2).float(), torch.from_numpy(centers),
                     torch.from_numpy(sizes), out_size, fill=fill)
    got = got.permute(0, 2, 3, 1).numpy()
    # cv2 rounds its bilinear weights to 11-bit fixed point on uint8 images
    assert np.abs(got - expected).max() <= 1.01
    assert np.abs(got - expected).mean() < 0.3


def test_network_input_layouts():
    from tracking.network_input import to_network_layout

    pixel = np.array([[[255, 128, 0]]], dtype=np.uint8)  # one RGB pixel
    np.testing.assert_array_equal(to_network_layout(pixel, "bgr255")[:, 0, 0], [0, 128, 255])
    expected = (np.array([1.0, 128 / 255, 0.0]) - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    np.testing.assert_allclose(to_network_layout(pixel, "rgb_normalized")[:, 0, 0], expected, rtol=1e-5)
    # siamfc-pytorch's input: RGB as it is, 0-255
    np.testing.assert_array_equal(to_network_layout(pixel, "rgb255")[:, 0, 0], [255, 128, 0])
    with pytest.raises(ValueError, match="image_format"):
        to_network_layout(pixel, "yuv255")


@pytest.mark.parametrize("image_format", ["bgr255", "rgb_normalized", "rgb255"])
def test_torch_network_layout_is_the_numpy_one(image_format):
    from tracking.inference.crops import network_layout_torch
    from tracking.network_input import to_network_layout

    crops = np.random.default_rng(0).integers(0, 256, (2, 9, 7, 3), dtype=np.uint8)
    expected = np.stack([to_network_layout(crop, image_format) for crop in crops])
    got = network_layout_torch(torch.from_numpy(crops).permute(0, 3, 1, 2).float(), image_format)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_padded_frames_fill_each_frame_with_its_own_colour():
    from tracking.crops import padded_frames

    small, large = np.full((2, 3, 3), 7, np.uint8), np.full((4, 5, 3), 9, np.uint8)
    batch = padded_frames([small, large], [[1, 2, 3], [4, 5, 6]], "cpu")
    assert tuple(batch.shape) == (2, 3, 4, 5)
    assert bool((batch[0, :, :2, :3] == 7).all()) and bool((batch[1] == 9).all())
    assert batch[0, :, 3, 4].tolist() == [1, 2, 3] and batch[0, :, 0, 4].tolist() == [1, 2, 3]


def test_several_windows_per_image_are_those_of_the_image_repeated():
    from tracking.crops import resample_windows

    images = torch.rand(2, 3, 40, 50) * 255
    start = torch.tensor([[3.0, -4.0], [10.0, 5.0], [-7.0, 20.0], [30.0, 1.0], [0.0, 0.0], [44.0, 33.0]])
    extent = torch.tensor([[20.0, 20.0], [9.0, 9.0], [31.0, 31.0], [15.0, 15.0], [50.0, 40.0], [12.0, 12.0]])
    fill = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    together = resample_windows(images, start, extent, 17, fill)  # 3 windows per image, one pass
    repeated = resample_windows(images.repeat_interleave(3, dim=0), start, extent, 17, fill.repeat_interleave(3, 0))
    assert together.shape == (6, 3, 17, 17)
    torch.testing.assert_close(together, repeated)
    with pytest.raises(ValueError, match="shared evenly"):
        resample_windows(images, start[:5], extent[:5], 17, fill)
