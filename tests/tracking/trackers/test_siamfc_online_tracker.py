"""SiamFC online training (tracking.trackers.siamfc_online): the equations on hand-computed cases (the normalisation
of a map with negative values, the KL loss of Eq. 4 with its zero-loss threshold (Eq. 5), Peak_r / PSR_r / JCPP
(Eq. 8-9), alpha (Eq. 11) and the template-map update (Eq. 10)), then the tracker on a tiny random SiamFC: a
confident frame fine-tunes the per-sequence copy of the network (4 SGD steps, momentum 0.9, gradients through both
branches) and an unconfident one does not, the module's network is never written, and no sequence's result
depends on the sequences tracked before it (one-pass with BATCH=2 and VOT supervised through the runner)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tracking.models.siamfc import SiamFC
from tracking.trackers.siamfc_online import (OnlineParams, OnlineSiamFCTracker, blend_template, joint_confidence,
                                      kl_divergence, relative, score_distribution, sidelobe_psr,
                                      thresholded_loss, trainable_parameters, update_rate)


IMMEDIATE = {"defer_current_map": False}  # R_c right after its frame: ``last`` is about the frame just returned


def tensor(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------- equations
def test_a_map_with_negative_values_becomes_a_distribution():
    raw = tensor([[-math.log(2), 0.0], [math.log(3), -math.log(2)]])
    # minmax (the default): R - min R = [0, log 2, log 6, 0], divided by its sum log 12; the floor keeps cells > 0
    expected = tensor([[0.0, math.log(2)], [math.log(6), 0.0]]) / math.log(12)
    assert torch.allclose(score_distribution(raw), expected, atol=1e-8)
    assert torch.allclose(score_distribution(raw + 7.0), expected, atol=1e-8)  # offsets cancel
    assert torch.allclose(score_distribution(10 * raw), expected, atol=1e-8)  # and so do the response's units
    assert bool((score_distribution(raw) > 0).all()) and float(score_distribution(raw).sum()) == pytest.approx(1.0)
    assert torch.allclose(score_distribution(torch.zeros(2, 2)), torch.full((2, 2), 0.25, dtype=torch.float64))
    # softmax (the option): exp gives [1/2, 1, 3, 1/2], divided by their sum 5; its temperature scales the scores
    assert torch.allclose(score_distribution(raw, "softmax"), tensor([[0.1, 0.2], [0.6, 0.1]]))
    assert torch.allclose(score_distribution(2 * raw, "softmax", temperature=2.0), tensor([[0.1, 0.2], [0.6, 0.1]]))
    far = score_distribution(tensor([[0.0, -200.0], [-300.0, -400.0]]).float(), "softmax")
    assert far.dtype == torch.float64 and bool((far > 0).all()) and float(far.sum()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="normalization must be one of"):
        score_distribution(raw, "l1")


def test_the_gates_kl_does_not_depend_on_the_response_scale_by_default():
    """The same two maps, the peak moved 3 cells, at scale 1 and 10: the softmax's KL (T = 1) grows with the
    scale and crosses T_l = 1; the default normalisation gives one KL for both."""
    rows, columns = torch.meshgrid(torch.arange(17.0), torch.arange(17.0), indexing="ij")
    template = -((rows - 8) ** 2 + (columns - 8) ** 2) / 32
    moved = -((rows - 8) ** 2 + (columns - 11) ** 2) / 32
    soft = [float(kl_divergence(score_distribution(scale * template, "softmax"),
                                score_distribution(scale * moved, "softmax"))) for scale in (1, 10)]
    assert soft[0] == pytest.approx(0.225, abs=1e-3) and soft[1] == pytest.approx(2.812, abs=1e-3)  # below / above T_l
    default = [float(kl_divergence(score_distribution(scale * template), score_distribution(scale * moved)))
               for scale in (1, 10)]
    assert default[0] == pytest.approx(default[1])


def test_psr_is_the_correlation_filter_sidelobe_ratio():
    rng = np.random.default_rng(0)
    score = rng.normal(size=(17, 17))
    score[5, 12] = 9.0
    sidelobe = np.ones((17, 17), dtype=bool)
    sidelobe[0:11, 7:17] = False  # the 11 x 11 window around (5, 12), clipped at the borders
    expected = (9.0 - score[sidelobe].mean()) / score[sidelobe].std()
    assert sidelobe_psr(score, 11) == pytest.approx(expected)
    assert sidelobe_psr(np.ones((17, 17)), 11) == 0.0 and sidelobe_psr(score, 41) == 0.0  # nothing left
    assert OnlineParams().psr_window == 11 and OnlineParams().map_normalization == "minmax"


def test_kl_loss_and_its_zero_loss_threshold():
    uniform = torch.full((4,), 0.25, dtype=torch.float64)
    # sum r_t log(r_t / r_c): 0.5 log 2 + 0.5 log 2 + 0 + 0 = log 2 = 0.693 (cells with r_t = 0 count 0)
    half = kl_divergence(tensor([0.5, 0.5, 0.0, 0.0]), uniform)
    assert float(half) == pytest.approx(math.log(2))
    assert thresholded_loss(half, 1.0) == 0.0  # below T_l = 1: zero loss
    # 1 log 4 = 1.386 > T_l: kept
    assert thresholded_loss(kl_divergence(tensor([1.0, 0, 0, 0]), uniform), 1.0) == pytest.approx(math.log(4))
    # 0.7 log 7 + 0.1 log 1 + 0.1 log 1 + 0.1 log(1/7) = 0.6 log 7 = 1.1675
    swapped = kl_divergence(tensor([0.7, 0.1, 0.1, 0.1]), tensor([0.1, 0.1, 0.1, 0.7]))
    assert thresholded_loss(swapped, 1.0) == pytest.approx(0.6 * math.log(7))
    assert float(kl_divergence(uniform, uniform)) == 0.0
    assert thresholded_loss(1.0, 1.0) == 0.0  # exactly T_l: not above it


def test_relative_peak_psr_jcpp_alpha_and_the_template_update_by_hand():
    template = tensor([0.4, 0.3, 0.2, 0.1])  # window 1: sidelobe [0.3, 0.2, 0.1], PSR = 0.2 / 0.0816 = sqrt(6)
    current = tensor([0.3, 0.3, 0.2, 0.2])  # sidelobe [0.3, 0.2, 0.2]: PSR = (0.3 - 0.2333) / 0.0471 = sqrt(2)
    peak_r, psr_r, jcpp = joint_confidence(current, template, 0.5, psr_window=1)
    assert peak_r == pytest.approx(0.3 / 0.4)  # 0.75
    assert psr_r == pytest.approx(math.sqrt(2 / 6))  # min(1, sqrt(2) / sqrt(6))
    assert jcpp == pytest.approx(0.5 * 0.75 + 0.5 * math.sqrt(1 / 3))  # 0.6637
    assert joint_confidence(template, current, 0.5, psr_window=1) == (1.0, 1.0, 1.0)  # both ratios capped
    assert joint_confidence(current, template, 0.25, psr_window=1)[2] == pytest.approx(0.25 * 0.75 + 0.75 *
                                                                                         math.sqrt(1 / 3))
    alpha = update_rate(0.875, 0.7)
    assert alpha == pytest.approx((0.875 - 0.7) / 0.3)  # 0.5833
    current = tensor([0.3, 0.7 / 3, 0.7 / 3, 0.7 / 3])
    blended = blend_template(template, current, alpha)
    assert torch.allclose(blended, tensor([0.341667, 0.261111, 0.219444, 0.177778]), atol=1e-6)
    assert float(blended.sum()) == pytest.approx(1.0)  # still a distribution
    # alpha: 0 up to T_c (no update), 1 at JCPP = 1 (R_t replaced by R_c)
    assert update_rate(0.7, 0.7) == 0.0 and update_rate(0.5, 0.7) == 0.0 and update_rate(1.0, 0.7) == 1.0
    assert torch.equal(blend_template(template, current, 1.0), current)
    assert relative(2.0, 0.0) == 1.0  # a flat template (PSR 0) makes any current map at least as sharp


def test_parameters_are_the_papers():
    params = OnlineParams()
    assert (params.iterations, params.momentum, params.loss_threshold, params.confidence_threshold,
            params.peak_weight) == (4, 0.9, 1.0, 0.7, 0.5)
    assert (params.scale_num, params.scale_step, params.window_influence, params.response_up) == (3, 1.0375, 0.176, 16)
    with pytest.raises(ValueError, match="trainable_layers"):
        OnlineParams(trainable_layers=-1)
    with pytest.raises(ValueError, match="momentum"):
        OnlineParams(momentum=1.0)


# ---------------------------------------------------------------------------------------------- tracker
def tiny_network(seed: int = 0) -> SiamFC:
    torch.manual_seed(seed)
    return SiamFC({"backbone_options": {"width_mult": 0.25}})


@pytest.fixture(scope="module")
def frames():
    from tracking.synthetic.video import generate_video

    videos = [generate_video(seed, num_frames=4, size=(72, 96), difficulty="normal", name=f"S{seed}")
              for seed in (11, 12)]
    return videos


def state(module) -> dict:
    return {key: value.detach().clone() for key, value in module.state_dict().items()}


def changed(before: dict, module) -> list[str]:
    return [key for key, value in module.state_dict().items() if not torch.equal(before[key], value)]


def test_trainable_layers_select_the_last_convolutions():
    network = tiny_network()
    backbone = network.backbone
    assert trainable_parameters(network, None) == list(network.parameters())
    assert trainable_parameters(network, 0) == []
    assert trainable_parameters(network, 1) == list(backbone.conv5.parameters())  # the head has no parameters
    # conv4's convolution and the BatchNorm after it, then conv5
    assert trainable_parameters(network, 2) == [*backbone.conv4.parameters(), *backbone.conv5.parameters()]
    with pytest.raises(ValueError, match="has 5 convolutions"):
        trainable_parameters(network, 6)


def test_a_confident_frame_fine_tunes_the_copy_and_an_unconfident_one_does_not(frames, monkeypatch):
    video = frames[0]
    network = tiny_network()
    module_weights = state(network)
    optimizers = []
    original_sgd = torch.optim.SGD

    def spy(*args, **kwargs):
        optimizers.append(kwargs)
        return original_sgd(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", spy)
    # the immediate order (no deferred R_c): ``last`` describes the frame just tracked
    tracker = OnlineSiamFCTracker(network, {"loss_threshold": 0.0, "learning_rate": 1e-5, **IMMEDIATE})
    tracker.init(video.frames[0], video.boxes[0])

    # unconfident: a template map sharper than any current map (its peak and PSR far above R_c's): JCPP < T_c
    sharp = torch.full_like(tracker.template_map, 1e-6)
    sharp[8, 8] = 1 - 1e-6 * (sharp.numel() - 1)
    tracker.template_map = sharp.clone()
    copy_weights = state(tracker.learner)
    tracker.update(video.frames[1])
    assert tracker.last["jcpp"] < 0.7 and tracker.last["steps"] == 0 and tracker.last["alpha"] == 0.0
    assert changed(copy_weights, tracker.learner) == [] and torch.equal(tracker.template_map, sharp)
    assert optimizers == []

    # confident: a uniform template map (peak 1/N, PSR 0): both ratios capped at 1, JCPP = 1, alpha = 1
    uniform = torch.full_like(tracker.template_map, 1 / tracker.template_map.numel())
    tracker.template_map = uniform
    kernel_before = [k.clone() for k in tracker.kernel]
    tracker.update(video.frames[2])
    last = tracker.last
    assert last["jcpp"] == 1.0 and last["alpha"] == 1.0
    assert last["steps"] == 4 and len(last["losses"]) == 4  # 4 SGD iterations (T_l = 0 here: every loss counts)
    assert optimizers == [{"lr": 1e-5, "momentum": 0.9}]
    assert last["losses"][0] == pytest.approx(last["kl"], rel=1e-4)  # the first step's loss is the frame's KL
    assert changed(copy_weights, tracker.learner)  # the per-sequence copy was fine-tuned ...
    assert changed(module_weights, network) == []  # ... the module's network was not
    assert not all(torch.equal(a, b) for a, b in zip(kernel_before, tracker.kernel))  # tracking uses the new weights
    # R_t replaced by the R_c measured before the fine-tuning (alpha = 1), a distribution
    assert torch.equal(tracker.template_map, last["current_map"])
    assert float(tracker.template_map.sum()) == pytest.approx(1.0, abs=1e-5)

    # confident but the loss below T_l: no step (Eq. 5), the template map still updated
    high = OnlineSiamFCTracker(network, {"loss_threshold": 1e9, **IMMEDIATE})
    high.init(video.frames[0], video.boxes[0])
    high.template_map = uniform.clone()
    before = state(high.learner)
    high.update(video.frames[1])
    assert high.last["jcpp"] == 1.0 and high.last["steps"] == 0 and changed(before, high.learner) == []
    assert not torch.equal(high.template_map, uniform)
    # a new sequence starts again from the checkpoint's weights
    tracker.init(video.frames[0], video.boxes[0])
    assert changed(module_weights, tracker.learner) == []


def test_the_loss_is_back_propagated_through_both_branches(frames):
    video = frames[0]
    tracker = OnlineSiamFCTracker(tiny_network(), {"loss_threshold": 0.0, "trainable_layers": 1,
                                                   "iterations": 1, **IMMEDIATE})
    tracker.init(video.frames[0], video.boxes[0])
    tracker.template_map = torch.full_like(tracker.template_map, 1 / tracker.template_map.numel())
    gradients = []  # the spatial size of each conv5 output a gradient reached

    def on_output(module, inputs, output):
        if output.requires_grad:
            output.register_hook(lambda grad: gradients.append(tuple(grad.shape[-2:])))

    handle = tracker.learner.backbone.conv5.register_forward_hook(on_output)
    frozen = state(tracker.learner.backbone.conv4)
    tracker.update(video.frames[1])
    handle.remove()
    assert tracker.last["steps"] == 1
    assert sorted(gradients) == [(6, 6), (22, 22)]  # the exemplar's 6x6 and the search crop's 22x22 features
    assert changed(frozen, tracker.learner.backbone.conv4) == []  # trainable_layers=1: conv4 stays


def test_through_the_runner_results_do_not_depend_on_the_order(frames, tmp_path, capsys):
    from tracking.benchmarks import OTB, VOT
    from tracking.evaluation.runner import run_ope, run_vot_supervised
    from tracking.synthetic.writers import write_otb, write_vot

    first, second = frames
    for name, videos in (("both", [first, second]), ("alone", [second])):
        write_otb(videos, tmp_path / name / "otb")
        write_vot(videos, tmp_path / name / "vot")
    # fine-tune every frame (conv5, 2 iterations: the property does not depend on how much, the time does)
    params = {"loss_threshold": 0.0, "confidence_threshold": 0.0, "learning_rate": 1e-3, "trainable_layers": 1,
              "iterations": 2}
    network = tiny_network()
    module_weights = state(network)
    results = {}
    for name in ("both", "alone"):
        tracker = OnlineSiamFCTracker(network, params)
        run_ope(tracker, OTB(tmp_path / name / "otb"), tmp_path / name / "results", "online", "OTB",
                progress=False, batch=2)
        assert tracker.last["steps"] == 2 and changed(module_weights, tracker.learner)  # it did fine-tune
        run_vot_supervised(tracker, VOT(tmp_path / name / "vot"), tmp_path / name / "results", "online", "VOT",
                           progress=False, batch=2)
        results[name] = sorted(p for p in (tmp_path / name / "results").rglob(f"*{second.name}*.txt")
                               if "time" not in p.name)
    assert changed(module_weights, network) == []
    assert "no batched step" in capsys.readouterr().out  # BATCH=2 tracks one sequence at a time
    assert [p.relative_to(tmp_path / "both") for p in results["both"]] == \
        [p.relative_to(tmp_path / "alone") for p in results["alone"]]
    assert len(results["both"]) == 2  # the one-pass and the VOT result of the second sequence
    for both, alone in zip(results["both"], results["alone"]):
        assert both.read_text() == alone.read_text()
    # the comparison can fail: a tracker that kept the first sequence's fine-tuning tracks the second differently
    leaking = OnlineSiamFCTracker(network, params)
    for video in (first, second):
        leaking.init(video.frames[0], video.boxes[0])
        boxes = [leaking.update(image) for image in video.frames[1:]]
        leaking.source = leaking.learner  # the next init "resets" to the fine-tuned weights
    clean = np.loadtxt(next(p for p in results["alone"] if "OTB" in str(p)), delimiter=",")[1:]
    assert np.abs(np.array(boxes) - clean).max() > 1.0


def test_a_diverging_training_is_undone(frames):
    video = frames[0]
    tracker = OnlineSiamFCTracker(tiny_network(), {"loss_threshold": 0.0, "learning_rate": 1e12, **IMMEDIATE})
    tracker.init(video.frames[0], video.boxes[0])
    tracker.template_map = torch.full_like(tracker.template_map, 1 / tracker.template_map.numel())
    before, kernel = state(tracker.learner), [k.clone() for k in tracker.kernel]
    box = tracker.update(video.frames[1])
    assert tracker.last["jcpp"] == 1.0 and tracker.last["steps"] == 0  # the steps were taken, then undone
    assert changed(before, tracker.learner) == [] and all(torch.equal(a, b) for a, b in zip(kernel, tracker.kernel))
    assert np.all(np.isfinite(box)) and np.all(np.isfinite(tracker.update(video.frames[2])))


def test_crops_on_the_device_track_and_train(frames):
    video = frames[0]
    params = {"loss_threshold": 0.0, "confidence_threshold": 0.0, "learning_rate": 1e-3, "iterations": 1,
              **IMMEDIATE}
    boxes = {}
    for on_device in (False, True):
        tracker = OnlineSiamFCTracker(tiny_network(), {**params, "crop_on_device": on_device})
        tracker.init(video.frames[0], video.boxes[0])
        steps = []
        for image in video.frames[1:4]:
            boxes.setdefault(on_device, []).append(tracker.update(image))
            steps.append(tracker.last["steps"])
        assert sum(steps) >= 1  # R_c, the gate and SGD steps ran on the device crops
    boxes = {key: np.array(value) for key, value in boxes.items()}
    # the crops differ by OpenCV's uint8 rounding only: the tracks stay together
    assert np.abs(boxes[True] - boxes[False]).max() < 2.0


@pytest.mark.parametrize("training", [True, False], ids=["fine-tuning-every-frame", "never-confident"])
def test_the_deferred_current_map_tracks_as_the_immediate_order_in_one_call_per_frame(frames, training,
                                                                                     monkeypatch):
    video = frames[0]
    calls = []  # the batch of each tracking call (the fine-tuning's forward passes run outside inference mode)
    responses = SiamFC.responses

    def counted(self, template_features, search, *args, **kwargs):
        if torch.is_inference_mode_enabled():
            calls.append(search.shape[0])
        return responses(self, template_features, search, *args, **kwargs)

    monkeypatch.setattr(SiamFC, "responses", counted)
    params = ({"loss_threshold": 0.0, "confidence_threshold": 0.0, "learning_rate": 1e-3, "iterations": 2}
              if training else {"confidence_threshold": 0.99})
    network = tiny_network()
    runs = {}
    for deferred in (False, True):
        tracker = OnlineSiamFCTracker(network, {**params, "defer_current_map": deferred})
        tracker.init(video.frames[0], video.boxes[0])
        calls.clear()
        boxes, gates = [], []
        for image in video.frames[1:]:
            boxes.append(tracker.update(image))
            gates.append({key: tracker.last.get(key) for key in ("jcpp", "kl", "steps")})
        runs[deferred] = np.array(boxes), gates, list(calls), state(tracker.learner)
    (immediate_boxes, immediate_gates, immediate_calls, _), (boxes, gates, calls, _) = runs[False], runs[True]
    np.testing.assert_allclose(boxes, immediate_boxes, atol=1e-3)
    # the deferred step reports frame t's gate after frame t+1; the last frame gets none
    assert gates[0] == {"jcpp": None, "kl": None, "steps": None}
    for late, early in zip(gates[1:], immediate_gates[:-1]):
        assert late["steps"] == early["steps"] and late["jcpp"] == pytest.approx(early["jcpp"], abs=1e-6)
        assert late["kl"] == pytest.approx(early["kl"], rel=1e-5, abs=1e-9)
    frames_after_first = len(video.frames) - 2
    assert immediate_calls == [3, 1] * (frames_after_first + 1)  # the scales, then R_c in its own call
    # one call per frame: the scales and the previous frame's R_c together; when that R_c's training changed the
    # network, this frame's scales are scored again with it
    assert calls == [3] + [n for gate in gates[1:] for n in ([4, 3] if gate["steps"] else [4])]
    assert len(calls) == 1 + frames_after_first + sum(bool(gate["steps"]) for gate in gates[1:])
    assert any(gate["steps"] for gate in gates[1:]) == training


def test_an_online_evaluation_records_and_prints_what_online_training_did(tmp_path, capsys):
    """Per sequence, ``info/<sequence>.json`` beside the results holds how often the gate opened and how many
    trainings ran (checksummed with the results), and ``make eval-*`` prints their totals."""
    import json

    from experiments import evaluate
    from experiments.demo import save_checkpoint
    from experiments.config_library import build_model_cli
    from tracking.synthetic.video import generate_videos
    from tracking.synthetic.writers import write_otb

    write_otb(generate_videos(4, 2, num_frames=6, size=(120, 160), difficulty="easy"), tmp_path / "otb")
    checkpoint = tmp_path / "siamfc.ckpt"
    save_checkpoint(build_model_cli(["--config", "siamfc/demo", "--seed_everything=0"]).model, checkpoint)
    evaluate.main(["otb", "--ckpt", str(checkpoint), "--tracker", "online", "--data", str(tmp_path / "otb"), "--out",
                   str(tmp_path / "out"), "--no-progress", "--device", "cpu", "--set", "confidence_threshold=0",
                   "--set", "loss_threshold=0", "--set", "defer_current_map=false"])
    printed = capsys.readouterr().out
    folder = next((tmp_path / "out" / "results").glob("*/*"))
    infos = {path.stem: json.loads(path.read_text()) for path in (folder / "info").glob("*.json")}
    assert len(infos) == 2
    for info in infos.values():  # 5 frames after the first: an online step each, every gate open (T_c = 0)
        assert info["online_steps"] == 5 and info["gate_opened"] == 5 and info["trainings"] >= 1
    total = sum(info["trainings"] for info in infos.values())
    assert f"per-sequence info (2 sequences, {folder / 'info'}): gate_opened 10, online_steps 10, " in printed
    assert f"trainings {total}" in printed
    recorded = json.loads((folder / "identity.json").read_text())["results"]
    assert {f"info/{name}.json" for name in infos} <= set(recorded)
