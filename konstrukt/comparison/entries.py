"""Which pipelines a comparison runs: parse the user's list into entries and check them all first.

``NAME:HEAD`` swaps a pipeline's head preset; ``recommended`` is the task's short list, ``offline``
every pipeline that trains without a download, ``auto`` the candidates ``auto`` weighs here.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, WeightsUnavailableError
from ..pipelines import AUTO_CANDIDATES, PIPELINES, PipelineSpec
from ..tasks import TASKS

SELECTIONS = ("recommended", "offline")


@dataclass(frozen=True)
class Entry:
    """One contestant: a pipeline, optionally with another head preset (``NAME:HEAD``)."""

    name: str
    pipeline: str
    head: str | None = None

    @property
    def folder(self) -> str:
        return self.name.replace(":", "-")


def needs_download(spec: PipelineSpec, pretrained: str | None = None) -> str | None:
    """Why ``spec`` would have to download weights, or None when it trains without a download."""
    from ..models.backbones import BACKBONES
    from ..models.weights import is_cached

    backbone = BACKBONES.get(spec.backbone)
    tag = pretrained or spec.pretrained
    tag = backbone.default_weights if tag == "default" else tag
    if tag == "none" or tag not in backbone.weights or is_cached(backbone.weights[tag]):
        return None
    return f"needs the {spec.backbone}.{tag} weights, which are not on this machine"


def auto_contestants(task: str) -> list[str]:
    """The pipelines ``auto`` weighs for ``task`` on this machine: its pretrained start and the
    scratch model (see :mod:`konstrukt.auto`)."""
    from ..auto import auto_plan

    plan = auto_plan(task)
    return [n for n in (plan.pretrained, plan.scratch) if n] or [plan.start]


def select_pipelines(task: str, pipelines: str | list[str] | tuple[str, ...]) -> list[Entry]:
    """Parse ``a,b,c`` / ``recommended`` / ``offline`` (or a list) into entries for ``task``.

    ``auto`` brings in the pipelines ``auto`` weighs on this machine (:mod:`konstrukt.auto`: the
    pretrained start, every head it chooses between, and the scratch model), which the
    leaderboard then ranks. Every unknown name and
    every pipeline that does not fit the task is reported at once, with the valid names.
    """
    names = [n.strip() for n in (pipelines.split(",") if isinstance(pipelines, str) else pipelines)]
    names = [n for n in names if n]
    usable = [n for n, p in PIPELINES.items() if task in p.tasks]
    if names in (["recommended"], ["offline"]):
        tspec = TASKS.get(task)
        if names == ["recommended"]:
            names = list(tspec.shortlist or (tspec.default_pipeline, tspec.offline_pipeline))
        else:
            names = [n for n in usable if needs_download(PIPELINES.get(n)) is None]
    if not names:
        raise ConfigError("no pipelines to compare", [f"give --pipelines a,b,c; pipelines for {task}: "
                                                       f"{', '.join(usable)}; or recommended / offline"])
    from ..models.heads import HEADS

    entries, problems = [], []
    for raw in names:
        name, _, head = raw.partition(":")
        if head and head not in HEADS:
            problems.append(f"unknown head {head!r} in {raw!r}; heads: {', '.join(HEADS.names())}")
            continue
        for n in (auto_contestants(task) if name == "auto" else [name]):
            if n not in PIPELINES:
                problems.append(f"unknown pipeline {n!r}; pipelines for {task}: {', '.join(usable)}")
            elif task not in PIPELINES.get(n).tasks:
                problems.append(f"pipeline {n!r} does not work on task {task!r}; pipelines for {task}: "
                                f"{', '.join(usable)}")
            else:
                expanded = AUTO_CANDIDATES[n] if n in AUTO_CANDIDATES else (n,)
                entries += [Entry(f"{m}:{head}" if head else m, m, head or None) for m in expanded]
    if problems:
        raise ConfigError("cannot compare these pipelines", problems)
    return list(dict.fromkeys(entries))  # each once, in the order given



def resolve_entries(task: str | None, pipelines, config, overrides: dict | None
                    ) -> tuple[str, int, list[Entry], dict, dict[str, str]]:
    """Validate everything before the long work: task, names, configs, CV folds, weights."""
    from ..experiment import resolve_config

    overrides = {k: v for k, v in (overrides or {}).items() if k not in ("pipeline", "head")}
    base, _ = resolve_config(task, None, config, overrides)
    k = base.cv if base.cv is not None else 5
    if k < 2:
        raise ConfigError(f"compare ranks pipelines on cross-validation: cv must be at least 2, got {k}",
                          ["Fix: leave --cv out (5 folds) or pass --cv 3."])
    entries = select_pipelines(base.task, pipelines)
    configs, problems, skipped = {}, [], {}
    for entry in entries:
        try:
            configs[entry] = resolve_config(base.task, entry.pipeline, config,
                                            {**overrides, "cv": k, "head": entry.head})
        except ConfigError as exc:
            problems += [f"{entry.name}: {p}" for p in [exc.message, *exc.problems]]
            continue
        from ..models.weights import offline

        why = needs_download(configs[entry][1], configs[entry][0].pretrained) if offline() else None
        if why:
            skipped[entry.name] = WeightsUnavailableError(
                f"{why} and downloads are off", ["Fix: pass --pretrained PATH or compare offline pipelines"])
    if problems:
        raise ConfigError("invalid settings for some pipelines", problems)
    if len(skipped) == len(entries):
        raise WeightsUnavailableError("no pipeline can run: every one needs weights that are not on this "
                                      "machine", [f"{n}: {w.message}" for n, w in skipped.items()]
                                      + ["Fix: --pipelines offline, or put the weights into the cache"])
    return base.task, k, entries, configs, skipped
