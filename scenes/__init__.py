"""Scene builders (pure descriptions: no GL) and physics.

``clutter`` (objects dropped over a plane or into a bin), ``physics`` (pybullet settling; the only
pybullet simulation: ``assets.collision`` uses pybullet only for its V-HACD decomposition), ``ar`` (objects
placed into real photos), ``hands`` (hand poses, grasps and placement), ``views`` (view control on an Embree
ID pass). They read ``config``, ``assets`` and ``core``, and return
``core.description.SceneDescription`` objects.
"""
