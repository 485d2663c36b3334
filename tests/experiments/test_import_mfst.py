"""`make import-mfst`: the paper's two separately trained branches assembled into one MFST checkpoint (each whole:
backbone, SE blocks, biases) that `make eval-*` runs; a branch without a source is an error."""
from __future__ import annotations

import pytest
import torch

from experiments.demo import save_checkpoint
from experiments.import_mfst import main
from lightning_modules.checkpoints import load_tracker
from lightning_modules.mfst import MFSTModule

SMALL = {"s_backbone_options": {"width_mult": 0.25}, "a_backbone_options": {"width_mult": 0.25}}
CONFIG = """base: mfst/mfst
model:
  init_args:
    network:
      s_backbone_options: {width_mult: 0.25}
      a_backbone_options: {width_mult: 0.25}
"""


def branch_run(path, branch: str, seed: int) -> MFSTModule:
    """A branch run's checkpoint (mfst/siamfc_se or mfst/alexnet_se at a small width) with trained-looking values."""
    torch.manual_seed(seed)
    module = MFSTModule(network={**SMALL, "branches": [branch]})
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    save_checkpoint(module, path)
    return module


def test_two_branch_runs_assembled_into_one_checkpoint(tmp_path, capsys):
    s, a = branch_run(tmp_path / "s.ckpt", "s", 0), branch_run(tmp_path / "a.ckpt", "a", 1)
    (tmp_path / "small.yaml").write_text(CONFIG)
    assert main(["--s", str(tmp_path / "s.ckpt"), "--a", str(tmp_path / "a.ckpt"), "--config",
                 str(tmp_path / "small.yaml"), "--out", str(tmp_path / "mfst.ckpt")]) == 0
    assert "wrote" in capsys.readouterr().out
    # the checkpoint's weights as written (a tracker would otherwise fold BatchNorm into its copy)
    tracker = load_tracker(str(tmp_path / "mfst.ckpt"), {"fold_batchnorm": False}, tracker="mfst")
    for branch, donor in (("s", s), ("a", a)):
        ours = tracker.net.module.branches[branch].state_dict()
        for key, value in donor.model.branches[branch].state_dict().items():
            assert torch.equal(ours[key], value), (branch, key)
    assert tracker.params.branch_weights == (0.3, 0.7)
    with pytest.raises(SystemExit) as exit_info:
        main(["--s", str(tmp_path / "s.ckpt"), "--config", str(tmp_path / "small.yaml"), "--out",
              str(tmp_path / "x.ckpt")])
    assert exit_info.value.code == 2 and "give --a" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--s", str(tmp_path / "a.ckpt"), "--a", str(tmp_path / "a.ckpt"), "--config",
              str(tmp_path / "small.yaml"), "--out", str(tmp_path / "x.ckpt")])
    assert "holds neither an MFST branch S (model.branches.s.*) nor a SiamFC backbone" in capsys.readouterr().err
