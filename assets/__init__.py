"""Input material, loaded once per process and shared by every scene.

``loaders`` (meshes, URDFs and BOP model folders; the per-process ``AssetLibrary``), ``cars`` (procedural
cars and car-model normalisation), ``hand_model`` (the MANO layer and its loader), ``procedural_hand`` (the
licence-free hand), ``hand_look`` (skin tones and texture, sleeves), ``textures`` (texture pools, procedural
textures, HSV jitter, box projection), ``lighting`` (colour temperature, lights from an environment image),
``backgrounds`` (photos with their calibration, LiDAR, depth, labels and ground planes), ``collision`` (convex
hulls and V-HACD parts for physics: pybullet's own decomposition), ``symmetry`` (BOP symmetries found on the
geometry), ``cache`` (the on-disk cache of V-HACD parts, collision compounds and symmetry searches) and
``scene_rays`` (a settled scene's surfaces as ray-cast geometry: first hits and owners, for view control and a
lens's exact layers).
"""
