"""SNS-CF's adaptive correlation filter (ACF): ridge regression over all circular shifts, solved in closed form in
the Fourier domain (``torch.fft``), differentiable end to end (SNS-CF, Eqs. 5-9; HCF / CF2, Ma et al. ICCV 2015,
``tracker_ensemble.m``, for every value the paper leaves open).

Features are ``(B, D, M, N)`` (channels, rows, columns); capital letters are their 2-D DFTs over ``(M, N)``.

- Label (Eq. 6): a Gaussian ``y(m, n) = exp(-((m - c_y)^2 + (n - c_x)^2) / (2 sigma^2))`` centred on the target's
  feature cell (Eq. 6's ``(M/2, N/2)`` is the centre of the window, where the tracker puts the target; a training
  pair's target sits wherever its crop put it). ``sigma = sigma_factor * sqrt(w * h)`` with the target's size in
  feature cells and HCF's ``output_sigma_factor`` 0.1 (``sqrt(prod(target_sz)) * 0.1 / cell_size``).
- Filter (Eq. 8), per channel: ``W_d = Y conj(X_d) / (sum_i X_i conj(X_i) + lambda)``, kept as its numerator
  ``A_d = Y conj(X_d)`` and the energy ``E = sum_i |X_i|^2`` (:class:`FilterSpectrum`), so that the tracker can
  interpolate both (the adaptive update) and add lambda when it applies the filter.
- Response (Eq. 9): ``f = F^-1(sum_d W_d Z_d)``. Eq. 9 as printed conjugates ``Z_d``; with Eq. 8's ``conj(X_d)``
  that would give ``sum_d W_d conj(X_d) != Y`` on the filter's own training features and move the peak against
  the target, so the conjugate belongs to one factor only: ``sum_d W_d X_d = Y E / (E + lambda)`` reproduces the
  label up to the ridge term, and a target moved by ``t`` moves the peak by ``t`` (HCF's detection
  ``ifft2(alphaf .* sum(zf .* conj(xf)))`` is the same product).
- Eq. 7 (``w* = argmin sum_{m,n} ||w . x_{m,n} - y(m, n)||^2 + lambda ||w||^2``) is what Eq. 8 solves when the
  sample for cell ``(m, n)`` is ``x`` moved so that ``(m, n)`` comes to the origin,
  ``x_{m,n}(p, q) = x(p + m, q + n)`` (circular): then ``w . z_{m,n} = f(m, n)`` and ``W_d = conj(DFT(w_d))``, as
  the tests check against the direct solution of Eq. 7.
- lambda: HCF divides the energies by the number of feature elements (``kf = sum(xf .* conj(xf), 3) / numel(xf)``,
  ``alphaf = yf ./ (kf + lambda)``), so its ``lambda = 1e-4`` is relative to the mean feature energy; the absolute
  ridge term of Eq. 7/8 is ``lambda * D * M * N`` (:func:`absolute_lambda`, with the maps' sides as transformed).
- Window: features are multiplied by a cosine (Hann) window before the FFT (HCF ``hann(M) * hann(N)'``).
- FFT size: the tracker and the loss zero-pad the windowed maps (right and bottom) to the next size whose only
  prime factors are 2, 3 and 5 (:func:`fast_fft_size`: SiamRPN++'s 31 x 31 maps become 32 x 32; a prime-sized FFT
  is about 10x slower). The window is already 0 on the border, so the padding only adds zeros to what wraps
  around; cell coordinates are unchanged.

:func:`correlation_filter_loss` is the training loss of SNS-CF's joint objective (see its docstring).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

# HCF / CF2 (run_tracker.m, tracker_ensemble.m): the values SNS-CF leaves open
HCF_LAMBDA = 1e-4                  # "lambda: regularization term for ridge regression"
HCF_SIGMA_FACTOR = 0.1             # "output_sigma_factor: spatial bandwidth for the Gaussian label"
HCF_INTERP_FACTOR = 0.01           # "interp_factor: learning rate for model update"
HCF_LAYER_WEIGHTS = (0.02, 0.5, 1.0)  # nweights of conv3-4, conv4-4, conv5-4 (HCF lists them conv5 first)


class FilterSpectrum(NamedTuple):
    """A learned filter in the Fourier domain (``rfft2`` half spectrum): numerator ``A_d = Y conj(X_d)``
    (B, D, M, N//2+1) and energy ``E = sum_d |X_d|^2`` (B, 1, M, N//2+1); ``size`` is (M, N)."""

    numerator: torch.Tensor
    energy: torch.Tensor
    size: tuple[int, int]


def _real(tensor: torch.Tensor) -> torch.Tensor:
    """float32 for half / bfloat16 inputs (no half-precision FFTs); float64 stays float64 (the tests)."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def fast_fft_size(size: int) -> int:
    """The smallest ``n >= size`` whose only prime factors are 2, 3 and 5."""
    n = max(int(size), 1)
    while True:
        rest = n
        for factor in (2, 3, 5):
            while rest % factor == 0:
                rest //= factor
        if rest == 1:
            return n
        n += 1


def pad_for_fft(maps: torch.Tensor) -> torch.Tensor:
    """(..., M, N) maps zero-padded at the bottom and right to :func:`fast_fft_size` sides."""
    rows, columns = maps.shape[-2:]
    return F.pad(maps, (0, fast_fft_size(columns) - columns, 0, fast_fft_size(rows) - rows))


def hann_window(rows: int, columns: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(rows, columns) cosine window, zero on the border (MATLAB's symmetric ``hann`` HCF uses)."""
    def window(length: int) -> torch.Tensor:
        if length == 1:
            return torch.ones(1, device=device, dtype=dtype)
        return torch.hann_window(length, periodic=False, device=device, dtype=dtype)

    return window(rows)[:, None] * window(columns)[None, :]


def gaussian_label(size: tuple[int, int], center: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """(B, M, N) Gaussian labels (Eq. 6) peaking at ``center`` (B, 2) = (x, y) in feature cells, width ``sigma`` (B,)."""
    rows, columns = size
    center = _real(center)
    sigma = sigma.to(device=center.device, dtype=center.dtype).reshape(-1, 1, 1)
    y = torch.arange(rows, device=center.device, dtype=center.dtype)[None, :, None]
    x = torch.arange(columns, device=center.device, dtype=center.dtype)[None, None, :]
    squared = (x - center[:, 0, None, None]) ** 2 + (y - center[:, 1, None, None]) ** 2
    return torch.exp(-squared / (2 * sigma ** 2))


def absolute_lambda(relative: float, features: torch.Tensor) -> float:
    """Eq. 7/8's ridge term for HCF's relative ``lambda``: ``lambda * D * M * N`` (see the module docstring)."""
    return float(relative) * features.shape[-3] * features.shape[-2] * features.shape[-1]


def learn_filter(features: torch.Tensor, label: torch.Tensor, spectrum: torch.Tensor | None = None) -> FilterSpectrum:
    """Eq. 8's numerator and energy for ``features`` (B, D, M, N) regressed to ``label`` (B, M, N); ``spectrum``:
    the features' ``rfft2`` when already computed (the tracker reuses it for the response)."""
    spectrum = torch.fft.rfft2(_real(features)) if spectrum is None else spectrum
    label_spectrum = torch.fft.rfft2(_real(label))[:, None]
    numerator = label_spectrum * spectrum.conj()
    energy = (spectrum.real ** 2 + spectrum.imag ** 2).sum(dim=1, keepdim=True)
    return FilterSpectrum(numerator, energy, tuple(features.shape[-2:]))


def filter_response(spectrum: FilterSpectrum, features: torch.Tensor, ridge: float,
                    search: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 9: ``F^-1(sum_d W_d Z_d)`` of ``features`` (B, D, M, N) -> (B, M, N); ``ridge`` is the absolute lambda;
    ``search``: the features' ``rfft2`` when already computed."""
    search = torch.fft.rfft2(_real(features)) if search is None else search
    product = (spectrum.numerator * search).sum(dim=1) / (spectrum.energy[:, 0] + ridge)
    return torch.fft.irfft2(product, s=spectrum.size)


def spatial_filter(spectrum: FilterSpectrum, ridge: float) -> torch.Tensor:
    """The filter ``w`` of Eq. 7 (B, D, M, N): ``w_d = F^-1(conj(W_d))``, so ``f(m, n) = w . z_{m,n}``."""
    weights = spectrum.numerator / (spectrum.energy + ridge)
    return torch.fft.irfft2(weights.conj(), s=spectrum.size)


def interpolate(previous: FilterSpectrum, new: FilterSpectrum, rate: float) -> FilterSpectrum:
    """The adaptive update: numerator and energy each ``(1 - rate) * previous + rate * new``."""
    return FilterSpectrum((1 - rate) * previous.numerator + rate * new.numerator,
                          (1 - rate) * previous.energy + rate * new.energy, previous.size)


def feature_cells(pixels: torch.Tensor, crop_size: int, feature_size: int, stride: float) -> torch.Tensor:
    """Crop pixel-index coordinates -> feature-cell coordinates: the crop centre ``(crop_size - 1) / 2`` is the
    centre cell ``(feature_size - 1) / 2``, cells ``stride`` pixels apart (SiamRPN++'s alignment of score cells)."""
    return (feature_size - 1) / 2 + (pixels - (crop_size - 1) / 2) / stride


def sample_on_anchor_grid(response: torch.Tensor, score_size: int, anchor_stride: float,
                          feature_stride: float) -> torch.Tensor:
    """(B, M, N) responses bilinearly resampled at the (S, S) anchor centres (Eq. 4's interpolation): anchor cell
    ``i`` lies ``(i - S // 2) * anchor_stride`` pixels from the crop centre (``tracking.models.anchors``), i.e. at
    feature coordinate ``(M - 1) / 2 + offset / feature_stride``."""
    rows, columns = response.shape[-2:]
    response = _real(response)
    offsets = (torch.arange(score_size, device=response.device, dtype=response.dtype) - score_size // 2) \
        * (anchor_stride / feature_stride)

    def normalized(size: int) -> torch.Tensor:  # grid_sample with align_corners: -1 / 1 are the end cells
        return (offsets + (size - 1) / 2) * (2 / max(size - 1, 1)) - 1

    gy, gx = torch.meshgrid(normalized(rows), normalized(columns), indexing="ij")
    grid = torch.stack([gx, gy], dim=-1)[None].expand(response.shape[0], -1, -1, -1)
    sampled = F.grid_sample(response[:, None], grid.to(response.dtype), mode="bilinear", padding_mode="border",
                            align_corners=True)
    return sampled[:, 0]


@dataclass(frozen=True)
class CorrelationFilterLoss:
    """SNS-CF's correlation-filter term of the training loss (:func:`correlation_filter_loss`).

    ``levels``: indices of the network's feature levels (0 = conv3, 1 = conv4, 2 = conv5 for ``used_layers``
    [2, 3, 4]) that carry a filter; ``ridge_lambda`` and ``sigma_factor``: HCF's relative lambda and label width;
    ``weight``: lambda_cf, 1.0 as the paper sums the two losses ("the sum of standard smooth loss L in (2) and the
    correlation filter loss w* in (7)"). ``level_reduction``: how the levels' Eq. 7 terms combine: "sum" (the
    paper's joint loss is a sum, with one filter per level), or "mean" (the same gradient direction, 1/len(levels)
    of the magnitude).
    """

    levels: tuple[int, ...] = (0, 1, 2)
    ridge_lambda: float = HCF_LAMBDA
    sigma_factor: float = HCF_SIGMA_FACTOR
    weight: float = 1.0
    level_reduction: str = "sum"

    def __post_init__(self):
        object.__setattr__(self, "levels", tuple(int(v) for v in self.levels))
        if not self.levels:
            raise ValueError("cf levels is empty: name at least one feature level")
        if self.ridge_lambda <= 0 or self.sigma_factor <= 0 or self.weight < 0:
            raise ValueError(f"cf: ridge_lambda and sigma_factor must be > 0 and weight >= 0, got {self}")
        if self.level_reduction not in ("sum", "mean"):
            raise ValueError(f"cf: level_reduction must be 'sum' or 'mean', got {self.level_reduction!r}")


def correlation_filter_loss(template_features: torch.Tensor, search_features: torch.Tensor,
                            template_centers: torch.Tensor, template_sizes: torch.Tensor,
                            search_centers: torch.Tensor, search_sizes: torch.Tensor, valid: torch.Tensor,
                            ridge_lambda: float = HCF_LAMBDA, sigma_factor: float = HCF_SIGMA_FACTOR) -> torch.Tensor:
    """Eq. 7 on a batch of training pairs, the way correlation-filter layers train end to end (DCFNet, CFNet).

    The filter is solved in closed form (Eq. 8) on the template crop's features: their ``(m, m)`` map (before the
    neck's centre crop) is windowed by its own cosine window and zero-padded, centred, to the search map's
    ``(M, N)`` (both crops share one scale, so the template's cells are the search window's central cells; both
    then padded to the FFT size), with
    the label at the template's target. It is then applied to the windowed search features (Eq. 9), and Eq. 7 is
    evaluated there: ``sum_{m,n} (f(m, n) - y(m, n))^2 + lambda ||w||^2`` with ``y`` the Gaussian at the search
    target. Centres and sizes are in feature cells (centres relative to each map's own cells); ``valid`` (B,)
    masks the pairs that count (negative pairs have no target to regress). Returns the mean over valid pairs
    (0 when there is none), computed in float32 (float64 inputs stay float64).
    """
    rows, columns = search_features.shape[-2:]
    small_rows, small_columns = template_features.shape[-2:]
    top, left = (rows - small_rows) // 2, (columns - small_columns) // 2
    if (rows - small_rows) % 2 or (columns - small_columns) % 2:
        raise ValueError(f"template map {small_rows}x{small_columns} cannot be centred in the search map "
                         f"{rows}x{columns}")
    template, search = _real(template_features), _real(search_features)
    template = template * hann_window(small_rows, small_columns, template.device, template.dtype)
    template = pad_for_fft(F.pad(template, (left, columns - small_columns - left, top, rows - small_rows - top)))
    search = pad_for_fft(search * hann_window(rows, columns, search.device, search.dtype))
    size = tuple(search.shape[-2:])
    offset = torch.tensor([left, top], device=template.device, dtype=template.dtype)
    template_label = gaussian_label(size, template_centers.to(template.dtype) + offset,
                                    sigma_factor * template_sizes.to(template.dtype).prod(dim=1).sqrt())
    search_label = gaussian_label(size, search_centers.to(search.dtype),
                                  sigma_factor * search_sizes.to(search.dtype).prod(dim=1).sqrt())
    ridge = absolute_lambda(ridge_lambda, search)
    spectrum = learn_filter(template, template_label)
    response = filter_response(spectrum, search, ridge)
    data_term = ((response - search_label) ** 2).sum(dim=(1, 2))
    ridge_term = ridge * (spatial_filter(spectrum, ridge) ** 2).sum(dim=(1, 2, 3))
    weights = valid.to(device=data_term.device, dtype=data_term.dtype)
    return ((data_term + ridge_term) * weights).sum() / weights.sum().clamp(min=1)
