"""The build pipeline: ``build`` (a build job's pending scenes on an executor; the merges), ``job`` (the frozen
``BuildJob`` and the ``SceneResult`` / ``BuildSummary`` it reports), ``executors`` (the ``Executor`` protocol: one
process, a process pool), ``ray_executor`` (scenes on long-lived Ray actors), ``worker`` (one scene through the
stages in the process that holds the renderer), ``inputs`` (the recipe taken apart into the sections each scene
builder reads), ``fit`` (do the objects fit the clutter space), ``output`` (the dataset folder: create, resume,
shards), ``lock`` (one build per output folder) and ``merge`` (shards into one dataset)."""
