"""Schemathesis against the served description (`GET /api/v1/openapi.json`), on PostgreSQL, with an API key:
whatever it sends, the API never answers 5xx, every response matches its schema, and every status is one the
description lists. Examples per operation: IVR_FUZZ_EXAMPLES (default 25; the bench run in docs/resilience.md
uses more)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

pytestmark = pytest.mark.postgres
EXAMPLES = int(os.environ.get("IVR_FUZZ_EXAMPLES", "25"))
BASE = "https://support.example.com"
PHONES = ["+989121234567", "0912 765 4321", "+442071234567", "+14155550123"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Invalid input: any documented 4xx will do, and its body still matches the error schema.
NEGATIVE_CHECKS = CHECKS


# -- the run ---------------------------------------------------------------------------------------------------------
def described() -> Any:
    from ivr.api.openapi import spec

    return schemathesis.openapi.from_dict(spec(BASE))


OPERATIONS = [result.ok().label for result in described().get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("label", OPERATIONS)
def test_the_api_answers_anything_within_its_description(label, mode, pg_db, app_config, centre, clock):
    from callbacks.apikeys import create_api_key
    from ivr.app import create_app

    app = create_app({**app_config, "DATABASE": pg_db, "CENTRE": centre, "CLOCK": clock, "RATELIMIT_ENABLED": False})
    key = create_api_key(pg_db, "fuzz", clock.now())
    served = app.test_client().get("/api/v1/openapi.json", base_url=BASE).get_json()
    schema = schemathesis.openapi.from_dict(served)
    schema.app = app
    operation = schema.find_operation_by_label(label)
    unexpected: list[str] = []
    seen: Counter[str] = Counter()
    # Reach past "no such number" and "no such callback" half the time: a real number, a real callback's id.
    existing = app.extensions["ivr"].service.request(phone="+989121234567", channel="api", actor="fuzz")
    real_id = existing.callback.public_id

    @given(case=operation.as_strategy(mode), data=st.data())
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: Any, data: Any) -> None:
        if mode is GenerationMode.POSITIVE and data.draw(st.booleans()):
            if isinstance(case.body, dict) and "phone" in case.body:
                case.body["phone"] = data.draw(st.sampled_from(PHONES))
                for name, values in (("queue", ["general", "billing"]), ("language", ["fa", "en"])):
                    if name in case.body:
                        case.body[name] = data.draw(st.sampled_from(values))
                if data.draw(st.booleans()):
                    case.body.pop("window_start", None)
                    case.body.pop("window_end", None)
            if case.path_parameters and "id" in case.path_parameters:
                case.path_parameters["id"] = real_id
        try:
            response = case.call(headers={"Authorization": f"Bearer {key}"})
        except Exception:
            # A streamed answer that broke after its 200 went out: never allowed (checked before the first byte).
            raise
        seen[str(response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS if mode is GenerationMode.POSITIVE else NEGATIVE_CHECKS)
        except Exception as exc:
            unexpected.append(f"{case.method} {case.formatted_path} query={case.query} body={case.body!r:.300}: "
                              f"{response.status_code} {exc}")
            raise

    fuzz()
    print(f"{label} ({mode.value}): {sum(v for k, v in seen.items() if k.isdigit())} requests, {dict(seen)}")
    assert not unexpected
