"""Input material: meshes and URDFs (``loaders``, with the per-process ``AssetLibrary``), BOP model folders,
procedural cars (``cars``) and hands (``hand_model``, ``procedural_hand``), background photos with their
calibration, LiDAR and depth (``backgrounds``), and a settled scene's surfaces as ray-cast geometry (``scene_rays``:
first hits and owners, for view control and a lens's exact layers)."""
