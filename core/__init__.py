"""Shared vocabulary of every stage; imports nothing else of gtforge.

``geometry`` (rigid transforms, pinhole cameras, boxes), ``lens`` (OpenCV's radtan and fisheye lens models: projection,
undistortion, fold checks), ``rng`` (seeded random streams),
``description`` (the frozen scene description), ``labels`` (per-instance ground-truth types and
their definitions), ``ids`` (the instance-id space), ``hands`` (MANO's skeleton), ``color`` (the sRGB
transfer function), ``files`` (atomic file writes, the cache folder), ``library`` (the model library's
interface: ``ModelLibrary``, ``ModelAsset``).
"""
