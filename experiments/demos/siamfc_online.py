"""`make demo PAPER=siamfc_online` (SiamFC online training): a small SiamFC (half-width SiamFC AlexNet, conv5) trained
offline on generated VID/COCO data on the CPU, then tracked with SiamFC's tracker ("offline") and with the paper's
online training of a per-sequence copy of the network ("online") on the same checkpoint, on the held-out generated
sequences (the demo's "normal" difficulty: illumination change, in-plane rotation, occlusion, scale change and
distractors occur in them) and on ../shared/data. ``PAPER=siamfc-online`` (the other spelling) runs it too."""
from experiments.demo import DemoPlan, DemoRun, DemoTracker

PLAN = DemoPlan(
    title="SiamFC online training",
    runs=(DemoRun("siamfc", "siamfc_online/demo"),),
    trackers=(DemoTracker("online", "siamfc", "trained", "online"),
              DemoTracker("offline", "siamfc", "trained", "siamfc")),
    comparisons=(("online", "offline"),),
)
