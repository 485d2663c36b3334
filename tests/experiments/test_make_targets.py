"""The make targets with paths holding spaces and non-ASCII letters (the Makefile quotes its variables)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    from tracking.synthetic.video import generate_videos
    from tracking.synthetic.writers import write_otb

    base = tmp_path_factory.mktemp("make") / "dätä with spaces"
    write_otb(generate_videos(3, 2, num_frames=5, size=(64, 80), difficulty="easy"), base / "otb bench")
    return base


def _make(root, *arguments) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(["make", "--no-print-directory", *arguments], cwd=root, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.timeout(600)
def test_eval_score_and_show_with_awkward_paths(awkward, pytestconfig):
    root = pytestconfig.rootpath
    data, out = awkward / "otb bench", awkward / "öut dir"
    printed = _make(root, "eval-otb", "CKPT=baseline:ncc", f"DATA={data}", f"OUT={out}", "NAME=ncc run",
                    "EXTRA=--no-progress")
    assert "ncc run on OTB" in printed
    results = out / "results" / "OTB" / "ncc run"
    assert sorted(p.name for p in results.glob("*.txt")) == [f"synthetic3_00{i}.txt" for i in range(2)]
    performance = json.loads((out / "reports" / "OTB" / "ncc run" / "performance.json").read_text())
    assert performance["ncc run"]["overall"]["success_score"] > 0

    printed = _make(root, "score-otb", f"RESULTS={results}", f"DATA={data}", f"OUT={awkward / 'scöres'}")
    assert "ncc run on otb" in printed and "success_auc" in printed
    sequence = data / "synthetic3_000"
    video = awkward / "vidéo out" / "clip.gif"
    _make(root, "show", f"SEQ={sequence}", f"RESULTS={results}:{results}", f"OUT={video}",
          "EXTRA=--no-progress")
    assert video.stat().st_size > 0


def test_show_tracks_live_with_a_checkpoint(awkward):
    from experiments import show

    sequence = awkward / "otb bench" / "synthetic3_001"
    path = show.main(["--seq", str(sequence), "--ckpt", "baseline:ncc", "--set", "window_influence=0.1",
                      "--out", str(awkward / "live.gif"), "--no-progress"])
    import imageio.v3 as iio

    assert iio.imread(path).shape[0] == 5  # one frame per sequence frame
    with pytest.raises(ValueError, match="--results.*--ckpt"):
        show.main(["--seq", str(sequence), "--out", str(awkward / "none.gif")])
    with pytest.raises(ValueError, match="baseline"):
        show.main(["--seq", str(sequence), "--ckpt", "baseline:ncc", "--tracker", "siamrpn",
                   "--out", str(awkward / "x.gif")])


def test_siamfc_online_is_one_paper_name_with_its_other_spelling_accepted(pytestconfig):
    """``make demo PAPER=siamfc-online`` runs siamfc_online's plan into the same folder as PAPER=siamfc_online; the
    train target's default config is the paper's AlexNet (dry runs: ``make -n``)."""
    root = pytestconfig.rootpath
    for paper in ("siamfc_online", "siamfc-online"):
        printed = _make(root, "-n", "demo", f"PAPER={paper}", "OUT=out")
        assert '--out "out/demo-siamfc_online"' in printed and '--paper "siamfc_online"' in printed
        printed = _make(root, "-n", "ablation", f"PAPER={paper}", "DATA=otb", "OUT=out")
        assert '--paper "siamfc_online"' in printed and '--out "out/ablation-siamfc_online"' in printed
    printed = _make(root, "-n", "train-siamfc-online", "OUT=out")
    assert '--config "siamfc_online/imagenet_alexnet"' in printed
    assert '--out "out/runs/siamfc_online/imagenet_alexnet"' in printed
    printed = _make(root, "-n", "train-siamfc-online", "CONFIG=siamfc_online/imagenet_vgg19", "OUT=out")
    assert '--config "siamfc_online/imagenet_vgg19"' in printed
