"""Replications of the source papers' applications on simulated data of the same shape
(shared by ``examples/`` and ``flexcausal demo``)."""
