"""End-to-end fixtures: the real `tollgate` binary in front of the real `tollgate-mock` binary.

Both processes start once per test session on ephemeral ports (each prints its URL as the first
line of stdout) and are stopped at the end. Tests talk to the gateway with the official `openai`
SDK, and script the mock over HTTP (`/__mock/script`, `/__mock/requests`, `/__mock/reset`).

Binaries: `$TOLLGATE_BIN` and `$TOLLGATE_MOCK_BIN`, default `target/debug/tollgate` and
`target/debug/tollgate-mock` under the repository root (build them first: `cargo build`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-test-master"
UPSTREAM_KEY = "sk-upstream-test"
STARTUP_TIMEOUT_S = 30.0

# Model aliases the gateway serves (see `_gateway_config`).
CHAT_MODEL = "gpt-test"
# The same upstream model under an OpenAI-compatible provider: /v1/responses goes through the
# chat bridge for it (OpenAI models get the native Responses API instead).
BRIDGE_MODEL = "bridge-test"
UPSTREAM_CHAT_MODEL = "gpt-4o-mini"
EMBED_MODEL = "embed-test"
UPSTREAM_EMBED_MODEL = "text-embedding-3-small"
UNREACHABLE_MODEL = "unreachable-test"
SLOW_MODEL = "slow-test"
UPSTREAM_SLOW_MODEL = "slow-upstream-model"
CLAUDE_MODEL = "claude-test"
GEMINI_MODEL = "gemini-test"
GEMINI_EMBED_MODEL = "gemini-embed-test"
AZURE_MODEL = "azure-test"
BEDROCK_MODEL = "bedrock-test"
VERTEX_MODEL = "vertex-test"
VERTEX_CLAUDE_MODEL = "vertex-claude-test"
BEDROCK_INVOKE_MODEL = "bedrock-invoke-claude-test"
COHERE_MODEL = "cohere-test"
OLLAMA_MODEL = "ollama-test"
# Models priced by their units (built-in table prices: per image, per second, per character).
IMAGE_MODEL = "dall-e-test"
WHISPER_MODEL = "whisper-test"
TTS_MODEL = "tts-test"

# Recorded provider payloads the mock can replay (`{"fixture": "<provider>/<file>"}`).
FIXTURES_DIR = Path(os.environ.get("TOLLGATE_FIXTURES") or REPO_ROOT.parent / "shared" / "fixtures")


def _binary(env_var: str, default: str) -> Path:
    path = Path(os.environ.get(env_var) or REPO_ROOT / default)
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file():
        pytest.exit(
            f"{path} not found: build it (cargo build --workspace) or set {env_var}", returncode=2
        )
    return path


class Process:
    """A child process whose first stdout line carries `http://HOST:PORT`."""

    #: Started and not yet stopped.
    running: list[Process] = []

    def __init__(self, name: str, argv: list[str], log_dir: Path):
        self.name = name
        self.log_path = log_dir / f"{name}.stderr.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env.pop("LITELLM_MASTER_KEY", None)  # the config decides, not the caller's shell
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=log_dir,
            env=env,
        )
        self.first_line = self._read_first_line()
        match = re.search(r"http://([^\s/]+):(\d+)", self.first_line)
        if not match:
            self.stop()
            raise RuntimeError(f"{name}: unexpected first line {self.first_line!r}\n{self.logs()}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}"
        # Keep draining stdout so the child can never block on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        Process.running.append(self)

    def _read_first_line(self) -> str:
        assert self.proc.stdout is not None
        result: list[bytes] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        if not result or not result[0]:
            code = self.proc.poll()
            self.stop()
            state = f"exited with {code}" if code is not None else f"silent for {STARTUP_TIMEOUT_S}s"
            raise RuntimeError(f"{self.name} did not start ({state})\n{self.logs()}")
        return result[0].decode("utf-8", "replace").strip()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in iter(self.proc.stdout.readline, b""):
            pass

    def logs(self) -> str:
        self._log.flush()
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return f"--- {self.name} stderr (last 4000 chars) ---\n{text[-4000:]}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self in Process.running:
            Process.running.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


@dataclass
class Mock:
    """HTTP control of the running `tollgate-mock`."""

    process: Process

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def api_base(self) -> str:
        return f"{self.url}/v1"

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def reset(self) -> None:
        self._call("POST", "/__mock/reset", {})

    def script(self, *scripts: dict[str, Any]) -> None:
        """Queues scripts (see tollgate-mock's `MockScript` for the fields)."""
        answer = self._call("POST", "/__mock/script", list(scripts))
        assert answer == {"queued": len(scripts)}, answer

    def requests(self) -> list[dict[str, Any]]:
        return self._call("GET", "/__mock/requests")


@dataclass
class Gateway:
    process: Process
    config_path: Path

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def client(self, api_key: str = MASTER_KEY, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("timeout", 30.0)
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, **kwargs)


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _deployment(alias: str, model: str, api_base: str, api_key: str | None = UPSTREAM_KEY, **extra: Any) -> str:
    lines = [
        f"  - model_name: {alias}",
        "    litellm_params:",
        f"      model: {model}",
        f"      api_base: {api_base}",
    ]
    if api_key is not None:
        lines.append(f"      api_key: {api_key}")
    lines += [f"      {k}: {json.dumps(v)}" for k, v in extra.items()]
    return "\n".join(lines)


def _gateway_config(
    mock_api_base: str, dead_api_base: str, general: dict[str, Any], litellm: dict[str, Any] | None = None
) -> str:
    deployments = [
        _deployment(CHAT_MODEL, f"openai/{UPSTREAM_CHAT_MODEL}", mock_api_base),
        _deployment(BRIDGE_MODEL, f"hosted_vllm/{UPSTREAM_CHAT_MODEL}", mock_api_base),
        _deployment(EMBED_MODEL, f"openai/{UPSTREAM_EMBED_MODEL}", mock_api_base),
        _deployment(UNREACHABLE_MODEL, f"openai/{UPSTREAM_CHAT_MODEL}", dead_api_base),
        _deployment(SLOW_MODEL, f"openai/{UPSTREAM_SLOW_MODEL}", mock_api_base, timeout=1),
        # Native providers on the same mock: the adapters append their own paths.
        _deployment(CLAUDE_MODEL, "anthropic/claude-sonnet-4-5", mock_api_base.removesuffix("/v1")),
        _deployment(GEMINI_MODEL, "gemini/gemini-2.0-flash", mock_api_base.removesuffix("/v1") + "/v1beta"),
        _deployment(
            GEMINI_EMBED_MODEL, "gemini/gemini-embedding-001", mock_api_base.removesuffix("/v1") + "/v1beta"
        ),
        _deployment(AZURE_MODEL, "azure/my-gpt-4o", mock_api_base.removesuffix("/v1"), api_version="2024-10-21"),
        _deployment(
            BEDROCK_MODEL,
            "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0",
            mock_api_base.removesuffix("/v1"),
            api_key=None,  # SigV4 with the keys below, not a Bedrock API key
            aws_bedrock_runtime_endpoint=mock_api_base.removesuffix("/v1"),
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            aws_region_name="us-east-1",
        ),
        _deployment(
            BEDROCK_INVOKE_MODEL,
            "bedrock/invoke/anthropic.claude-sonnet-4-5-20250929-v1:0",
            mock_api_base.removesuffix("/v1"),
            api_key=None,
            aws_bedrock_runtime_endpoint=mock_api_base.removesuffix("/v1"),
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            aws_region_name="us-east-1",
        ),
        _deployment(
            VERTEX_MODEL,
            "vertex_ai/gemini-2.0-flash",
            mock_api_base.removesuffix("/v1"),
            vertex_project="test-project",
            vertex_location="us-central1",
        ),
        _deployment(
            VERTEX_CLAUDE_MODEL,
            "vertex_ai/claude-sonnet-4-5@20250929",
            mock_api_base.removesuffix("/v1"),
            vertex_project="test-project",
            vertex_location="us-east5",
        ),
        _deployment(COHERE_MODEL, "cohere/command-r-plus", mock_api_base.removesuffix("/v1") + "/v2/chat"),
        _deployment(OLLAMA_MODEL, "ollama_chat/llama3.2", mock_api_base.removesuffix("/v1")),
        _deployment(IMAGE_MODEL, "openai/dall-e-3", mock_api_base),
        _deployment(WHISPER_MODEL, "openai/whisper-1", mock_api_base),
        _deployment(TTS_MODEL, "openai/tts-1", mock_api_base),
    ]
    general_lines = "\n".join(f"  {k}: {json.dumps(v)}" for k, v in general.items())
    litellm_lines = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in (litellm or {}).items())
    # No retries and no cooldowns: each test sees exactly one upstream attempt, and an error
    # scripted for one test cannot take a deployment out of service for the next.
    return (
        "model_list:\n"
        + "\n".join(deployments)
        + "\nrouter_settings:\n  num_retries: 0\n  disable_cooldowns: true\n"
        + ("litellm_settings:\n" + litellm_lines if litellm_lines else "")
        + "general_settings:\n"
        + general_lines
        + "\n"
    )


def _start_gateway(
    tmp_dir: Path,
    name: str,
    mock: Mock,
    dead_port: int,
    general: dict[str, Any],
    litellm: dict[str, Any] | None = None,
) -> Gateway:
    config = tmp_dir / f"{name}.yaml"
    config.write_text(_gateway_config(mock.api_base, f"http://127.0.0.1:{dead_port}/v1", general, litellm))
    argv = [str(_binary("TOLLGATE_BIN", "target/debug/tollgate")), "--config", str(config)]
    argv += ["--host", "127.0.0.1", "--port", "0"]
    process = Process(name, argv, tmp_dir)
    if not process.first_line.startswith("Tollgate "):
        process.stop()
        raise RuntimeError(f"unexpected gateway banner {process.first_line!r}")
    return Gateway(process, config)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tollgate-e2e")


@pytest.fixture(scope="session")
def mock_server(run_dir: Path):
    argv = [str(_binary("TOLLGATE_MOCK_BIN", "target/debug/tollgate-mock"))]
    argv += ["--host", "127.0.0.1", "--port", "0"]
    if FIXTURES_DIR.is_dir():
        argv += ["--fixtures-dir", str(FIXTURES_DIR)]
    process = Process("tollgate-mock", argv, run_dir)
    try:
        yield Mock(process)
    finally:
        process.stop()


@pytest.fixture(scope="session")
def dead_port() -> int:
    return _closed_port()


@pytest.fixture(scope="session")
def gateway(run_dir: Path, mock_server: Mock, dead_port: int):
    gw = _start_gateway(run_dir, "tollgate", mock_server, dead_port, {"master_key": MASTER_KEY})
    try:
        yield gw
    finally:
        gw.process.stop()


@pytest.fixture(scope="session")
def small_gateway(run_dir: Path, mock_server: Mock, dead_port: int):
    """A second gateway with a ~1 KiB request body limit."""
    general = {"master_key": MASTER_KEY, "max_request_size_mb": 0.001}
    gw = _start_gateway(run_dir, "tollgate-small", mock_server, dead_port, general)
    try:
        yield gw
    finally:
        gw.process.stop()


@pytest.fixture
def mock(mock_server: Mock) -> Mock:
    """The mock, reset: no queued scripts, no recorded requests."""
    mock_server.reset()
    return mock_server


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    with gateway.client() as c:
        yield c


@pytest.fixture(autouse=True)
def _processes_survive():
    """Fails the test (with the process's stderr) if a binary died while it ran."""
    yield
    for process in list(Process.running):
        if not process.alive():
            Process.running.remove(process)
            pytest.fail(f"{process.name} exited with {process.proc.returncode}\n{process.logs()}")
