"""A tracker the suite does not ship, registered in a module defined here: its parameters, the checkpoint's
hyper-parameters, ``TRACKER=`` and the five inference values follow from the module's ``trackers`` mapping alone."""
from dataclasses import dataclass

import numpy as np

from experiments import evaluate
from experiments.demo import save_checkpoint
from lightning_modules.checkpoints import load_module
from lightning_modules.siamfc import SiamFCModule
from tracking.benchmarks.files import read_box_file
from tracking.synthetic.video import generate_videos
from tracking.synthetic.writers import write_otb
from tracking.trackers.siamfc import SiamFCParams, SiamFCTracker


@dataclass(frozen=True)
class FixedSizeParams(SiamFCParams):
    keep_size: bool = True  # hold the first frame's size (False: SiamFC's step unchanged)


class FixedSizeTracker(SiamFCTracker):
    """SiamFC's step with the target's size (and the crop windows) held at the first frame's."""

    params_class = FixedSizeParams

    def __init__(self, model, params=None, device="cpu", name: str = "SiamFC-fixed"):
        super().__init__(model, params, None, device, name)

    def step(self, scale_maps):
        held = (self.target_size, self.z_sz, self.x_sz)
        chosen = super().step(scale_maps)
        if self.params.keep_size:
            self.target_size, self.z_sz, self.x_sz = held
        return chosen


class RegistryModule(SiamFCModule):
    trackers = {**SiamFCModule.trackers, "fixed_size": FixedSizeTracker}


def test_a_tracker_registered_in_a_test_module_runs_by_name(tmp_path):
    write_otb(generate_videos(5, 2, num_frames=6, size=(96, 128), difficulty="easy"), tmp_path / "otb")
    network = {"backbone_options": {"width_mult": 0.25}}  # a small AlexNet
    module = RegistryModule(network=network, trackers={"fixed_size": {"scale_step": 1.1}})
    checkpoint = save_checkpoint(module, tmp_path / "registry.ckpt")
    restored = load_module(checkpoint)
    assert type(restored) is RegistryModule
    assert restored.hparams.trackers["fixed_size"]["scale_step"] == 1.1  # saved with no code of the module's
    assert restored.tracker_params("fixed_size").keep_size is True

    def boxes(name, tracker, *options):
        evaluation = evaluate.main(["otb", "--ckpt", str(checkpoint), "--data", str(tmp_path / "otb"), "--out",
                                    str(tmp_path / "eval"), "--name", name, "--tracker", tracker, "--no-progress",
                                    *options])
        return {path.stem: read_box_file(path) for path in sorted(evaluation.run.result_dir.glob("*.txt"))}

    # the inference values and lockstep, with no code of the tracker's: crops on the device, two slots at once
    fixed = boxes("fixed", "fixed_size", "--set", "crop_on_device=true", "--batch", "2")
    assert len(fixed) == 2
    for sequence in fixed.values():
        np.testing.assert_allclose(sequence[:, 2:], np.repeat(sequence[:1, 2:], len(sequence), axis=0))
    # keep_size=false is SiamFC's step: the module's own siamfc tracker gives the same boxes
    moving = boxes("moving", "fixed_size", "--set", "keep_size=false", "--set", "scale_step=1.0375")
    siamfc = boxes("siamfc", "siamfc")
    for name in siamfc:
        np.testing.assert_allclose(moving[name], siamfc[name], atol=1e-9)
    # the held size is the tracker's own doing: a map whose peak is on the smallest scale shrinks SiamFC's target
    maps = np.zeros((3, 272, 272))
    maps[0, 135, 135] = 1.0
    sizes = {}
    for keep_size in (True, False):
        tracker = restored.build_tracker("fixed_size", keep_size=keep_size)
        tracker.init(np.zeros((96, 128, 3), np.uint8), np.array([40.0, 30.0, 20.0, 16.0]))
        tracker.step(maps)
        sizes[keep_size] = tracker.target_size
    np.testing.assert_allclose(sizes[True], [20.0, 16.0])
    assert np.all(sizes[False] < sizes[True])
