"""SNS-CF ("Siamese network with spatially semantic correlation features") as a LightningModule.

SNS-CF is SiamRPN++ (ResNet-50 at stride 8, conv3/4/5 through 1x1 convs to 256 channels, three depth-wise RPN
heads, learned layer weights beta fusing the per-layer boxes, Eq. 3) plus an adaptive correlation filter (ACF) on
each of the three feature levels. The network is ``SiamRPNppModule``'s, unchanged: the filters are solved in closed
form (``tracking.models.correlation_filter``) and have no weights, so the parameter count is SiamRPN++'s
(53,950,624 for ResNet-50). What SNS-CF adds is a training loss and a tracker (``tracking.trackers.snscf``).

Where the paper is silent, the values are those of the correlation-filter tracker it builds on and compares with
(HCF / CF2, Ma et al. ICCV 2015, its reference [3]), each a config value:

- **Filter** (``cf:`` for training, the ``snscf`` tracker's ``cf_*`` for tracking): ridge lambda 1e-4 relative
  to the mean feature energy (HCF divides the energies by the number of feature elements), Gaussian label width
  0.1 x sqrt(target area) in feature cells (HCF ``output_sigma_factor``), cosine window on the features, update rate
  0.01 (HCF ``interp_factor``; the numerator and energy are interpolated), level weights 0.02 / 0.5 / 1 for
  conv3 / conv4 / conv5 (HCF ``nweights``). Eq. 9's conjugate is moved to one factor (see the filter module).
- **Features**: the filters read the neck's 256-channel maps, the features the RPNs correlate (the paper attaches the
  filters to "every convolutional layer output" feeding RPN1-3); the 2048-channel conv5 map would cost 8x more FFTs.
- **Joint loss** (:meth:`SNSCFModule.compute_losses`): pysot's RPN loss plus lambda_cf x the filter's Eq. 7 loss
  (``tracking.models.correlation_filter.correlation_filter_loss``): as correlation-filter layers are trained end to
  end (DCFNet, CFNet), the filter is solved in closed form on the template crop's features (the whole 15x15 map,
  windowed, zero-padded to the search map's 31x31 at the same scale, both maps then to 32x32 for a fast FFT), with
  the label at the template's target,
  applied to the search crop's features, and regressed to the Gaussian at the known target position there:
  ``sum_{m,n} (f - y)^2 + lambda ||w||^2``, averaged over the positive pairs and summed over the levels
  ``cf.levels`` (``cf.level_reduction: sum``: the paper's joint loss is a sum; ``mean`` divides it by their count).
  lambda_cf = 1 (``cf.weight``): the paper's training loss is "the sum" of the two. Negative pairs have no target
  and only enter the RPN loss. Batches without ``template_box`` take the template's target at the crop centre.
- **Schedule** (configs ``experiments/configs/snscf/``): 5 epochs training the RPN branches only (neck and heads,
  backbone frozen) at lr 0.001, then 15 epochs end to end with the lr decayed exponentially from 0.004 to 0.0004,
  SGD momentum 0.9, 16 pairs per GPU on 8 GPUs. It is the base's per-epoch learning-rate space: a constant
  "warm-up" of 5 epochs (0.001 -> 0.001) followed by the "log" policy, which is the exponential decay that starts
  at 0.004 and ends at 0.0004 (the "exp" policy is SiamFC's, stopping one factor above its end), and the
  ``BackboneUnfreeze`` callback training every backbone layer from epoch 5 at the schedule's rate ("end to end";
  the paper gives no backbone scale, SiamRPN++'s 0.1 is a config value away). Weight decay and gradient clipping,
  not stated, are SiamRPN++'s (1e-4, 10).
- **Tracker** ``snscf`` (``tracking.trackers.snscf``): SiamRPN++'s step ranked by the fused filter responses (the
  paper drops the RPN scores; a blend or product with them is a parameter), then SiamRPN++'s penalty, window and
  size smoothing, and the filters' update at the new position.
"""
from __future__ import annotations

import torch

from lightning_modules.base import OptimizerSchedule, plain
from lightning_modules.siamrpnpp import SiamRPNppModule
from tracking.models.config import AnchorTargetParams, SiamRPNNetwork
from tracking.models.correlation_filter import CorrelationFilterLoss, correlation_filter_loss, feature_cells
from tracking.params import build_params
from tracking.trackers.snscf import SNSCFParams, SNSCFTracker


def box_centers_and_sizes(corners: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 4) corners ``x1, y1, x2, y2`` -> centres (B, 2) and sizes (B, 2), in the same pixels."""
    corners = corners.float()
    return (corners[:, :2] + corners[:, 2:]) / 2, corners[:, 2:] - corners[:, :2]


class SNSCFModule(SiamRPNppModule):
    """SiamRPN++ trained with SNS-CF's joint loss; tracker ``snscf`` (see the module docstring).

    Args: those of ``SiamRPNppModule`` (``tracker`` holds the ``snscf`` tracker's ``SNSCFParams``), and
        cf: the correlation-filter loss (``CorrelationFilterLoss``: levels, ridge lambda, label width, lambda_cf).

    Batches: ``SiamRPNppModule``'s, and optionally ``template_box`` (B, 4) corners of the target in the template
    crop (the pair data module's; a jittered template is not centred).
    """

    trackers = {"snscf": SNSCFTracker}
    main_tracker = "snscf"

    def __init__(self, network: SiamRPNNetwork = SiamRPNNetwork(), tracker: SNSCFParams = SNSCFParams(),
                 trackers: dict[str, dict] | None = None, benchmark_tracker: dict[str, dict] | None = None,
                 targets: AnchorTargetParams = AnchorTargetParams(),
                 cf: CorrelationFilterLoss = CorrelationFilterLoss(), cls_loss_weight: float = 1.0,
                 loc_loss_weight: float = 1.2, train_search_size: int = 255, context_amount: float = 0.5,
                 pretrained_backbone: str = "", optim: OptimizerSchedule = OptimizerSchedule(),
                 target_seed: int = 0):
        super().__init__(network=network, tracker=tracker, trackers=trackers, benchmark_tracker=benchmark_tracker,
                         targets=targets,
                         cls_loss_weight=cls_loss_weight, loc_loss_weight=loc_loss_weight,
                         train_search_size=train_search_size, context_amount=context_amount,
                         pretrained_backbone=pretrained_backbone, optim=optim, target_seed=target_seed)
        self.cf_config = build_params(CorrelationFilterLoss, cf, "cf")
        levels = len(self.network_config.used_layers)
        if any(not 0 <= level < levels for level in self.cf_config.levels):
            raise ValueError(f"cf.levels {list(self.cf_config.levels)}: the network has {levels} feature level(s) "
                             f"(0 .. {levels - 1}, conv3 first)")
        weights = self.tracker_defaults["snscf"].cf_layer_weights
        if len(weights) != levels:
            raise ValueError(f"tracker.cf_layer_weights has {len(weights)} value(s) for {levels} feature level(s)")
        self.save_hyperparameters(plain({"cf": self.cf_config}))

    def compute_losses(self, batch: dict, generator: torch.Generator) -> dict:
        if self.cf_config.weight == 0:  # SiamRPN++ alone (Table 3's baseline column)
            return super().compute_losses(batch, generator)
        cls, loc, template_maps, search_maps = self.model.forward_levels(batch["template"], batch["search"])
        losses = self.rpn_losses(cls, loc, batch, generator)
        losses["cf"] = self.filter_loss(template_maps, search_maps, batch)
        losses["total"] = losses["total"] + self.cf_config.weight * losses["cf"]
        return losses

    def filter_loss(self, template_maps: list, search_maps: list, batch: dict) -> torch.Tensor:
        """The Eq. 7 term (module docstring) of the levels ``cf.levels``, summed (or averaged: ``cf.level_reduction``)."""
        stride = float(self.network_config.anchor_stride)
        template_size, search_size = batch["template"].shape[-1], batch["search"].shape[-1]
        search_centers, search_sizes = box_centers_and_sizes(batch["search_box"])
        if batch.get("template_box") is not None:
            template_centers, template_sizes = box_centers_and_sizes(batch["template_box"])
        else:
            template_centers = torch.full_like(search_centers, (template_size - 1) / 2)
            template_sizes = search_sizes
        valid = ~batch["negative"].to(torch.bool)
        losses = []
        for level in self.cf_config.levels:
            template, search = template_maps[level], search_maps[level]
            losses.append(correlation_filter_loss(
                template, search, feature_cells(template_centers, template_size, template.shape[-1], stride),
                template_sizes / stride, feature_cells(search_centers, search_size, search.shape[-1], stride),
                search_sizes / stride, valid, self.cf_config.ridge_lambda, self.cf_config.sigma_factor))
        losses = torch.stack(losses)
        return losses.sum() if self.cf_config.level_reduction == "sum" else losses.mean()

