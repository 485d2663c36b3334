"""Training losses: SiamRPN++'s (pysot ``models/loss.py``: balanced cross-entropy plus weighted L1 regression) and
SiamFC's (siamfc-pytorch: score-map labels ``_create_labels``, ``siamfc.py:307-339``, and ``BalancedLoss``,
``losses.py:27-43``)."""
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


def siamfc_labels(size: int, total_stride: int = 8, positive_radius: float = 16.0, negative_radius: float = 0.0,
                  device=None) -> torch.Tensor:
    """SiamFC's (size, size) score-map labels: 1 within L1 ("block") distance ``positive_radius / total_stride``
    cells of the centre, 0.5 closer than ``negative_radius / total_stride`` (an empty band with the reference's
    0), 0 elsewhere. The reference's r_pos 16 and stride 8 give 13 positives on a 15x15 map (212 negatives)."""
    offsets = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    distance = offsets[None, :].abs() + offsets[:, None].abs()
    positive, negative = positive_radius / total_stride, negative_radius / total_stride
    middle = torch.where(distance < negative, torch.full_like(distance, 0.5), torch.zeros_like(distance))
    return torch.where(distance <= positive, torch.ones_like(distance), middle)


def balanced_logistic_loss(logits: torch.Tensor, labels: torch.Tensor, negative_weight: float = 1.0) -> torch.Tensor:
    """siamfc-pytorch's ``BalancedLoss``: logistic loss weighted ``1 / #positives`` on the positives and
    ``negative_weight / #negatives`` on the negatives, counted over the whole batch, the weights normalised to
    sum 1 and the weighted terms summed: 0.5 x mean positive loss + 0.5 x mean negative loss. Labels other than
    0 and 1 weigh nothing; an empty set contributes nothing. Computed in float32 (safe under autocast)."""
    labels = labels.float()
    positives, negatives = (labels == 1).float(), (labels == 0).float()
    weight = positives / positives.sum().clamp(min=1) + negatives * negative_weight / negatives.sum().clamp(min=1)
    weight = weight / weight.sum()
    return F.binary_cross_entropy_with_logits(logits.float(), labels, weight, reduction="sum")
