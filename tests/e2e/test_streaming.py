"""Streamed chat completions: reassembly, the usage chunk, and headers on the 200."""

from conftest import CHAT_MODEL

REPLY = "The quick brown fox jumps over the lazy dog."
MESSAGES = [{"role": "user", "content": "Tell me about foxes"}]


def _text(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_stream_with_include_usage_ends_with_a_usage_chunk(client, mock):
    mock.script({"reply": REPLY})

    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL,
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-litellm-model-group"] == CHAT_MODEL
    assert raw.headers.get("x-litellm-call-id")
    chunks = list(raw.parse())

    assert len(chunks) >= 3
    assert _text(chunks) == REPLY
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert {c.model for c in chunks} == {CHAT_MODEL}, "every chunk names the requested alias"
    assert len({c.id for c in chunks}) == 1, "the id is constant across chunks"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]

    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert last.usage.prompt_tokens == len(MESSAGES[0]["content"].split()) + 3
    assert last.usage.completion_tokens == len(REPLY.split())
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1]), "only the last chunk carries usage"


def test_stream_without_include_usage_has_no_usage_chunk(client, mock):
    mock.script({"reply": REPLY})

    chunks = list(
        client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    )

    assert _text(chunks) == REPLY
    assert all(c.choices for c in chunks), "no chunk with empty choices"
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_reassembles_upstream_bytes_split_across_events(client, mock):
    """The upstream writes its SSE in 7-byte pieces that cut through events and UTF-8."""
    reply = "Grüße aus Köln — ünïcödé ✓ works"
    events = [
        {
            "id": "chatcmpl-split",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        }
    ]
    for word in reply.split(" "):
        piece = word if not events[1:] else " " + word
        events.append(
            {
                "id": "chatcmpl-split",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": piece}}],
            }
        )
    events.append(
        {
            "id": "chatcmpl-split",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    mock.script({"stream": {"events": events, "split_bytes": 7}})

    chunks = list(
        client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    )

    assert _text(chunks) == reply
    assert {c.model for c in chunks} == {CHAT_MODEL}
