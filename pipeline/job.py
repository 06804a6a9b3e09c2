"""What a build is and what it reports: the frozen :class:`BuildJob` handed from the command line through the build,
the executors, the Ray actors, the output folder and its metadata; the per-scene :class:`SceneResult`; the
:class:`BuildSummary`.

All three are plain picklable dataclasses: a job travels to pool processes and Ray actors, a scene result comes
back from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config.loading import validate_recipe
from ..config.schema import Recipe


@dataclass(frozen=True)
class BuildJob:
    """One build: the validated recipe, where its relative paths point, and the folder it writes.

    Attributes
    ----------
    recipe : Recipe
        The validated recipe (after ``--set`` overrides).
    resolved : dict
        The raw recipe after ``--set`` overrides: copied into the dataset (``recipe.yaml``, ``gtforge.json``),
        compared on resume, and validated again by each worker process and Ray actor (:meth:`revalidated`).
    recipe_file : str
        The recipe file as given on the command line (for messages and the dataset's metadata).
    base_dir : Path
        Folder the recipe's relative paths are relative to (the build resolves it to an absolute path).
    out_dir : Path
        The dataset folder.
    shard : (K, N) or None
        Render only the scenes i with i % N == K (``--shard K/N``); recorded in ``gtforge.json``.
    """

    recipe: Recipe
    resolved: dict
    recipe_file: str
    base_dir: Path
    out_dir: Path
    shard: tuple[int, int] | None = None

    def __post_init__(self):
        object.__setattr__(self, "recipe_file", str(self.recipe_file))
        object.__setattr__(self, "base_dir", Path(self.base_dir))
        object.__setattr__(self, "out_dir", Path(self.out_dir))
        if self.shard is not None:
            object.__setattr__(self, "shard", tuple(self.shard))

    def revalidated(self) -> BuildJob:
        """This job with its recipe validated again from :attr:`resolved` in this process (a pool worker or a Ray
        actor, possibly on another machine: a recipe whose files are missing there fails here, naming them).

        Raises
        ------
        RecipeError
        """
        return replace(self, recipe=validate_recipe(self.resolved, self.recipe_file, self.base_dir))


@dataclass(frozen=True)
class SceneResult:
    """What one scene's render reports back (``SceneWorker.run_scene``; ``ray_executor.recovered_result``).

    Attributes
    ----------
    scene : int
        Scene index.
    frames : int
        Views written.
    timings : dict
        Seconds per stage (keys in ``pipeline.worker.STAGES``); empty for a recovered scene.
    settled : bool
        Physics settled within ``clutter.max_settle_time``.
    sim_time : float
        Simulated seconds.
    removed : tuple of (int, str)
        (inst_id, reason) of the objects taken out after physics or left out by placement.
    objects : int or None
        Labelled objects in the scene (None: not known, a recovered scene).
    obj_ids : tuple of int or None
        The scene's distinct model ids, sorted (None: not known).
    distractors : int or None
        Distractors resting in the scene (None: not known).
    views : dict or None
        View control's report (``scenes.views.ViewSampler.report``), None without view control.
    recovered : bool
        True when the scene had been committed by an earlier attempt whose result was lost (Ray retries).
    """

    scene: int
    frames: int
    timings: dict[str, float] = field(default_factory=dict)
    settled: bool = True
    sim_time: float = 0.0
    removed: tuple[tuple[int, str], ...] = ()
    objects: int | None = None
    obj_ids: tuple[int, ...] | None = None
    distractors: int | None = None
    views: dict | None = None
    recovered: bool = False


@dataclass(frozen=True)
class BuildSummary:
    """What a build did (``pipeline.build.build``).

    Attributes
    ----------
    scenes, frames : int
        Rendered by this call.
    seconds : float
        Wall time of rendering and the merges.
    timings : dict
        Seconds per stage, summed over the scenes.
    skipped : int
        Scenes of this build (or of its shard) already present.
    shard : (K, N) or None
    out_dir : str
        The dataset folder.
    """

    scenes: int
    frames: int
    seconds: float
    timings: dict[str, float]
    skipped: int
    shard: tuple[int, int] | None
    out_dir: str

    @property
    def frames_per_second(self) -> float:
        """``frames / seconds`` (0 when no time passed)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0
