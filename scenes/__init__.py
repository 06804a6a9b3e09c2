"""Scene builders (pure descriptions: no GL) and physics.

``clutter`` (objects dropped over a plane or into a bin), ``physics`` (pybullet settling; the only
module that touches pybullet), ``ar`` (objects placed into real photos), ``hands`` (hand poses,
grasps and placement). They read ``config``, ``assets`` and ``core``, and return
``core.description.SceneDescription`` objects.
"""
