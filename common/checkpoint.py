"""Training checkpoints for ``--resume``: everything a training loop needs to continue exactly
where it stopped, in one ``.npz`` written atomically inside the run's partial directory
(``common.runs.RunDirectory.scratch``; dropped when the run completes).

A checkpoint holds named arrays (parameters, the optimiser's state, the best parameters so far,
snapshots) and a JSON ``meta`` object (the update reached, the history, the best-so-far record,
the state of the ``np.random.Generator``, and an ``identity`` -- paper, seed, config -- that must
match on resume). Restoring all of it makes the resumed run's numbers identical to an
uninterrupted run's (tested by killing runs mid-training).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["TrainingCheckpoint", "CheckpointMismatch", "flatten", "unflatten"]


class CheckpointMismatch(ValueError):
    """The checkpoint belongs to another run (paper, seed or configuration differ)."""


def flatten(groups: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """{"params": {"W": a}, "opt": {...}} -> {"params/W": a, ...} (one .npz namespace)."""
    return {f"{g}/{k}": np.asarray(v) for g, d in groups.items() for k, v in d.items()}


def unflatten(arrays: Mapping[str, np.ndarray], group: str) -> dict[str, np.ndarray]:
    """The arrays of one group of ``flatten``'s output, keyed by their own names."""
    pre = f"{group}/"
    return {k[len(pre):]: v for k, v in arrays.items() if k.startswith(pre)}


class TrainingCheckpoint:
    """A checkpoint file at ``path`` for the run identified by ``identity`` (JSON-able)."""

    def __init__(self, path, identity: Mapping[str, Any]):
        self.path = Path(path)
        self.identity = json.loads(json.dumps(identity, default=str))

    def exists(self) -> bool:
        return self.path.is_file()

    def save(self, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
        """Write atomically (a temp file renamed over the old checkpoint): a kill mid-write leaves
        the previous checkpoint intact."""
        text = json.dumps({"identity": self.identity, **meta})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, __meta__=np.array(text), **arrays)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def load(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, meta); raises CheckpointMismatch if it belongs to another run."""
        with np.load(self.path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
            meta = json.loads(str(z["__meta__"]))
        if meta.get("identity") != self.identity:
            theirs = meta.get("identity", {})
            diff = sorted(k for k in set(theirs) | set(self.identity) if theirs.get(k) != self.identity.get(k))
            raise CheckpointMismatch(f"the checkpoint in {self.path.parent} is of another run (differs in: "
                                     f"{', '.join(diff)}); rerun without --resume to start afresh")
        return arrays, meta


def rng_state(rng: np.random.Generator) -> dict:
    """The generator's full state (JSON-able: the integers are Python ints)."""
    return rng.bit_generator.state


def set_rng_state(rng: np.random.Generator, state: Mapping) -> None:
    rng.bit_generator.state = dict(state)


__all__ += ["rng_state", "set_rng_state"]
