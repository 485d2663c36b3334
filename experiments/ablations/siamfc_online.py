"""SiamFC online training's Table 1 and Fig. 3 (Online training for SiamFC): per backbone, SiamFC's tracker without
and with online training, success AUC, precision@20 and FPS on OTB-2013.

Each backbone's two columns run one checkpoint (``siamfc/imagenet_<backbone>``: the ImageNet weights as they are,
``make import-siamfc IMAGENET=... CONFIG=siamfc/imagenet_<backbone>``; ``--ckpt siamfc/imagenet_<backbone>=PATH``)
with its ``siamfc`` and ``online`` trackers. The paper prints FPS (Table 1, a GTX 1080 Ti) and the gains of online
training (Fig. 3 text); success and precision are not printed.
"""
from experiments.ablation import AblationColumn, AblationPlan

FPS = {"alexnet": (121, 103), "inception_v3": (100, 84), "resnet34": (93, 81), "vgg19": (67, 59)}
BACKBONES = (("AlexNet", "alexnet"), ("Inception-v3", "inception_v3"), ("ResNet-34", "resnet34"),
             ("VGG-19", "vgg19"))

PLAN = AblationPlan(
    title="SiamFC online training, Table 1",
    columns=tuple(AblationColumn(f"{name} {label}", f"siamfc/imagenet_{backbone}",
                                 paper=(("fps", FPS[backbone][index]),), tracker=tracker)
                  for name, backbone in BACKBONES
                  for index, (label, tracker) in enumerate((("offline", "siamfc"), ("online", "online")))),
    note="paper (OTB-2013): online training adds success / precision: AlexNet +7.5 / +9.7 %, Inception-v3 +11.1 / "
         "+13.1 %, ResNet-34 +3.0 / +4.5 %, VGG-19 +4.3 / +4.1 %; FPS on a GTX 1080 Ti",
    one_pass_metrics="ope_scores",
    benchmark_options=(("version", 2013),),
)
