"""Errors: each must reach the SDK as the exception class LiteLLM's proxy would produce.

Clients are built with `max_retries=0`, so each error is one request. The SDK maps statuses to
classes (400 BadRequestError, 401 AuthenticationError, 404 NotFoundError, 429 RateLimitError,
>=500 InternalServerError); other statuses (408, 413) are a plain `APIStatusError`.
"""

import json
import time

import openai
import pytest

try:  # the SDK's own HTTP client: `httpx2` in openai 3.x, `httpx` before
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx

from conftest import (
    CHAT_MODEL,
    MASTER_KEY,
    SLOW_MODEL,
    UNREACHABLE_MODEL,
    UPSTREAM_CHAT_MODEL,
    UPSTREAM_SLOW_MODEL,
)

MESSAGES = [{"role": "user", "content": "hi"}]


def _error(exc: openai.APIStatusError) -> dict:
    """The gateway's `error` object (the SDK keeps `body["error"]` as `exc.body`)."""
    assert isinstance(exc.body, dict), exc.body
    return exc.body


def _chat(client, **kwargs):
    kwargs.setdefault("model", CHAT_MODEL)
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**kwargs)


# --- auth -------------------------------------------------------------------------------------


def test_wrong_key_is_authentication_error(gateway, mock):
    with gateway.client(api_key="sk-wrong-key-abcd1234") as c:
        with pytest.raises(openai.AuthenticationError) as exc:
            _chat(c)
    e = exc.value
    assert e.status_code == 401
    err = _error(e)
    assert "Invalid proxy server token passed" in err["message"]
    assert "sk-wrong-key-abcd1234" not in err["message"], "the key itself is never echoed"
    assert str(err["code"]) == "401"
    assert mock.requests() == [], "nothing reached the upstream"


def test_no_key_is_authentication_error(gateway, mock):
    # The SDK always sends a key; a per-request `Omit()` removes the Authorization header.
    with gateway.client(api_key="unused") as c:
        with pytest.raises(openai.AuthenticationError) as exc:
            _chat(c, extra_headers={"Authorization": openai.Omit()})
    assert exc.value.status_code == 401
    assert "No api key passed in" in _error(exc.value)["message"]
    assert mock.requests() == []


def test_no_key_raw_request_is_401(gateway):
    r = httpx.post(
        f"{gateway.base_url}/chat/completions",
        json={"model": CHAT_MODEL, "messages": MESSAGES},
        timeout=10,
    )
    assert r.status_code == 401
    assert r.json()["error"]["message"].startswith("Authentication Error")


# --- request validation -----------------------------------------------------------------------


def test_unknown_model_is_bad_request(client, mock):
    with pytest.raises(openai.BadRequestError) as exc:
        _chat(client, model="no-such-model")
    e = exc.value
    assert e.status_code == 400
    assert "Invalid model name passed in model=" in _error(e)["message"]
    assert "no-such-model" in _error(e)["message"]
    assert mock.requests() == []


def test_missing_messages_is_bad_request_naming_it(client, mock):
    # The SDK's typed method will not send a body without `messages`; its generic `post` will.
    with pytest.raises(openai.BadRequestError) as exc:
        client.post("/chat/completions", body={"model": CHAT_MODEL}, cast_to=object)
    err = _error(exc.value)
    assert exc.value.status_code == 400
    assert "messages" in err["message"]
    assert err.get("param") == "messages"
    assert mock.requests() == []


def test_malformed_json_is_bad_request(gateway):
    r = httpx.post(
        f"{gateway.base_url}/chat/completions",
        content=b'{"model": "gpt-test", "messages": [',
        headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"]


# --- upstream failures ------------------------------------------------------------------------
# Error scripts use `times: 0` (forever): with retries disabled in the config there is one
# attempt, and should a retry happen anyway it fails the same way rather than succeeding.


def test_upstream_429_is_rate_limit_error(client, mock):
    mock.script({"status": 429, "headers": {"retry-after": "7"}, "times": 0})
    with pytest.raises(openai.RateLimitError) as exc:
        _chat(client)
    e = exc.value
    assert e.status_code == 429
    assert "Rate limit reached" in _error(e)["message"]
    assert e.response.headers.get("retry-after") == "7"


def test_upstream_500_is_internal_server_error(client, mock):
    mock.script({"status": 500, "times": 0})
    with pytest.raises(openai.InternalServerError) as exc:
        _chat(client)
    assert exc.value.status_code == 500


def test_upstream_503_is_internal_server_error_with_503(client, mock):
    mock.script({"status": 503, "times": 0})
    with pytest.raises(openai.InternalServerError) as exc:
        _chat(client)
    assert exc.value.status_code == 503


def test_upstream_404_is_not_found_error(client, mock):
    mock.script({"status": 404, "times": 0})
    with pytest.raises(openai.NotFoundError) as exc:
        _chat(client)
    assert exc.value.status_code == 404
    assert UPSTREAM_CHAT_MODEL in _error(exc.value)["message"]


def test_upstream_unreachable_is_500(client):
    # LiteLLM's APIConnectionError is a 500, which the SDK raises as InternalServerError.
    with pytest.raises(openai.InternalServerError) as exc:
        _chat(client, model=UNREACHABLE_MODEL)
    assert exc.value.status_code == 500
    assert _error(exc.value)["message"]


def test_upstream_hang_past_deployment_timeout_is_408(client, mock):
    mock.script({"hang": True, "match_model": UPSTREAM_SLOW_MODEL, "times": 0})
    started = time.monotonic()
    with pytest.raises(openai.APIStatusError) as exc:
        _chat(client, model=SLOW_MODEL)
    elapsed = time.monotonic() - started
    # This SDK has no class for 408: it is a plain APIStatusError (not an APITimeoutError,
    # which is a client-side timeout and would mean the gateway never answered).
    assert type(exc.value) is openai.APIStatusError
    assert exc.value.status_code == 408
    assert 0.9 <= elapsed < 10, f"deployment timeout is 1s, took {elapsed:.2f}s"


# --- streaming failures -----------------------------------------------------------------------


def test_stream_failing_before_first_chunk_raises_status_error(client, mock):
    # LiteLLM answers with a plain JSON error, not a 200 stream, when the first chunk fails.
    mock.script({"status": 429, "times": 0})
    with pytest.raises(openai.RateLimitError) as exc:
        _chat(client, stream=True)
    assert exc.value.status_code == 429
    assert exc.value.response.headers["content-type"].startswith("application/json")


def test_stream_upstream_500_before_first_chunk_raises_internal_server_error(client, mock):
    mock.script({"status": 500, "times": 0})
    with pytest.raises(openai.InternalServerError) as exc:
        _chat(client, stream=True)
    assert exc.value.status_code == 500


def test_stream_hang_before_first_chunk_is_408(client, mock):
    mock.script({"hang": True, "match_model": UPSTREAM_SLOW_MODEL, "times": 0})
    with pytest.raises(openai.APIStatusError) as exc:
        _chat(client, model=SLOW_MODEL, stream=True)
    assert exc.value.status_code == 408


def _chunk(content: str) -> dict:
    return {
        "id": "chatcmpl-trunc",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": UPSTREAM_CHAT_MODEL,
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }


TRUNCATED = {
    "stream": {
        "events": [_chunk("Hello"), _chunk(" there"), _chunk(" never"), _chunk(" sent")],
        "truncate_after": 2,
    },
    "times": 0,
}


def test_stream_failing_midway_raises_api_error_while_iterating(client, mock):
    mock.script(TRUNCATED)
    stream = _chat(client, stream=True)  # the 200 and its first chunks arrive fine
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk.choices[0].delta.content if chunk.choices else None)
    assert "".join(r or "" for r in received) == "Hello there"


def test_stream_failing_midway_ends_with_an_error_event_and_no_done(gateway, mock):
    """LiteLLM's wire format: one `data: {"error": ...}` event, then the stream ends."""
    mock.script(TRUNCATED)
    with httpx.stream(
        "POST",
        f"{gateway.base_url}/chat/completions",
        json={"model": CHAT_MODEL, "messages": MESSAGES, "stream": True},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    ) as r:
        assert r.status_code == 200
        body = b""
        try:
            for part in r.iter_bytes():
                body += part
        except httpx.HTTPError:
            pass  # an abrupt end is tolerated here; the assertions below say what was missing
    events = [e[len("data: ") :] for e in body.decode().split("\n\n") if e.startswith("data: ")]
    assert "[DONE]" not in events
    assert events, body
    last = json.loads(events[-1])
    assert "error" in last, f"last event is not an error: {events[-1]!r}"
    assert last["error"]["message"]


# --- limits -----------------------------------------------------------------------------------


def test_body_over_limit_is_413(small_gateway, mock):
    with small_gateway.client() as c:
        # Under the ~1 KiB limit: served.
        assert _chat(c).choices[0].message.content
        with pytest.raises(openai.APIStatusError) as exc:
            _chat(c, messages=[{"role": "user", "content": "x" * 4096}])
    assert exc.value.status_code == 413
    assert len(mock.requests()) == 1, "the oversized request never reached the upstream"


def test_chunked_body_over_limit_is_413(small_gateway):
    """No content-length to refuse early: the limit must hold while reading."""

    def body():
        yield b'{"model": "gpt-test", "messages": [{"role": "user", "content": "'
        for _ in range(16):
            yield b"x" * 256
        yield b'"}]}'

    r = httpx.post(
        f"{small_gateway.base_url}/chat/completions",
        content=body(),
        headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 413
