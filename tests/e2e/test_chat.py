"""Chat completions through the gateway with the official SDK, non-streaming."""

from conftest import CHAT_MODEL, UPSTREAM_CHAT_MODEL, UPSTREAM_KEY

QUESTION = "What is the capital of France?"
REPLY = "Paris is the capital of France."


def test_chat_completion_returns_content_usage_and_requested_alias(client, mock, gateway):
    mock.script({"reply": REPLY, "match_model": UPSTREAM_CHAT_MODEL})

    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": QUESTION}]
    )
    completion = raw.parse()

    assert raw.status_code == 200
    assert completion.object == "chat.completion"
    assert completion.model == CHAT_MODEL, "the body names the alias the client asked for"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == REPLY
    assert choice.finish_reason == "stop"
    # The mock counts whitespace words, plus 3 per message for the prompt.
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(QUESTION.split()) + 3
    assert completion.usage.completion_tokens == len(REPLY.split())
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_chat_completion_sends_litellm_headers(client, mock, gateway):
    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    h = raw.headers
    for name in (
        "x-litellm-call-id",
        "x-litellm-model-id",
        "x-litellm-model-group",
        "x-litellm-model-api-base",
        "x-litellm-version",
        "x-litellm-response-duration-ms",
        "x-litellm-overhead-duration-ms",
    ):
        assert h.get(name), f"missing {name}: {dict(h)}"
    assert h["x-litellm-model-group"] == CHAT_MODEL
    assert h["x-litellm-model-api-base"].startswith(mock.url)
    assert float(h["x-litellm-response-duration-ms"]) >= 0
    assert float(h["x-litellm-overhead-duration-ms"]) >= 0


def test_client_call_id_is_echoed(client, mock):
    raw = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-litellm-call-id": "e2e-call-1234"},
    )
    assert raw.headers["x-litellm-call-id"] == "e2e-call-1234"


def test_upstream_gets_its_own_key_and_model_not_the_clients(client, mock):
    client.chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "hello"}], temperature=0.2
    )
    requests = mock.requests()
    assert len(requests) == 1, requests
    upstream = requests[0]
    assert upstream["method"] == "POST"
    assert upstream["path"] == "/v1/chat/completions"
    assert upstream["headers"]["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "sk-test-master" not in str(upstream["headers"])
    assert upstream["body"]["model"] == UPSTREAM_CHAT_MODEL
    assert upstream["body"]["messages"] == [{"role": "user", "content": "hello"}]
    assert upstream["body"]["temperature"] == 0.2
