"""The build pipeline: ``build`` (schedule scenes serially, over processes or on Ray; the merges),
``worker`` (one scene through the stages in the process that holds the renderer), ``output`` (the dataset
folder: create, resume, shards), ``lock`` (one build per output folder), ``merge`` (shards into one dataset)
and ``ray_executor`` (scenes on long-lived Ray actors)."""
