"""verify's mask comparison: the border band that sub-pixel resampling may move."""

import numpy as np
def test_border_band_is_the_one_pixel_ring_on_both_sides_of_a_silhouette():
    from gtforge.inspection.verify import _border_band

    m = np.zeros((12, 12), bool)
    m[3:9, 4:8] = True
    band = _border_band(m)
    assert band[3, 4] and band[2, 4] and band[8, 7] and band[9, 8]  # inner and outer ring, corners too
    assert not band[5, 5] and not band[1, 4] and not band[5, 10]  # interior, two pixels out
    shifted = np.roll(m, 2, axis=1)  # a mask two pixels off: disagreements beyond the band
    assert np.any((shifted ^ m) & ~band)
    grown = m.copy()
    grown[2, 4:8] = True  # one more row: on the band
    assert not np.any((grown ^ m) & ~band)
