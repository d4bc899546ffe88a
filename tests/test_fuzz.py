"""A property-based fuzz of every operation, driven by the OpenAPI document (schemathesis).

A real ``toolbox`` process on 127.0.0.1; for each operation a fixed budget of generated
requests that fit the document and as many that do not (wrong types, missing fields,
odd strings).  Every answer must be no 5xx, conform to the document (status, content
type, body schema: errors are ``{"status": false, "error": ...}``), and the server's
output must hold no traceback (``ServerProcess.stop``).  Bounded: under a minute.
"""

import json

import pytest

from tests.processes import ServerProcess

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,  # noqa: E402
                                               status_code_conformance)

ADMIN = "fuzz-admin-token-0123456789-abcdefghij"
EXAMPLES = 25  # per operation and mode
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "0.5",
                                 "TOOLBOX_AUTH_FAILURES_PER_MINUTE": "1000000"},
                            cwd=tmp_path_factory.mktemp("fuzz"))
    yield process
    process.stop()  # fails on a traceback in the server's output


def fuzz(operation, mode, base_url, failures):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)
        try:
            case.validate_response(response, checks=CHECKS)
        except Exception as error:  # noqa: BLE001  (collected: every operation is fuzzed)
            failures.append(f"{operation.method.upper()} {operation.path} [{mode}]: {case.as_curl_command()}\n"
                            f"  -> {response.status_code} {response.text[:300]}\n  {str(error)[:500]}")
            raise

    try:
        run()
    except Exception:  # noqa: BLE001
        pass  # recorded in failures


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_every_operation_survives_generated_and_malformed_requests(server):
    import requests

    created = requests.post(server.url + "/api/agents", headers={"Authorization": f"Bearer {ADMIN}"},
                            data=json.dumps({"name": "fz-1"}), timeout=10)
    assert created.status_code == 201
    schema = schemathesis.openapi.from_url(server.url + "/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, server.url, failures)
    assert not failures, "\n\n".join(failures[:10])
