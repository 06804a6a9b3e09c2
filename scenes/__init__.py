"""Scene description: recipe validation, pure scene builders, physics settling.

Nothing in this package touches OpenGL; ``scenes.physics`` is the only module
that touches pybullet.
"""
