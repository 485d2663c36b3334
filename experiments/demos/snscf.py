"""`make demo PAPER=snscf`: a small SiamRPN++ and a small SNS-CF (the same half-width AlexNet, data, augmentation and
schedule; SNS-CF adds the correlation-filter loss and tracks with its filters) trained on generated VID, COCO and
YouTube-VOS data on the CPU, compared on the held-out sequences and the shared OTB / VOT sequences."""
from experiments.demo import DemoPlan, DemoRun, DemoTracker

PLAN = DemoPlan(
    title="SNS-CF",
    runs=(DemoRun("siamrpnpp", "snscf/demo_siamrpnpp"), DemoRun("snscf", "snscf/demo")),
    trackers=(DemoTracker("siamrpnpp", "siamrpnpp"), DemoTracker("snscf", "snscf")),
    comparisons=(("snscf", "siamrpnpp"),),
    training_formats=("vid", "coco", "ytvos"),
)
