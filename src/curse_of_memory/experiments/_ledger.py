"""The claims ledger: the latest complete run of every experiment, claim by claim.

A run is complete when its ``DONE`` manifest exists (written last). A run whose
``DONE`` or ``claims.json`` cannot be read is reported as unreadable; the ledger
then uses the experiment's latest readable run and lists every other experiment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from curse_of_memory.experiments._io import RunFileError, read_run_json
from curse_of_memory.experiments._registry import EXPERIMENTS

DONE_FILE = "DONE"
CLAIMS_FILE = "claims.json"
_CLAIM_KEYS = ("id", "statement", "passed")


@dataclass
class Ledger:
    """What ``read_ledger`` found.

    Attributes
    ----------
    claims: one dict per claim with keys experiment, run_id, preset, finished, id,
        statement, passed (sorted by experiment, then claim order).
    unreadable: ``{"run": folder, "error": what is wrong}`` per damaged run.
    """

    claims: list[dict] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)


def _read_manifest(done: Path) -> dict:
    manifest = read_run_json(done, required=("run_id", "preset", "finished"))
    if not isinstance(manifest["finished"], str):
        raise RunFileError(f"{done}: 'finished' is not a time stamp")
    return manifest


def _read_claims(run_dir: Path) -> list[dict]:
    path = run_dir / CLAIMS_FILE
    claims = read_run_json(path, kind=list)
    for index, claim in enumerate(claims):
        if not isinstance(claim, dict) or any(key not in claim for key in _CLAIM_KEYS):
            raise RunFileError(f"{path}: claim {index} lacks one of {', '.join(_CLAIM_KEYS)}")
    return claims


def read_ledger(out_dir: str | Path = "results") -> Ledger:
    """The latest readable complete run of every registered experiment under ``out_dir``."""
    ledger = Ledger()
    root = Path(out_dir)
    for name in sorted(EXPERIMENTS):
        manifests = []
        for done in sorted((root / name).glob(f"*/{DONE_FILE}")):
            try:
                manifests.append((_read_manifest(done), done.parent))
            except RunFileError as err:
                ledger.unreadable.append({"run": str(done.parent), "error": str(err)})
        for manifest, run_dir in sorted(manifests, key=lambda item: item[0]["finished"])[::-1]:
            try:
                claims = _read_claims(run_dir)
            except RunFileError as err:
                ledger.unreadable.append({"run": str(run_dir), "error": str(err)})
                continue
            ledger.claims.extend(
                {
                    "experiment": name,
                    "run_id": manifest["run_id"],
                    "preset": manifest["preset"],
                    "finished": manifest["finished"],
                    "id": claim["id"],
                    "statement": claim["statement"],
                    "passed": bool(claim["passed"]),
                }
                for claim in claims
            )
            break
    return ledger


def latest_claims(out_dir: str | Path = "results") -> list[dict]:
    """Claims of the latest readable complete run of every experiment (see :class:`Ledger`)."""
    return read_ledger(out_dir).claims
