"""Statistics matching for ``gtforge tune``: the moment residuals of a candidate against the reference, and the
sampler that proposes points whose statistics match the reference's (``sampler: match``).

Why: a scalar objective (one gap score) tells a sampler *how far* a candidate is, not *in which direction* to move;
in the default space of 40 parameters (78 dimensions) a sampler learning from the scalar alone (TPE) needs far more
trials than a tune has. Every trial measures a whole vector of statistics, though, and each parameter moves some of
them in its own way (the lights' colour temperature shifts CIELAB b* and the saturation, the camera distance the
random CNN's layout features, the sensor noise the noise level and the sharpness). Matching that vector is a
nonlinear least-squares problem; the sampler solves it without derivatives, as DFO-GN does (Cartis & Roberts 2019,
"A derivative-free Gauss-Newton method", Math. Prog. Comp. 11: a linear model of the residuals from coordinate
steps of the start point, Gauss-Newton steps in a trust region, the model updated with each new point). The model
is the regression adjustment of approximate Bayesian computation turned forwards (Beaumont, Zhang & Balding 2002,
Genetics 162: a local linear regression between parameters and summary statistics).

**Residuals** (:class:`MomentTarget`): per statistic of ``compare`` (image and content statistics) the standardised
difference of our mean from the reference's, ``z = (mean_ours - mean_ref) / (s_ref sqrt(1/n + 1/N))`` (n, N the
two sample counts: a z of about 1 is the sampling noise), and of the spread, ``(sd_ours - s_ref) / (s_ref
sqrt(1/(2n) + 1/(2N)))``; a statistic the reference has over more than a factor 4 (5 % to 95 %) and always > 0 is
compared in logarithms. Categorical statistics: each share's difference over its binomial standard error;
points: each axis as a scalar; embeddings: their first three principal axes (the reference's). The random CNN's
features (``compare.learned.RandomFeatures``): each feature's mean, standardised likewise (a floor of a quarter of
the median spread keeps dead features out). Each residual is compressed beyond +-50 (``50 asinh(z / 50)``: linear
near 0, logarithmic for large gaps, so one huge gap cannot outweigh every other statistic, yet halving it still
shows; a hard or tanh clip would flatten it, and a sensor noise 300 standard errors off the reference's would
look the same at any noise level).
The match of a candidate is ``f = sum_g w_g mean_k z_gk^2`` over the groups (image, content, features) with the
objective's weights.

**Proposals** (:class:`MatchSampler`): coordinates ``u`` in [0, 1] per dimension (log dimensions in logarithms;
a range's centre and width in units of its bounds' span, linked by the constraint that the range fits its
bounds; a categorical dimension one indicator per non-recipe choice). The merit of a point is
``F = f + penalty * sum_j c_j |u_j - u_recipe,j|``: the L1 term keeps what the statistics do not ask to change at the
recipe's value (the sparsest explanation of the gap; unchanged fields stay unchanged in TUNED.yaml); ``c_j`` is 1,
and :data:`CHOICE_COST` for a choice's indicator (a flip is one change, as a screening step is).

1. *Screening*: the recipe, then one coordinate step of :data:`STEP` per dimension that can act, each from the
   best point so far (an effect's parameters act only while its probability is above 0: they are screened from
   the point whose step opened their effect, so a strong sensor noise is found even while a weak one did not
   pay, and in both directions: an effect saturates, so a step towards "less" can show nothing where a step
   towards "more" shows much; a range's width, a count's spread and a weight that is the only one above 0 of its
   set are not screened). From them, a
   finite-difference Jacobian. A choice between kinds (plane, bin or room) is a jump whose worth depends on the
   rest (a plane that lost against a bin near the recipe can win far from it): it is screened again from the
   best point once that has moved :data:`RESCREEN` away from where it was tried.
2. *Gauss-Newton steps*: at the best point so far (lowest F), the model ``r(u) = r_c + J (u - u_c)`` (J: the
   screening Jacobian updated by least squares with every evaluated point near u_c, the least-change secant
   update); the step minimises the model's merit within the trust region ``|u - u_c|_inf <= radius`` (a
   quadratic programme, SLSQP); every choice (an indicator) is held as the best point has it: a choice is a
   jump, not a slope, and changes by screening and refreshing only. The radius doubles after a step
   that did at least 70 % of what the model predicted at its edge, halves after one that did less than 10 %.
3. *Refresh*: when the model sees nothing left to gain (a step below 1e-3 or a point already evaluated), a
   coordinate step of the radius along the next dimension in turn (a choice flipped), which renews the model near
   the best point.

Every proposal is a function of the trials before it (their points, residuals and the attributes stored with
them: kind, radius), so a tune is deterministic for its seed and trial count and resumes exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..compare.stats import Statistic
from .space import SearchSpace

#: Compression of a residual: ``CLIP asinh(z / CLIP)`` (module docstring).
CLIP = 50.0
#: A scalar statistic the reference has over more than this ratio (q95 / q05, all > 0) is compared in logarithms.
LOG_RATIO = 4.0
#: Embedding statistics: principal axes of the reference compared.
EMBEDDING_AXES = 3
#: Feature spreads are floored at this share of the median feature spread (dead features).
FEATURE_FLOOR = 0.25
#: Screening step and the trust region's first, largest and smallest radius, in coordinates of [0, 1].
STEP, RADIUS0, RADIUS_MAX, RADIUS_MIN = 0.25, 0.25, 0.5, 0.03
#: A choice between kinds (a categorical dimension's non-bool choice: the support) is screened again from the best
#: point once that is further than this (largest coordinate difference) from every point it was screened from.
RESCREEN = 0.3
#: Merit penalty per coordinate unit moved away from the recipe.
PENALTY = 0.5
#: A choice flipped (an indicator: the support's kind, a texture source kept, shadows) counts as this many coordinate
#: units in the penalty: one change of the recipe, as a value moved by a screening step is (were it 1, the full span,
#: a choice would have to win by the penalty: measured, the plane beat the bin in all three screens of a 30-minute
#: recovery tune, by 0.18-0.28 in f, and lost each time to the 0.5 that flipping it cost).
CHOICE_COST = STEP
#: Strength of the prior Jacobian in the least-change update, and the kernel width (coordinates) of the points used.
PRIOR, KERNEL_MIN = 1e-3, 0.3
#: Group names of the residuals, with the objective that weights them.
GROUP_OBJECTIVE = {"image": "appearance", "content": "content", "features": "adversarial"}


# ======================================================================== residuals
def _soft(z: np.ndarray) -> np.ndarray:
    return CLIP * np.arcsinh(np.asarray(z, dtype=np.float64) / CLIP)


@dataclass
class _Scalar:
    """Moments of one scalar series of the reference (a statistic, an axis of points, a principal axis)."""

    name: str
    log: bool
    floor: float
    mean: float
    sd: float
    n: int

    @classmethod
    def of(cls, name: str, values: np.ndarray) -> _Scalar | None:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if len(v) < 2:
            return None
        log = bool(v.min() > 0 and np.percentile(v, 95) > LOG_RATIO * np.percentile(v, 5))
        floor = float(v.min()) / 10 if log else 0.0
        t = np.log(v) if log else v
        m, s = float(t.mean()), float(t.std())
        return cls(name, log, floor, m, max(s, 0.05 * abs(m), 1e-9), len(v))

    def residuals(self, values: np.ndarray) -> tuple[float, float]:
        v = np.asarray(values, dtype=np.float64)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            return 0.0, 0.0
        t = np.log(np.maximum(v, self.floor)) if self.log else v
        z_mean = (float(t.mean()) - self.mean) / (self.sd * math.sqrt(1 / len(v) + 1 / self.n))
        z_sd = 0.0
        if len(v) >= 3:
            z_sd = (float(t.std()) - self.sd) / (self.sd * math.sqrt(1 / (2 * len(v)) + 1 / (2 * self.n)))
        return z_mean, z_sd


@dataclass
class MomentTarget:
    """The reference's side of the residuals (module docstring), fixed for a tune.

    Attributes
    ----------
    names : list of str
        One per residual, ``<group>:<statistic>:<moment>`` (``image:saturation:mean``, ``features:17:mean``).
    groups : list of str
        The group of each residual (``image``, ``content``, ``features``).
    """

    names: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    _scalars: list = field(default_factory=list, repr=False)
    _categorical: list = field(default_factory=list, repr=False)
    _embeddings: list = field(default_factory=list, repr=False)
    _features: tuple | None = field(default=None, repr=False)

    @classmethod
    def from_reference(cls, stats: dict[str, Statistic], features: np.ndarray | None = None,
                       skip: tuple[str, ...] = ()) -> MomentTarget:
        """The target of a reference's statistics (``compare.image_stats`` / ``content_stats``) and random-CNN
        features ((N, D) float, or None), leaving out the statistics named in ``skip``."""
        t = cls()
        for name in sorted(stats):
            st = stats[name]
            if name in skip or st.n < 2:
                continue
            if st.kind == "scalar":
                t._add_scalar(st.group, name, st.values)
            elif st.kind == "points2d":
                axes = st.axes if len(st.axes) == 2 else ("x", "y")
                for k in range(2):
                    t._add_scalar(st.group, f"{name}.{axes[k]}", st.values[:, k], key=(name, k))
            elif st.kind == "embedding":
                x = np.asarray(st.values, dtype=np.float64)
                mu = x.mean(axis=0)
                _, _, vt = np.linalg.svd(x - mu, full_matrices=False)
                axes = vt[:EMBEDDING_AXES]
                t._embeddings.append((name, mu, axes))
                proj = (x - mu) @ axes.T
                for k in range(len(axes)):
                    t._add_scalar(st.group, f"{name}.pc{k + 1}", proj[:, k], key=(name, "pc", k))
            elif st.kind == "categorical":
                cats, counts = np.unique(np.asarray(st.values, dtype=str), return_counts=True)
                shares = counts / counts.sum()
                t._categorical.append((st.group, name, list(cats), shares, int(counts.sum())))
        for group, name, cats, _shares, _n in t._categorical:  # after every scalar, as residuals() orders them
            for c in cats:
                t.names.append(f"{group}:{name}:share[{c}]")
                t.groups.append(group)
        if features is not None:
            f = np.asarray(features, dtype=np.float64)
            s = f.std(axis=0)
            sd = np.sqrt(s ** 2 + (FEATURE_FLOOR * float(np.median(s))) ** 2) + 1e-12
            t._features = (f.mean(axis=0), sd, len(f))
            for k in range(f.shape[1]):
                t.names.append(f"features:{k}:mean")
                t.groups.append("features")
        return t

    def _add_scalar(self, group: str, name: str, values, key=None) -> None:
        s = _Scalar.of(name, values)
        if s is None:
            return
        self._scalars.append((group, key if key is not None else (name,), s))
        for moment in ("mean", "sd"):
            self.names.append(f"{group}:{name}:{moment}")
            self.groups.append(group)

    def residuals(self, stats: dict[str, Statistic], features: np.ndarray | None = None) -> np.ndarray:
        """(len(names),) float64: the residuals of our statistics and features (module docstring). A statistic our
        side lacks gives 0 (no evidence either way)."""
        out: list[float] = []
        projected: dict = {}
        for _group, key, s in self._scalars:
            st = stats.get(key[0])
            if st is None or st.n == 0:
                out += [0.0, 0.0]
                continue
            if len(key) == 1:
                v = st.values
            elif len(key) == 2:
                v = np.asarray(st.values, dtype=np.float64)[:, key[1]]
            else:
                if key[0] not in projected:
                    _, mu, axes = next(e for e in self._embeddings if e[0] == key[0])
                    projected[key[0]] = (np.asarray(st.values, dtype=np.float64) - mu) @ axes.T
                v = projected[key[0]][:, key[2]]
            out += list(s.residuals(v))
        cat_out: list[float] = []
        for _group, name, cats, shares, n_ref in self._categorical:
            st = stats.get(name)
            if st is None or st.n == 0:
                cat_out += [0.0] * len(cats)
                continue
            vals = np.asarray(st.values, dtype=str)
            n = len(vals)
            for c, p_ref in zip(cats, shares):
                p = float(np.mean(vals == c))
                pool = max((p * n + p_ref * n_ref) / (n + n_ref), 1.0 / (n + n_ref))
                cat_out.append((p - p_ref) / math.sqrt(pool * (1 - pool) * (1 / n + 1 / n_ref) + 1e-12))
        out += cat_out
        if self._features is not None:
            mu, sd, n_ref = self._features
            if features is None or len(features) == 0:
                out += [0.0] * len(mu)
            else:
                f = np.asarray(features, dtype=np.float64)
                out += list((f.mean(axis=0) - mu) / (sd * math.sqrt(1 / len(f) + 1 / n_ref)))
        return _soft(np.asarray(out, dtype=np.float64))

    def weights(self, objective_weights: dict[str, float]) -> np.ndarray:
        """(len(names),) float64: each residual's weight in the match f, ``w_g / n_g`` (module docstring)."""
        groups = np.asarray(self.groups)
        w = np.zeros(len(groups))
        for g, obj in GROUP_OBJECTIVE.items():
            idx = groups == g
            if idx.any():
                w[idx] = float(objective_weights.get(obj, 0.0)) / idx.sum()
        return w


def match_value(residuals: np.ndarray, weights: np.ndarray) -> float:
    """The match f of a residual vector: ``sum_k w_k r_k^2``."""
    r = np.asarray(residuals, dtype=np.float64)
    return float(np.sum(weights * r * r))


# ======================================================================== coordinates
@dataclass(frozen=True)
class Column:
    """One coordinate of the sampler.

    Attributes
    ----------
    dim : str
        The space's dimension it encodes.
    kind : str
        ``value`` (a float or int dimension), ``centre``, ``width`` (a range's), ``indicator`` (a categorical
        dimension's non-recipe choice).
    low, high : float
        The dimension's bounds (``value``); a range's bounds in its own unit (``centre``, ``width``: the span
        normalises both).
    log : bool
    choice : object
        ``indicator``: the choice.
    pair : int
        ``centre``/``width``: the index of the other column of the range.
    min_width : float
        ``width``: the diversity guard (the width's lower bound).
    gate : str or None
        The dimension whose value must be above 0 for this one to act (an effect's probability).
    screen : bool
        Screened at the start (not a width, a spread, or the one weight above 0 of a set of weights: scaled alone
        it changes nothing).
    """

    dim: str
    kind: str
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    choice: object = None
    pair: int = -1
    min_width: float = 0.0
    gate: str | None = None
    screen: bool = True


def _gate_of(path: str, dims: dict) -> str | None:
    """The probability dimension that gates an image effect's parameter: ``effects.<name>.probability`` gates
    ``effects.<name>.<field>`` (``config/effects.py``: an effect's parameters are drawn only when it applies)."""
    parts = path.split(".")
    if len(parts) >= 3 and parts[0] == "effects" and parts[2] != "probability":
        gate = f"effects.{parts[1]}.probability"
        return gate if gate in dims else None
    return None


class Coordinates:
    """The sampler's coordinates of a space (module docstring): :meth:`encode` a point, :meth:`decode` a vector.

    Parameters
    ----------
    space : SearchSpace
    """

    def __init__(self, space: SearchSpace):
        self.space = space
        dims = space.dims()
        self.default = space.defaults()
        cols: list[Column] = []
        for p in space.params:
            pdims = p.dims()
            if p.kind in ("range", "int_range"):
                c, w = pdims
                gate = _gate_of(p.path, dims)
                cols.append(Column(c.name, "centre", c.low, c.high, pair=len(cols) + 1, gate=gate))
                cols.append(Column(w.name, "width", c.low, c.high, pair=len(cols) - 1, min_width=w.low, gate=gate,
                                   screen=False))
                continue
            # a weight that is the only one above 0 cannot act alone (the weights are normalised): not screened
            alone = [d.name for d in pdims if self.default[d.name] > 0] if p.kind == "weights" else []
            for d in pdims:
                gate = _gate_of(p.path, dims)
                if d.type == "categorical":
                    for choice in d.choices:
                        if choice != self.default[d.name]:
                            cols.append(Column(d.name, "indicator", choice=choice, gate=gate))
                else:
                    cols.append(Column(d.name, "value", d.low, d.high, d.log, gate=gate,
                                       screen=not d.name.endswith("/spread") and alone != [d.name]))
        self.columns = cols
        self.n = len(cols)
        self.dims = dims

    def _unit(self, col: Column, v: float) -> float:
        if col.log:
            return (math.log(v) - math.log(col.low)) / (math.log(col.high) - math.log(col.low))
        return (float(v) - col.low) / (col.high - col.low) if col.high > col.low else 0.0

    def _value(self, col: Column, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if col.log:  # clipped: exp(log(high)) can round above high, which Optuna warns is out of range
            return min(max(math.exp(math.log(col.low) + u * (math.log(col.high) - math.log(col.low))), col.low),
                       col.high)
        return col.low + u * (col.high - col.low)

    def encode(self, point: dict) -> np.ndarray:
        """(n,) float64 coordinates of a point (a range's centre as the space writes it: shifted into its bounds)."""
        x = np.zeros(self.n)
        for j, col in enumerate(self.columns):
            v = point[col.dim]
            if col.kind == "indicator":
                x[j] = 1.0 if v == col.choice else 0.0
            elif col.kind == "value":
                x[j] = self._unit(col, v)
            elif col.kind == "width":
                span = col.high - col.low
                x[j] = min(max(float(v), col.min_width), span) / span
            else:  # centre, shifted as Param.decode shifts it
                other = self.columns[col.pair]
                span = col.high - col.low
                w = min(max(float(point[other.dim]), other.min_width), span)
                c = min(max(float(v), col.low + w / 2), col.high - w / 2)
                x[j] = (c - col.low) / span
        return x

    def decode(self, x: np.ndarray) -> dict:
        """The point of coordinates ``x`` (values clipped to their bounds; an int dimension rounded; of each
        categorical dimension the choice whose indicator is largest when at least 0.5, else the recipe's)."""
        point = dict(self.default)
        best: dict = {}
        for j, col in enumerate(self.columns):
            u = float(x[j])
            d = self.dims[col.dim]
            if col.kind == "indicator":
                if u >= 0.5 and u > best.get(col.dim, (0.0, None))[0]:
                    best[col.dim] = (u, col.choice)
            elif col.kind in ("centre", "width"):
                span = col.high - col.low
                point[col.dim] = col.low + min(max(u, 0.0), 1.0) * span if col.kind == "centre" else \
                    min(max(u * span, col.min_width), span)
            else:
                v = self._value(col, u)
                point[col.dim] = int(round(v)) if d.type == "int" else v
        for dim, (_u, choice) in best.items():
            point[dim] = choice
        return point

    def canonical(self, x: np.ndarray) -> np.ndarray:
        """The coordinates of the point that ``x`` writes (what a trial of ``decode(x)`` evaluates)."""
        return self.encode(self.decode(x))

    def constraints(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear constraints ``A x >= b`` of the coordinates: a range fits its bounds (centre - width / 2 >= 0,
        centre + width / 2 <= 1), at most one indicator of a categorical dimension."""
        rows, rhs = [], []
        for j, col in enumerate(self.columns):
            if col.kind == "centre":
                a = np.zeros(self.n)
                a[j], a[col.pair] = 1.0, -0.5
                rows.append(a)
                rhs.append(0.0)
                a = np.zeros(self.n)
                a[j], a[col.pair] = -1.0, -0.5
                rows.append(a)
                rhs.append(-1.0)
        by_dim: dict = {}
        for j, col in enumerate(self.columns):
            if col.kind == "indicator":
                by_dim.setdefault(col.dim, []).append(j)
        for idx in by_dim.values():
            if len(idx) > 1:
                a = np.zeros(self.n)
                a[idx] = -1.0
                rows.append(a)
                rhs.append(-1.0)
        if not rows:
            return np.zeros((0, self.n)), np.zeros(0)
        return np.array(rows), np.array(rhs)

    def lower(self) -> np.ndarray:
        """(n,) lower bounds of the coordinates (a width's: its guard)."""
        return np.array([c.min_width / (c.high - c.low) if c.kind == "width" else 0.0 for c in self.columns])

    def active(self, x: np.ndarray) -> np.ndarray:
        """(n,) bool: the columns that can act at ``x`` (their gate, if any, above 0)."""
        gates = {}
        for j, col in enumerate(self.columns):
            if col.kind == "value" and col.dim in {c.gate for c in self.columns}:
                gates[col.dim] = x[j] > 1e-9
        return np.array([gates.get(c.gate, True) if c.gate else True for c in self.columns])


# ======================================================================== the sampler
@dataclass(frozen=True)
class Observation:
    """A finished trial as the sampler sees it.

    Attributes
    ----------
    number : int
    point : dict
        Its parameters.
    residuals : (m,) float64 or None
        None: the trial failed (or has no residuals), or is still running.
    attrs : dict
        What the sampler stored with its proposal (``match``: kind, radius, predicted merit...).
    pending : bool
        Asked and not finished (a batch of trials on Ray): its point counts as taken, its outcome as unknown.
    """

    number: int
    point: dict
    residuals: np.ndarray | None
    attrs: dict
    pending: bool = False


@dataclass
class Proposal:
    """A point to evaluate next, and what to store with it (``attrs["match"]``)."""

    point: dict
    attrs: dict


class MatchSampler:
    """Proposes the next point from the finished trials (module docstring).

    Parameters
    ----------
    space : SearchSpace
    weights : (m,) float64
        Each residual's weight (:meth:`MomentTarget.weights`).
    penalty : float
        Merit per coordinate unit away from the recipe (:data:`PENALTY`).
    """

    def __init__(self, space: SearchSpace, weights: np.ndarray, *, penalty: float = PENALTY):
        self.coords = Coordinates(space)
        self.weights = np.asarray(weights, dtype=np.float64)
        self.penalty = float(penalty)
        self.x0 = self.coords.encode(self.coords.default)
        #: Per column, its coordinate unit's share of the penalty (1; :data:`CHOICE_COST` for an indicator).
        self.cost = np.array([CHOICE_COST if c.kind == "indicator" else 1.0 for c in self.coords.columns])

    # ------------------------------------------------------------------ merit and model
    def merit(self, x: np.ndarray, r: np.ndarray) -> float:
        """``F = f + penalty sum_j cost_j |x_j - x0_j|``."""
        return match_value(r, self.weights) + self.penalty * float(self.cost @ np.abs(x - self.x0))

    def _data(self, history: list[Observation]):
        xs, rs, obs = [], [], []
        for o in history:
            if o.residuals is None or len(o.residuals) != len(self.weights):
                continue
            xs.append(self.coords.encode(o.point))
            rs.append(np.asarray(o.residuals, dtype=np.float64))
            obs.append(o)
        return xs, rs, obs

    def jacobian(self, xs, rs, centre: int, radius: float, history_obs) -> np.ndarray:
        """(m, n) model Jacobian at point ``centre``: the screening differences as the prior, updated by weighted
        least squares with every point near it (module docstring)."""
        m, n = len(self.weights), self.coords.n
        prior, count = np.zeros((m, n)), np.zeros(n)
        for k, o in enumerate(history_obs):  # differences of the screening steps from their base point (averaged
            info = o.attrs.get("match") or {}  # over the two directions of an effect's parameter)
            if info.get("kind") != "screen":
                continue
            base = next((i for i, b in enumerate(history_obs) if b.number == info.get("base")), None)
            if base is None:
                continue
            j = int(info["column"])
            dx = xs[k][j] - xs[base][j]
            if abs(dx) > 1e-9:
                prior[:, j] += (rs[k] - rs[base]) / dx
                count[j] += 1
        prior /= np.maximum(count, 1)
        xc, rc = xs[centre], rs[centre]
        h = max(2 * radius, KERNEL_MIN)
        a = PRIOR * np.eye(n)
        b = PRIOR * prior
        for k in range(len(xs)):
            if k == centre:
                continue
            dx = xs[k] - xc
            d2 = float(dx @ dx)
            if d2 < 1e-18:
                continue
            w = math.exp(-d2 / (h * h))
            a += w * np.outer(dx, dx)
            b += w * np.outer(rs[k] - rc, dx)
        return np.linalg.solve(a, b.T).T

    def _solve(self, xc, rc, jac, lo, hi) -> np.ndarray:
        """Minimise the model merit ``|W^(1/2) (rc + J (x - xc))|^2 + penalty cost . |x - x0|`` over lo <= x <= hi
        and the coordinates' constraints (SLSQP on x and the L1 slack t >= |x - x0|; a column with lo == hi is
        held)."""
        from scipy.optimize import minimize  # noqa: PLC0415 - scipy is loaded when a tune proposes, not at import

        n = self.coords.n
        w = self.weights
        hmat = jac.T @ (w[:, None] * jac)
        g0 = jac.T @ (w * rc)
        x_start = np.clip(xc.copy(), lo, hi)
        x0 = self.x0
        pen = self.penalty * self.cost

        def fun(y):
            x, t = y[:n], y[n:]
            d = x - xc
            return float(d @ hmat @ d + 2 * g0 @ d + pen @ t)

        def jac_fun(y):
            x = y[:n]
            d = x - xc
            return np.concatenate([2 * hmat @ d + 2 * g0, pen])

        a_mat, b_vec = self.coords.constraints()
        cons = [{"type": "ineq", "fun": lambda y: y[n:] - (y[:n] - x0), "jac": lambda y: np.hstack([-np.eye(n),
                                                                                                  np.eye(n)])},
                {"type": "ineq", "fun": lambda y: y[n:] + (y[:n] - x0), "jac": lambda y: np.hstack([np.eye(n),
                                                                                                 np.eye(n)])}]
        if len(a_mat):
            cons.append({"type": "ineq", "fun": lambda y: a_mat @ y[:n] - b_vec,
                         "jac": lambda y: np.hstack([a_mat, np.zeros((len(a_mat), n))])})
        t_start = np.abs(x_start - x0)
        bounds = [(float(lo[j]), float(hi[j])) for j in range(n)] + [(0.0, None)] * n
        res = minimize(fun, np.concatenate([x_start, t_start]), jac=jac_fun, bounds=bounds, constraints=cons,
                       method="SLSQP", options={"maxiter": 300, "ftol": 1e-10})
        return np.clip(res.x[:n], lo, hi)

    def model_merit(self, x, xc, rc, jac) -> float:
        return self.merit(x, rc + jac @ (x - xc))

    # ------------------------------------------------------------------ proposing
    def propose(self, history: list[Observation]) -> Proposal | None:
        """The next point, or None when the sampler cannot propose (the recipe's own trial has no residuals).

        ``history``: every finished trial of rung 0, in trial order; the first is the recipe's own point."""
        xs, rs, obs = self._data(history)
        if not obs or not np.allclose(xs[0], self.x0):
            return None
        merits = [self.merit(x, r) for x, r in zip(xs, rs)]
        centre = int(np.argmin(merits))
        xc, rc = xs[centre], rs[centre]
        radius, turn, last = RADIUS0, 0, None
        for o in history:
            info = o.attrs.get("match") or {}
            if "radius" in info:
                radius, turn = float(info["radius"]), int(info.get("turn", turn))
                last = (o, info)
        if last is not None and last[1]["kind"] == "step" and not last[0].pending:
            radius = self._updated_radius(radius, *last)
        base_info = {"centre": obs[centre].number, "centre_merit": merits[centre], "radius": radius, "turn": turn}
        taken = xs + [self.coords.encode(o.point) for o in history if o.pending]
        step_pending = any(o.pending and (o.attrs.get("match") or {}).get("kind") == "step" for o in history)
        # 1. screening: every active column not yet screened, around the point that made it active
        screened = {(int((o.attrs.get("match") or {}).get("column", -1)), int((o.attrs.get("match") or {}).get(
            "direction", 0))) for o in history if (o.attrs.get("match") or {}).get("kind") == "screen"}
        active = self.coords.active(xc)
        for j, col in enumerate(self.coords.columns):
            if not col.screen:
                continue
            for direction in ((1, -1) if col.gate else (0,)):
                if (j, direction) in screened:
                    continue
                base = centre if active[j] else self._gate_opened(col, obs)
                if base is None:
                    continue
                x = self._coordinate_step(xs[base], j, STEP, direction)
                if x is not None and not any(np.allclose(x, y, atol=1e-6) for y in taken):
                    return Proposal(self.coords.decode(x), {"match": {
                        **base_info, "kind": "screen", "column": j, "direction": direction,
                        "base": obs[base].number}})
        # 1b. a choice between kinds is a jump, not a slope: tried again from the best point once that has moved
        #     more than RESCREEN from every point it was tried from
        for j, col in enumerate(self.coords.columns):
            if col.kind != "indicator" or isinstance(col.choice, bool) or not active[j]:
                continue
            bases = [int(info["base"]) for info in ((o.attrs.get("match") or {}) for o in history)
                     if info.get("kind") == "screen" and info.get("column") == j and "base" in info]
            where = [xs[k] for k, o in enumerate(obs) if o.number in bases]
            if where and min(float(np.abs(xc - b).max()) for b in where) > RESCREEN:
                x = self._coordinate_step(xc, j, STEP)
                if x is not None and not any(np.allclose(x, y, atol=1e-6) for y in taken):
                    return Proposal(self.coords.decode(x), {"match": {
                        **base_info, "kind": "screen", "column": j, "direction": 0, "base": obs[centre].number}})
        # 2. a Gauss-Newton step in the trust region (one at a time: the next waits for its outcome)
        if not step_pending:
            jac = self.jacobian(xs, rs, centre, radius, obs)
            x_new = self._tidy(self.coords.canonical(self._step(xc, rc, jac, radius)))
            seen = any(np.allclose(x_new, x, atol=1e-6) for x in taken)
            size = float(np.abs(x_new - xc).max())
            pred = self.model_merit(x_new, xc, rc, jac)
            if not seen and size > 1e-3:
                return Proposal(self.coords.decode(x_new), {"match": {**base_info, "kind": "step",
                                                                      "predicted_merit": pred, "step_size": size}})
        # 3. refresh: a coordinate step along the next column in turn (a choice: flipped)
        for k in range(self.coords.n):
            j = (turn + k) % self.coords.n
            if not active[j]:
                continue
            x = self._coordinate_step(xc, j, radius)
            if x is not None and not any(np.allclose(x, y, atol=1e-6) for y in taken):
                return Proposal(self.coords.decode(x), {"match": {**base_info, "kind": "refresh", "column": j,
                                                                  "turn": j + 1}})
        return None

    def _tidy(self, x: np.ndarray) -> np.ndarray:
        """``x`` with the columns that cannot act (an effect's parameters while its probability is 0) at the recipe's
        values: they change no image, so a tuned recipe should not change them either."""
        x = x.copy()
        inactive = ~self.coords.active(x)
        x[inactive] = self.x0[inactive]
        return self.coords.canonical(x)

    def _gate_opened(self, col: Column, obs: list[Observation]) -> int | None:
        """Index (in ``obs``) of the screening step that opened ``col``'s gate (an effect's probability moved above
        0), where an effect's parameters are screened while the best point keeps the effect off; None if none."""
        if col.gate is None:
            return None
        gate = next((k for k, c in enumerate(self.coords.columns) if c.dim == col.gate and c.kind == "value"), None)
        for k in range(len(obs) - 1, -1, -1):
            info = obs[k].attrs.get("match") or {}
            if info.get("kind") == "screen" and info.get("column") == gate:
                return k
        return None

    def _updated_radius(self, radius: float, o: Observation, info: dict) -> float:
        """The trust region's radius after step ``o``: doubled (at most :data:`RADIUS_MAX`) when the step reached the
        region's edge and did at least 70 % of the model's predicted decrease of the merit, halved (at least
        :data:`RADIUS_MIN`) when it did less than 10 % or failed."""
        if o.residuals is None:
            return max(RADIUS_MIN, radius / 2)
        actual = float(info["centre_merit"]) - self.merit(self.coords.encode(o.point), np.asarray(o.residuals))
        predicted = float(info["centre_merit"]) - float(info["predicted_merit"])
        ratio = actual / predicted if predicted > 1e-12 else -1.0
        if ratio >= 0.7 and float(info.get("step_size", 0.0)) >= 0.8 * radius:
            return min(RADIUS_MAX, 2 * radius)
        if ratio < 0.1:
            return max(RADIUS_MIN, radius / 2)
        return radius

    def _coordinate_step(self, xc: np.ndarray, j: int, step: float, direction: int = 0) -> np.ndarray | None:
        """``xc`` moved along column j by ``step`` (``direction`` 0: up, or down where up leaves the bounds; +1 up,
        -1 down, as far as the bounds allow), within the constraints; an indicator set (its dimension's other
        indicators cleared). None when no move is possible."""
        col = self.coords.columns[j]
        x = xc.copy()
        if col.kind == "indicator":
            for k, c in enumerate(self.coords.columns):
                if c.dim == col.dim:
                    x[k] = 0.0
            x[j] = 1.0 - xc[j]
            return self.coords.canonical(x)
        lo = self.coords.lower()[j]
        if col.kind == "centre":
            w = xc[col.pair]
            lo, hi = w / 2, 1 - w / 2
        else:
            hi = 1.0
        up, down = min(hi, xc[j] + step), max(lo, xc[j] - step)
        if direction:
            target = up if direction > 0 else down
        else:
            target = up if up - xc[j] >= 0.5 * step or up - xc[j] >= xc[j] - down else down
        if abs(target - xc[j]) < 1e-6:
            return None
        x[j] = target
        x = self.coords.canonical(x)
        return x if np.abs(x - xc).max() > 1e-6 else None

    def _step(self, xc, rc, jac, radius) -> np.ndarray:
        """The Gauss-Newton step from ``xc`` (module docstring). Every choice (an indicator: the support's kind, a
        texture source kept, shadows on) stays as ``xc`` has it: a choice is a jump, not a slope, so it changes by
        screening and refreshing only (the linear model, fitted around other choices, is no guide to it: a step
        that flipped one undid a screen that showed it wins, and a failing flip shrank the trust region that the
        continuous parameters needed)."""
        lower = self.coords.lower()
        ind = np.array([c.kind == "indicator" for c in self.coords.columns])
        lo = np.where(ind, xc, np.maximum(lower, xc - radius))
        hi = np.where(ind, xc, np.minimum(1.0, xc + radius))
        return self._solve(xc, rc, jac, lo, hi)
