"""The build pipeline: ``build`` (schedule scenes, serially or over processes), ``worker`` (one scene
through the stages in the process that holds the renderer) and ``output`` (the dataset folder:
create, resume)."""
