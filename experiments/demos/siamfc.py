"""`make demo PAPER=siamfc`: a small SiamFC (half-width SiamFC AlexNet, conv3/conv4/conv5 maps, the summed SiamFC
losses) trained on generated VID/COCO data on the CPU: the untrained network (the exact starting weights) against
the trained one with SiamFC's tracker (conv5), then Hierarchical SiamFC's hierarchical tracker against its single-layer
baselines on the same trained network ("trained" is the conv5 baseline: the same step on the same map)."""
from experiments.demo import DemoPlan, DemoRun, DemoTracker

PLAN = DemoPlan(
    title="SiamFC and Hierarchical SiamFC",
    runs=(DemoRun("siamfc", "siamfc/demo"),),
    trackers=(DemoTracker("untrained", "siamfc", "untrained"), DemoTracker("trained", "siamfc", "trained"),
              DemoTracker("hierarchical", "siamfc", "trained", "hierarchical"),
              DemoTracker("conv3", "siamfc", "trained", "conv3"), DemoTracker("conv4", "siamfc", "trained", "conv4")),
    comparisons=(("trained", "untrained"), ("hierarchical", "trained"), ("hierarchical", "conv4"),
                 ("hierarchical", "conv3")),
    expected_gain=0.15,  # success AUC, trained minus untrained, on the held-out synthetic sequences
)
