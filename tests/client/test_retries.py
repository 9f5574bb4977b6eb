"""Retries on 429, 503 and connection errors, against a test server that answers 429 first."""

from __future__ import annotations

import pytest

from forwardpass.client import ConnectionFailed, Deployment
from forwardpass.errors import InternalError, Overloaded, RateLimited
from tests.client.flaky import Flaky
from tests.support import free_port

LIMITED = (429, {"Retry-After": "1"}, b'{"errorCode":"RateLimited","errorMessage":"slow down"}')
BUSY = (503, {"Retry-After": "0"}, b'{"errorCode":"Overloaded","errorMessage":"busy"}')
ROW = {"Type": "animal", "Sound": "woof", "Size": 0.9}


def test_retry_after_429_waits_what_the_server_says(served):
    d = served["demo"]
    with Flaky(d["url"], [LIMITED]) as flaky:
        deployment = Deployment(flaky.url, d["token"])
        assert deployment.predict(**ROW)["Weight"] > 0
    assert len(flaky.posts) == 2
    assert flaky.posts[1] - flaky.posts[0] >= 0.95  # Retry-After: 1


def test_retries_on_503_and_dropped_connections(served):
    d = served["demo"]
    with Flaky(d["url"], [BUSY, "drop", BUSY]) as flaky:
        deployment = Deployment(flaky.url, d["token"], backoff=0.01)
        assert len(deployment.predict_many([ROW] * 3)) == 3
    assert len(flaky.posts) == 4


def test_gives_up_after_the_last_retry(served):
    d = served["demo"]
    now = (429, {"Retry-After": "0"}, LIMITED[2])
    with Flaky(d["url"], [now] * 3) as flaky:
        deployment = Deployment(flaky.url, d["token"], retries=2)
        with pytest.raises(RateLimited) as caught:
            deployment.predict(**ROW)
    assert caught.value.status == 429 and caught.value.message == "slow down"
    with Flaky(d["url"], [BUSY]) as flaky, pytest.raises(Overloaded):
        Deployment(flaky.url, d["token"], retries=0).predict(**ROW)
    boom = (500, {}, b'{"errorCode":"InternalError","errorMessage":"boom"}')
    with Flaky(d["url"], [boom]) as flaky:
        with pytest.raises(InternalError):  # not retried: a 500 is no reason to wait
            Deployment(flaky.url, d["token"]).predict(**ROW)
        assert len(flaky.posts) == 1


def test_unreachable_server_is_connection_failed():
    url = f"http://127.0.0.1:{free_port()}/deployment/00000000-0000-0000-0000-000000000000/forward"
    with pytest.raises(ConnectionFailed):
        Deployment(url, "token", retries=2, backoff=0.01)


@pytest.mark.parametrize(
    ("status", "code"),
    [(403, "InsufficientScopeTokenError"), (409, "QuotaExceeded"), (405, "MethodNotAllowed")],
)
def test_codes_the_server_rarely_sends_are_their_classes_too(served, status, code):
    from forwardpass import errors
    from forwardpass.client import UnexpectedResponse

    d = served["demo"]
    body = f'{{"errorCode":"{code}","errorMessage":"no"}}'.encode()
    with (
        Flaky(d["url"], [(status, {}, body)]) as flaky,
        pytest.raises(errors.ForwardpassError) as caught,
    ):
        Deployment(flaky.url, d["token"]).predict(**ROW)
    expected = getattr(errors, code, UnexpectedResponse)
    assert type(caught.value) is expected
    assert (caught.value.code, caught.value.status, caught.value.message) == (code, status, "no")
