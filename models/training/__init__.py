"""Training, derivation and speed scripts for AGDL's networks (``python -m models.training.<script>``).

Run from a checkout of the repository; this package is not part of the installed wheel (the codec needs only
the networks and their weights: ``agdl_models``).
"""
