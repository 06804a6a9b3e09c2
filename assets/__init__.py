"""Mesh assets: loaders (OBJ/PLY/STL/GLB/URDF/BOP folders) and the per-process asset library."""

from .loaders import Asset, AssetError, AssetLibrary, load_asset, load_mesh_file, load_urdf_visual

__all__ = ["Asset", "AssetError", "AssetLibrary", "load_asset", "load_mesh_file", "load_urdf_visual"]
