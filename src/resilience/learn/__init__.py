"""Learning: the split (once), the models and their families, calibration, ranges, segments, metrics
and the fit-and-evaluate step, and the evidence of a run.

Below the explanations, tracking and everything weekly: it imports only ``core`` and ``data``.
"""
