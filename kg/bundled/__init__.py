"""What budgetkg ships with: its ontology, SHACL shapes, named queries and seed documents.

They live at the top of the repository (``ontology/``, ``shapes/``, ``queries/``, ``seeds/``),
where they are edited and reviewed as the project's own material. This package holds committed
symlinks of the same names to those folders, so every way of running budgetkg reads them the
same way, as package data of ``kg.bundled`` through :mod:`importlib.resources`: a checkout
(the symlinks resolve inside it), an editable install, and a wheel (setuptools copies what a
symlink points to, so the wheel carries the files themselves). Nothing reaches the checkout by
a path computed from ``__file__``; settings and CLI options still point at other folders.

>>> sorted(p.name for p in folder("queries").glob("budget_by_*.rq"))
['budget_by_agency.rq']
>>> (folder("seeds") / "manifest.toml").is_file()
True
"""

from __future__ import annotations

import functools
import tempfile
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

#: The folders this package ships, as named at the top of the repository.
FOLDERS = ("ontology", "shapes", "queries", "seeds")


def folder(name: str) -> Path:
    """One of the bundled :data:`FOLDERS` as a directory.

    >>> folder("schemas")
    Traceback (most recent call last):
    ...
    ValueError: no bundled folder 'schemas' (there are ontology, shapes, queries, seeds)
    """
    if name not in FOLDERS:
        raise ValueError(f"no bundled folder {name!r} (there are {', '.join(FOLDERS)})")
    return package_folder(__name__, name)


def package_folder(package: str, name: str) -> Path:
    """The folder ``name`` of an imported ``package``'s data, as a directory on disk.

    Callers want directories (a settings default, Jinja's loader, Starlette's static files, a
    ``glob``). A checkout or an installed wheel (pip always unpacks wheels) gives one directly;
    a package imported from a zip archive has the folder copied out once per process, into a
    temporary directory removed at exit (:func:`importlib.resources.as_file` copies directories
    only from Python 3.12).

    >>> package_folder("kg.bundled", "shapes").joinpath("structure.ttl").is_file()
    True
    """
    resource = files(package) / name
    if isinstance(resource, Path):
        return resource
    return Path(_copied_out(package, name).name)


@functools.cache
def _copied_out(package: str, name: str) -> tempfile.TemporaryDirectory[str]:
    # the cache keeps the TemporaryDirectory alive for the process; it removes itself at exit
    resource = files(package) / name
    if not resource.is_dir():
        raise FileNotFoundError(f"package {package!r} has no folder {name!r}")
    copy = tempfile.TemporaryDirectory(prefix=f"budgetkg-{package}-{name}-")
    _copy_tree(resource, Path(copy.name))
    return copy


def _copy_tree(source: Traversable, target: Path) -> None:
    for entry in source.iterdir():
        if entry.is_dir():
            (target / entry.name).mkdir()
            _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())
