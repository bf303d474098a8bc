"""The rest of the OpenAI surface through the gateway with the official SDK: legacy
completions (OpenAI and, through chat, Anthropic), images, audio transcription and speech,
moderations, rerank, and `/v1/responses` natively passed through to an OpenAI model. Every SDK
call must parse its typed answer, and the mock's log shows what went upstream."""

import json
import urllib.request

import openai
import pytest

from conftest import CHAT_MODEL, CLAUDE_MODEL, COHERE_MODEL, MASTER_KEY, UPSTREAM_CHAT_MODEL

REPLY = "Hello from the mock provider."


def test_completions_forwarded_to_openai(client, mock):
    completion = client.completions.create(model=CHAT_MODEL, prompt="Say hello", max_tokens=10)
    assert completion.object == "text_completion"
    assert completion.model == CHAT_MODEL
    assert completion.choices[0].text == REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0
    sent = mock.requests()[-1]
    assert sent["path"] == "/v1/completions"
    assert sent["body"]["model"] == UPSTREAM_CHAT_MODEL
    assert sent["body"]["prompt"] == "Say hello"


def test_completions_stream(client):
    chunks = list(client.completions.create(model=CHAT_MODEL, prompt="Say hello", stream=True))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == REPLY


def test_completions_through_chat_for_anthropic(client, mock):
    mock.script({"fixture": "anthropic/message.json"})
    completion = client.completions.create(model=CLAUDE_MODEL, prompt="Capital of France?", max_tokens=20)
    assert completion.object == "text_completion"
    assert completion.model == CLAUDE_MODEL
    assert completion.choices[0].text == "The capital of France is Paris."
    assert completion.usage.prompt_tokens == 20
    sent = mock.requests()[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["body"]["messages"][0]["content"] in ("Capital of France?", [{"type": "text", "text": "Capital of France?"}])


def test_completions_alias_routes(gateway):
    for path in (f"/engines/{CHAT_MODEL}/completions", f"/openai/deployments/{CHAT_MODEL}/completions"):
        req = urllib.request.Request(
            gateway.url + path,
            data=json.dumps({"prompt": "hi", "model": "ignored"}).encode(),
            headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
        assert body["model"] == CHAT_MODEL
        assert body["choices"][0]["text"] == REPLY


def test_images(client, mock):
    images = client.images.generate(model=CHAT_MODEL, prompt="a red fox", n=2, size="1024x1024")
    assert len(images.data) == 2
    assert images.data[0].url.startswith("https://")
    b64 = client.images.generate(model=CHAT_MODEL, prompt="a fox", response_format="b64_json")
    assert b64.data[0].b64_json
    sent = mock.requests()[-1]
    assert sent["path"] == "/v1/images/generations"
    assert sent["body"]["model"] == UPSTREAM_CHAT_MODEL


def test_images_refused_for_a_provider_without_them(client, mock):
    with pytest.raises(openai.BadRequestError) as exc:
        client.images.generate(model=CLAUDE_MODEL, prompt="a fox")
    assert exc.value.status_code == 400
    assert "Anthropic does not support /v1/images/generations" in str(exc.value)
    assert mock.requests() == []


def test_audio_transcription(client, mock):
    audio = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"
    transcript = client.audio.transcriptions.create(model=CHAT_MODEL, file=("hello.wav", audio, "audio/wav"))
    assert transcript.text == REPLY
    verbose = client.audio.transcriptions.create(
        model=CHAT_MODEL, file=("hello.wav", audio, "audio/wav"), response_format="verbose_json"
    )
    assert verbose.duration == 1.5
    text = client.audio.transcriptions.create(
        model=CHAT_MODEL, file=("hello.wav", audio, "audio/wav"), response_format="text"
    )
    assert text.strip() == REPLY
    sent = mock.requests()[-1]
    assert sent["path"] == "/v1/audio/transcriptions"
    assert sent["headers"]["content-type"].startswith("multipart/form-data")
    assert f'name="model"\r\n\r\n{UPSTREAM_CHAT_MODEL}\r\n' in sent["body"]


def test_audio_speech_streams_bytes(client):
    text = "Speak these words, please."
    with client.audio.speech.with_streaming_response.create(model=CHAT_MODEL, voice="alloy", input=text) as resp:
        assert resp.headers["content-type"] == "audio/mpeg"
        audio = b"".join(resp.iter_bytes())
    assert audio.startswith(b"ID3")
    assert len(audio) == 10 + len(text)


def test_moderations(client, mock):
    result = client.moderations.create(model=CHAT_MODEL, input=["one", "two"])
    assert len(result.results) == 2
    assert result.results[0].flagged is False
    assert mock.requests()[-1]["path"] == "/v1/moderations"


def test_rerank_for_cohere(gateway, mock):
    req = urllib.request.Request(
        gateway.url + "/v1/rerank",
        data=json.dumps(
            {"model": COHERE_MODEL, "query": "red fox", "documents": ["blue sky", "a red fox"], "top_n": 1}
        ).encode(),
        headers={"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    assert body["results"] == [{"index": 1, "relevance_score": pytest.approx(0.75)}]
    assert mock.requests()[-1]["path"].endswith("/rerank")


def test_responses_native_for_openai(client, mock):
    response = client.responses.create(model=CHAT_MODEL, input="Say hello", reasoning={"effort": "low"})
    assert response.output_text == REPLY
    assert response.usage.output_tokens > 0
    sent = mock.requests()[-1]
    assert sent["path"] == "/v1/responses", "OpenAI's own Responses API, not the chat bridge"
    assert sent["body"]["model"] == UPSTREAM_CHAT_MODEL
    assert sent["body"]["reasoning"] == {"effort": "low"}

    again = client.responses.retrieve(response.id)
    assert again.id == response.id
    assert mock.requests()[-1]["path"] == f"/v1/responses/{response.id}", "asked of the provider"

    follow = client.responses.create(model=CHAT_MODEL, input="Again", previous_response_id=response.id)
    assert follow.previous_response_id == response.id
    assert mock.requests()[-1]["body"]["previous_response_id"] == response.id


def test_responses_native_stream(client):
    events = list(client.responses.create(model=CHAT_MODEL, input="Say hello", stream=True))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == REPLY
