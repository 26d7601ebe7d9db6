"""Shared fixtures: settings, the manifest, a store built once from the bundled seeds, a 300-table synthetic store,
a remote Oxigraph server, a Virtuoso server.

Plain functions and constants the tests share are in ``tests/helpers.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from bench.synth import generate
from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest, load_manifest
from kg.store import EmbeddedStore, GraphStore

from .helpers import Virtuoso, oxigraph_server, virtuoso_server


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env(env={})


@pytest.fixture(scope="session")
def manifest(settings: Settings) -> Manifest:
    return load_manifest(settings.manifest)


@pytest.fixture(scope="session")
def seed_store(settings: Settings, manifest: Manifest) -> GraphStore:
    """An in-memory store holding the ontology and the five seed documents (read it, don't write)."""
    store = EmbeddedStore(None)
    build(store, manifest.entries, settings, manifest=manifest)
    return store


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Iterator[EmbeddedStore]:
    """300 synthetic tables built on disk (bench.synth: many units and departments, repeated names, every
    category, findings), with the build's tables beside them (read it, don't write)."""
    root = tmp_path_factory.mktemp("synth")
    generate(300, root / "docs", seed=16, tables_per_doc=50, bond_every=100)
    corpus = load_manifest(root / "docs" / "manifest.toml")
    store = EmbeddedStore(root / "store")
    build(store, corpus.entries, settings, manifest=corpus)
    yield store
    store.close()


@pytest.fixture(scope="module")
def oxigraph_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty ``oxigraph serve`` on 127.0.0.1, one per test module (skipped without the binary)."""
    with oxigraph_server(tmp_path_factory.mktemp("oxigraph")) as url:
        yield url


@pytest.fixture(scope="session")
def virtuoso(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Virtuoso]:
    """An empty Virtuoso on 127.0.0.1 for the session (skipped without it, failed under CI=true); the end
    of its log is printed when a test of the session failed."""
    with virtuoso_server(tmp_path_factory.mktemp("virtuoso")) as server:
        yield server
        if request.session.testsfailed:
            print(f"\n-- the end of Virtuoso's log ({server.log}):\n{server.log_tail()}", file=sys.stderr)
