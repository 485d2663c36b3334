"""`make demo`: a small SiamRPN++ (half-width AlexNet, depth-wise head) trained on generated VID/COCO data on the
CPU, the untrained network (the exact starting weights) against the trained one."""
from experiments.demo import DemoPlan, DemoRun, DemoTracker

PLAN = DemoPlan(
    title="SiamRPN++",
    runs=(DemoRun("siamrpnpp", "siamrpnpp/demo"),),
    trackers=(DemoTracker("untrained", "siamrpnpp", "untrained"), DemoTracker("trained", "siamrpnpp", "trained")),
    comparisons=(("trained", "untrained"),),
    expected_gain=0.15,  # success AUC, trained minus untrained, on the held-out synthetic sequences
)
