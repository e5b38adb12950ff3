"""Data-health findings: one problem in plain words, and the report that gathers them.

The checks that produce findings live in :mod:`konstrukt.data.health` (the ones every modality gets)
and in each modality's wing (``konstrukt/modalities/<name>/health.py``: its own measurements);
the post-training ones in :mod:`konstrukt.review`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from ..words import agree

if TYPE_CHECKING:
    from .samples import Dataset

EVAL_SPLITS = ("val", "test")
BLOCKING = frozenset({"label_conflict", "leakage"})  # what --strict stops on
DUPLICATE_KINDS = frozenset({"exact_duplicate", "near_duplicate", "label_conflict"})  # one per group


@dataclass
class Finding:
    """One problem, in plain words, with the samples (indices into the dataset) it names."""

    kind: str
    severity: str  # error | warning | info
    message: str
    samples: list[int] = field(default_factory=list)
    action: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    notes: dict[int, dict] = field(default_factory=dict)  # per-sample extras (e.g. a suggested label)
    stage: str = "data"  # data | training


@dataclass
class HealthReport:
    """The findings about one dataset, and which evaluation examples are left out because of leaks."""

    dataset: Dataset
    findings: list[Finding] = field(default_factory=list)
    splits: dict[str, list[int]] | None = None
    removed: dict[str, list[int]] = field(default_factory=dict)  # split -> indices left out
    checked: int = 0
    # what finding the examples said (files of other types skipped …): `check` says what `train` warns
    warnings: list[str] = field(default_factory=list)
    _where: dict[int, str] | None = field(default=None, repr=False)

    def by_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in BLOCKING]

    def apply(self, splits: dict[str, list[int]]) -> dict[str, list[int]]:
        """``splits`` without the leaked examples of the evaluation splits."""
        gone = {k: set(v) for k, v in self.removed.items()}
        return {k: [i for i in v if i not in gone.get(k, ())] for k, v in splits.items()}

    def groups(self, indices: list[int]) -> list[int]:
        """A group id per index: copies (exact or near, any label) share one, every other example
        has its own — for cross-validation folds that keep copies together."""
        of = {}
        for n, f in enumerate(self.findings):
            if f.kind in DUPLICATE_KINDS:
                of.update({i: -1 - n for i in f.samples})
        return [of.get(i, i) for i in indices]

    def split_of(self, i: int) -> str | None:
        if self._where is None:
            self._where = {j: name for name, idx in (self.splits or {}).items() for j in idx}
        return self._where.get(i, self.dataset.samples[i].split)

    def sample_dict(self, i: int, finding: Finding | None = None) -> dict[str, Any]:
        s = self.dataset.samples[i]
        out = {"index": int(i), "file": self.dataset.relative(s.path), "name": f"{s.label}/{s.path.name}",
               "label": s.label, "split": self.split_of(i)}
        if finding is not None:
            out.update(finding.notes.get(i, {}))
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the ``data_health`` section of report.json and of the API."""
        return {
            "checked": self.checked,
            "ok": not any(f.severity in ("error", "warning") for f in self.findings),
            "counts": dict(Counter(f.kind for f in self.findings)),
            "findings": [{"kind": f.kind, "severity": f.severity, "stage": f.stage, "message": f.message,
                          "action": f.action, "detail": f.detail,
                          "samples": [self.sample_dict(i, f) for i in f.samples]} for f in self.findings],
            "removed_from_evaluation": {k: [self.sample_dict(i) for i in v]
                                        for k, v in self.removed.items() if v},
            "warnings": list(self.warnings),
        }

    def lines(self, limit: int = 8) -> list[str]:
        """Plain-words lines: one per finding (the first ``limit`` per kind), then what was done."""
        out, seen = [], Counter()
        for f in self.findings:
            seen[f.kind] += 1
            if seen[f.kind] <= limit:
                out.append(f"[{f.severity}] {f.message}" + (f" — {f.action}" if f.action else ""))
        for kind, n in seen.items():
            if n > limit:
                out.append(f"… and {n - limit} more {kind.replace('_', ' ')} {agree(n - limit, 'finding')}")
        return out
