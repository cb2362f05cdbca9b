"""schemathesis against the running local stack: the API keeps to its own OpenAPI document.

Every operation, as a customer and as support staff, with generated valid and invalid input:
never a 5xx, and every status, content type and body as the document says. Seeded and bounded
so that it fits `make test`; `make fuzz` runs the same with more examples.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# Not checked: "schema-valid input is accepted". The API has rules a JSON schema cannot state (a
# task must be well described, related tickets must exist, next_token must be one the API issued,
# transitions follow the workflow): those are 4xx with a reason, and every other check still holds.
EXCLUDED = [positive_data_acceptance]


FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck)
)


@pytest.mark.parametrize("role", ["customer", "support"])
def test_api_keeps_to_its_openapi_document(role: str, stack: RunningStack) -> None:
    # GIVEN the document the API serves, and a caller signed in as a customer or as staff
    schema = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    headers = {"Authorization": f"Bearer {stack.info['tokens'][role]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9

    for operation in operations:

        @given(case=operation.as_strategy())
        @FUZZ_SETTINGS
        def send(case: Any) -> None:
            # WHEN a generated request (valid or not) is sent to the local stack
            # THEN every check of schemathesis passes: no 5xx, status, content type, headers and
            # body as documented, invalid input refused, and auth enforced
            case.call_and_validate(base_url=stack.api_url, headers=headers, excluded_checks=EXCLUDED)

        send()
