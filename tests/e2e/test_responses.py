"""The OpenAI Responses API (`/v1/responses`) through the gateway, driven by the official SDK:
any model answers, streams carry the typed events, and `previous_response_id` continues a
conversation from the gateway's stored state."""

import json
import os

import openai
import pytest

from conftest import BEDROCK_MODEL, BRIDGE_MODEL, CLAUDE_MODEL, GEMINI_MODEL, MASTER_KEY, _start_gateway

WEATHER_ARGS = '{"city": "Paris", "note": "caf\\u00e9 \\"ok\\" ü"}'
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _stream(client, **kwargs):
    """Every event of a streamed response, checked for order, and the final response."""
    events = list(client.responses.create(stream=True, **kwargs))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[1].type == "response.in_progress"
    assert events[-1].type in ("response.completed", "response.incomplete", "response.failed")
    return events, events[-1].response


def test_plain_text_from_an_openai_model(client, mock):
    mock.script({"reply": "Paris."})
    response = client.responses.create(
        model=BRIDGE_MODEL, input="Capital of France?", instructions="Answer in one word.", max_output_tokens=20
    )
    assert response.status == "completed"
    assert response.model == BRIDGE_MODEL
    assert response.output_text == "Paris."
    assert response.id.startswith("resp_")
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    sent = mock.requests()[0]["body"]
    assert sent["messages"] == [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert sent["max_tokens"] == 20


@pytest.mark.parametrize(
    "model,fixture,expected",
    [
        (CLAUDE_MODEL, "anthropic/message.json", "The capital of France is Paris."),
        (GEMINI_MODEL, "gemini/generate_content.json", "The capital of France is Paris.\n"),
    ],
)
def test_native_providers_answer_responses_clients(client, mock, model, fixture, expected):
    mock.script({"fixture": fixture})
    response = client.responses.create(model=model, input="Capital of France?")
    assert response.output_text == expected
    assert response.status == "completed"


@pytest.mark.parametrize(
    "model,fixture",
    [
        (BRIDGE_MODEL, None),
        (CLAUDE_MODEL, "anthropic/message_stream.sse"),
        (GEMINI_MODEL, "gemini/stream_generate_content.sse"),
        (BEDROCK_MODEL, "bedrock/converse_stream.b64"),
    ],
)
def test_streams_carry_typed_events_that_add_up(client, mock, model, fixture):
    mock.script({"fixture": fixture} if fixture else {"reply": "Hello there, streamed."})
    events, final = _stream(client, model=model, input="hi")
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = [e.text for e in events if e.type == "response.output_text.done"]
    assert deltas and done == [deltas]
    assert final.status == "completed"
    assert final.output_text == deltas
    assert final.usage is not None and final.usage.output_tokens > 0


def test_tool_calls_and_a_follow_up_through_previous_response_id(client, mock):
    mock.script({"tool_calls": [{"name": "get_weather", "arguments": WEATHER_ARGS, "id": "call_w1"}]})
    first = client.responses.create(model=BRIDGE_MODEL, input="Weather in Paris?", tools=[WEATHER_TOOL])
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1
    assert calls[0].call_id == "call_w1"
    assert calls[0].name == "get_weather"
    assert calls[0].arguments == WEATHER_ARGS
    assert mock.requests()[0]["body"]["tools"] == [
        {
            "type": "function",
            "function": {k: v for k, v in WEATHER_TOOL.items() if k != "type"},
        }
    ]

    mock.reset()
    mock.script({"reply": "It is sunny."})
    second = client.responses.create(
        model=BRIDGE_MODEL,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": "call_w1", "output": "sunny, 21C"}],
        tools=[WEATHER_TOOL],
    )
    assert second.output_text == "It is sunny."
    assert second.previous_response_id == first.id
    messages = mock.requests()[0]["body"]["messages"]
    assert messages == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": WEATHER_ARGS}}
            ],
        },
        {"role": "tool", "content": "sunny, 21C", "tool_call_id": "call_w1"},
    ]


def test_streamed_tool_arguments_reassemble_exactly(client, mock):
    mock.script({"tool_calls": [{"name": "get_weather", "arguments": WEATHER_ARGS}]})
    events, final = _stream(client, model=BRIDGE_MODEL, input="Weather?", tools=[WEATHER_TOOL])
    added = [e for e in events if e.type == "response.output_item.added" and e.item.type == "function_call"]
    assert len(added) == 1
    index = added[0].output_index
    args = "".join(
        e.delta for e in events if e.type == "response.function_call_arguments.delta" and e.output_index == index
    )
    assert args == WEATHER_ARGS
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [d.arguments for d in done] == [WEATHER_ARGS]
    assert [i.arguments for i in final.output if i.type == "function_call"] == [WEATHER_ARGS]


def test_anthropic_thinking_signatures_survive_a_streamed_turn_and_its_follow_up(client, mock):
    mock.script({"fixture": "anthropic/thinking_stream.sse"})
    events, final = _stream(
        client, model=CLAUDE_MODEL, input="Think, then answer.", include=["reasoning.encrypted_content"]
    )
    reasoning = [i for i in final.output if i.type == "reasoning"]
    assert reasoning and reasoning[0].summary and reasoning[0].encrypted_content
    assert any(e.type == "response.reasoning_summary_text.delta" for e in events)

    mock.reset()
    mock.script({"fixture": "anthropic/message.json"})
    client.responses.create(model=CLAUDE_MODEL, previous_response_id=final.id, input="And again?")
    sent = mock.requests()[0]["body"]["messages"]
    assistant = [m for m in sent if m["role"] == "assistant"][0]
    thinking = [b for b in assistant["content"] if b["type"] == "thinking"]
    assert thinking and thinking[0]["signature"], "the signed block went back to Anthropic"


def test_stored_responses_can_be_read_listed_and_deleted(client, mock):
    mock.script({"reply": "Stored."})
    created = client.responses.create(model=BRIDGE_MODEL, input=[{"role": "user", "content": "keep this"}])
    fetched = client.responses.retrieve(created.id)
    assert fetched.id == created.id and fetched.output_text == "Stored."
    items = client.responses.input_items.list(created.id)
    assert [i.type for i in items.data] == ["message"]
    assert items.data[0].id
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_store_false_keeps_nothing(client, mock):
    mock.script({"reply": "Gone."})
    created = client.responses.create(model=BRIDGE_MODEL, input="x", store=False)
    assert created.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)


def test_what_cannot_run_is_refused_clearly(client, mock):
    with pytest.raises(openai.BadRequestError) as e:
        client.responses.create(model=CLAUDE_MODEL, input="x", tools=[{"type": "web_search_preview"}])
    assert "web_search_preview" in str(e.value)
    with pytest.raises(openai.NotFoundError) as e:
        client.responses.create(model=BRIDGE_MODEL, input="x", previous_response_id="resp_missing")
    assert "resp_missing" in str(e.value)
    assert mock.requests() == [], "nothing reached the provider"


def test_upstream_errors_before_the_stream_keep_their_status(client, mock):
    mock.script({"status": 429, "json": {"error": {"message": "slow down", "type": "rate_limit"}}})
    with pytest.raises(openai.RateLimitError):
        list(client.responses.create(model=BRIDGE_MODEL, input="x", stream=True))


def test_raw_stream_frames_name_their_event(gateway, mock):
    mock.script({"reply": "ok"})
    import urllib.request

    req = urllib.request.Request(
        f"{gateway.url}/v1/responses",
        data=json.dumps({"model": BRIDGE_MODEL, "input": "x", "stream": True}).encode(),
        headers={"content-type": "application/json", "authorization": "Bearer sk-test-master"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = resp.read().decode()
    frames = [f for f in body.split("\n\n") if f]
    for frame in frames:
        head, data = frame.split("\n", 1)
        assert head.startswith("event: ")
        assert json.loads(data.removeprefix("data: "))["type"] == head.removeprefix("event: ")
    assert "[DONE]" not in body


def _sent_texts(mock) -> str:
    body = mock.requests()[-1]["body"]
    return json.dumps(body if isinstance(body, dict) else json.loads(body))


def _continue_on_another_instance(first_gw, second_gw, mock):
    """A conversation started on one gateway continues on another that shares its database."""
    with first_gw.client() as a, second_gw.client() as b:
        mock.script({"fixture": "anthropic/message.json"})
        first = a.responses.create(model=CLAUDE_MODEL, input="Capital of France?")
        assert b.responses.retrieve(first.id).output_text == first.output_text
        mock.script({"fixture": "anthropic/message.json"})
        second = b.responses.create(model=CLAUDE_MODEL, previous_response_id=first.id, input="And of Spain?")
        sent = _sent_texts(mock)
        assert "Capital of France?" in sent and "And of Spain?" in sent
        assert json.dumps(first.output_text)[1:-1] in sent  # the first answer, as history
        assert second.previous_response_id == first.id
        a.responses.delete(second.id)
        with pytest.raises(openai.NotFoundError):
            b.responses.retrieve(second.id)


def test_a_conversation_continues_on_another_instance_sharing_sqlite(gateway, run_dir, mock_server, dead_port, mock):
    # Gateways whose configs sit in one directory share its tollgate.db.
    other = _start_gateway(run_dir, "tollgate-second", mock_server, dead_port, {"master_key": MASTER_KEY})
    try:
        _continue_on_another_instance(gateway, other, mock)
    finally:
        other.process.stop()


@pytest.mark.skipif(
    not os.environ.get("TOLLGATE_TEST_DATABASE_URL"),
    reason="TOLLGATE_TEST_DATABASE_URL is not set (scripts/test.sh starts PostgreSQL and sets it)",
)
def test_a_conversation_continues_on_another_instance_sharing_postgres(tmp_path, mock_server, dead_port, mock):
    general = {"master_key": MASTER_KEY, "database_url": os.environ["TOLLGATE_TEST_DATABASE_URL"]}
    one = _start_gateway(tmp_path, "pg-one", mock_server, dead_port, general)
    try:
        two = _start_gateway(tmp_path, "pg-two", mock_server, dead_port, general)
        try:
            _continue_on_another_instance(one, two, mock)
        finally:
            two.process.stop()
    finally:
        one.process.stop()
