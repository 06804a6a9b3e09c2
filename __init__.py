"""gtforge: synthetic computer-vision datasets by headless 3D rendering.

Stages (data flows one way; an import only points to a lower floor): recipe (``config``) ->
scene builder (``scenes.clutter``, ``scenes.ar``, ``scenes.hands``; pure descriptions from
``core.description``) -> physics (``scenes.physics``) -> renderer (``render.renderer``) ->
annotator (``render.annotate``) -> writers (``formats``, one module per format).
``pipeline`` runs them; ``inspection`` re-reads written datasets; ``cli`` is the command line (``__main__``
runs it for ``python -m gtforge``). The bundled recipes are package data (``recipes/*.yaml``).
Conventions (frames, units, formats) are in docs/conventions.md.
"""

__version__ = "0.1.0"
