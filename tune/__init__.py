"""Tuning a recipe's distributions towards a user's reference data (``gtforge tune``): builds candidate recipes
with the pipeline and scores them with ``compare``.

``space`` is the search space (the recipe's own ranges, weights and choices by default, or its ``tune:``
section's; the diversity guard; a point written into the raw recipe); ``objectives`` scores a built candidate
against the reference (content, appearance, adversarial, task, auto); ``study`` runs the Optuna study (SQLite
storage in the work folder, seeded and resumable, two fidelity rungs, a time budget, trials on Ray);
``matching`` is its default sampler (each statistic's residual against the reference, derivative-free
Gauss-Newton proposals); ``recipe_out`` writes TUNED.yaml (the original file, each change commented) and
``tune.json``; ``run`` is the entry point, :func:`run_tune`, that ``gtforge tune`` calls.
"""

from .run import run_tune

__all__ = ["run_tune"]
