"""SNS-CF's correlation filter (Eqs. 6-9): the Fourier solution against the direct ridge regression over all circular
shifts, the label it reproduces, gradients against finite differences, HCF's normalisation, the peak's direction,
the adaptive update and the resampling onto the anchor grid."""
import numpy as np
import pytest
import torch

from tracking.models.correlation_filter import (FilterSpectrum, absolute_lambda, correlation_filter_loss,
                                                fast_fft_size, feature_cells, filter_response, gaussian_label,
                                                hann_window, interpolate, learn_filter, pad_for_fft,
                                                sample_on_anchor_grid, spatial_filter)


def shifted(x: np.ndarray, m: int, n: int) -> np.ndarray:
    """Eq. 5's circular shift as Eq. 7 uses it: the sample with cell (m, n) moved to the origin."""
    return np.roll(x, shift=(-m, -n), axis=(-2, -1))


def direct_ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    """Eq. 7 solved directly: one row per circular shift (M N rows, D M N unknowns), normal equations."""
    channels, rows, columns = x.shape
    design = np.stack([shifted(x, m, n).ravel() for m in range(rows) for n in range(columns)])
    gram = design.T @ design + ridge * np.eye(design.shape[1])
    return np.linalg.solve(gram, design.T @ y.ravel()).reshape(channels, rows, columns)


def test_fourier_solution_equals_direct_ridge_regression_over_all_circular_shifts():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 6))      # D = 3 channels on a 5 x 6 map (odd and even sides)
    y = rng.normal(size=(5, 6))         # any label: the equality does not depend on its shape
    z = rng.normal(size=(3, 5, 6))
    ridge = 0.7
    expected = direct_ridge(x, y, ridge)
    spectrum = learn_filter(torch.from_numpy(x)[None], torch.from_numpy(y)[None])
    w = spatial_filter(spectrum, ridge)[0].numpy()
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-10)
    # the response (Eq. 9) at (m, n) is the filter's inner product with the shifted search sample
    direct_response = np.array([[np.sum(expected * shifted(z, m, n)) for n in range(6)] for m in range(5)])
    response = filter_response(spectrum, torch.from_numpy(z)[None], ridge)[0].numpy()
    np.testing.assert_allclose(response, direct_response, rtol=0, atol=1e-10)


def test_filter_reproduces_its_label_up_to_the_ridge_term():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(2, 4, 9, 9)))
    label = gaussian_label((9, 9), torch.tensor([[4.0, 4.0], [2.5, 6.0]], dtype=torch.float64),
                           torch.tensor([1.0, 1.5], dtype=torch.float64))
    spectrum = learn_filter(x, label)
    for ridge in (1e-3, 0.5, 20.0):
        response = filter_response(spectrum, x, ridge)
        # exactly Y E / (E + lambda): the residual y - f is the ridge term's share F^-1(Y lambda / (E + lambda))
        energy = spectrum.energy[:, 0]
        shrunk = torch.fft.irfft2(torch.fft.rfft2(label) * energy / (energy + ridge), s=(9, 9))
        torch.testing.assert_close(response, shrunk, rtol=0, atol=1e-12)
        # and within the bound |Y lambda / (E + lambda)| <= lambda / (min E + lambda) |Y| (Parseval)
        bound = ridge / (energy.amin(dim=(1, 2)) + ridge) * label.norm(dim=(1, 2))
        assert torch.all((response - label).norm(dim=(1, 2)) <= bound + 1e-12)
    assert torch.allclose(filter_response(spectrum, x, 1e-9), label, atol=1e-6)
    assert (filter_response(spectrum, x, 20.0) - label).abs().max() > 1e-3  # the ridge term is visible


def test_gradients_agree_with_finite_differences():
    rng = np.random.default_rng(2)
    template = torch.from_numpy(rng.normal(size=(2, 2, 3, 3))).requires_grad_(True)
    search = torch.from_numpy(rng.normal(size=(2, 2, 5, 5))).requires_grad_(True)
    centers = torch.tensor([[1.0, 1.2], [0.8, 1.0]], dtype=torch.float64)
    sizes = torch.tensor([[2.0, 3.0], [2.5, 2.0]], dtype=torch.float64)
    search_centers = torch.tensor([[2.4, 1.9], [2.0, 2.5]], dtype=torch.float64)
    valid = torch.tensor([True, True])

    def loss(t, s):
        return correlation_filter_loss(t, s, centers, sizes, search_centers, sizes, valid, ridge_lambda=0.05,
                                       sigma_factor=0.4)

    assert torch.autograd.gradcheck(loss, (template, search), eps=1e-6, atol=1e-6, rtol=1e-4)
    # the filter and response alone, with respect to the training and the search features
    label = gaussian_label((5, 5), search_centers, torch.tensor([1.0, 0.7], dtype=torch.float64))
    assert torch.autograd.gradcheck(lambda x, z: filter_response(learn_filter(x, label), z, 0.3),
                                    (search.detach().clone().requires_grad_(True),
                                     torch.from_numpy(rng.normal(size=(2, 2, 5, 5))).requires_grad_(True)),
                                    eps=1e-6, atol=1e-6, rtol=1e-4)


def test_relative_lambda_is_hcf_normalisation():
    """HCF: kf = sum|X|^2 / numel, alphaf = yf / (kf + lambda), response = ifft2(alphaf .* sum(zf .* conj(xf)) / numel)."""
    rng = np.random.default_rng(3)
    x, z = rng.normal(size=(4, 8, 10)), rng.normal(size=(4, 8, 10))
    y = rng.normal(size=(8, 10))
    xf, zf, yf = np.fft.fft2(x), np.fft.fft2(z), np.fft.fft2(y)
    kf = np.sum(np.abs(xf) ** 2, axis=0) / x.size
    kzf = np.sum(zf * np.conj(xf), axis=0) / x.size
    hcf = np.real(np.fft.ifft2(yf / (kf + 1e-4) * kzf))
    xt = torch.from_numpy(x)[None]
    ours = filter_response(learn_filter(xt, torch.from_numpy(y)[None]), torch.from_numpy(z)[None],
                           absolute_lambda(1e-4, xt))
    np.testing.assert_allclose(ours[0].numpy(), hcf, rtol=0, atol=1e-10)
    assert absolute_lambda(1e-4, xt) == pytest.approx(1e-4 * 4 * 8 * 10)


def test_peak_follows_the_target():
    """The conjugation of Eq. 9 checked: a target moved by t moves the response peak by t (not by -t)."""
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.normal(size=(1, 8, 15, 15)))
    label = gaussian_label((15, 15), torch.tensor([[7.0, 7.0]], dtype=torch.float64),
                           torch.tensor([1.0], dtype=torch.float64))
    spectrum = learn_filter(x, label)
    moved = torch.roll(x, shifts=(2, -3), dims=(-2, -1))  # 2 cells down, 3 cells left
    response = filter_response(spectrum, moved, 1e-3)[0]
    row, column = divmod(int(response.argmax()), 15)
    assert (row, column) == (9, 4)


def test_gaussian_label_and_window():
    label = gaussian_label((5, 7), torch.tensor([[3.0, 2.0]]), torch.tensor([2.0]))
    assert label.shape == (1, 5, 7) and label[0, 2, 3] == 1.0
    assert label[0, 2, 5].item() == pytest.approx(np.exp(-4 / 8))   # 2 cells right of the peak
    assert label[0, 0, 3].item() == pytest.approx(np.exp(-4 / 8))   # 2 cells above
    window = hann_window(5, 7)
    np.testing.assert_allclose(window.numpy(), np.outer(np.hanning(5), np.hanning(7)), atol=1e-7)
    assert window[0].abs().sum() == 0 and window[2, 3] == 1.0


def test_fft_sizes_and_padding():
    assert [fast_fft_size(n) for n in (1, 7, 17, 22, 25, 31, 97)] == [1, 8, 18, 24, 25, 32, 100]
    maps = torch.randn(2, 3, 31, 22)
    padded = pad_for_fft(maps)
    assert padded.shape == (2, 3, 32, 24)
    assert torch.equal(padded[..., :31, :22], maps) and padded[..., 31:, :].abs().sum() == 0
    # precomputed spectra give the same filter and response
    label = gaussian_label((32, 24), torch.tensor([[10.0, 15.0]] * 2), torch.tensor([1.0, 2.0]))
    spectrum = torch.fft.rfft2(padded)
    direct = learn_filter(padded, label)
    reused = learn_filter(padded, label, spectrum=spectrum)
    assert torch.equal(direct.numerator, reused.numerator) and torch.equal(direct.energy, reused.energy)
    assert torch.equal(filter_response(direct, padded, 0.1), filter_response(direct, padded, 0.1, search=spectrum))


def test_adaptive_update_interpolates_numerator_and_energy():
    rng = np.random.default_rng(5)
    label = gaussian_label((6, 6), torch.tensor([[2.5, 2.5]]), torch.tensor([1.0]))
    first = learn_filter(torch.from_numpy(rng.normal(size=(1, 3, 6, 6))).float(), label)
    second = learn_filter(torch.from_numpy(rng.normal(size=(1, 3, 6, 6))).float(), label)
    for rate in (0.0, 0.01, 1.0):
        mixed = interpolate(first, second, rate)
        torch.testing.assert_close(mixed.numerator, (1 - rate) * first.numerator + rate * second.numerator)
        torch.testing.assert_close(mixed.energy, (1 - rate) * first.energy + rate * second.energy)
        assert mixed.size == (6, 6) and isinstance(mixed, FilterSpectrum)
    torch.testing.assert_close(interpolate(first, second, 1.0).numerator, second.numerator)


def test_sample_on_anchor_grid_aligns_score_cells_with_feature_cells():
    response = torch.arange(2 * 31 * 31, dtype=torch.float32).reshape(2, 31, 31)
    # SiamRPN++ ResNet-50: 31x31 search features, 25x25 score map, stride 8: score cell i is feature cell i + 3
    torch.testing.assert_close(sample_on_anchor_grid(response, 25, 8, 8), response[:, 3:28, 3:28])
    # AlexNet (22x22 features, 17x17 scores): cells fall half-way between feature cells: bilinear averages
    small = torch.arange(22 * 22, dtype=torch.float32).reshape(1, 22, 22)
    sampled = sample_on_anchor_grid(small, 17, 8, 8)
    expected = (small[:, 2:19, 2:19] + small[:, 3:20, 2:19] + small[:, 2:19, 3:20] + small[:, 3:20, 3:20]) / 4
    torch.testing.assert_close(sampled, expected)
    # crop pixels -> feature cells: the crop centre is the centre cell
    assert feature_cells(torch.tensor(127.0), 255, 31, 8).item() == 15.0
    assert feature_cells(torch.tensor(127.0 + 16), 255, 31, 8).item() == 17.0


def test_loss_is_small_when_search_equals_template_context_and_counts_only_valid_pairs():
    rng = np.random.default_rng(6)
    search = torch.from_numpy(rng.normal(size=(3, 4, 11, 11))).float()
    template = search[:, :, 3:8, 3:8].clone()  # the central cells: what the template crop sees
    centers = torch.tensor([[2.0, 2.0]] * 3)
    sizes = torch.tensor([[3.0, 3.0]] * 3)
    same = correlation_filter_loss(template, search, centers, sizes, centers + 3, sizes, torch.ones(3, dtype=bool))
    elsewhere = correlation_filter_loss(template, search, centers, sizes, centers + torch.tensor([6.0, 0.0]), sizes,
                                        torch.ones(3, dtype=bool))
    assert same < elsewhere  # the label at the right place is regressed better than a wrong one
    only_first = correlation_filter_loss(template, search, centers, sizes, centers + 3, sizes,
                                         torch.tensor([True, False, False]))
    first = correlation_filter_loss(template[:1], search[:1], centers[:1], sizes[:1], centers[:1] + 3, sizes[:1],
                                    torch.ones(1, dtype=bool))
    torch.testing.assert_close(only_first, first)
    none = correlation_filter_loss(template, search, centers, sizes, centers, sizes, torch.zeros(3, dtype=bool))
    assert none.item() == 0.0
    with pytest.raises(ValueError, match="cannot be centred"):
        correlation_filter_loss(template[..., :4], search, centers, sizes, centers, sizes, torch.ones(3, dtype=bool))
