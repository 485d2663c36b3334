"""`make demo PAPER=mfst` (MFST): a small SiamFC (quarter-width SiamFC AlexNet, conv3/conv4/conv5) trained on
generated VID/COCO data on the CPU, then MFST's SE blocks and response biases trained on top of it with both
backbones frozen (branch S: that SiamFC; branch A: the BVLC AlexNet at an eighth of its width, left at its
random initialisation as no ImageNet weights are available offline), and MFST's tracker compared with its
variants on the same checkpoint: conv5 alone in each branch (single layer), without the SE gates (no SE), and
branch S alone (single branch)."""
from experiments.demo import DemoPlan, DemoRun, DemoTracker

CONV5 = (("s_fusion", "hard_weight"), ("s_weights", [0.0, 0.0, 1.0]), ("a_fusion", "hard_weight"),
         ("a_weights", [0.0, 0.0, 1.0]))

PLAN = DemoPlan(
    title="MFST",
    runs=(DemoRun("siamfc", "mfst/demo_siamfc"), DemoRun("mfst", "mfst/demo")),
    trackers=(DemoTracker("mfst", "mfst"),
              DemoTracker("conv5", "mfst", params=CONV5),
              DemoTracker("no_se", "mfst", params=(("use_se", False),)),
              DemoTracker("s_only", "mfst", params=(("branch_weights", [1.0, 0.0]),))),
    comparisons=(("mfst", "conv5"), ("mfst", "no_se"), ("mfst", "s_only")),
)
