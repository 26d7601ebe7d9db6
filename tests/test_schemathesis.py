"""Schemathesis against the live server's OpenAPI document: no request it can generate gets a 5xx.

Every operation of ``/openapi.json`` (SPARQL protocol, update, Graph Store reads, each named query
with its typed parameters, dataset, dumps, entity routes) is called with generated — valid and
invalid — parameters, headers and bodies, against ``budgetkg serve`` on 127.0.0.1. A 503 is allowed
only as the documented over-the-time-limit answer (with ``Retry-After``). ``BUDGETKG_SCHEMATHESIS_EXAMPLES``
raises the examples per operation for the long run (default 25: the CI run takes ~30 s).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from kg.store import GraphStore
from tests.helpers import running_server, write_disk_store

EXAMPLES = int(os.environ.get("BUDGETKG_SCHEMATHESIS_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, seed_store: GraphStore) -> Iterator[str]:
    store = write_disk_store(seed_store, tmp_path_factory.mktemp("schemathesis") / "store")
    with running_server(store, BUDGETKG_QUERY_TIMEOUT="3", BUDGETKG_UPDATE_TOKEN="schemathesis-token") as url:
        yield url


def test_no_generated_request_gets_a_server_error(live: str) -> None:
    schema = schemathesis.openapi.from_url(live + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    calls = {"n": 0}

    def check(operation: Any) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=live, timeout=30)
            calls["n"] += 1
            if response.status_code == 503:
                assert "retry-after" in {k.lower() for k in response.headers}, response.text[:300]
            elif response.status_code >= 500:
                failure = (f"{case.method} {case.formatted_path} {case.query} -> {response.status_code} "
                           f"{response.text[:200]}")
                raise AssertionError(failure)

        run()

    for operation in operations:
        check(operation)
    print(f"\nschemathesis: {len(operations)} operations, {calls['n']} requests, no 5xx")
