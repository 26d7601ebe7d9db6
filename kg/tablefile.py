"""Files of numpy arrays kept beside an on-disk store for one generation (the facet and answer tables).

Written atomically (a reader sees the whole file or none) and, once written, the files of other generations with
the same prefix are removed; the first array, ``version``, holds the file's layout version and its generation.

**Memory-mapped.** A file is an uncompressed ``.npz`` (``np.load`` reads it too) whose members each start on a
64-byte boundary (a zip extra field pads the member's header, as Android's ``zipalign`` does; ``.npy`` pads its own
header to 64 bytes), so :func:`load` maps the file once and returns each array as a read-only view of it at its
offset: loading reads a few headers, nothing of the data, whatever the file's size. The pages are the page cache's,
shared by every process that maps the file (the server's workers), and a process's resident memory grows only by
the pages it touches. A file truncated or not of this layout raises :class:`ValueError` (:func:`stored` then
returns ``None``, and the build's step writes the file again).
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import struct
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

#: Where each member's data starts (a multiple of), in the file and so in memory.
ALIGN = 64
#: The zip extra field that pads a member's local header (the id Android's zipalign uses for the same purpose).
_PAD_ID = 0xD935
_LOCAL = struct.Struct("<4s22xHH")  # a local file header's signature, then its name and extra field lengths
_LOCAL_SIGNATURE = b"PK\x03\x04"


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


def _npy_header(array: NDArray[np.generic]) -> bytes:
    """The ``.npy`` header of ``array`` (magic, version, the padded header dict): what ``np.save`` writes first."""
    header = np.lib.format.header_data_from_array_1_0(array)
    buf = io.BytesIO()
    try:
        np.lib.format.write_array_header_1_0(buf, header)
    except ValueError:  # a header too long for version 1.0's 2-byte length
        buf = io.BytesIO()
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue()


def _member(z: zipfile.ZipFile, name: str, array: NDArray[np.generic]) -> None:
    """Write ``array`` as the stored member ``name``.npy, its data starting on an :data:`ALIGN` boundary."""
    array = np.ascontiguousarray(array)
    if array.dtype.hasobject:
        raise ValueError(f"an array of Python objects cannot be kept in a table file: {name}")
    head = _npy_header(array)
    info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = len(head) + array.nbytes
    zip64 = info.file_size * 1.05 > zipfile.ZIP64_LIMIT  # as zipfile decides it, before writing the header
    start = z.fp.tell() if z.fp is not None else 0
    fixed = 30 + len(info.filename.encode("utf-8")) + (20 if zip64 else 0)
    pad = -(start + fixed) % ALIGN
    if pad and pad < 4:  # an extra field is at least its 4-byte id and length
        pad += ALIGN
    if pad:
        info.extra = struct.pack("<HH", _PAD_ID, pad - 4) + bytes(pad - 4)
    with z.open(info, "w", force_zip64=zip64) as f:
        f.write(head)
        f.write(array.reshape(-1).data.cast("B"))


def save(path: Path, prefix: str, version: int, generation: int, arrays: Mapping[str, NDArray[np.generic]]) -> None:
    """Write ``arrays`` to ``path`` (``prefix`` + generation + ``.npz``), then remove the other ``prefix*.npz``."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
            _member(z, "version", np.array([version, generation], dtype=np.int64))
            for name, array in arrays.items():
                _member(z, name, np.asarray(array))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for old in path.parent.glob(f"{prefix}*.npz"):
        if old != path:
            with contextlib.suppress(OSError):
                old.unlink()


def _array(mapped: mmap.mmap, info: zipfile.ZipInfo) -> tuple[str, NDArray[Any]]:
    """The member ``info`` as a read-only view of ``mapped`` (the whole file)."""
    if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
        raise ValueError(f"a compressed or foreign member in a table file: {info.filename}")
    if info.header_offset + _LOCAL.size > len(mapped):
        raise ValueError(f"a table file cut short before {info.filename}")
    signature, name_length, extra_length = _LOCAL.unpack_from(mapped, info.header_offset)
    if signature != _LOCAL_SIGNATURE:
        raise ValueError(f"no member header where the zip directory puts {info.filename}")
    start = info.header_offset + _LOCAL.size + name_length + extra_length
    if start + info.file_size > len(mapped):
        raise ValueError(f"a table file cut short in {info.filename}")
    reader = _Reader(mapped, start)
    major, _ = np.lib.format.read_magic(reader)
    read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(reader)
    if dtype.hasobject:
        raise ValueError(f"an array of Python objects in a table file: {info.filename}")
    count = int(np.prod(shape, dtype=np.int64))
    if reader.at - start + count * dtype.itemsize != info.file_size:
        raise ValueError(f"a member of the wrong size in a table file: {info.filename}")
    if count == 0:
        empty = np.empty(shape, dtype=dtype)
        empty.flags.writeable = False
        return info.filename[:-4], empty
    array = np.frombuffer(mapped, dtype=dtype, count=count, offset=reader.at)
    return info.filename[:-4], array.reshape(shape, order="F" if fortran else "C")


class _Reader:
    """A file-like reader of ``mapped`` from ``at`` on, for numpy's ``.npy`` header readers."""

    def __init__(self, mapped: mmap.mmap, at: int) -> None:
        self.mapped = mapped
        self.at = at

    def read(self, n: int = -1, /) -> bytes:
        out = self.mapped[self.at:] if n < 0 else self.mapped[self.at:self.at + n]
        self.at += len(out)
        return out


def load(path: Path) -> tuple[int, int, dict[str, Any]]:
    """(layout version, generation, every other array) of a file written by :func:`save` (the arrays as saved:
    their dtypes are the caller's to know), each a read-only view of the file mapped into memory."""
    with path.open("rb") as f:
        try:
            with zipfile.ZipFile(f) as z:
                infos = z.infolist()
        except zipfile.BadZipFile as exc:
            raise ValueError(f"not a table file (or cut short): {path}: {exc}") from None
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # the mapping outlives the file object
    arrays = dict(_array(mapped, info) for info in infos)
    if "version" not in arrays:
        raise ValueError(f"a table file without its version: {path}")
    version, generation = (int(x) for x in arrays.pop("version"))
    return version, generation, arrays


def mapped(array: NDArray[Any]) -> bool:
    """Whether ``array`` is a view of a mapped file (:func:`load`'s arrays are), not of memory of its own."""
    base: object = array
    while isinstance(base, np.ndarray | memoryview):
        base = base.base if isinstance(base, np.ndarray) else base.obj
    return isinstance(base, mmap.mmap)
