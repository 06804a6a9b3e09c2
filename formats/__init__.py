"""File formats: one module per format, each owning its layout, its writer and its reader.

``bop`` (BOP scenewise: frames, masks, ground-truth JSON, models), ``coco`` (instances JSON),
``kitti`` (object ``label_2``/``calib``), ``yolo`` (Ultralytics detection/segmentation layout),
``webdataset`` (tar shards of samples), ``dataset`` (reading a written gtforge dataset for the
inspection tools), ``atomic`` (JSON and text written whole, folders that appear only when complete),
``protocol`` (the writer interface) and ``registry`` (formats by name). Imports only ``core``.
"""
