"""Inspection of written datasets: ``verify`` (re-check the files, with the ray-cast oracle ``raycast``),
``stats`` and ``preview``. Reads written files through ``formats`` and ``core`` only, never the renderer or
the scene builders, so the oracle stays independent of what it checks."""
