"""Schemathesis against the running service: cases generated from ``/openapi.json`` (valid ones and
invalid ones) must never get a 5xx, and valid inputs must mostly be accepted (the document says what
the API really takes). Bounded to a few examples per operation so the suite stays fast; run it
wider with ``KONSTRUKT_FUZZ_EXAMPLES=100``.

DELETE is left out (it would delete the fixtures the other cases need) and so is the event stream
(it stays open while a job waits, by design); both are walked with hostile ids and headers in
``test_hardening.py::test_every_id_route_answers_hostile_ids_and_headers_with_4xx``."""
from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from service_helpers import Api, LiveServer, make_settings, new_client  # noqa: E402

from konstrukt.service import create_app  # noqa: E402

EXAMPLES = int(os.environ.get("KONSTRUKT_FUZZ_EXAMPLES", "6"))


@pytest.fixture(scope="module")
def live(tmp_path_factory, digits):
    # no worker runs here: queued jobs pile up, so the per-user job quota is set out of the way
    app = create_app(make_settings(tmp_path_factory.mktemp("fuzz"), max_active_jobs_per_user=1000))
    with LiveServer(app) as server:
        api = Api(new_client(app), "fuzz@example.com", password="fuzzing password")
        project = api.project()
        for c in ("zero", "one"):
            api.upload(project, c, [(p.name, p.read_bytes()) for p in sorted((digits / c).iterdir())])
        server.token = api.post("/api/tokens", json={"name": "fuzz"}).json()["token"]
        server.project_id = project["id"]
        yield server


def _operations(url: str):
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    for result in schema.exclude(method="DELETE").exclude(path_regex=r"/events$").get_all_operations():
        yield result.ok()


def _fuzz(operation, mode: GenerationMode, call, **fixed) -> None:
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case):
        call(case)

    run()


def test_no_generated_request_gets_a_server_error(live):
    auth = {"Authorization": f"Bearer {live.token}"}
    operations = list(_operations(live.url))
    assert len(operations) >= 15
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _fuzz(operation, mode, lambda case: case.call_and_validate(
                    base_url=live.url, headers=auth, checks=[not_a_server_error], timeout=30))
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, operation.label


def test_documented_training_requests_are_mostly_accepted(live):
    """What the document calls valid, the server takes: it used to refuse most generated configs."""
    auth = {"Authorization": f"Bearer {live.token}"}
    operation = next(op for op in _operations(live.url)
                     if op.method.upper() == "POST" and op.path == "/api/projects/{project_id}/jobs")
    statuses: list[int] = []

    def call(case):
        response = case.call(base_url=live.url, headers=auth, timeout=30)
        assert response.status_code < 500, response.text
        # The document lists every task's pipelines (the project's task is server state, not part of
        # the request): a pipeline of another task is refused by design and says so; not counted.
        if response.status_code == 422 and "does not work on task" in response.json().get("detail", ""):
            return
        statuses.append(response.status_code)

    _fuzz(operation, GenerationMode.POSITIVE, call, path_parameters={"project_id": live.project_id})
    assert statuses, "every generated request named another task's pipeline"
    accepted = statuses.count(201) / len(statuses)
    print(f"accepted {statuses.count(201)} of {len(statuses)}: {sorted(set(statuses))}")
    assert accepted >= 0.5, statuses
