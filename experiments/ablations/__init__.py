"""What `make ablation PAPER=<paper>` compares: one ``PLAN`` (``experiments.ablation.AblationPlan``) per paper in
``experiments/ablations/<paper>.py``: its columns (label, training config, the paper's numbers)."""
