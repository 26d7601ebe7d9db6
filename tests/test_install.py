"""budgetkg as a user gets it: a wheel of this checkout, installed (not editable) into a fresh venv and
run from an empty directory, far from the checkout.

The wheel is built once per run from a copy of the files a build reads (``pip wheel --no-deps``; a copy,
so no ``build/`` left in the checkout feeds stale modules into it), checked for the data files it must
carry, and installed with its dependencies from pip's cache or the configured index into a venv made by
``python -m venv``. There, with no PYTHONPATH and an empty working directory, ``budgetkg build --store s``
builds the bundled seeds and ``budgetkg serve`` answers ``/health``, a named query, a page and a static
file on 127.0.0.1. About 25 s on a warm pip cache (wheel 2 s, venv 2 s, install 17 s, build and serve 4 s).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from kg.bundled import FOLDERS, package_folder

from .helpers import HOST, ROOT, free_port, stop

#: What building the wheel reads: the project file, its readme, the packages and the folders kg.bundled links to.
SOURCES = ("pyproject.toml", "README.md", "kg", "server", "budgetkg", *FOLDERS)
#: The files of each bundled folder the wheel must carry.
BUNDLED = {"ontology": "*.ttl", "shapes": "*.ttl", "queries": "*.rq", "queries/fast": "*.rq", "seeds": "*"}


def run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    shown = " ".join(map(str, cmd))
    assert done.returncode == 0, f"{shown} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("source")
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        if (ROOT / name).is_dir():  # symlinks stay symlinks: kg/bundled's point at the copied top-level folders
            shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=junk)
        else:
            shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--quiet", "-w", dist, cwd=dist)
    (built,) = dist.glob("budgetkg-*.whl")
    return built


def test_the_wheel_carries_the_packages_and_their_data_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        expected = {f"kg/bundled/{folder}/{p.name}" for folder, pattern in BUNDLED.items()
                    for p in (ROOT / folder).glob(pattern) if p.is_file()}
        assert {"kg/bundled/seeds/manifest.toml", "kg/bundled/ontology/budgetkg.ttl"} <= expected
        static = ROOT / "server" / "static"
        expected |= {f"server/static/{p.name}" for p in static.iterdir() if p.is_file()}
        # the npm assets, wherever scripts/setup-assets.sh has put them
        expected |= {f"server/static/vendor/{p.name}" for p in static.glob("vendor/*") if p.is_file()}
        expected |= {f"server/templates/{p.name}" for p in (ROOT / "server" / "templates").glob("*.html")}
        expected |= {f"{pkg}/{p.relative_to(ROOT / pkg).as_posix()}" for pkg in ("kg", "server", "budgetkg")
                     for p in (ROOT / pkg).rglob("*.py")}
        expected |= {"kg/py.typed", "server/py.typed"}
        assert not expected - names, f"missing from the wheel: {sorted(expected - names)}"
        # the files themselves, not links to a checkout
        query = "queries/budget_by_agency.rq"
        assert zf.read(f"kg/bundled/{query}") == (ROOT / query).read_bytes()
    assert not [n for n in names if n.startswith(("tests/", "bench/", "build/", "ontology/", "seeds/"))]


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its dependencies; returns its bin/ folder."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", venv, cwd=venv)
    run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel, cwd=venv, env=outside_env())
    return venv / "bin"


def outside_env() -> dict[str, str]:
    """This environment without what would point a child back at the checkout or at this test's venv."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}


@pytest.mark.slow
def test_the_installed_package_builds_and_serves_the_bundled_seeds_from_an_empty_directory(
        installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    env = outside_env()
    where = run(installed / "python", "-c", "import kg, server, budgetkg; print(kg.__file__, server.__file__)",
                cwd=empty, env=env)
    assert all(Path(p).is_relative_to(installed.parent) for p in where.split()), where
    built = run(installed / "budgetkg", "build", "--store", "s", cwd=empty, env=env)
    assert "138 projects" in built, built
    port = free_port()
    proc = subprocess.Popen([installed / "budgetkg", "serve", "--store", "s", "--host", HOST, "--port", str(port),
                             "--workers", "1", "--log-level", "warning"], cwd=empty, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = wait_until_serving(proc, f"http://{HOST}:{port}")
        health = httpx.get(url + "/health", timeout=10).json()
        assert health["ok"] is True and health["mode"] == "process"
        r = httpx.get(url + "/queries/budget_by_agency", headers={"Accept": "application/sparql-results+json"},
                      timeout=30)
        assert r.status_code == 200, r.text[:300]
        units = {b["unit_code"]["value"]: b["unit_name"]["value"] for b in r.json()["results"]["bindings"]
                 if "unit_name" in b}
        assert units["325220"] == "天津市建设工程安全质量监督总站", units  # the first seed document's unit
        page = httpx.get(url + "/queries", headers={"Accept": "text/html"}, timeout=30)  # a template
        assert page.status_code == 200 and "budget_by_agency" in page.text
        assert httpx.get(url + "/static/favicon.svg", timeout=10).status_code == 200
    finally:
        stop(proc, signal.SIGINT, 15)


def wait_until_serving(proc: subprocess.Popen[str], url: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            assert proc.stderr is not None
            pytest.fail(f"budgetkg serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("budgetkg serve did not answer /health within 60 s")


# -- package data read through importlib.resources -----------------------------------------------


def test_package_data_imported_from_a_zip_archive_is_copied_out_as_a_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_pkg/__init__.py", "")
        zf.writestr("zipped_pkg/assets/a.ttl", "<a> <b> <c> .\n")
        zf.writestr("zipped_pkg/assets/sub/b.rq", "ASK {}\n")
    monkeypatch.syspath_prepend(str(archive))
    try:
        folder = package_folder("zipped_pkg", "assets")
        assert folder.is_dir() and not folder.is_relative_to(archive)
        assert (folder / "a.ttl").read_text() == "<a> <b> <c> .\n" and (folder / "sub" / "b.rq").is_file()
        assert package_folder("zipped_pkg", "assets") == folder  # once per process
        with pytest.raises(FileNotFoundError, match="zipped_pkg"):
            package_folder("zipped_pkg", "nothing")
    finally:
        sys.modules.pop("zipped_pkg", None)


def test_the_bundled_folders_are_read_inside_the_package() -> None:
    for name in FOLDERS:
        folder = package_folder("kg.bundled", name)
        assert folder.is_dir() and folder.parent.name == "bundled", folder
        assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in (ROOT / name).iterdir())
