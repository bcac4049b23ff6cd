"""A paper claim checked against our numbers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Claim:
    """One statement the paper makes about a figure/table, and whether our run agrees.

    Attributes
    ----------
    id: stable identifier, e.g. ``"fig1.exp_stable"``.
    statement: the paper's claim in words.
    passed: whether our numbers support it.
    numbers: the measured values behind the verdict (JSON-able).
    """

    id: str
    statement: str
    passed: bool
    numbers: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["passed"] = bool(self.passed)
        return out
