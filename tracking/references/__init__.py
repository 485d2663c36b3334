"""Restatements of the public reference implementations' tracking steps (pysot, siamfc-pytorch), written again from
their source files: the oracles of the equality tests and the reference side of ``make bench-reference``."""
