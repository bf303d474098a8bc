"""`/v1/messages` through the official `anthropic` SDK, against Anthropic (native pass-through),
OpenAI, Gemini and Bedrock targets (the chat bridge), with the mock upstream replaying recorded
payloads or its own OpenAI answers.
"""

from __future__ import annotations

import json

import anthropic
import pytest

from conftest import (
    BEDROCK_INVOKE_MODEL,
    BEDROCK_MODEL,
    CHAT_MODEL,
    CLAUDE_MODEL,
    FIXTURES_DIR,
    GEMINI_MODEL,
    MASTER_KEY,
    UPSTREAM_CHAT_MODEL,
    VERTEX_CLAUDE_MODEL,
)

pytestmark = pytest.mark.skipif(
    not FIXTURES_DIR.is_dir(), reason=f"recorded fixtures not found at {FIXTURES_DIR}"
)

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# A 1x1 PNG.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


@pytest.fixture
def claude(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0, timeout=30.0) as c:
        yield c


def _last_body(mock) -> dict:
    sent = mock.requests()[-1]
    body = sent["body"]
    return body if isinstance(body, dict) else json.loads(body)


@pytest.mark.parametrize(
    "model,script",
    [
        (CLAUDE_MODEL, {"fixture": "anthropic/message.json"}),
        (CHAT_MODEL, {"reply": "Paris is the capital."}),
        (GEMINI_MODEL, {"fixture": "gemini/generate_content.json"}),
        (BEDROCK_MODEL, {"fixture": "bedrock/converse.json"}),
    ],
)
def test_plain_message(claude, mock, model, script):
    mock.script(script)
    message = claude.messages.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert message.type == "message" and message.role == "assistant"
    assert message.model == model
    assert message.stop_reason == "end_turn"
    text = "".join(b.text for b in message.content if b.type == "text")
    assert text
    if model != BEDROCK_MODEL:  # the Bedrock recording answered a greeting
        assert "Paris" in text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_native_pass_through_keeps_thinking_signatures_and_cache_control(claude, mock):
    mock.script({"fixture": "anthropic/message.json"})
    history = [
        {"role": "user", "content": [{"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "I should answer.", "signature": "EqQBCkYIBxgCKkD+sig=="},
                {"type": "text", "text": "Ready."},
            ],
        },
        {"role": "user", "content": "Capital of France?"},
    ]
    claude.messages.create(
        model=CLAUDE_MODEL,
        max_tokens=2048,
        system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=history,
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    sent = mock.requests()[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == "sk-upstream-test"
    assert sent["headers"]["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    body = _last_body(mock)
    assert body["model"] == "claude-sonnet-4-5"
    assert body["messages"] == history
    assert body["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def _final(stream_manager):
    with stream_manager as stream:
        events = list(stream)
        return events, stream.get_final_message()


@pytest.mark.parametrize(
    "model,script",
    [
        (CLAUDE_MODEL, {"fixture": "anthropic/message_stream.sse"}),
        (CHAT_MODEL, {"reply": "Paris is the capital of France."}),
        (GEMINI_MODEL, {"fixture": "gemini/stream_generate_content.sse"}),
        (BEDROCK_MODEL, {"fixture": "bedrock/converse_stream.b64"}),
    ],
)
def test_streamed_message(claude, mock, model, script):
    mock.script(script)
    events, message = _final(
        claude.messages.stream(model=model, max_tokens=256, messages=[{"role": "user", "content": "Capital?"}])
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert "message_delta" in kinds
    assert message.model == model
    assert message.stop_reason == "end_turn"
    assert "".join(b.text for b in message.content if b.type == "text")
    assert message.usage.output_tokens > 0


def _recorded_tool_input(fixture: str) -> dict:
    """The tool input a recorded stream carries, joined from its input_json_delta events."""
    text = (FIXTURES_DIR / fixture).read_text()
    joined = ""
    for line in text.splitlines():
        if line.startswith("data:"):
            data = json.loads(line[5:])
            if data.get("delta", {}).get("type") == "input_json_delta":
                joined += data["delta"]["partial_json"]
    return json.loads(joined)


@pytest.mark.parametrize(
    "model,script,expected",
    [
        (
            CHAT_MODEL,
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "units": ["c", "f"], "note": "a \"quoted\" é"}}]},
            {"city": "Paris", "units": ["c", "f"], "note": 'a "quoted" é'},
        ),
        (CLAUDE_MODEL, {"fixture": "anthropic/tool_use_stream.sse"}, "anthropic/tool_use_stream.sse"),
        (GEMINI_MODEL, {"fixture": "gemini/function_call_stream.sse"}, None),
        (BEDROCK_MODEL, {"fixture": "bedrock/converse_stream_tool_use.b64"}, None),
    ],
)
def test_streamed_tool_use_reassembles_exact_json(claude, mock, model, script, expected):
    mock.script(script)
    events, message = _final(
        claude.messages.stream(
            model=model,
            max_tokens=256,
            tools=[WEATHER_TOOL],
            messages=[{"role": "user", "content": "Weather in Paris?"}],
        )
    )
    assert message.stop_reason == "tool_use"
    uses = [b for b in message.content if b.type == "tool_use"]
    assert uses and uses[0].id
    for use in uses:
        assert isinstance(use.input, dict)
        partial = "".join(
            e.delta.partial_json
            for e in events
            if e.type == "content_block_delta"
            and e.delta.type == "input_json_delta"
            and message.content[e.index] is use
        )
        if partial:
            assert json.loads(partial) == use.input
    if isinstance(expected, dict):
        assert uses[0].name == "get_weather"
        assert uses[0].input == expected
    elif isinstance(expected, str):
        assert uses[-1].input == _recorded_tool_input(expected)


def test_tool_result_round_trip_over_the_bridge(claude, mock):
    mock.script({"reply": "It is 18C."})
    message = claude.messages.create(
        model=CHAT_MODEL,
        max_tokens=256,
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "18C"}]},
        ],
    )
    assert message.content[0].text == "It is 18C."
    body = _last_body(mock)
    assert body["model"] == UPSTREAM_CHAT_MODEL
    assert body["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Paris"}',
    }
    assert body["messages"][2] == {"role": "tool", "content": "18C", "tool_call_id": "toolu_01"}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_thinking_native_stream_keeps_signature(claude, mock):
    mock.script({"fixture": "anthropic/thinking_stream.sse"})
    _, message = _final(
        claude.messages.stream(
            model=CLAUDE_MODEL,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "Think, then answer."}],
        )
    )
    thinking = [b for b in message.content if b.type == "thinking"]
    assert thinking and thinking[0].thinking
    recorded = [
        json.loads(line[5:])["delta"]["signature"]
        for line in (FIXTURES_DIR / "anthropic/thinking_stream.sse").read_text().splitlines()
        if line.startswith("data:") and '"signature_delta"' in line
    ]
    assert thinking[0].signature == recorded[0]


def test_thinking_over_the_bridge(claude, mock):
    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": UPSTREAM_CHAT_MODEL}
    mock.script(
        {
            "stream": {
                "events": [
                    {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "Let me think."}}]},
                    {**chunk, "choices": [{"index": 0, "delta": {"content": "42"}}]},
                    {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                    {**chunk, "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}},
                ],
                "done": True,
            }
        }
    )
    _, message = _final(
        claude.messages.stream(
            model=CHAT_MODEL,
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 3000},
            messages=[{"role": "user", "content": "Answer?"}],
        )
    )
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Let me think."
    assert message.content[1].text == "42"
    assert message.usage.input_tokens == 9 and message.usage.output_tokens == 5
    body = _last_body(mock)
    assert body["reasoning_effort"] == "medium"
    assert "thinking" not in body


@pytest.mark.parametrize("model", [CHAT_MODEL, CLAUDE_MODEL])
def test_images(claude, mock, model):
    mock.script({"fixture": "anthropic/message.json"} if model == CLAUDE_MODEL else {"reply": "A pixel."})
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PIXEL}}
    claude.messages.create(
        model=model,
        max_tokens=64,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}],
    )
    body = _last_body(mock)
    if model == CLAUDE_MODEL:
        assert body["messages"][0]["content"][0] == image
    else:
        part = body["messages"][0]["content"][0]
        assert part == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}


def test_bad_key_is_an_anthropic_authentication_error(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key="sk-wrong", max_retries=0) as c:
        with pytest.raises(anthropic.AuthenticationError) as info:
            c.messages.create(model=CHAT_MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 401
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "authentication_error"


def test_unknown_model_and_bad_body_are_invalid_request_errors(claude, mock):
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model="no-such-model", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert info.value.body["error"]["type"] == "invalid_request_error"
    assert "no-such-model" in info.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(model=CHAT_MODEL, max_tokens=8, messages=[{"role": "system", "content": "hi"}])


@pytest.mark.parametrize(
    "model,script,error,status,kind",
    [
        (CHAT_MODEL, {"status": 429, "headers": {"retry-after": "3"}}, anthropic.RateLimitError, 429, "rate_limit_error"),
        (
            CLAUDE_MODEL,
            {"status": 529, "json": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}},
            anthropic.InternalServerError,
            529,
            "overloaded_error",
        ),
        (
            CLAUDE_MODEL,
            {"status": 400, "json": json.loads((FIXTURES_DIR / "anthropic/error_400_invalid_request.json").read_text())}
            if FIXTURES_DIR.is_dir()
            else {"status": 400},
            anthropic.BadRequestError,
            400,
            "invalid_request_error",
        ),
    ],
)
def test_upstream_errors_keep_status_and_anthropic_type(claude, mock, model, script, error, status, kind):
    mock.script(script)
    with pytest.raises(error) as info:
        claude.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == status
    assert info.value.body["error"]["type"] == kind


def test_mid_stream_failure_is_an_error_event_and_no_message_stop(gateway, mock):
    import urllib.request

    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": UPSTREAM_CHAT_MODEL}
    mock.script(
        {
            "stream": {
                "events": [{**chunk, "choices": [{"index": 0, "delta": {"content": "Hel"}}]}],
                "done": False,
                "truncate_after": 1,
            }
        }
    )
    body = {"model": CHAT_MODEL, "max_tokens": 8, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    req = urllib.request.Request(
        f"{gateway.url}/v1/messages",
        data=json.dumps(body).encode(),
        headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        text = r.read().decode()
    names = [line[7:] for line in text.splitlines() if line.startswith("event: ")]
    assert names[0] == "message_start"
    assert "message_stop" not in names
    assert names[-1] == "error", text
    error = json.loads(text.strip().splitlines()[-1][6:])
    assert error["type"] == "error" and error["error"]["type"] == "api_error"


@pytest.mark.parametrize("model", [CLAUDE_MODEL, CHAT_MODEL])
def test_count_tokens(claude, mock, model):
    if model == CLAUDE_MODEL:
        mock.script({"json": {"input_tokens": 37}, "match_path_suffix": "/v1/messages/count_tokens"})
    count = claude.messages.count_tokens(
        model=model,
        system="You are terse.",
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "What is the weather in Paris today?"}],
    )
    if model == CLAUDE_MODEL:
        assert count.input_tokens == 37
        sent = mock.requests()[-1]
        assert sent["path"] == "/v1/messages/count_tokens"
        assert _last_body(mock)["model"] == "claude-sonnet-4-5"
    else:
        assert count.input_tokens > 10
        assert mock.requests() == [], "estimated locally"


def test_bearer_auth_works_too(gateway, mock):
    with anthropic.Anthropic(base_url=gateway.url, auth_token=MASTER_KEY, api_key=None, max_retries=0) as c:
        message = c.messages.create(model=CHAT_MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert message.content[0].text


def test_vertex_claude_is_native_through_raw_predict(claude, mock):
    mock.script({"fixture": "anthropic/thinking_stream.sse"})
    history = [{"role": "user", "content": [{"type": "text", "text": "q", "cache_control": {"type": "ephemeral"}}]}]
    _, message = _final(
        claude.messages.stream(
            model=VERTEX_CLAUDE_MODEL,
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=history,
            extra_headers={"anthropic-beta": "context-1m-2025-08-07"},
        )
    )
    assert message.model == VERTEX_CLAUDE_MODEL
    assert any(b.type == "thinking" and b.signature for b in message.content)
    sent = mock.requests()[-1]
    assert sent["path"] == (
        "/v1/projects/test-project/locations/us-east5/publishers/anthropic/models/"
        "claude-sonnet-4-5@20250929:streamRawPredict"
    )
    assert sent["headers"]["authorization"] == "Bearer sk-upstream-test"
    body = _last_body(mock)
    assert "model" not in body
    assert body["anthropic_version"] == "vertex-2023-10-16"
    assert body["anthropic_beta"] == ["context-1m-2025-08-07"]
    assert body["messages"] == history
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_bedrock_claude_keeps_thinking_and_cache_control_over_converse(claude, mock):
    mock.script({"fixture": "bedrock/converse_stream_reasoning.b64"})
    _, message = _final(
        claude.messages.stream(
            model=BEDROCK_MODEL,
            max_tokens=4096,
            thinking={"type": "enabled", "budget_tokens": 2048},
            system=[{"type": "text", "text": "long system prompt", "cache_control": {"type": "ephemeral"}}],
            messages=[{"role": "user", "content": "Think, then answer."}],
        )
    )
    assert [b.type for b in message.content][0] == "thinking"
    assert message.content[0].thinking
    body = _last_body(mock)
    assert body["additionalModelRequestFields"]["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert any("cachePoint" in block for block in body["system"]), body["system"]


def test_bedrock_invoke_claude_is_native(claude, mock):
    mock.script({"fixture": "bedrock/invoke_anthropic.json"})
    message = claude.messages.create(
        model=BEDROCK_INVOKE_MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.model == BEDROCK_INVOKE_MODEL
    assert message.content[0].text
    sent = mock.requests()[-1]
    assert sent["path"] == "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke"
    assert sent["headers"]["authorization"].startswith("AWS4-HMAC-SHA256")
    body = _last_body(mock)
    assert "model" not in body and body["anthropic_version"] == "bedrock-2023-05-31"

    mock.script({"fixture": "bedrock/invoke_with_response_stream.SYNTHETIC.b64"})
    events, message = _final(
        claude.messages.stream(
            model=BEDROCK_INVOKE_MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        )
    )
    assert message.model == BEDROCK_INVOKE_MODEL
    assert "".join(b.text for b in message.content if b.type == "text")
    assert events[-1].type == "message_stop"
    assert mock.requests()[-1]["path"].endswith("/invoke-with-response-stream")
