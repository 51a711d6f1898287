"""The prepared-dataset contract (version ``CONTRACT_VERSION``; see docs/architecture.md).

Every dataset of every benchmark is prepared into two files under ``<prepared_dir>/<benchmark>/``:

* ``<dataset>.json``, the *card*: always written, whatever happened. It holds the status
  (``ok`` / ``unavailable`` / ``failed``), the reason when not ok, and for an ok dataset its
  metadata (n, d, classes, size group, feature set, provenance checksums, notes) and the name
  and sha256 of the arrays file. A benchmark with published split columns (UCI) adds
  ``split_classes``: per column, ``sound`` and the classes ``missing`` from each of training,
  validation and test (``results/data/summary.csv`` shows column 0's).
  The card is the Snakemake output of a prepare step.
* ``<dataset>.npz``, the *arrays*: written only when the dataset is ok, uncompressed, loaded with
  ``allow_pickle=False``. The card's checksum ties the two together.

Both are written to a temporary name and renamed, so a final name never holds a partial file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snnbench import __version__
from snnbench.atomic import atomic_write_bytes
from snnbench.errors import DataError

CONTRACT_VERSION = 1
STATUSES = ("ok", "unavailable", "failed")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path(prepared_dir: str | os.PathLike, benchmark: str, dataset: str) -> Path:
    return Path(prepared_dir) / benchmark / f"{dataset}.json"


def write_prepared(
    prepared_dir: str | os.PathLike, benchmark: str, dataset: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path:
    """Write the arrays, then the card that names their checksum. Returns the card's path."""
    card = card_path(prepared_dir, benchmark, dataset)
    npz = card.with_suffix(".npz")
    atomic_write_bytes(npz, lambda f: np.savez(f, **arrays))
    body = {
        "contract_version": CONTRACT_VERSION,
        "benchmark": benchmark,
        "dataset": dataset,
        "status": "ok",
        "reason": None,
        **meta,
        "arrays": npz.name,
        "arrays_sha256": _sha256(npz),
        "array_shapes": {k: list(np.shape(v)) for k, v in arrays.items()},
        "snnbench_version": __version__,
    }
    atomic_write_bytes(card, lambda f: f.write((json.dumps(body, indent=1, default=_json_default) + "\n").encode()))
    return card


def write_status(prepared_dir: str | os.PathLike, benchmark: str, dataset: str, status: str, reason: str,
                 **meta: Any) -> Path:
    """Write the card of a dataset that could not be prepared; remove stale arrays."""
    if status not in STATUSES or status == "ok":
        raise ValueError(f"status must be 'unavailable' or 'failed', however: {status=}")
    card = card_path(prepared_dir, benchmark, dataset)
    card.with_suffix(".npz").unlink(missing_ok=True)
    body = {
        "contract_version": CONTRACT_VERSION,
        "benchmark": benchmark,
        "dataset": dataset,
        "status": status,
        "reason": reason,
        **meta,
        "snnbench_version": __version__,
    }
    atomic_write_bytes(card, lambda f: f.write((json.dumps(body, indent=1, default=_json_default) + "\n").encode()))
    return card


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to a dataset card")


def read_card(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError("no dataset card; run the prepare step first", path=path) from None
    except json.JSONDecodeError as exc:
        raise DataError(f"not a valid dataset card ({exc}); delete it and prepare again", path=path,
                        line=exc.lineno) from exc
    version = card.get("contract_version")
    if version != CONTRACT_VERSION:
        raise DataError(
            f"dataset card has contract version {version!r}, this snnbench reads {CONTRACT_VERSION}; "
            "prepare the data again",
            path=path,
        )
    return card


def rebuild_hint(card: str | os.PathLike) -> str:
    """How to rebuild a prepared dataset (``card``) and retrain what depended on it, in the pipeline."""
    return f"rebuild it: the same snakemake command plus --forcerun {card} (README, 'A damaged prepared file')"


def arrays_problem(card: str | os.PathLike, meta: dict[str, Any]) -> str | None:
    """Why the arrays file of the ok card ``meta`` (read from ``card``) cannot be used, naming the
    file and the recovery (in the pipeline; alone, `snnbench data prepare` rebuilds it); None when
    it is there and matches the card's checksum."""
    npz = Path(card).with_name(meta["arrays"])
    rebuild = rebuild_hint(card)
    if not npz.is_file():
        return f"{npz} is missing (its card says ok); {rebuild}"
    digest = _sha256(npz)
    if digest != meta["arrays_sha256"]:
        card_says = meta["arrays_sha256"][:12]
        return f"{npz} does not match its card (sha256 {digest[:12]}..., card {card_says}...); {rebuild}"
    return None


def checked_card(path: str | os.PathLike) -> dict[str, Any]:
    """The card at ``path`` (``read_card``), its arrays checked: an ok card whose arrays file is
    missing or damaged comes back ``failed`` and ``damaged``, the reason saying why and how to
    rebuild it."""
    card = read_card(path)
    if card["status"] == "ok":
        problem = arrays_problem(path, card)
        if problem:
            return {**card, "status": "failed", "reason": problem, "damaged": True}
    return card


@dataclass
class PreparedDataset:
    """An ok prepared dataset: its card (``meta``) and arrays, checked against each other."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray] = field(repr=False)

    @classmethod
    def load(cls, card: str | os.PathLike) -> "PreparedDataset":
        meta = read_card(card)
        if meta["status"] != "ok":
            raise DataError(f"dataset is {meta['status']}: {meta['reason']}", path=card)
        problem = arrays_problem(card, meta)
        if problem:
            raise DataError(problem)
        npz = Path(card).with_name(meta["arrays"])
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return cls(meta=meta, arrays=arrays)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    @property
    def name(self) -> str:
        return self.meta["dataset"]
