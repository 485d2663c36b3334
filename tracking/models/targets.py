"""Anchor targets of SiamRPN++ training (pysot ``datasets/anchor_target.py``), vectorised over the batch.

Positive pair: anchors with IoU > ``thr_high`` are positives (a random ``pos_num`` at most), IoU <
``thr_low`` negatives (a random ``total_num - pos_num`` at most), the rest ignored; regression targets
``(tcx - cx) / w, (tcy - cy) / h, log(tw / w), log(th / h)`` weighted ``1 / num_pos`` on the positives.
Negative pair (template and search of different objects): only anchors in the 7x7 cells around the
target's projected cell are negatives (a random ``neg_num`` at most); no regression.
"""
from __future__ import annotations

import torch

from tracking.models.anchors import generate_anchors


def _keep_random(candidates: torch.Tensor, keep: int, generator: torch.Generator | None) -> torch.Tensor:
    """Per row of a (B, N) bool mask, keep at most ``keep`` True entries chosen uniformly at random."""
    keys = torch.rand(candidates.shape, generator=generator, device=generator.device if generator is not None
                      else candidates.device)
    keys = keys.to(candidates.device).masked_fill(~candidates, 2.0)
    order = keys.argsort(dim=1)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return candidates & (ranks < keep)


class AnchorTargetBuilder:
    """Targets for a ``SiamRPNNetwork`` on search crops of ``search_size`` (``AnchorTargetParams``: thresholds
    and counts). ``builder(search_boxes (B, 4) corners, negative (B,) bool, generator=None) -> labels, loc_target,
    loc_weight`` with shapes (B, K, S, S) long in {-1, 0, 1}, (B, 4, K, S, S) float, (B, K, S, S) float.

    Works on the device of ``search_boxes``; the random subsampling draws from ``generator`` (a
    ``torch.Generator`` on that device, or on the CPU) so it is reproducible per seed.
    """

    def __init__(self, network, search_size: int, params=None):
        from tracking.models.config import AnchorTargetParams

        self.config = params if params is not None else AnchorTargetParams()
        self.search_size = search_size
        self.score_size = network.score_size_for(search_size)
        self.anchor_num = network.anchor_num
        self.anchor_stride = network.anchor_stride
        anchors = torch.from_numpy(generate_anchors(network, search_size))
        self.anchors = anchors.reshape(self.anchor_num, self.score_size, self.score_size, 4)  # cx, cy, w, h

    def __call__(self, search_boxes: torch.Tensor, negative: torch.Tensor,
                 generator: torch.Generator | None = None):
        cfg = self.config
        device = search_boxes.device
        boxes = search_boxes.to(torch.float32)
        negative = negative.to(device=device, dtype=torch.bool)
        batch, k, s = boxes.shape[0], self.anchor_num, self.score_size
        anchors = self.anchors.to(device)
        acx, acy, aw, ah = anchors.unbind(-1)  # (K, S, S)
        ax1, ay1, ax2, ay2 = acx - aw * 0.5, acy - ah * 0.5, acx + aw * 0.5, acy + ah * 0.5

        x1, y1, x2, y2 = (boxes[:, i].view(batch, 1, 1, 1) for i in range(4))
        tcx, tcy, tw, th = (x1 + x2) * 0.5, (y1 + y2) * 0.5, x2 - x1, y2 - y1

        # regression targets of every anchor (used where positive)
        # (sizes floored at 1e-3 px only so a degenerate box cannot turn the masked-out targets into NaN)
        log_w, log_h = torch.log(tw.clamp(min=1e-3) / aw), torch.log(th.clamp(min=1e-3) / ah)
        delta = torch.stack([(tcx - acx) / aw, (tcy - acy) / ah, log_w, log_h], dim=1)

        inter_w = (torch.minimum(x2, ax2) - torch.maximum(x1, ax1)).clamp(min=0)
        inter_h = (torch.minimum(y2, ay2) - torch.maximum(y1, ay1)).clamp(min=0)
        inter = inter_w * inter_h
        iou = inter / ((ax2 - ax1) * (ay2 - ay1) + tw * th - inter)  # (B, K, S, S)

        positive_pair = ~negative.view(batch, 1, 1, 1)
        pos_candidates = (iou > cfg.thr_high) & positive_pair
        neg_candidates = (iou < cfg.thr_low) & positive_pair

        # negative pair: the 7x7 cells around the cell the target's center projects to
        centre = s // 2
        col = centre + torch.ceil((tcx.view(batch) - self.search_size // 2) / self.anchor_stride + 0.5).long()
        row = centre + torch.ceil((tcy.view(batch) - self.search_size // 2) / self.anchor_stride + 0.5).long()
        cells = torch.arange(s, device=device)
        in_cols = (cells[None, :] >= col[:, None] - 3) & (cells[None, :] < col[:, None] + 4)
        in_rows = (cells[None, :] >= row[:, None] - 3) & (cells[None, :] < row[:, None] + 4)
        window = (in_rows[:, :, None] & in_cols[:, None, :])[:, None].expand(batch, k, s, s)
        window = window & negative.view(batch, 1, 1, 1)

        flat = (batch, k * s * s)
        positives = _keep_random(pos_candidates.reshape(flat), cfg.pos_num, generator)
        negatives = _keep_random(neg_candidates.reshape(flat), cfg.total_num - cfg.pos_num, generator)
        window_negatives = _keep_random(window.reshape(flat), cfg.neg_num, generator)
        negatives = negatives | window_negatives

        labels = torch.full(flat, -1, dtype=torch.long, device=device)
        labels[negatives] = 0
        labels[positives] = 1
        num_pos = positives.sum(dim=1, keepdim=True).to(torch.float32)
        loc_weight = positives.to(torch.float32) / (num_pos + 1e-6)

        # the reference leaves a negative pair's regression targets at zero
        delta = torch.where(positive_pair.view(batch, 1, 1, 1, 1), delta, torch.zeros_like(delta))
        return (labels.view(batch, k, s, s), delta.contiguous(), loc_weight.view(batch, k, s, s))
