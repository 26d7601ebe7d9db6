"""Shared fixtures: settings, the manifest, and a store built once from the bundled seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.pipeline import build
from kg.settings import Settings
from kg.sources import Manifest, load_manifest
from kg.store import EmbeddedStore, GraphStore

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
GOLDEN = Path(__file__).resolve().parent / "golden"


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
