"""Hierarchical SiamFC's comparison (Hierarchical estimation for SiamFC, Figs. 4-5): per backbone, SiamFC's step on
conv3, conv4 or conv5 alone and the hierarchical tracker, success AUC and precision@20 on OTB-2013.

The paper's "OTB50" is OTB-2013 (51 sequences): its Fig. 1 tracks Lemming, which is in OTB-2013 and not in TB-50,
and the online-training paper of the same line of work calls OTB-2013 the 50-video benchmark. The four columns of
a backbone run one checkpoint (``hsiamfc/<backbone>``, the ImageNet weights as they are: ``make import-siamfc
IMAGENET=... CONFIG=hsiamfc/<backbone>``; ``--ckpt hsiamfc/<backbone>=PATH``) with its trackers conv3 / conv4 /
conv5 / hierarchical. The paper prints only VGG-19's hierarchical scores; its other results are gains over conv4.
"""
from experiments.ablation import AblationColumn, AblationPlan

BACKBONES = (("VGG-19", "vgg19"), ("ResNet-50", "resnet50"), ("DenseNet-169", "densenet169"))
PAPER = {("vgg19", "hierarchical"): (("success", 0.604), ("precision", 0.859))}

PLAN = AblationPlan(
    title="Hierarchical SiamFC: single layers vs hierarchical",
    columns=tuple(AblationColumn(f"{name} {tracker}", f"hsiamfc/{backbone}", paper=PAPER.get((backbone, tracker), ()),
                                 tracker=tracker)
                  for name, backbone in BACKBONES for tracker in ("conv3", "conv4", "conv5", "hierarchical")),
    note="paper (OTB-2013): VGG-19 hierarchical 0.604 / 0.859; hierarchical over conv4: ResNet-50 +3.1 % success "
         "and +3.2 % precision, DenseNet-169 +3.8 % and +5.3 % (nan: not printed)",
    one_pass_metrics="ope_scores",
    benchmark_options=(("version", 2013),),
)
