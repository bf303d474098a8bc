"""Native providers behind the gateway, seen through the official `openai` SDK.

The mock replays recorded Anthropic and Gemini payloads; the SDK must parse every translated
response and stream without error, with the content, tool calls and usage the recording holds.
"""

import json

import pytest

from conftest import (
    AZURE_MODEL,
    BEDROCK_MODEL,
    CLAUDE_MODEL,
    COHERE_MODEL,
    FIXTURES_DIR,
    GEMINI_EMBED_MODEL,
    GEMINI_MODEL,
    OLLAMA_MODEL,
    VERTEX_MODEL,
)

pytestmark = pytest.mark.skipif(
    not FIXTURES_DIR.is_dir(), reason=f"recorded fixtures not found at {FIXTURES_DIR}"
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def _collect(stream):
    text, reasoning, args, names, finish, usage = "", "", {}, {}, None, None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            text += delta.content or ""
            reasoning += getattr(delta, "reasoning_content", None) or ""
            for call in delta.tool_calls or []:
                if call.function and call.function.name:
                    names[call.index] = call.function.name
                args[call.index] = args.get(call.index, "") + (call.function.arguments or "")
            finish = choice.finish_reason or finish
    return text, reasoning, args, names, finish, usage


@pytest.mark.parametrize(
    "model,fixture,expected",
    [
        (CLAUDE_MODEL, "anthropic/message.json", "The capital of France is Paris."),
        (GEMINI_MODEL, "gemini/generate_content.json", "The capital of France is Paris.\n"),
        (VERTEX_MODEL, "vertex/generate_content.json", None),
        (BEDROCK_MODEL, "bedrock/converse.json", None),
        (COHERE_MODEL, "cohere/chat.json", None),
        (OLLAMA_MODEL, "ollama/chat.json", None),
    ],
)
def test_plain_chat_parses(client, mock, model, fixture, expected):
    mock.script({"fixture": fixture})
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Capital of France?"}]
    )
    assert completion.model == model
    if expected is not None:
        assert completion.choices[0].message.content == expected
    assert completion.choices[0].message.content
    # The Ollama recording stopped at its num_predict limit.
    assert completion.choices[0].finish_reason == ("length" if model == OLLAMA_MODEL else "stop")
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0


def test_anthropic_tool_use_parses_with_json_arguments(client, mock):
    mock.script({"fixture": "anthropic/tool_use.json"})
    completion = client.chat.completions.create(
        model=CLAUDE_MODEL,
        messages=[{"role": "user", "content": "weather?"}],
        tools=[WEATHER_TOOL],
    )
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert len(message.tool_calls) >= 1
    for call in message.tool_calls:
        assert call.type == "function"
        assert isinstance(json.loads(call.function.arguments), dict)


@pytest.mark.parametrize(
    "model,fixture",
    [
        (CLAUDE_MODEL, "anthropic/message_stream.sse"),
        (CLAUDE_MODEL, "anthropic/thinking_stream.sse"),
        (GEMINI_MODEL, "gemini/stream_generate_content.sse"),
        (GEMINI_MODEL, "gemini/thinking_stream.sse"),
        (BEDROCK_MODEL, "bedrock/converse_stream.b64"),
        (BEDROCK_MODEL, "bedrock/converse_stream_reasoning.b64"),
        (COHERE_MODEL, "cohere/chat_stream.sse"),
        (COHERE_MODEL, "cohere/chat_thinking_stream.sse"),
        (OLLAMA_MODEL, "ollama/chat_stream.ndjson"),
    ],
)
def test_streams_parse_with_usage(client, mock, model, fixture):
    mock.script({"fixture": fixture})
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, reasoning, _, _, finish, usage = _collect(stream)
    assert text, "content arrived"
    # The Ollama recording stopped at its num_predict limit.
    assert finish == ("length" if model == OLLAMA_MODEL else "stop")
    assert usage is not None and usage.completion_tokens > 0
    if "thinking" in fixture:
        assert reasoning, "reasoning arrives as reasoning_content"


@pytest.mark.parametrize(
    "model,fixture",
    [
        (CLAUDE_MODEL, "anthropic/tool_use_stream.sse"),
        (GEMINI_MODEL, "gemini/function_call_stream.sse"),
        (BEDROCK_MODEL, "bedrock/converse_stream_tool_use.b64"),
        (COHERE_MODEL, "cohere/chat_tool_call_stream.sse"),
        (OLLAMA_MODEL, "ollama/chat_tool_call_stream.ndjson"),
    ],
)
def test_streamed_tool_calls_reassemble(client, mock, model, fixture):
    mock.script({"fixture": fixture})
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "call the tool"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    _, _, args, names, finish, _ = _collect(stream)
    assert finish == "tool_calls"
    assert names
    for index in names:
        assert isinstance(json.loads(args[index] or "{}"), dict)


def test_gemini_embeddings_in_the_sdk_default_encoding(client, mock):
    mock.script({"fixture": "gemini/embed_content_batch.json"})
    # The recording holds three vectors.
    result = client.embeddings.create(model=GEMINI_EMBED_MODEL, input=["a", "b", "c"])
    assert len(result.data) == 3
    assert abs(result.data[0].embedding[0] - -0.004573147) < 1e-6


def test_anthropic_overloaded_is_a_status_error(client, mock):
    import openai

    mock.script(
        {
            "status": 529,
            "json": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        }
    )
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model=CLAUDE_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.status_code == 529


def test_azure_deployment_urls_and_api_key_header(client, mock):
    completion = client.chat.completions.create(
        model=AZURE_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.model == AZURE_MODEL
    assert completion.choices[0].message.content
    sent = mock.requests()[-1]
    assert sent["path"] == "/openai/deployments/my-gpt-4o/chat/completions"
    assert sent["query"] == "api-version=2024-10-21"
    assert sent["headers"]["api-key"] == "sk-upstream-test"
    assert "authorization" not in sent["headers"]


def test_azure_stream_opening_filter_chunk_is_not_a_usage_chunk(client, mock):
    mock.script({"fixture": "azure/chat_stream.sse"})
    stream = client.chat.completions.create(
        model=AZURE_MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    assert chunks and all(c.choices for c in chunks), "Azure's prompt-filter chunk is dropped"
    assert "".join(c.choices[0].delta.content or "" for c in chunks)


def test_azure_content_filter_error_is_a_400_with_innererror(client, mock):
    import openai

    body = json.loads((FIXTURES_DIR / "azure/error_400_content_filter.json").read_text())
    mock.script({"status": 400, "json": body})
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=AZURE_MODEL, messages=[{"role": "user", "content": "x"}])
    error = info.value.body
    assert "ContentPolicyViolationError" in error["message"]
    assert error["provider_specific_fields"]["innererror"]["code"] == "ResponsibleAIPolicyViolation"


def test_outbound_requests_speak_each_native_format(client, mock):
    """What each provider receives: its own path, auth and body shape."""
    cases = [
        (BEDROCK_MODEL, "bedrock/converse.json"),
        (VERTEX_MODEL, "vertex/generate_content.json"),
        (COHERE_MODEL, "cohere/chat.json"),
        (OLLAMA_MODEL, "ollama/chat.json"),
    ]
    for model, fixture in cases:
        mock.script({"fixture": fixture})
        client.chat.completions.create(
            model=model,
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        )
    bedrock, vertex, cohere, ollama = mock.requests()[-4:]
    assert bedrock["path"] == "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    assert bedrock["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert bedrock["body"]["system"] == [{"text": "Be brief."}]
    assert vertex["path"] == (
        "/v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
    )
    assert vertex["headers"]["authorization"] == "Bearer sk-upstream-test"
    assert cohere["path"] == "/v2/chat"
    assert cohere["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert ollama["path"] == "/api/chat"
    assert ollama["body"]["stream"] is False
