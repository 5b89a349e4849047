"""Property-based requests generated from the app's own OpenAPI schema (schemathesis).

Every operation is called with generated parameters and bodies, as an admin (who may reach
every code path): no response may be a 5xx, and every response must conform to the schema
(documented status code, content type and body).

``/uploads`` is exempt from "schema-valid data must be accepted": its body schema says "a
file", and a schema cannot say "a file in a supported geodata format"; a PNG is rightly
refused (415).
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.service.api.conftest import Api

EXAMPLES = 15


def test_operations_never_fail_and_conform(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = api.headers("admin")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15  # every router is mounted
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            database=None,
        )
        def run(case: schemathesis.Case) -> None:
            skip = [positive_data_acceptance] if case.path == "/uploads" else []
            case.call_and_validate(headers=headers, excluded_checks=skip)

        run()
