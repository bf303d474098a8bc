"""Virtual keys, budgets, rate limits and spend, driven the way LiteLLM's docs drive them:
plain HTTP calls to the management API (as curl does), then the official `openai` SDK with
the generated key."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest

from conftest import BRIDGE_MODEL, CHAT_MODEL, CLAUDE_MODEL, EMBED_MODEL, MASTER_KEY


@dataclass
class Answer:
    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def admin(gateway, method: str, path: str, body: Any = None, key: str | None = MASTER_KEY) -> Answer:
    """One management call, as `curl -X METHOD -H 'Authorization: Bearer KEY' -d BODY` makes it."""
    headers = {"content-type": "application/json"}
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{gateway.url}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Answer(resp.status, resp.read().decode())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.read().decode())


def new_key(gateway, **body: Any) -> str:
    r = admin(gateway, "POST", "/key/generate", body)
    assert r.status_code == 200, r.text
    return r.json()["key"]


def wait_for(check, timeout: float = 5.0):
    """Spend rows are written behind the response; poll briefly for them."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_generated_key_calls_models_and_its_spend_is_logged(gateway, mock):
    r = admin(gateway, "POST", "/key/generate", {"models": [CHAT_MODEL], "key_alias": "e2e-app", "metadata": {"app": "x"}})
    assert r.status_code == 200
    body = r.json()
    key = body["key"]
    assert key.startswith("sk-") and body["key_name"] == f"sk-...{key[-4:]}"

    client = gateway.client(api_key=key)
    reply = client.chat.completions.with_raw_response.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    completion = reply.parse()
    assert completion.choices[0].message.content
    # Costed from the built-in price table (gpt-4o-mini: $0.15 in, $0.60 out per million).
    usage = completion.usage
    cached = (usage.prompt_tokens_details.cached_tokens or 0) if usage.prompt_tokens_details else 0
    want = (usage.prompt_tokens - cached) * 0.15e-6 + cached * 0.075e-6 + usage.completion_tokens * 0.6e-6
    assert want > 0
    assert float(reply.headers["x-litellm-response-cost"]) == pytest.approx(want, rel=1e-9)

    rows = wait_for(lambda: admin(gateway, "GET", f"/spend/logs?api_key={key}&summarize=false").json())
    assert len(rows) == 1
    assert rows[0]["status"] == "success"
    assert rows[0]["model_group"] == CHAT_MODEL
    assert rows[0]["total_tokens"] > 0
    assert rows[0]["metadata"]["user_api_key_alias"] == "e2e-app"

    info = admin(gateway, "GET", f"/key/info?key={key}").json()
    assert info["info"]["key_alias"] == "e2e-app"
    assert info["info"]["metadata"] == {"app": "x"}


def test_model_outside_the_allow_list_is_403(gateway, mock):
    key = new_key(gateway, models=[CHAT_MODEL])
    with pytest.raises(openai.PermissionDeniedError) as e:
        gateway.client(api_key=key).embeddings.create(model=EMBED_MODEL, input="x")
    assert e.value.status_code == 403
    assert "key not allowed to access model" in str(e.value)


def test_exhausted_budget_is_429_budget_exceeded(gateway, mock):
    key = new_key(gateway, max_budget=0)
    with pytest.raises(openai.RateLimitError) as e:
        gateway.client(api_key=key).chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]
        )
    assert e.value.body["type"] == "budget_exceeded"


def test_rpm_limit_is_429_with_retry_after_and_ratelimit_headers(gateway, mock):
    key = new_key(gateway, rpm_limit=1)
    client = gateway.client(api_key=key)
    ok = client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "a"}])
    assert ok.headers["x-ratelimit-api_key-remaining-requests"] == "0"
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "b"}])
    assert int(e.value.response.headers["retry-after"]) >= 1
    assert e.value.response.headers["x-ratelimit-api_key-limit-requests"] == "1"
    assert "Rate limit exceeded for api_key" in str(e.value)


def test_blocked_and_deleted_keys_are_401(gateway, mock):
    key = new_key(gateway)
    assert admin(gateway, "POST", "/key/block", {"key": key}).json()["blocked"] is True
    with pytest.raises(openai.AuthenticationError) as e:
        gateway.client(api_key=key).models.list()
    assert "Key is blocked" in str(e.value)
    admin(gateway, "POST", "/key/unblock", {"key": key})
    assert admin(gateway, "POST", "/key/delete", {"keys": [key]}).json() == {"deleted_keys": [key]}
    with pytest.raises(openai.AuthenticationError):
        gateway.client(api_key=key).models.list()


def test_streamed_call_is_costed_from_its_final_usage(gateway, mock):
    key = new_key(gateway)
    stream = gateway.client(api_key=key).chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    rows = wait_for(lambda: admin(gateway, "GET", f"/spend/logs?api_key={key}&summarize=false").json())
    assert rows and rows[0]["status"] == "success" and rows[0]["completion_tokens"] > 0


def test_teams_users_and_management_auth(gateway, mock):
    team = admin(gateway, "POST", "/team/new", {"team_alias": "e2e-team", "models": [CHAT_MODEL]}).json()
    r = admin(gateway, "POST", "/team/member_add", {"team_id": team["team_id"], "member": {"role": "user", "user_id": "e2e-user"}})
    assert r.status_code == 200, r.text
    user = admin(gateway, "GET", "/user/info?user_id=e2e-user").json()
    assert user["user_info"]["teams"] == [team["team_id"]]
    key = new_key(gateway, team_id=team["team_id"], user_id="e2e-user")
    assert gateway.client(api_key=key).chat.completions.create(
        model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]
    ).choices
    # A key without the admin role cannot manage keys.
    assert admin(gateway, "POST", "/key/generate", {}, key=key).status_code == 403
    assert admin(gateway, "POST", "/key/generate", {}, key=None).status_code == 401
    info = admin(gateway, "GET", f"/team/info?team_id={team['team_id']}").json()
    assert [k["token"] for k in info["keys"]]
    assert admin(gateway, "POST", "/team/delete", {"team_ids": [team["team_id"]]}).status_code == 200


def test_messages_calls_are_admitted_costed_and_logged(gateway, mock):
    key = new_key(gateway)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30.0)
    ask = {"max_tokens": 64, "messages": [{"role": "user", "content": "Capital of France?"}]}

    mock.script({"fixture": "anthropic/message.json"})  # native pass-through: 20 in, 10 out
    reply = claude.messages.with_raw_response.create(model=CLAUDE_MODEL, **ask)
    # claude-sonnet-4-5 from the built-in table: $3 in, $15 out per million tokens.
    assert float(reply.headers["x-litellm-response-cost"]) == pytest.approx(20 * 3e-6 + 10 * 15e-6, rel=1e-9)

    mock.script({"fixture": "anthropic/message_stream.sse"})
    with claude.messages.stream(model=CLAUDE_MODEL, **ask) as stream:
        streamed = stream.get_final_message()
    mock.script({"reply": "Paris."})  # the chat bridge, streamed
    with claude.messages.stream(model=CHAT_MODEL, **ask) as stream:
        assert "Paris" in "".join(stream.text_stream)

    rows = wait_for(
        lambda: (r := admin(gateway, "GET", f"/spend/logs?api_key={key}&summarize=false").json()) and len(r) >= 3 and r
    )
    assert len(rows) == 3
    assert {r["call_type"] for r in rows} == {"anthropic_messages"}
    assert all(r["status"] == "success" for r in rows)
    native_stream = [r for r in rows if r["model_group"] == CLAUDE_MODEL and r["completion_tokens"] == streamed.usage.output_tokens]
    assert native_stream and native_stream[0]["spend"] > 0
    bridged = [r for r in rows if r["model_group"] == CHAT_MODEL]
    assert bridged and bridged[0]["completion_tokens"] > 0


def test_messages_budget_refusal_is_anthropic_shaped(gateway, mock):
    key = new_key(gateway, max_budget=0)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=30.0)
    with pytest.raises(anthropic.RateLimitError) as e:
        claude.messages.create(model=CLAUDE_MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 429
    assert e.value.body["type"] == "error"
    assert "budget" in e.value.body["error"]["message"].lower()
    assert mock.requests() == []


def test_every_model_route_is_admitted_and_logged(gateway, mock):
    key = new_key(gateway)
    client = gateway.client(api_key=key)
    completion = client.completions.with_raw_response.create(model=CHAT_MODEL, prompt="Say hello", max_tokens=10)
    assert float(completion.headers["x-litellm-response-cost"]) > 0
    client.images.generate(model=CHAT_MODEL, prompt="a fox")
    client.responses.create(model=CHAT_MODEL, input="Say hello")  # native: OpenAI's own API
    mock.script({"reply": "Hello."})
    bridged = client.responses.with_raw_response.create(model=BRIDGE_MODEL, input="Say hello")
    assert bridged.headers["x-litellm-response-cost"] is not None
    list(client.responses.create(model=BRIDGE_MODEL, input="Say hello", stream=True))

    want = {"atext_completion": 1, "aimage_generation": 1, "aresponses": 3}
    rows = wait_for(
        lambda: (r := admin(gateway, "GET", f"/spend/logs?api_key={key}&summarize=false").json())
        and len(r) >= sum(want.values())
        and r
    )
    seen: dict[str, int] = {}
    for row in rows:
        assert row["status"] == "success", row
        seen[row["call_type"]] = seen.get(row["call_type"], 0) + 1
    assert seen == want
    assert all(r["total_tokens"] > 0 for r in rows if r["call_type"] != "aimage_generation")


def test_operation_routes_enforce_the_model_allow_list_and_budgets(gateway, mock):
    key = new_key(gateway, models=[EMBED_MODEL])
    client = gateway.client(api_key=key)
    with pytest.raises(openai.PermissionDeniedError):
        client.images.generate(model=CHAT_MODEL, prompt="a fox")
    with pytest.raises(openai.PermissionDeniedError):
        client.responses.create(model=CHAT_MODEL, input="hi")
    broke = gateway.client(api_key=new_key(gateway, max_budget=0))
    with pytest.raises(openai.RateLimitError):
        broke.completions.create(model=CHAT_MODEL, prompt="hi")
    assert mock.requests() == []


def test_team_block_reset_spend_and_spend_reports(gateway, mock):
    team = admin(gateway, "POST", "/team/new", {"team_alias": "e2e-blockable"}).json()
    key = new_key(gateway, team_id=team["team_id"], key_alias="e2e-resettable", max_budget=1)
    client = gateway.client(api_key=key)
    assert client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]).choices

    # A blocked team's keys are 401 and the message names /team/unblock, which works.
    assert admin(gateway, "POST", "/team/block", {"team_id": team["team_id"]}).json()["blocked"] is True
    with pytest.raises(openai.AuthenticationError) as e:
        client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert "/team/unblock" in str(e.value)
    assert admin(gateway, "POST", "/team/unblock", {"team_id": team["team_id"]}).json()["blocked"] is False
    assert client.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}]).choices

    spent = wait_for(lambda: admin(gateway, "GET", f"/key/info?key={key}").json()["info"]["spend"])
    assert spent > 0
    r = admin(gateway, "POST", f"/key/{key}/reset_spend", {"reset_to": spent + 1})
    assert r.status_code == 400 and "must be <= current spend" in r.json()["error"]["message"]
    r = admin(gateway, "POST", f"/key/{key}/reset_spend", {"reset_to": 0})
    assert r.status_code == 200, r.text
    assert admin(gateway, "GET", f"/key/info?key={key}").json()["info"]["spend"] == 0

    assert "e2e-resettable" in admin(gateway, "GET", "/key/aliases?search=resettable").json()["aliases"]
    by_key = admin(gateway, "GET", "/global/spend/keys").json()
    assert any(row["key_alias"] == "e2e-resettable" and row["total_spend"] > 0 for row in by_key)
    teams = admin(gateway, "GET", "/global/spend/teams").json()
    assert "e2e-blockable" in teams["teams"]
