"""The two value types of ``gtforge compare``: a measured :class:`Statistic` of one set and the
:class:`StatDistance` between the same statistic of two sets (``compare.distances``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Groups of statistics: measured on the pixels (every set) or on the labels (labelled sets).
GROUPS = ("image", "content")
#: Kinds of values (see :class:`Statistic`).
KINDS = ("scalar", "categorical", "points2d", "embedding")


@dataclass(frozen=True, eq=False)
class Statistic:
    """One statistic of one set: samples, one per image, instance or hand.

    Attributes
    ----------
    name : str
        snake_case, unique across groups (``"brightness"``, ``"instances_per_image"``).
    group : str
        ``"image"`` or ``"content"``.
    kind : str
        ``"scalar"``: ``values`` (n,) float64; ``"categorical"``: (n,) str; ``"points2d"``: (n, 2) float64 in
        [0, 1] (x right, y down, e.g. a box centre over the image width and height); ``"embedding"``: (n, d)
        float64.
    values : numpy.ndarray
        The samples, as ``kind`` says.
    unit : str
        ``""`` for unitless.
    description : str
        Plain words: what is measured, how, and the definition's source.
    per : str
        What one sample is (``"image"``, ``"instance"``, ``"hand"``), for sentences and axes.
    higher, lower : str
        Words for a larger / smaller value (``"brighter"`` / ``"darker"``); empty: "higher" / "lower".
    histogram : (k,) float64 or None
        Pixel-level share per bin pooled over the images (image statistics where useful), else None.
    bin_edges : (k + 1,) float64 or None
        The histogram's bin edges, in ``unit``.
    title : str
        A name for sentences and plots (``"CIELAB a*"``); empty: the name with spaces.
    axes : tuple of str
        Names of the coordinates of ``points2d`` values (``("x", "y")``) or of an embedding's dimensions; may be
        empty.
    """

    name: str
    group: str
    kind: str
    values: np.ndarray
    unit: str
    description: str
    per: str = "image"
    higher: str = ""
    lower: str = ""
    histogram: np.ndarray | None = None
    bin_edges: np.ndarray | None = None
    axes: tuple[str, ...] = ()
    title: str = ""

    def __post_init__(self):
        if self.group not in GROUPS:
            raise ValueError(f"statistic {self.name!r}: group must be one of {GROUPS}, got {self.group!r}")
        if self.kind not in KINDS:
            raise ValueError(f"statistic {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")
        v = np.asarray(self.values)
        ndim = {"scalar": 1, "categorical": 1, "points2d": 2, "embedding": 2}[self.kind]
        if v.ndim != ndim or (self.kind == "points2d" and v.shape[1] != 2):
            raise ValueError(f"statistic {self.name!r}: {self.kind} values need shape "
                             f"{'(n,)' if ndim == 1 else '(n, 2)' if self.kind == 'points2d' else '(n, d)'}, "
                             f"got {v.shape}")

    @property
    def label(self) -> str:
        """``title``, or the name with spaces."""
        return self.title or self.name.replace("_", " ")

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(len(self.values))


@dataclass(frozen=True)
class StatDistance:
    """The distance between one statistic of our set and of the reference (``compare.distances``).

    Attributes
    ----------
    name, group : str
        The statistic's.
    method : str
        ``"wasserstein1"`` (scalars), ``"total_variation"`` (categorical), ``"sliced_wasserstein"`` (points2d,
        embeddings).
    value : float
        The raw distance, in the statistic's unit where it has one (total variation: a share).
    normalized : float
        Comparable across statistics: 0 = same distribution, about 1 = disjoint (``compare.distances``).
    n_ours, n_ref : int
        Sample counts.
    sentence : str
        Plain words: what differs and in which direction, with medians or shares.
    details : dict
        Figures behind the sentence (medians, the KS statistic, shares, coverage...), JSON-serialisable.
    """

    name: str
    group: str
    method: str
    value: float
    normalized: float
    n_ours: int
    n_ref: int
    sentence: str
    details: dict = field(default_factory=dict)
