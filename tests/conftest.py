"""Shared fixtures: settings, the manifest, a store built once from the bundled seeds, a remote Oxigraph server.

Plain functions and constants the tests share are in ``tests/helpers.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest, load_manifest
from kg.store import EmbeddedStore, GraphStore

from .helpers import oxigraph_server


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


@pytest.fixture(scope="module")
def oxigraph_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty ``oxigraph serve`` on 127.0.0.1, one per test module (skipped without the binary)."""
    with oxigraph_server(tmp_path_factory.mktemp("oxigraph")) as url:
        yield url
