"""Tool calls, non-streamed and streamed: arguments must arrive byte-exact."""

import json

from conftest import CHAT_MODEL

# Sent verbatim by the mock (a string `arguments` is not re-serialized): spacing, key order,
# escapes and non-ASCII must all survive the gateway.
WEATHER_ARGS = '{"city": "Paris", "unit": "celsius", "days": [1, 2, 3], "note": "caf\\u00e9 \\"ok\\" ü"}'
TIME_ARGS = '{"tz":"Europe/Paris"}'

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}},
        },
    },
]
MESSAGES = [{"role": "user", "content": "Weather and time in Paris?"}]
SCRIPT = {
    "tool_calls": [
        {"name": "get_weather", "arguments": WEATHER_ARGS, "id": "call_weather_1"},
        {"name": "get_time", "arguments": TIME_ARGS},
    ]
}


def test_tool_calls_non_streamed(client, mock):
    mock.script(SCRIPT)

    completion = client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, tools=TOOLS)

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls
    assert calls is not None and len(calls) == 2
    assert [c.type for c in calls] == ["function", "function"]
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert calls[0].id == "call_weather_1"
    assert calls[1].id == "call_mock_1"
    assert calls[0].function.arguments == WEATHER_ARGS
    assert calls[1].function.arguments == TIME_ARGS
    assert json.loads(calls[0].function.arguments)["note"] == 'café "ok" ü'
    # The tools reached the upstream unchanged.
    assert mock.requests()[0]["body"]["tools"] == TOOLS


def test_tool_calls_streamed_reassemble_exactly(client, mock):
    mock.script(SCRIPT)

    stream = client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, tools=TOOLS, stream=True
    )
    ids: dict[int, str] = {}
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    fragments = 0
    finish = []
    for chunk in stream:
        assert chunk.model == CHAT_MODEL
        for choice in chunk.choices:
            if choice.finish_reason:
                finish.append(choice.finish_reason)
            for tc in choice.delta.tool_calls or []:
                if tc.id:
                    ids[tc.index] = tc.id
                if tc.function and tc.function.name:
                    names[tc.index] = names.get(tc.index, "") + tc.function.name
                if tc.function and tc.function.arguments:
                    args[tc.index] = args.get(tc.index, "") + tc.function.arguments
                    fragments += 1

    assert finish == ["tool_calls"]
    assert ids == {0: "call_weather_1", 1: "call_mock_1"}
    assert names == {0: "get_weather", 1: "get_time"}
    assert args == {0: WEATHER_ARGS, 1: TIME_ARGS}
    assert fragments > 2, "arguments arrived in several fragments"
