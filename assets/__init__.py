"""Input material: meshes and URDFs (``loaders``, with the per-process ``AssetLibrary``), BOP model folders,
procedural cars (``cars``) and hands (``hand_model``, ``procedural_hand``), and background photos with their
calibration, LiDAR and depth (``backgrounds``)."""
