"""SiamRPN++ training loss (pysot ``models/loss.py``): balanced cross-entropy plus weighted L1 regression."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rpn_loss(cls: torch.Tensor, loc: torch.Tensor, labels: torch.Tensor, loc_target: torch.Tensor,
             loc_weight: torch.Tensor, cls_weight: float = 1.0, loc_weight_factor: float = 1.2) -> dict:
    """Loss of a batch of score maps against anchor targets.

    ``cls`` (B, 2K, S, S) logits ordered (background x K, foreground x K); ``loc`` (B, 4K, S, S);
    ``labels`` (B, K, S, S) in {-1, 0, 1}; ``loc_target`` (B, 4, K, S, S); ``loc_weight`` (B, K, S, S).
    Classification: 0.5 x mean NLL over the batch's positives + 0.5 x mean NLL over its negatives (a term
    with no anchors contributes 0). Regression: sum over the 4 coordinates of |loc - target| times
    ``loc_weight`` (1/num_pos on positives), summed and divided by the batch size.
    Returns ``dict(total, cls, loc)``; computed in float32 (safe under bf16/fp16 autocast).
    """
    batch, channels, height, width = cls.shape
    anchor_num = channels // 2
    log_prob = F.log_softmax(cls.float().view(batch, 2, anchor_num, height, width), dim=1)
    positives = (labels == 1).float()
    negatives = (labels == 0).float()
    # masked sums rather than index_select: every parameter stays in the graph (DDP) and empty sets give 0
    loss_pos = -(log_prob[:, 1] * positives).sum() / positives.sum().clamp(min=1)
    loss_neg = -(log_prob[:, 0] * negatives).sum() / negatives.sum().clamp(min=1)
    cls_loss = 0.5 * loss_pos + 0.5 * loss_neg

    pred = loc.float().view(batch, 4, anchor_num, height, width)
    diff = (pred - loc_target.float()).abs().sum(dim=1)
    loc_loss = (diff * loc_weight.float()).sum() / batch
    total = cls_weight * cls_loss + loc_weight_factor * loc_loss
    return {"total": total, "cls": cls_loss, "loc": loc_loss}
