"""Template/search pairs for Siamese training, sampled as SiamRPN++ (pysot) samples them.

An epoch is ``videos_per_epoch`` picks of a track. Each source contributes in proportion to its ``weight``
(default: its ``num_use``, the reference's number of videos used, or its track count when ``num_use`` is -1); a
source with ``num_use`` > 0 draws a fixed, seed-chosen multiset of ``num_use`` tracks once and cycles through it.
For a picked track a positive pair takes a template frame and a search frame at most ``frame_range`` positions
apart in the track's list of usable frames (1 = the same image for DET/COCO); with probability ``negative`` the
search frame comes from another track (another object) of a source drawn by weight.

Every sample is a pure function of ``(seed, index)``, where ``index`` runs over all epochs
(``epoch * videos_per_epoch + position``); ``PairSampler`` hands each DDP rank its own shard of an epoch's
indices. So the data are the same whatever the number of workers, persistent or not, and every rank sees
different pairs. Unreadable images met while sampling (corrupt JPEG, a frame deleted since indexing) are skipped
with a ``DataWarning``, counted in ``dataset.summary`` (shared with the worker processes) and replaced by another
draw; a worker never dies of bad input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler

from datamodules.augment import CropJitter, ImageAugmenter, crop_transform, draw_crop, warp_crop
from datamodules.sources import DEFAULT_FRAME_RANGES, TrackSource
from datamodules.tracks import SkipSummary
from tracking.errors import DataError
from tracking.network_input import check_image_format, to_network_layout

MAX_ATTEMPTS = 32
INTERPOLATIONS = ("linear", "random")


@dataclass
class SourceSpec:
    """A source in the mix. ``tracks``: the subset of its track indices to use (default all)."""

    source: TrackSource
    frame_range: int | None = None   # None: the source's default (VID 100, YouTube-BB 3, COCO/DET 1, ...)
    num_use: int = -1                # reference NUM_USE: tracks drawn per round, -1 = all
    weight: float | None = None      # share of an epoch; default num_use (or the track count when -1)
    tracks: np.ndarray | None = None

    def __post_init__(self):
        if self.tracks is None:
            self.tracks = np.arange(len(self.source), dtype=np.int64)
        self.tracks = np.asarray(self.tracks, dtype=np.int64)
        if self.frame_range is None:
            self.frame_range = getattr(self.source, "default_frame_range", None)
            if self.frame_range is None:
                self.frame_range = DEFAULT_FRAME_RANGES.get(getattr(self.source, "name", ""), 100)
        if self.frame_range < 0:
            raise ValueError(f"{self.source.name}: frame_range must be >= 0, got {self.frame_range}")

    @property
    def share(self) -> float:
        if self.weight is not None:
            return float(self.weight)
        return float(self.num_use if self.num_use > 0 else len(self.tracks))


@dataclass(frozen=True)
class PairConfig:
    """Crop sizes and augmentation, defaults of the ResNet-50 SiamRPN++ (pysot ``siamrpn_r50_l234_dwxcorr``);
    ``same_scale_xy``, ``integer_shift`` and ``interpolation="random"`` give SiamFC's (``datamodules.augment``);
    ``power_of_two_scale`` draws the scale factors as ``2 ** U(-scale, scale)`` (SNS-CF's).
    ``search_after_template``: a positive pair's search frame comes 1 to ``frame_range`` usable frames after its
    template frame (MFST's released sampler, ``datasets/vid.py``: a gap d ~ U[1, min(n, range)], at most n - 1, then
    the template at U[0, n - 1 - d]); off, it is any frame within ``frame_range`` either side, the same one
    included (pysot's).

    ``negative``: probability of a negative pair (0.2 ResNet, 0.05 AlexNet). ``gray``: probability that both
    crops are made gray. ``context_amount``: SiamFC context. The template size is the exemplar scale: the window
    ``s_z`` around the target maps onto ``template_size`` pixels in both crops.
    """

    template_size: int = 127
    search_size: int = 255
    context_amount: float = 0.5
    template_shift: float = 4.0
    template_scale: float = 0.05
    template_blur: float = 0.0
    template_flip: float = 0.0
    template_color: float = 1.0
    search_shift: float = 64.0
    search_scale: float = 0.18
    search_blur: float = 0.2
    search_flip: float = 0.0
    search_color: float = 1.0
    gray: float = 0.0
    negative: float = 0.2
    blur_kernel: tuple[int, int] = (5, 45)
    image_format: str = "bgr255"
    same_scale_xy: bool = False   # SiamFC: one stretch factor for both axes
    integer_shift: bool = False   # SiamFC: whole-pixel offsets (its random 239 crop of a 247 centre crop)
    power_of_two_scale: bool = False  # SNS-CF: factors 2 ** U(-scale, scale) instead of 1 + U(-scale, scale)
    search_after_template: bool = False  # MFST: the search frame 1..frame_range frames after the template's
    interpolation: str = "linear"  # "random": a cv2 interpolation drawn per crop, as SiamFC draws them

    def __post_init__(self):
        check_image_format(self.image_format)
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        for name in ("template_blur", "template_flip", "template_color", "search_blur", "search_flip",
                     "search_color", "gray", "negative"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} is a probability, got {value}")

    @property
    def template_jitter(self) -> CropJitter:
        return CropJitter(self.template_size, self.template_shift, self.template_scale, self.template_blur,
                          self.template_flip, self.template_color, **self._jitter_options)

    @property
    def search_jitter(self) -> CropJitter:
        return CropJitter(self.search_size, self.search_shift, self.search_scale, self.search_blur,
                          self.search_flip, self.search_color, **self._jitter_options)

    @property
    def _jitter_options(self) -> dict:
        return {"same_scale": self.same_scale_xy, "integer_shift": self.integer_shift,
                "power_of_two_scale": self.power_of_two_scale,
                "random_interpolation": self.interpolation == "random"}


@dataclass
class PairSample:
    """One pair before conversion to tensors (what tests and debugging look at)."""

    template: np.ndarray          # 3 x T x T float32 in the configured image format
    search: np.ndarray            # 3 x S x S float32
    template_box: np.ndarray      # (4,) corners of the target in the template crop (pixel-index coordinates)
    search_box: np.ndarray        # (4,) corners of the search target in the search crop
    negative: bool
    template_ref: tuple           # (source index, track, position)
    search_ref: tuple
    draws: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"template": torch.from_numpy(self.template), "search": torch.from_numpy(self.search),
                "template_box": torch.from_numpy(self.template_box.astype(np.float32)),
                "search_box": torch.from_numpy(self.search_box.astype(np.float32)),
                "negative": torch.tensor(self.negative)}


class _Skip(Exception):
    def __init__(self, reason: str, where, detail: str = ""):
        super().__init__(f"{where}: {reason}")
        self.reason, self.where, self.detail = reason, where, detail


class PairDataset(Dataset):
    """Map-style dataset of template/search pairs; ``len`` is one epoch, any non-negative index is valid.

    Items are dicts: ``template`` (3, T, T) float32, ``search`` (3, S, S) float32, ``search_box`` (4,) float32
    corners ``x1, y1, x2, y2`` of the target in the search crop (pixel-index coordinates: an unshifted target is
    centered at ``(S - 1) / 2``), ``negative`` bool (the search target is another object).
    """

    def __init__(self, sources, config: PairConfig | None = None, videos_per_epoch: int = 600_000, seed: int = 0):
        self.sources = [s if isinstance(s, SourceSpec) else SourceSpec(s) for s in sources]
        self.sources = [s for s in self.sources if len(s.tracks)]
        if not self.sources:
            raise ValueError("PairDataset needs at least one source with tracks")
        self.config = config or PairConfig()
        self.videos_per_epoch = int(videos_per_epoch)
        if self.videos_per_epoch <= 0:
            raise ValueError(f"videos_per_epoch must be positive, got {videos_per_epoch}")
        self.seed = int(seed)
        shares = np.array([s.share for s in self.sources], dtype=np.float64)
        if (shares < 0).any() or shares.sum() <= 0:
            raise ValueError(f"source weights must be non-negative with a positive sum, got {shares.tolist()}")
        self.probabilities = shares / shares.sum()
        self.counts = _largest_remainder(self.probabilities, self.videos_per_epoch)
        self.pools = [self._pool(i, spec) for i, spec in enumerate(self.sources)]
        self.summary = SkipSummary(shared=True)
        self.augmenter = ImageAugmenter(self.config.blur_kernel)
        self._epoch_cache: tuple[int, np.ndarray, np.ndarray] | None = None
        self._total_tracks = sum(len(s.tracks) for s in self.sources)

    def __len__(self) -> int:
        return self.videos_per_epoch

    # --- which track an index picks ----------------------------------------------------------------------
    def _pool(self, number: int, spec: SourceSpec) -> np.ndarray:
        if spec.num_use <= 0:
            return spec.tracks
        rng = np.random.default_rng([self.seed, 1, number])
        return _cycled_permutations(rng, spec.tracks, spec.num_use)

    def epoch_picks(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """(source index, track) of every position of an epoch: a shuffled mix of the sources' shares."""
        if self._epoch_cache is not None and self._epoch_cache[0] == epoch:
            return self._epoch_cache[1], self._epoch_cache[2]
        rng = np.random.default_rng([self.seed, 2, epoch])
        source_ids, tracks = [], []
        for number, (pool, count) in enumerate(zip(self.pools, self.counts)):
            tracks.append(_cycled_permutations(rng, pool, int(count)))
            source_ids.append(np.full(int(count), number, dtype=np.int16))
        order = rng.permutation(self.videos_per_epoch)
        picks = (np.concatenate(source_ids)[order], np.concatenate(tracks)[order])
        self._epoch_cache = (epoch, *picks)
        return picks

    # --- sampling -----------------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict:
        return self.sample(int(index)).as_dict()

    def sample(self, index: int) -> PairSample:
        """The pair at a global index, skipping (and counting) unreadable input."""
        if index < 0:
            raise IndexError(f"negative pair index {index}")
        epoch, position = divmod(index, self.videos_per_epoch)
        source_ids, tracks = self.epoch_picks(epoch)
        source_number, track = int(source_ids[position]), int(tracks[position])
        for attempt in range(MAX_ATTEMPTS):
            rng = np.random.default_rng([self.seed, 3, index, attempt])
            if attempt:  # replace the bad pick by another track of the same source
                spec = self.sources[source_number]
                track = int(spec.tracks[rng.integers(len(spec.tracks))])
            try:
                return self._sample(source_number, track, rng)
            except _Skip as skip:
                self.summary.skip(skip.reason, skip.where, skip.detail)
        raise RuntimeError(f"pair {index}: {MAX_ATTEMPTS} draws in a row hit unreadable data; "
                           f"{self.summary.report()}")

    def _sample(self, source_number: int, track: int, rng: np.random.Generator) -> PairSample:
        config = self.config
        gray = bool(config.gray and rng.random() < config.gray)
        negative = bool(config.negative and rng.random() < config.negative and self._total_tracks > 1)
        spec = self.sources[source_number]
        positions = _valid_positions(spec.source, track)
        if len(positions) == 0:
            raise _Skip("empty_track", _track_name(spec.source, track), "no usable frame")
        if negative:
            template_index = int(rng.integers(len(positions)))
            search_ref = self._other_target(source_number, track, rng)
        else:
            if config.search_after_template:
                template_index, search_index = forward_pair(len(positions), spec.frame_range, rng)
            else:  # pysot's: any frame within frame_range either side, the template's own included
                template_index = int(rng.integers(len(positions)))
                low = max(template_index - spec.frame_range, 0)
                high = min(template_index + spec.frame_range, len(positions) - 1)
                search_index = int(rng.integers(low, high + 1))
            search_ref = (source_number, track, int(positions[search_index]))
        template_ref = (source_number, track, int(positions[template_index]))
        template_image, template_frame_box = self._read(template_ref)
        if search_ref == template_ref:
            search_image, search_frame_box = template_image, template_frame_box
        else:
            search_image, search_frame_box = self._read(search_ref)

        template_draw = draw_crop(config.template_jitter, rng)
        search_draw = draw_crop(config.search_jitter, rng)
        template, template_box = self._crop(template_image, template_frame_box, config.template_size,
                                            template_draw, gray, rng)
        search, search_box = self._crop(search_image, search_frame_box, config.search_size, search_draw, gray, rng)
        return PairSample(template=template, search=search, template_box=template_box, search_box=search_box,
                          negative=negative, template_ref=template_ref, search_ref=search_ref,
                          draws={"template": template_draw, "search": search_draw, "gray": gray})

    def _crop(self, image, frame_box, size, draw, gray, rng):
        matrix, box = crop_transform(frame_box, size, draw, self.config.template_size, self.config.context_amount)
        crop = warp_crop(image, matrix, size, draw.interpolation)
        crop = self.augmenter(crop, draw, gray, rng)
        return to_network_layout(crop, self.config.image_format), box

    def _other_target(self, source_number: int, track: int, rng) -> tuple:
        """A random usable frame of another track, its source drawn by weight."""
        for _ in range(16):
            other_source = int(rng.choice(len(self.sources), p=self.probabilities))
            spec = self.sources[other_source]
            other_track = int(spec.tracks[rng.integers(len(spec.tracks))])
            if (other_source, other_track) == (source_number, track):
                continue
            positions = _valid_positions(spec.source, other_track)
            if len(positions):
                return other_source, other_track, int(positions[rng.integers(len(positions))])
        raise _Skip("empty_track", _track_name(self.sources[source_number].source, track),
                    "no other track with a usable frame for a negative pair")

    def _read(self, ref: tuple):
        source_number, track, position = ref
        source = self.sources[source_number].source
        try:
            images, boxes = source.get_frames(track, [position])
        except DataError as error:
            missing = error.path is not None and not Path(error.path).exists()
            raise _Skip("missing_frame" if missing else "unreadable_image", error.path,
                        f"track {_track_name(source, track)}") from error
        box = np.asarray(boxes[0], dtype=np.float64)
        if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
            raise _Skip("absent", _track_name(source, track), f"frame position {position}")
        return images[0], box


class PairSampler(DistributedSampler):
    """Global pair indices of one epoch, sharded over DDP ranks.

    Yields ``epoch * length + i`` for ``i = rank, rank + world_size, ...`` (the dataset shuffles inside an epoch,
    so a strided shard is a random subset). Every rank gets ``length // world_size`` indices: shards are
    disjoint and together cover the epoch (up to the remainder). ``fixed=True`` (validation) keeps epoch 0.
    Subclassing ``DistributedSampler`` keeps Lightning from wrapping it in another distributed sampler; Lightning
    calls ``set_epoch`` each epoch, which also works with persistent workers (the sampler runs in the main process).
    """

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0, fixed: bool = False):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.length = int(length)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.fixed = fixed
        self.epoch = 0
        self.shuffle = False
        self.drop_last = True
        self.seed = 0
        self.num_samples = self.length // self.num_replicas
        self.total_size = self.num_samples * self.num_replicas
        self._resume: tuple[int, int] | None = None  # (epoch, samples of this rank's shard already trained on)

    def resume_at(self, epoch: int, consumed: int) -> None:
        """Continue a killed run: the next pass is over ``epoch`` and skips the first ``consumed`` samples of this
        rank's shard (pairs are a function of their global index, so it continues with exactly the next pairs).
        The epoch is set here too (see ``PairDataModule._loader``)."""
        self.epoch = int(epoch)
        self._resume = (int(epoch), int(consumed)) if consumed > 0 else None

    def __iter__(self):
        offset = 0 if self.fixed else self.epoch * self.length
        skip = 0
        if self._resume is not None and self._resume[0] == self.epoch:
            skip, self._resume = self._resume[1], None
        return iter(range(offset + self.rank + skip * self.num_replicas, offset + self.total_size, self.num_replicas))

    def __len__(self) -> int:
        return self.num_samples


def forward_pair(count: int, frame_range: int, rng: np.random.Generator) -> tuple[int, int]:
    """(template, search) indices among ``count`` usable frames, the search one after the template (MFST's sampler,
    ``PairConfig.search_after_template``): gap d ~ U[1, min(count, frame_range)], at most count - 1; template ~
    U[0, count - 1 - d]. One usable frame, or ``frame_range`` 0, pairs a frame with itself."""
    if count < 2 or frame_range < 1:
        same = int(rng.integers(count))
        return same, same
    gap = min(int(rng.integers(1, min(count, frame_range) + 1)), count - 1)
    start = int(rng.integers(0, count - gap))
    return start, start + gap


def _valid_positions(source, track: int) -> np.ndarray:
    """Positions of a track's usable frames, through the minimal interface (``get_sequence_info``)."""
    return np.flatnonzero(np.asarray(source.get_sequence_info(track)["valid"], dtype=bool))


def _track_name(source, track: int) -> str:
    return source.track_name(track) if hasattr(source, "track_name") else f"{source.name} track {track}"


def _largest_remainder(probabilities: np.ndarray, total: int) -> np.ndarray:
    raw = probabilities * total
    counts = np.floor(raw).astype(np.int64)
    remainder = total - counts.sum()
    if remainder:
        counts[np.argsort(-(raw - counts), kind="stable")[:remainder]] += 1
    return counts


def _cycled_permutations(rng: np.random.Generator, items: np.ndarray, count: int) -> np.ndarray:
    """``count`` items from back-to-back random permutations of ``items`` (each used evenly)."""
    if count <= 0 or len(items) == 0:
        return np.zeros(0, dtype=np.int64)
    rounds = math.ceil(count / len(items))
    permutations = np.argsort(rng.random((rounds, len(items))), axis=1)  # one permutation per row, vectorized
    return np.asarray(items, dtype=np.int64)[permutations].reshape(-1)[:count]
