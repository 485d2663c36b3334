"""`make demo PAPER=siamfc_online`'s plan: one small SiamFC trained offline, tracked with and without the paper's
online training on the same checkpoint, compared as "online - offline"."""
from experiments import demo
from experiments.config_library import build_model


def test_plan_tracks_one_checkpoint_with_and_without_online_training():
    plan = demo.load_plan("siamfc_online")
    assert demo.load_plan("siamfc-online") is plan  # the paper's other spelling (make demo PAPER=siamfc-online)
    [run] = plan.runs
    module = build_model(run.config)
    assert module.main_tracker == "online" and module.config.levels == ("conv5",)
    trackers = {tracker.label: tracker for tracker in plan.trackers}
    assert {label: (t.run, t.weights, t.tracker) for label, t in trackers.items()} == {
        "online": (run.name, "trained", "online"), "offline": (run.name, "trained", "siamfc")}
    assert all(t.tracker in module.trackers for t in plan.trackers)
    assert plan.comparisons == (("online", "offline"),)  # printed as "online - offline success AUC on <bench>"
