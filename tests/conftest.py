"""Test configuration: deterministic hypothesis profiles, and the Keras backend for its oracle.

The "ci" profile (the default) derandomises hypothesis, so every run draws the same examples
and CI is reproducible; set CONVZOO_HYPOTHESIS=dev locally to explore new examples.
"""

import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("KERAS_BACKEND", "jax")  # Keras 3 on JAX (CPU) is the second oracle
os.environ.setdefault("JAX_PLATFORMS", "cpu")

common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **common)
settings.register_profile("dev", **common)
settings.load_profile(os.environ.get("CONVZOO_HYPOTHESIS", "ci"))
