"""Scene builders (pure descriptions: no GL) and physics.

``clutter`` (objects dropped over a plane, into a bin or a room), ``physics`` (pybullet settling; the only
pybullet simulation: ``assets.collision`` uses pybullet only for its V-HACD decomposition), ``views`` (view
control: candidate views checked by a ray-cast ID pass), ``ar`` (objects placed into real photos), ``hands``
(hand poses, grasps and placement), ``sampling`` (the camera draw and the per-set object draw the builders
share). They take the recipe sections they read (``config``), models through ``core.library.ModelLibrary``,
and return ``core.description.SceneDescription`` objects; the pipeline takes the recipe apart
(``pipeline/inputs.py``).
"""
