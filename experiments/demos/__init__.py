"""What `make demo PAPER=<paper>` trains and compares: one ``PLAN`` (``experiments.demo.DemoPlan``) per paper in
``experiments/demos/<paper>.py``. ``experiments.demo`` does the rest (data, training, evaluation, tables, plots,
video), the same for every paper."""
