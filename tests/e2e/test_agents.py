"""A real coding agent through the gateway: the Codex CLI (from npm, tests/e2e/agents) speaks
the Responses API to Tollgate, which serves it from a chat model on the mock, and completes a
tool-use round trip: the model asks for a shell command, Codex runs it, the output goes back.

Codex sends built-in tools (web search, agent namespaces) a chat model cannot run, so the
gateway here has `drop_params: true`, as the README's Codex setup says."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BRIDGE_MODEL, CHAT_MODEL, MASTER_KEY, REPO_ROOT, _start_gateway

CODEX = Path(os.environ.get("TOLLGATE_CODEX_BIN") or REPO_ROOT / "tests/e2e/agents/node_modules/.bin/codex")


@pytest.fixture(scope="module")
def agent_gateway(run_dir, mock_server, dead_port):
    gw = _start_gateway(
        run_dir, "tollgate-agents", mock_server, dead_port, {"master_key": MASTER_KEY}, {"drop_params": True}
    )
    try:
        yield gw
    finally:
        gw.process.stop()


def _codex(gateway, tmp_path: Path, prompt: str) -> subprocess.CompletedProcess[str]:
    if not CODEX.is_file():
        pytest.fail(f"{CODEX} not found: run scripts/test.sh (npm ci in tests/e2e/agents) or set TOLLGATE_CODEX_BIN")
    home = tmp_path / "codex-home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "config.toml").write_text(
        f'model = "{BRIDGE_MODEL}"\n'
        'model_provider = "tollgate"\n'
        "[model_providers.tollgate]\n"
        'name = "Tollgate"\n'
        f'base_url = "{gateway.base_url}"\n'
        'env_key = "TOLLGATE_API_KEY"\n'
        'wire_api = "responses"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "CODEX_"))}
    env.update(CODEX_HOME=str(home), TOLLGATE_API_KEY=MASTER_KEY, HOME=str(tmp_path))
    return subprocess.run(
        [str(CODEX), "exec", "--skip-git-repo-check", "--sandbox", "danger-full-access", prompt],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_codex_completes_a_tool_round_trip_through_the_responses_bridge(agent_gateway, mock, tmp_path):
    mock.script(
        {
            "tool_calls": [
                {"name": "exec_command", "arguments": '{"cmd":"echo tollgate-round-trip"}', "id": "call_exec_1"}
            ]
        },
        {"reply": "The command printed tollgate-round-trip."},
    )
    run = _codex(agent_gateway, tmp_path, "Run `echo tollgate-round-trip` and tell me what it printed.")
    assert run.returncode == 0, f"codex failed\n{run.stdout}\n{run.stderr}"
    assert "The command printed tollgate-round-trip." in run.stdout

    first, second = (r["body"] for r in mock.requests())
    assert first["stream"] is True
    assert any(t["function"]["name"] == "exec_command" for t in first["tools"])
    # The command's output went back to the model as the tool result of the call it made.
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_exec_1"
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"cmd":"echo tollgate-round-trip"}'
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_exec_1"
    assert "tollgate-round-trip" in tool["content"]


CLAUDE = Path(os.environ.get("TOLLGATE_CLAUDE_BIN") or REPO_ROOT / "tests/e2e/agents/node_modules/.bin/claude")


def _claude(gateway, tmp_path: Path, prompt: str) -> subprocess.CompletedProcess[str]:
    if not CLAUDE.is_file():
        pytest.fail(f"{CLAUDE} not found: run scripts/test.sh (npm ci in tests/e2e/agents) or set TOLLGATE_CLAUDE_BIN")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE_"))}
    env.update(
        HOME=str(tmp_path),
        ANTHROPIC_BASE_URL=gateway.url,
        ANTHROPIC_API_KEY=MASTER_KEY,
        # Every model Claude Code picks (main loop, background haiku calls) is the gateway's.
        ANTHROPIC_MODEL=CHAT_MODEL,
        ANTHROPIC_DEFAULT_HAIKU_MODEL=CHAT_MODEL,
        ANTHROPIC_SMALL_FAST_MODEL=CHAT_MODEL,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
    )
    return subprocess.run(
        [str(CLAUDE), "-p", prompt, "--model", CHAT_MODEL, "--allowedTools", "Bash", "--output-format", "text"],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_claude_code_completes_a_tool_round_trip_through_the_messages_bridge(agent_gateway, mock, tmp_path):
    mock.script(
        {
            "tool_calls": [
                {"name": "Bash", "arguments": '{"command":"echo tollgate-round-trip","description":"Print a marker"}', "id": "call_bash_1"}
            ]
        },
        {"reply": "The command printed tollgate-round-trip."},
    )
    run = _claude(agent_gateway, tmp_path, "Run `echo tollgate-round-trip` and tell me what it printed.")
    requests = mock.requests()
    assert run.returncode == 0, f"claude failed\n{run.stdout}\n{run.stderr}\n{requests}"
    assert "The command printed tollgate-round-trip." in run.stdout

    chats = [r["body"] for r in requests if any(t.get("function", {}).get("name") == "Bash" for t in r["body"].get("tools") or [])]
    assert len(chats) >= 2, requests
    first, second = chats[0], chats[1]
    assert first["stream"] is True
    # The command's output went back to the model as the tool result of the call it made.
    assistant, tool = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_bash_1"
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_bash_1"
    assert "tollgate-round-trip" in json.dumps(tool["content"])
