"""Embeddings (float and the SDK's default base64) and the model list."""

import json
import math

import openai
import pytest

from conftest import (
    AZURE_MODEL,
    BEDROCK_INVOKE_MODEL,
    BEDROCK_MODEL,
    COHERE_MODEL,
    OLLAMA_MODEL,
    VERTEX_CLAUDE_MODEL,
    VERTEX_MODEL,
    BRIDGE_MODEL,
    CHAT_MODEL,
    CLAUDE_MODEL,
    GEMINI_EMBED_MODEL,
    GEMINI_MODEL,
    EMBED_MODEL,
    SLOW_MODEL,
    UNREACHABLE_MODEL,
    UPSTREAM_EMBED_MODEL,
    IMAGE_MODEL,
    TTS_MODEL,
    WHISPER_MODEL,
)

INPUTS = ["hello world", "the second input"]
DIMENSIONS = 8  # the mock's default


def test_embeddings_float(client, mock):
    result = client.embeddings.create(model=EMBED_MODEL, input=INPUTS, encoding_format="float")

    assert result.object == "list"
    assert result.model == EMBED_MODEL
    assert [d.index for d in result.data] == [0, 1]
    for d in result.data:
        assert d.object == "embedding"
        assert isinstance(d.embedding, list) and len(d.embedding) == DIMENSIONS
        assert all(isinstance(x, float) for x in d.embedding)
        assert math.isclose(math.sqrt(sum(x * x for x in d.embedding)), 1.0, rel_tol=1e-4)
    assert result.data[0].embedding != result.data[1].embedding
    assert result.usage.prompt_tokens > 0

    upstream = mock.requests()[0]
    assert upstream["path"] == "/v1/embeddings"
    assert upstream["body"]["model"] == UPSTREAM_EMBED_MODEL
    assert upstream["body"]["input"] == INPUTS
    assert upstream["body"]["encoding_format"] == "float"


def test_embeddings_sdk_default_base64(client, mock):
    """The SDK asks for base64 unless told otherwise and decodes it to floats."""
    floats = client.embeddings.create(model=EMBED_MODEL, input=INPUTS, encoding_format="float")
    raw = client.embeddings.with_raw_response.create(model=EMBED_MODEL, input=INPUTS)
    decoded = raw.parse()

    wire = json.loads(raw.text)
    assert all(isinstance(d["embedding"], str) for d in wire["data"]), "base64 on the wire"
    assert mock.requests()[-1]["body"]["encoding_format"] == "base64"
    assert decoded.model == EMBED_MODEL
    assert len(decoded.data) == len(INPUTS)
    for got, want in zip(decoded.data, floats.data):
        assert len(got.embedding) == DIMENSIONS
        assert got.embedding == pytest.approx(want.embedding, abs=1e-6)


def test_models_list_names_every_model_group(client):
    models = client.models.list()
    ids = [m.id for m in models.data]
    expected = [CHAT_MODEL, EMBED_MODEL, UNREACHABLE_MODEL, SLOW_MODEL]
    expected += [CLAUDE_MODEL, GEMINI_MODEL, GEMINI_EMBED_MODEL, AZURE_MODEL]
    expected += [BEDROCK_MODEL, VERTEX_MODEL, COHERE_MODEL, OLLAMA_MODEL, VERTEX_CLAUDE_MODEL]
    expected += [BEDROCK_INVOKE_MODEL]
    expected += [BRIDGE_MODEL]
    expected += [IMAGE_MODEL, WHISPER_MODEL, TTS_MODEL]
    assert sorted(ids) == sorted(expected)
    assert {m.object for m in models.data} == {"model"}


def test_models_list_requires_the_key(gateway):
    with gateway.client(api_key="sk-not-the-master-key") as c:
        with pytest.raises(openai.AuthenticationError) as exc:
            c.models.list()
    assert exc.value.status_code == 401
