"""What draws, and what acts on drawn pixels. Reads ``assets`` and ``core``; never the scene builders.

The renderer, one job per module:

* ``renderer``: the :class:`~gtforge.render.renderer.Renderer` (one pyrender EGL context per process) and its
  passes: instance IDs + depth, lit RGB, amodal silhouettes, AR layers;
* ``pyrender_patches``: every run-time replacement of pyrender internals, with the pinned pyrender version (the
  one file to audit on a pyrender upgrade);
* ``materials``: the pyrender meshes of the scene's surfaces in their materials, colour conversion, the mesh
  and texture caches;
* ``shadows``: light poses and the fitting of shadow-map frusta (pure numpy);
* ``antialias``: edge anti-aliasing of the lit image (pure numpy);
* ``backdrops``: sky and photo backdrops (pure numpy).

Around it:

* ``lens_camera`` and ``distortion``: lenses (a pinhole canvas rendered and resampled through the distortion);
* ``composite``: the AR compositor (inserted objects and their shadows over the background photo);
* ``effects``: camera and sensor effects on the rendered RGB image;
* ``depth_sensor``: depth-sensor models on the rendered depth;
* ``annotate``: labels from the rendered buffers (pure numpy);
* ``egl_devices``: which EGL device each renderer uses (CUDA -> EGL device mapping).
"""
