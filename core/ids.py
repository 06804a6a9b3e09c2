"""The instance-id space shared by the scene description, the renderer, the compositor and the labels.

Every object and hand of a scene has an ``inst_id`` in [1, ``MAX_INSTANCE_ID``]; 0 is "no
labelled instance" (floor, walls, backdrop, nothing); ``REAL_ID`` marks pixels owned by a real
surface of an AR photo (a real object's box or the photo's depth map). The ID pass of the
renderer encodes ids in 24 bits of RGB (:func:`encode_ids`, :func:`decode_ids`).
"""

from __future__ import annotations

import numpy as np

#: Largest instance id the 24-bit RGB encoding of the ID pass can hold.
MAX_INSTANCE_ID = 2**24 - 1
#: Instance id that real surfaces (AR occluder boxes, a photo's depth map) own in the ID buffer.
REAL_ID = 2**24 - 2


def encode_ids(ids: np.ndarray) -> np.ndarray:
    """Instance ids (n,) int -> RGB colours (n, 3) uint8: id = R + 256 G + 65536 B.

    Raises
    ------
    ValueError
        For ids outside [0, 2^24 - 1].
    """
    ids = np.asarray(ids, dtype=np.int64)
    if np.any(ids < 0) or np.any(ids > MAX_INSTANCE_ID):
        raise ValueError(f"instance ids must be in [0, {MAX_INSTANCE_ID}]")
    return np.stack([ids & 255, (ids >> 8) & 255, (ids >> 16) & 255], axis=-1).astype(np.uint8)


def decode_ids(rgb: np.ndarray) -> np.ndarray:
    """RGB (..., 3) uint8 from the ID pass -> instance ids (...) int32 (inverse of :func:`encode_ids`)."""
    rgb = np.asarray(rgb).astype(np.int32)
    return rgb[..., 0] + (rgb[..., 1] << 8) + (rgb[..., 2] << 16)
