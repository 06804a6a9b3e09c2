"""File formats: one module per format, each owning its layout, its writer and its reader.

``bop`` (BOP scenewise: frames, masks, ground-truth JSON, models), ``coco`` (instances JSON),
``kitti`` (object ``label_2``/``calib``), ``dataset`` (reading a written gtforge dataset for the
inspection tools), ``atomic`` (files and folders that appear only when complete), ``protocol``
(the writer interface) and ``registry`` (formats by name). Imports only ``core``.
"""
