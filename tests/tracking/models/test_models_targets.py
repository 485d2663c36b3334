"""Anchor targets and the RPN loss against straightforward restatements of pysot's anchor_target.py / loss.py."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tracking.models.config import AnchorTargetParams, SiamRPNNetwork
from tracking.models.losses import rpn_loss
from tracking.models.targets import AnchorTargetBuilder

CONFIG = SiamRPNNetwork()  # pysot's r50_l234 network: 5 anchors, stride 8, base size 8
TARGETS = AnchorTargetParams()  # pysot TRAIN.THR_HIGH 0.6, THR_LOW 0.3, POS_NUM 16, NEG_NUM 16, TOTAL_NUM 64


def test_target_defaults_are_pysots():
    assert (TARGETS.thr_high, TARGETS.thr_low, TARGETS.pos_num, TARGETS.neg_num, TARGETS.total_num) == \
        (0.6, 0.3, 16, 16, 64)


def reference_candidates(target, negative, config=CONFIG, search_size=255):
    """pysot AnchorTarget.__call__ before its random subsampling: candidate masks and deltas (numpy)."""
    size = config.score_size_for(search_size)
    stride = config.anchor_stride
    # pysot Anchors.generate_anchors / generate_all_anchors
    base = []
    for r in config.anchor_ratios:
        ws = int(np.sqrt(stride * stride * 1.0 / r))
        hs = int(ws * r)
        for s in config.anchor_scales:
            base.append([-ws * s * 0.5, -hs * s * 0.5, ws * s * 0.5, hs * s * 0.5])
    a0x = search_size // 2 - size // 2 * stride
    zero = np.array(base, dtype=np.float32) + a0x
    cx = ((zero[:, 0] + zero[:, 2]) * 0.5).reshape(-1, 1, 1) + np.arange(size).reshape(1, 1, -1) * stride
    cy = ((zero[:, 1] + zero[:, 3]) * 0.5).reshape(-1, 1, 1) + np.arange(size).reshape(1, -1, 1) * stride
    w = (zero[:, 2] - zero[:, 0]).reshape(-1, 1, 1) + np.zeros((1, size, size))
    h = (zero[:, 3] - zero[:, 1]).reshape(-1, 1, 1) + np.zeros((1, size, size))
    cx, cy = cx + np.zeros_like(w), cy + np.zeros_like(w)
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    tx1, ty1, tx2, ty2 = target
    tcx, tcy, tw, th = (tx1 + tx2) / 2, (ty1 + ty2) / 2, tx2 - tx1, ty2 - ty1
    if negative:
        ccx = size // 2 + int(np.ceil((tcx - search_size // 2) / stride + 0.5))
        ccy = size // 2 + int(np.ceil((tcy - search_size // 2) / stride + 0.5))
        window = np.zeros((len(base), size, size), bool)
        window[:, max(0, ccy - 3):min(size, ccy + 4), max(0, ccx - 3):min(size, ccx + 4)] = True
        return None, window, np.zeros((4, len(base), size, size))
    delta = np.stack([(tcx - cx) / w, (tcy - cy) / h, np.log(tw / w), np.log(th / h)])
    xx1, yy1 = np.maximum(tx1, x1), np.maximum(ty1, y1)
    xx2, yy2 = np.minimum(tx2, x2), np.minimum(ty2, y2)
    inter = np.maximum(0, xx2 - xx1) * np.maximum(0, yy2 - yy1)
    iou = inter / ((x2 - x1) * (y2 - y1) + tw * th - inter)
    return iou > TARGETS.thr_high, iou < TARGETS.thr_low, delta


def test_targets_match_reference_and_subsample_limits():
    boxes = torch.tensor([[95.0, 111.0, 159.0, 143.0],    # few positives: all kept
                          [72.0, 103.0, 188.0, 141.0],    # 18 positive candidates: 16 kept
                          [30.0, 170.0, 100.0, 220.0],    # off-center
                          [100.0, 100.0, 160.0, 150.0],   # negative pair near the center
                          [200.0, 20.0, 250.0, 60.0]])    # negative pair near a corner (window clipped)
    negative = torch.tensor([False, False, False, True, True])
    builder = AnchorTargetBuilder(CONFIG, 255)
    labels, loc_target, loc_weight = builder(boxes, negative, torch.Generator().manual_seed(3))
    assert labels.shape == (5, 5, 25, 25) and labels.dtype == torch.long
    assert loc_target.shape == (5, 4, 5, 25, 25) and loc_weight.shape == (5, 5, 25, 25)
    for i in range(5):
        pos_ref, neg_ref, delta_ref = reference_candidates(boxes[i].numpy().astype(np.float64), bool(negative[i]))
        lab = labels[i].numpy()
        if negative[i]:
            assert not (lab == 1).any()
            assert (lab == 0).sum() == min(16, neg_ref.sum())
            assert np.all(neg_ref[lab == 0])  # chosen only inside the 7x7 window
            assert loc_weight[i].sum() == 0 and loc_target[i].abs().sum() == 0
            continue
        num_pos = min(16, pos_ref.sum())
        assert pos_ref.sum() > 0
        assert (lab == 1).sum() == num_pos and np.all(pos_ref[lab == 1])
        assert (lab == 0).sum() == min(48, neg_ref.sum()) and np.all(neg_ref[lab == 0])
        np.testing.assert_allclose(loc_target[i].numpy(), delta_ref, rtol=1e-5, atol=1e-5)
        weights = loc_weight[i].numpy()
        np.testing.assert_allclose(weights[lab == 1], 1.0 / num_pos, rtol=1e-5)
        assert weights[lab != 1].sum() == 0
    # fewer than 16 candidates: the positive set is exactly the reference's; more: 16 of them
    pos_ref, _, _ = reference_candidates(boxes[0].numpy().astype(np.float64), False)
    assert 0 < pos_ref.sum() < 16 and np.array_equal(labels[0].numpy() == 1, pos_ref)
    assert reference_candidates(boxes[1].numpy().astype(np.float64), False)[0].sum() == 18
    assert (labels[1] == 1).sum() == 16


def test_targets_are_seeded():
    boxes = torch.tensor([[72.0, 103.0, 188.0, 141.0]] * 3)
    negative = torch.tensor([False, False, True])
    builder = AnchorTargetBuilder(CONFIG, 255)
    first = builder(boxes, negative, torch.Generator().manual_seed(0))[0]
    again = builder(boxes, negative, torch.Generator().manual_seed(0))[0]
    other = builder(boxes, negative, torch.Generator().manual_seed(1))[0]
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.equal(first[0], first[1])  # each sample draws its own subset


def reference_loss(cls, loc, labels, loc_target, loc_weight):
    """pysot ModelBuilder.log_softmax + select_cross_entropy_loss + weight_l1_loss, restated."""
    b, a2, h, w = cls.shape
    log_prob = F.log_softmax(cls.view(b, 2, a2 // 2, h, w).permute(0, 2, 3, 4, 1), dim=4).reshape(-1, 2)
    flat = labels.reshape(-1)
    pos, neg = torch.nonzero(flat == 1).squeeze(1), torch.nonzero(flat == 0).squeeze(1)
    loss_pos = F.nll_loss(log_prob[pos], flat[pos])
    loss_neg = F.nll_loss(log_prob[neg], flat[neg])
    cls_loss = 0.5 * loss_pos + 0.5 * loss_neg
    diff = (loc.view(b, 4, -1, h, w) - loc_target).abs().sum(dim=1)
    loc_loss = (diff * loc_weight).sum() / b
    return cls_loss, loc_loss


def test_loss_matches_reference_and_balances():
    gen = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[95.0, 111.0, 159.0, 143.0], [72.0, 103.0, 188.0, 141.0], [100.0, 100.0, 160.0, 150.0]])
    negative = torch.tensor([False, False, True])
    labels, loc_target, loc_weight = AnchorTargetBuilder(CONFIG, 255)(boxes, negative, gen)
    cls = torch.randn(3, 10, 25, 25, generator=gen, requires_grad=True)
    loc = torch.randn(3, 20, 25, 25, generator=gen, requires_grad=True)
    out = rpn_loss(cls, loc, labels, loc_target, loc_weight)
    ref_cls, ref_loc = reference_loss(cls, loc, labels, loc_target, loc_weight)
    assert torch.isclose(out["cls"], ref_cls, rtol=1e-5) and torch.isclose(out["loc"], ref_loc, rtol=1e-5)
    assert torch.isclose(out["total"], ref_cls + 1.2 * ref_loc, rtol=1e-5)
    out["total"].backward()
    assert cls.grad.abs().sum() > 0 and loc.grad.abs().sum() > 0
    # a perfect prediction has zero regression loss and near-zero classification loss
    perfect_cls = torch.zeros(3, 2, 5, 25, 25)
    perfect_cls[:, 1] = torch.where(labels == 1, 20.0, -20.0)
    perfect_loc = loc_target.reshape(3, 20, 25, 25)
    perfect = rpn_loss(perfect_cls.reshape(3, 10, 25, 25), perfect_loc, labels, loc_target, loc_weight)
    assert perfect["loc"] == 0 and perfect["cls"] < 1e-6


def test_loss_with_no_positives_is_finite():
    boxes = torch.tensor([[100.0, 100.0, 160.0, 150.0]])
    labels, loc_target, loc_weight = AnchorTargetBuilder(CONFIG, 255)(boxes, torch.tensor([True]))
    cls = torch.zeros(1, 10, 25, 25, requires_grad=True)
    out = rpn_loss(cls, torch.zeros(1, 20, 25, 25), labels, loc_target, loc_weight)
    assert torch.isfinite(out["total"]) and out["loc"] == 0
    assert out["cls"].item() == pytest.approx(0.5 * np.log(2), rel=1e-5)  # negatives only, uniform scores
