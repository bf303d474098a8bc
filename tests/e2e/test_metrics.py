"""`GET /metrics` read by the reference parser (Python's `prometheus_client`, the library LiteLLM
itself writes its metrics with) after calls made with the official `openai` SDK."""

from __future__ import annotations

import urllib.error
import urllib.request

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import CHAT_MODEL, MASTER_KEY, UNREACHABLE_MODEL, _start_gateway

# LiteLLM's LATENCY_BUCKETS, then +Inf.
LATENCY_BUCKETS = [
    0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
    5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0, 120.0,
    180.0, 240.0, 300.0, float("inf"),
]  # fmt: skip


@pytest.fixture(scope="module")
def metrics_gateway(run_dir, mock_server, dead_port):
    gw = _start_gateway(
        run_dir,
        "tollgate-metrics",
        mock_server,
        dead_port,
        {"master_key": MASTER_KEY},
        {"callbacks": ["prometheus"]},
    )
    try:
        yield gw
    finally:
        gw.process.stop()


def scrape(gateway) -> dict[str, list]:
    """Family name -> samples, as prometheus_client parses the exposition."""
    with urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    families = {}
    for f in text_string_to_metric_families(text):
        assert f.name not in families, f"family {f.name} appears twice"
        families[f.name] = (f.type, f.samples)
    return families


def value(families, family: str, sample: str, **labels) -> float:
    kind, samples = families[family]
    found = [s for s in samples if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, (sample, labels, found)
    return found[0].value


def test_calls_show_in_litellms_metrics(metrics_gateway, mock):
    with metrics_gateway.client() as client:
        usage = client.chat.completions.create(
            model=CHAT_MODEL, messages=[{"role": "user", "content": "count me"}]
        ).usage
        chunks = list(
            client.chat.completions.create(
                model=CHAT_MODEL,
                messages=[{"role": "user", "content": "stream me"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        streamed = next(c.usage for c in chunks if c.usage)
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(
                model=UNREACHABLE_MODEL, messages=[{"role": "user", "content": "nobody home"}]
            )

    m = scrape(metrics_gateway)
    # prometheus_client names counter families without `_total` and their samples with it.
    assert m["litellm_proxy_total_requests_metric"][0] == "counter"
    ok = dict(requested_model=CHAT_MODEL, status_code="200", route="/chat/completions")
    assert value(m, "litellm_proxy_total_requests_metric", "litellm_proxy_total_requests_metric_total", **ok) == 2
    failed = [
        s
        for s in m["litellm_proxy_failed_requests_metric"][1]
        if s.labels["requested_model"] == UNREACHABLE_MODEL
    ]
    assert len(failed) == 1 and failed[0].value == 1
    assert failed[0].labels["exception_class"]
    for counter, field in [
        ("litellm_input_tokens_metric", "prompt_tokens"),
        ("litellm_output_tokens_metric", "completion_tokens"),
        ("litellm_total_tokens_metric", "total_tokens"),
    ]:
        got = value(m, counter, counter + "_total", requested_model=CHAT_MODEL)
        assert got == getattr(usage, field) + getattr(streamed, field), counter

    kind, samples = m["litellm_request_total_latency_metric"]
    assert kind == "histogram"
    buckets = [s for s in samples if s.name.endswith("_bucket") and s.labels["requested_model"] == CHAT_MODEL]
    assert sorted(float(s.labels["le"]) for s in buckets) == LATENCY_BUCKETS
    count = value(m, "litellm_request_total_latency_metric", "litellm_request_total_latency_metric_count",
                  requested_model=CHAT_MODEL)  # fmt: skip
    assert count == 2
    ttft = value(m, "litellm_llm_api_time_to_first_token_metric",
                 "litellm_llm_api_time_to_first_token_metric_count", requested_model=CHAT_MODEL)  # fmt: skip
    assert ttft == 1
    assert value(m, "litellm_in_flight_requests", "litellm_in_flight_requests") == 0
    # The router's view of the deployments.
    assert value(m, "litellm_deployment_success_responses", "litellm_deployment_success_responses_total",
                 requested_model=CHAT_MODEL) == 2  # fmt: skip
    assert value(m, "litellm_deployment_total_requests", "litellm_deployment_total_requests_total",
                 requested_model=UNREACHABLE_MODEL) == 1  # fmt: skip
    # The spend writer drains, and the database is up.
    assert value(m, "tollgate_database_up", "tollgate_database_up") == 1


def test_metrics_are_off_without_the_callback(gateway):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{gateway.url}/metrics", timeout=10)
    assert e.value.code == 404
