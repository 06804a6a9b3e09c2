"""Rendering (pyrender over EGL), annotation (pure numpy), writers (BOP) and the build pipeline."""
