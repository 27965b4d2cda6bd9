"""Property test of the HTTP service against its own OpenAPI schema (schemathesis): for
generated requests to every operation, no 5xx, and every response (status, content type,
body) is one the schema declares."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from helpers import scanned_seeds
from dedup.apps.service import create_app

SEEDS = sorted((Path(__file__).resolve().parents[2] / "data" / "seeds").iterdir())


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory):
    _, db = scanned_seeds(tmp_path_factory.mktemp("schema"), SEEDS[:2])
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(db, token=None))


def test_every_operation_conforms_to_the_schema(api_schema):
    """Each operation in turn, with hypothesis driving schemathesis's request strategies (its
    pytest plugin does not load under this pytest), every default check on every response."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate()

        check()
