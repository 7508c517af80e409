"""Stages as data: what each reads and writes, and in which order they run.

A :class:`Stage` declares its notebook, the artifacts it reads and writes
(paths relative to ``run_dir/artifacts``) and the params sections it depends on.
From those declarations alone the runner orders stages, checks inputs, builds
cache keys and, later, runs independent stages side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Stage", "Pipeline"]


@dataclass(frozen=True)
class Stage:
    """One notebook of the pipeline.

    Parameters
    ----------
    name : str
        Also the notebook's file stem, e.g. ``"04_train"``.
    inputs : dict
        Artifact name -> path under ``artifacts/`` that this stage reads.
    outputs : dict
        Artifact name -> path under ``artifacts/`` that this stage writes. A path ending
        in ``/`` is a folder: every file in it is an output (hashed, cached, restored and
        cleared one by one, like the stage's figures); no stage may read it as an input.
    sections : tuple of str
        Params sections this stage reads (part of its cache key).
    optional_inputs, optional_outputs : tuple of str
        Artifact names that may be absent (e.g. the oracle, only known for
        generated data).
    cacheable : bool, default=True
        ``False`` for a stage whose result must never be reused (it reads
        something outside its declared inputs, e.g. the clock or a live
        service): it runs in every run.
    """

    name: str
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    sections: tuple[str, ...] = ()
    optional_inputs: tuple[str, ...] = ()
    optional_outputs: tuple[str, ...] = ()
    title: str = ""
    cacheable: bool = True

    @property
    def notebook(self) -> str:
        return f"{self.name}.ipynb"

    @property
    def figures_dir(self) -> str:
        """Folder under ``artifacts/`` for this stage's PNG figures."""
        return f"figures/{self.name}"

    @property
    def output_folders(self) -> tuple[str, ...]:
        """Folders under ``artifacts/`` whose every file is an output: folder outputs, then figures.

        >>> Stage("s", outputs={"a": "a.json", "logs": "logs/"}).output_folders
        ('logs', 'figures/s')
        """
        return (*(p.rstrip("/") for p in self.outputs.values() if p.endswith("/")), self.figures_dir)


class Pipeline:
    """An ordered, validated set of stages.

    Raises ``ValueError`` at construction when an input is produced by no
    earlier stage, when two stages write the same artifact, or on a cycle.
    """

    def __init__(self, stages: list[Stage], *, headline: Any = None):
        self.stages = _topological(stages)
        self._by_name = {s.name: s for s in self.stages}
        #: ``headline(run_dir) -> dict`` of the numbers a finished run's manifest records under
        #: ``metrics`` (what ``list`` and the index show); the engine knows no file of its own.
        self.headline = headline

    def __iter__(self):
        return iter(self.stages)

    def __len__(self) -> int:
        return len(self.stages)

    def __getitem__(self, name: str) -> Stage:
        try:
            return self._by_name[name]
        except KeyError:
            from nblib.common.text import suggest

            raise KeyError(f"unknown stage {name!r}{suggest(name, list(self._by_name))}") from None

    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def upstream(self, name: str) -> list[Stage]:
        """Stages that must run before ``name``, in run order."""
        needed, todo = set(), [self[name]]
        producers = {path: s for s in self.stages for path in s.outputs.values()}
        while todo:
            for path in todo.pop().inputs.values():
                producer = producers.get(path)  # an optional input may have no producer
                if producer is not None and producer.name not in needed:
                    needed.add(producer.name)
                    todo.append(producer)
        return [s for s in self.stages if s.name in needed]

    def downstream(self, name: str) -> list[Stage]:
        """Stages that read, directly or not, what ``name`` writes, in run order."""
        produced, found = set(self[name].outputs.values()), []
        for stage in self.stages:
            if stage.name != name and produced & set(stage.inputs.values()):
                found.append(stage)
                produced |= set(stage.outputs.values())
        return found

    def dependencies(self, name: str) -> set[str]:
        """Names of the stages whose outputs ``name`` reads directly."""
        producers = {path: s.name for s in self.stages for path in s.outputs.values()}
        return {producers[p] for p in self[name].inputs.values() if p in producers}


def _topological(stages: list[Stage]) -> list[Stage]:
    producers: dict[str, str] = {}
    for s in stages:
        for path in s.outputs.values():
            if path in producers:
                raise ValueError(f"Invalid pipeline: {path} is written by {producers[path]} and {s.name}")
            producers[path] = s.name
    deps = {}
    for s in stages:
        folders = [p for p in s.inputs.values() if p.endswith("/")]
        if folders:
            raise ValueError(f"Invalid pipeline: stage {s.name} reads {folders}: a folder output is not an input")
        missing = [p for k, p in s.inputs.items() if p not in producers and k not in s.optional_inputs]
        if missing:
            raise ValueError(f"Invalid pipeline: stage {s.name} reads {missing}, which no stage writes")
        deps[s.name] = {producers[p] for p in s.inputs.values() if p in producers}
    ordered, done = [], set()
    while len(ordered) < len(stages):
        ready = [s for s in stages if s.name not in done and deps[s.name] <= done]
        if not ready:
            raise ValueError("Invalid pipeline: stages depend on each other in a cycle")
        ordered.append(ready[0])
        done.add(ready[0].name)
    return ordered
