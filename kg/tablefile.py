"""Files of numpy arrays kept beside an on-disk store for one generation (the facet and answer tables).

Written atomically (a reader sees the whole file or none) and, once written, the files of other generations with
the same prefix are removed; the first array, ``version``, holds the file's layout version and its generation.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray


class _OfGeneration(Protocol):
    generation: int


T = TypeVar("T", bound=_OfGeneration)


def stored(path: Path | None, generation: int, load: Callable[[Path], T]) -> T | None:
    """The table at ``path`` if it holds ``generation`` (the store's), else ``None``: no file, an unreadable one,
    another layout or another generation."""
    if path is None or not path.is_file():
        return None
    with contextlib.suppress(OSError, KeyError, ValueError):
        table = load(path)
        if table.generation == generation:
            return table
    return None


def save(path: Path, prefix: str, version: int, generation: int, arrays: Mapping[str, NDArray[np.generic]]) -> None:
    """Write ``arrays`` to ``path`` (``prefix`` + generation + ``.npz``), then remove the other ``prefix*.npz``."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, allow_pickle=False, version=np.array([version, generation], dtype=np.int64), **arrays)
    os.replace(tmp, path)
    for old in path.parent.glob(f"{prefix}*.npz"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()


def load(path: Path) -> tuple[int, int, dict[str, Any]]:
    """(layout version, generation, every other array) of a file written by :func:`save` (the arrays as saved:
    their dtypes are the caller's to know)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    version, generation = (int(x) for x in arrays.pop("version"))
    return version, generation, arrays
