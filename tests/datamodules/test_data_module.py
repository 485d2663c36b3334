"""PairDataModule: sources from roots (raw and prepared), batches, held-out validation, DDP rank shards, and a
Lightning fit that consumes the batches."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from datamodules.pair_datamodule import PairDataModule, split_videos
from datamodules.pairs import PairSampler
from datamodules.prepare import prepare_dataset
from tracking.synthetic.training_formats import write_coco, write_vid
from tracking.synthetic.video import generate_videos


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    base = tmp_path_factory.mktemp("module_data")
    videos = generate_videos(7, 4, num_frames=12)
    write_vid(videos, base / "vid")
    write_coco(videos, base / "coco", frame_step=3)
    prepare_dataset("vid", base / "vid", base / "vid_prepared", workers=1, progress=False)
    return base


def small_module(roots, **kwargs):
    options = dict(videos_per_epoch=16, batch_size=4, num_workers=0, val_pairs=6, val_fraction=0.25, seed=1,
                   progress=False)
    options.update(kwargs)
    return PairDataModule.from_roots({"vid": roots / "vid", "coco": {"root": roots / "coco", "weight": 1.0}},
                                     **options)


def test_batches_have_the_model_layout(roots):
    module = small_module(roots)
    module.setup("fit")
    batch = next(iter(module.train_dataloader()))
    assert set(batch) == {"template", "search", "template_box", "search_box", "negative"}
    assert batch["template"].shape == (4, 3, 127, 127) and batch["template"].dtype == torch.float32
    assert batch["search"].shape == (4, 3, 255, 255) and batch["search"].dtype == torch.float32
    assert batch["search_box"].shape == (4, 4) and batch["search_box"].dtype == torch.float32
    assert batch["template_box"].shape == (4, 4) and batch["template_box"].dtype == torch.float32
    assert batch["negative"].shape == (4,) and batch["negative"].dtype == torch.bool
    # the template's target near the template crop's centre (63), within its +-4 px shift
    assert (((batch["template_box"][:, :2] + batch["template_box"][:, 2:]) / 2 - 63).abs() <= 4 + 1e-4).all()
    boxes = batch["search_box"]
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
    assert -40 <= batch["search"].min() and batch["search"].max() <= 300  # raw BGR 0-255 (+ color jitter)
    assert len(module.train_dataloader()) == 4
    normalized = small_module(roots, image_format="rgb_normalized")
    normalized.setup("fit")
    assert abs(float(next(iter(normalized.train_dataloader()))["search"].mean())) < 3


def test_validation_holds_out_whole_videos_and_is_fixed(roots):
    module = small_module(roots)
    module.setup("fit")
    for train_spec, val_spec in zip(module.train_dataset.sources, module.val_dataset.sources):
        table = train_spec.source.table
        train_videos = {table.video[t] for t in train_spec.tracks}
        val_videos = {table.video[t] for t in val_spec.tracks}
        assert val_videos and not train_videos & val_videos
    first = [b["search"] for b in module.val_dataloader()]
    module.train_dataloader().sampler.set_epoch(3)
    second = [b["search"] for b in module.val_dataloader()]
    assert sum(len(b) for b in first) == 6
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    table = module.train_dataset.sources[0].source.table
    train, held = split_videos(table, 0.5, seed=0)
    assert len(train) + len(held) == len(table) and not set(train) & set(held)


def test_prepared_roots_and_rank_shards(roots):
    module = PairDataModule.from_roots({"vid": roots / "vid_prepared"}, videos_per_epoch=20, batch_size=2,
                                       num_workers=0, val_pairs=0, progress=False)
    module.trainer = SimpleNamespace(world_size=2, global_rank=1)
    loader = module.train_dataloader()
    assert module.opened_sources[0].use_crops
    assert isinstance(loader.sampler, PairSampler) and loader.sampler.rank == 1
    assert list(loader.sampler) == list(range(1, 20, 2)) and len(loader) == 5
    assert module.val_dataloader() == []


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown source key"):
        PairDataModule(sources=[{"kind": "vid", "root": ".", "frame_rnage": 3}])
    with pytest.raises(ValueError, match="unknown source kind"):
        PairDataModule.from_roots({"imagenet": "."})
    with pytest.raises(ValueError, match="at least one source"):
        PairDataModule(sources=[])
    with pytest.raises(ValueError, match="probability"):
        PairDataModule.from_roots({"vid": "."}, negative=1.5)


class _TinySiamese(pl.LightningModule):
    """Consumes the batch contract: correlates pooled template features with the search crop."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Conv2d(3, 4, 3, stride=4)
        self.seen = []

    def _loss(self, batch):
        template = self.features(batch["template"] / 255).mean(dim=(2, 3))
        search = self.features(batch["search"] / 255).mean(dim=(2, 3))
        target = batch["search_box"].mean(dim=1) / 255 * (~batch["negative"]).float()
        return ((template * search).sum(dim=1) - target).pow(2).mean()

    def training_step(self, batch, batch_index):
        self.seen.append(batch["search"].shape[0])
        return self._loss(batch)

    def validation_step(self, batch, batch_index):
        self.log("val_loss", self._loss(batch), batch_size=batch["search"].shape[0])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_lightning_fit_consumes_the_batches(roots, tmp_path):
    # "fork" starts workers fastest; the default (forkserver) is exercised by the test below
    module = small_module(roots, num_workers=1, videos_per_epoch=8, multiprocessing_context="fork")
    model = _TinySiamese()
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=module)
    assert model.seen == [4, 4, 4, 4]
    assert np.isfinite(float(trainer.callback_metrics["val_loss"]))
    assert isinstance(trainer.train_dataloader.sampler, PairSampler)
    assert trainer.train_dataloader.sampler.epoch == 1
    without_validation = small_module(roots, videos_per_epoch=8, val_pairs=0)
    model = _TinySiamese()
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=without_validation)
    assert model.seen == [4, 4] and without_validation.val_dataset is None


def test_workers_start_after_the_main_process_used_opencv_threads(roots):
    """Forked workers that reconfigure OpenCV's thread pool inherited from their parent deadlock; the default
    worker start (forkserver) must deliver batches whatever the main process did with OpenCV before."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(2)
    try:
        image = np.zeros((1200, 1200, 3), dtype=np.uint8)
        cv2.warpAffine(image, np.float64([[0.9, 0.1, 3], [0.05, 1.1, 4]]), (1200, 1200))  # the pool is running
        module = small_module(roots, num_workers=2, videos_per_epoch=8)
        loader = module.train_dataloader()
        loader.timeout = 120  # a deadlocked worker raises instead of hanging the test
        assert [len(batch["search"]) for batch in loader] == [4, 4]
    finally:
        cv2.setNumThreads(threads)


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc's parent links)."""
    import os

    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, stack = set(), [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.timeout(120)
def test_data_workers_end_with_a_killed_trainer(roots, tmp_path):
    """kill -9 of the process that owns the loader: its forkserver, resource tracker and workers exit within
    seconds instead of keeping each other alive."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "loader.py"
    script.write_text(f"""
import time
from datamodules.pair_datamodule import PairDataModule
if __name__ == "__main__":  # workers import this file again
    module = PairDataModule.from_roots({{"vid": {str(roots / "vid")!r}}}, videos_per_epoch=64, batch_size=2,
                                       num_workers=2, val_pairs=0, progress=False)
    module.setup("fit")
    iterator = iter(module.train_dataloader())
    next(iterator)
    print("ready", flush=True)
    time.sleep(300)
""")
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        helpers = _descendants(process.pid)
        assert len(helpers) >= 3  # forkserver (+ its workers) and the resource tracker
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in helpers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in helpers if _alive(pid)], "processes outlived the killed trainer"
    finally:
        if process.poll() is None:
            process.kill()
