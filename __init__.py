"""gtforge: synthetic computer-vision datasets by headless 3D rendering.

Stages (data flows one way): recipe (``scenes.recipe``) -> scene builder
(``scenes.clutter``) -> physics (``scenes.physics``) -> renderer
(``render.renderer``) -> annotator (``render.annotate``) -> writers
(``render.bop``). ``render.pipeline`` runs them; ``cli`` is the command line.
Conventions (frames, units, formats) are in docs/conventions.md.
"""

__version__ = "0.1.0"
