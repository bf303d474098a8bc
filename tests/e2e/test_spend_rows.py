"""Calls priced by their units and refused requests in the spend log, seen through the
official `openai` SDK with a generated key: the cost header of image, transcription and
speech calls, and the failure row of a request the key may not make."""

from __future__ import annotations

import openai
import pytest

from conftest import CHAT_MODEL, IMAGE_MODEL, TTS_MODEL, WHISPER_MODEL
from test_keys import admin, new_key, wait_for


def cost(headers) -> float:
    return float(headers["x-litellm-response-cost"])


def test_images_audio_and_speech_are_priced_by_their_units(gateway):
    key = new_key(gateway, key_alias="e2e-units")
    client = gateway.client(api_key=key)
    # DALL·E 3 hd 1024x1792: $0.12 an image.
    reply = client.images.with_raw_response.generate(
        model=IMAGE_MODEL, prompt="a red fox", n=2, size="1024x1792", quality="hd"
    )
    assert len(reply.parse().data) == 2
    assert cost(reply.headers) == pytest.approx(0.24)
    # Whisper: $0.0001 a second; the mock reports 1.5 s in verbose_json.
    reply = client.audio.transcriptions.with_raw_response.create(
        model=WHISPER_MODEL, file=("a.wav", b"RIFF0000WAVE", "audio/wav"), response_format="verbose_json"
    )
    assert cost(reply.headers) == pytest.approx(0.00015)
    # tts-1: $15 per million characters.
    text = "hello from the gateway"
    with client.audio.speech.with_streaming_response.create(model=TTS_MODEL, voice="alloy", input=text) as resp:
        assert cost(resp.headers) == pytest.approx(len(text) * 15e-6)
        assert resp.read()
    rows = wait_for(
        lambda: (r := admin(gateway, "GET", f"/spend/logs?api_key={key}&summarize=false").json()) and len(r) >= 3 and r
    )
    spends = sorted(row["spend"] for row in rows)
    assert spends == pytest.approx(sorted([0.24, 0.00015, len(text) * 15e-6]))
    info = admin(gateway, "GET", f"/key/info?key={key}").json()
    assert info["info"]["spend"] == pytest.approx(sum(spends))


def test_a_refused_request_writes_one_failure_row(gateway):
    key = new_key(gateway, models=[CHAT_MODEL], key_alias="e2e-narrow")
    client = gateway.client(api_key=key)
    with pytest.raises(openai.PermissionDeniedError):
        client.images.generate(model=IMAGE_MODEL, prompt="a fox")
    rows = wait_for(lambda: admin(gateway, "GET", f"/spend/logs?api_key={key}&summarize=false").json())
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row["status"], row["spend"], row["model_group"]) == ("failure", 0.0, IMAGE_MODEL)
    assert row["call_type"] == "aimage_generation"
    assert row["metadata"]["user_api_key_alias"] == "e2e-narrow"
    assert row["metadata"]["error_information"]["error_code"] == "403"
