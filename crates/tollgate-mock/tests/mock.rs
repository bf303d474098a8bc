//! The mock over real HTTP: default OpenAI behaviour, scripting, recording and the binary.

// Helpers outside #[test] fns are not exempted by clippy.toml, but this whole file is test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_mock::{
    DEFAULT_REPLY, MockScript, MockServer, StreamScript, ToolCallScript, default_fixtures_dir,
};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(mock: &MockServer, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(mock.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// A two-message chat request (12 prompt tokens by the mock's count), plus `extra` fields.
fn chat(extra: Value) -> Value {
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Say hello to me"}]}
        ]
    });
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    body
}

fn expected_usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0
        }
    })
}

/// The `data:` payloads of an OpenAI SSE body, asserting its framing on the way.
fn sse_payloads(body: &str) -> Vec<String> {
    assert!(body.ends_with("\n\n"), "body must end with a blank line");
    body.split_terminator("\n\n")
        .map(|event| {
            let payload = event
                .strip_prefix("data: ")
                .expect("every event is one data line");
            assert!(
                !payload.contains('\n'),
                "payload is compact JSON: {payload}"
            );
            payload.to_owned()
        })
        .collect()
}

/// Parses a stream into its chunks, checking the `[DONE]` terminator and the core types.
async fn stream_chunks(resp: reqwest::Response) -> (Vec<String>, Vec<Value>) {
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let payloads = sse_payloads(&resp.text().await.unwrap());
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let raw = payloads[..payloads.len() - 1].to_vec();
    let chunks: Vec<Value> = raw
        .iter()
        .map(|p| {
            serde_json::from_str::<tollgate_core::ChatCompletionChunk>(p).unwrap();
            serde_json::from_str(p).unwrap()
        })
        .collect();
    (raw, chunks)
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn default_chat_completion_is_openai_shaped() {
    let mock = MockServer::start().await.unwrap();
    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let text = resp.text().await.unwrap();
    serde_json::from_str::<tollgate_core::ChatCompletionResponse>(&text).unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        keys(&body),
        [
            "id",
            "object",
            "created",
            "model",
            "choices",
            "usage",
            "service_tier",
            "system_fingerprint"
        ]
    );
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-mock"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(body["model"], "gpt-4o-mini");
    let choice = &body["choices"][0];
    assert_eq!(
        keys(choice),
        ["index", "message", "logprobs", "finish_reason"]
    );
    assert_eq!(
        keys(&choice["message"]),
        ["role", "content", "refusal", "annotations"]
    );
    assert_eq!(
        *choice,
        json!({"index": 0, "message": {"role": "assistant", "content": DEFAULT_REPLY,
               "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"})
    );
    // "Be brief." 2 words + "Say hello to me" 4 words + 3 per message; reply is 5 words.
    assert_eq!(body["usage"], expected_usage(12, 5));
    assert_eq!(body["service_tier"], "default");
    assert_eq!(body["system_fingerprint"], Value::Null);
}

#[tokio::test]
async fn any_openai_compatible_prefix_is_served() {
    let mock = MockServer::start().await.unwrap();
    for prefix in ["/v1", "/openai/v1", "/beta", "/inference/v1", "/api/v1", ""] {
        let resp = post(
            &mock,
            &format!("{prefix}/chat/completions"),
            chat(json!({})),
        )
        .await;
        assert_eq!(resp.status(), 200, "{prefix}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], DEFAULT_REPLY);
        let resp = post(
            &mock,
            &format!("{prefix}/embeddings"),
            json!({"model": "e", "input": "x"}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{prefix}");
        let resp = client()
            .get(mock.url(&format!("{prefix}/models")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{prefix}");
    }
    let resp = post(&mock, "/v1/nope", json!({})).await;
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Invalid URL (POST /v1/nope)");
}

#[tokio::test]
async fn bad_json_is_a_400() {
    let mock = MockServer::start().await.unwrap();
    let resp = client()
        .post(mock.url("/v1/chat/completions"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], Value::Null);
}

#[tokio::test]
async fn default_stream_without_usage() {
    let mock = MockServer::start().await.unwrap();
    let resp = post(&mock, "/v1/chat/completions", chat(json!({"stream": true}))).await;
    let (raw, chunks) = stream_chunks(resp).await;
    let id = chunks[0]["id"].as_str().unwrap();
    let created = &chunks[0]["created"];
    assert_eq!(
        raw[0],
        format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":{created},"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":null,"choices":[{{"index":0,"delta":{{"role":"assistant","content":"","refusal":null}},"logprobs":null,"finish_reason":null}}]}}"#
        )
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(
        chunks
            .iter()
            .all(|c| c["id"] == id && c["created"] == *created)
    );
    let (last, middle) = chunks[1..].split_last().unwrap();
    assert!(middle.len() >= 3, "reply split into several chunks");
    let text: String = middle
        .iter()
        .map(|c| {
            assert_eq!(keys(&c["choices"][0]["delta"]), ["content"]);
            assert_eq!(c["choices"][0]["finish_reason"], Value::Null);
            c["choices"][0]["delta"]["content"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    assert_eq!(
        raw.last().unwrap(),
        &format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":{created},"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":null,"choices":[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"stop"}}]}}"#
        )
    );
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn default_stream_with_include_usage() {
    let mock = MockServer::start().await.unwrap();
    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let (raw, chunks) = stream_chunks(post(&mock, "/v1/chat/completions", body).await).await;
    let (usage_chunk, rest) = chunks.split_last().unwrap();
    assert!(
        rest.iter()
            .all(|c| c["usage"] == Value::Null && c.get("usage").is_some())
    );
    assert_eq!(rest.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], expected_usage(12, 5));
    assert_eq!(
        keys(usage_chunk),
        [
            "id",
            "object",
            "created",
            "model",
            "service_tier",
            "system_fingerprint",
            "choices",
            "usage"
        ]
    );
    assert!(raw[0].ends_with(r#""finish_reason":null}],"usage":null}"#));
}

#[tokio::test]
async fn forced_tool_choice_returns_a_tool_call() {
    let mock = MockServer::start().await.unwrap();
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_time"}}
    ]);
    let body: Value = post(
        &mock,
        "/v1/chat/completions",
        chat(json!({"tools": tools, "tool_choice": "required"})),
    )
    .await
    .json()
    .await
    .unwrap();
    let choice = &body["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_mock_0",
               "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
               "refusal": null, "annotations": []})
    );
    serde_json::from_value::<tollgate_core::ChatCompletionResponse>(body.clone()).unwrap();

    let named = json!({"type": "function", "function": {"name": "get_time"}});
    let body: Value = post(
        &mock,
        "/v1/chat/completions",
        chat(json!({"tools": tools, "tool_choice": named})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_time"
    );

    let body: Value = post(
        &mock,
        "/v1/chat/completions",
        chat(json!({"tools": tools, "tool_choice": "auto"})),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], DEFAULT_REPLY);
}

#[tokio::test]
async fn scripted_tool_calls_stream_like_openai() {
    let mock = MockServer::start().await.unwrap();
    let calls = vec![
        ToolCallScript {
            name: "alpha".into(),
            arguments: json!({"value": "red", "n": [1, 2, 3]}),
            id: None,
        },
        ToolCallScript {
            name: "beta".into(),
            arguments: json!("{\"value\": \"blue\"}"),
            id: Some("call_custom".into()),
        },
    ];
    mock.push(MockScript {
        tool_calls: Some(calls),
        ..MockScript::default()
    });
    let body = chat(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let (_, chunks) = stream_chunks(post(&mock, "/v1/chat/completions", body).await).await;
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": null})
    );
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for chunk in &chunks[1..] {
        let Some(delta) = chunk["choices"].get(0).map(|c| &c["delta"]) else {
            continue;
        };
        let Some(fragments) = delta.get("tool_calls") else {
            continue;
        };
        let fragment = &fragments[0];
        let index = fragment["index"].as_u64().unwrap() as usize;
        if fragment.get("id").is_some() {
            assert_eq!(index, calls.len());
            assert_eq!(fragment["type"], "function");
            assert_eq!(fragment["function"]["arguments"], "");
            calls.push((
                fragment["id"].as_str().unwrap().into(),
                fragment["function"]["name"].as_str().unwrap().into(),
                String::new(),
            ));
        } else {
            assert_eq!(keys(fragment), ["index", "function"]);
            assert_eq!(keys(&fragment["function"]), ["arguments"]);
            calls[index]
                .2
                .push_str(fragment["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(
        calls,
        [
            (
                "call_mock_0".into(),
                "alpha".into(),
                r#"{"value":"red","n":[1,2,3]}"#.into()
            ),
            (
                "call_custom".into(),
                "beta".into(),
                r#"{"value": "blue"}"#.into()
            ),
        ]
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    assert!(
        chunks.last().unwrap()["usage"]["total_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn scripted_reply_works_streaming_and_not() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::reply("One two three four").times(2));
    let body: Value = post(&mock, "/v1/chat/completions", chat(json!({})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "One two three four"
    );
    assert_eq!(body["usage"]["completion_tokens"], 4);
    let resp = post(&mock, "/v1/chat/completions", chat(json!({"stream": true}))).await;
    let (_, chunks) = stream_chunks(resp).await;
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "One two three four");
}

fn decode_base64(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[tokio::test]
async fn embeddings_float_and_base64() {
    let mock = MockServer::start().await.unwrap();
    let req =
        json!({"model": "text-embedding-3-small", "input": ["hello world", "foo", "hello world"]});
    let text = post(&mock, "/v1/embeddings", req.clone())
        .await
        .text()
        .await
        .unwrap();
    serde_json::from_str::<tollgate_core::EmbeddingsResponse>(&text).unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(keys(&body), ["object", "data", "model", "usage"]);
    assert_eq!(body["object"], "list");
    assert_eq!(body["model"], "text-embedding-3-small");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 5, "total_tokens": 5})
    );
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(keys(item), ["object", "index", "embedding"]);
        assert_eq!(item["index"], i);
        assert_eq!(item["embedding"].as_array().unwrap().len(), 8);
    }
    assert_eq!(data[0]["embedding"], data[2]["embedding"]);
    assert_ne!(data[0]["embedding"], data[1]["embedding"]);
    let again: Value = post(&mock, "/v1/embeddings", req)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["data"], body["data"]);

    let floats: Value = post(
        &mock,
        "/v1/embeddings",
        json!({"model": "m", "input": "hi", "dimensions": 16}),
    )
    .await
    .json()
    .await
    .unwrap();
    let floats: Vec<f32> = floats["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(floats.len(), 16);
    let b64: Value = post(
        &mock,
        "/v1/embeddings",
        json!({"model": "m", "input": "hi", "dimensions": 16, "encoding_format": "base64"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let bytes = decode_base64(b64["data"][0]["embedding"].as_str().unwrap());
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(decoded, floats);

    let tokens: Value = post(
        &mock,
        "/v1/embeddings",
        json!({"model": "m", "input": [[1, 2, 3], [4]]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(tokens["data"].as_array().unwrap().len(), 2);
    assert_eq!(tokens["usage"]["prompt_tokens"], 4);

    let resp = post(&mock, "/v1/embeddings", json!({"model": "m", "input": []})).await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn models_list() {
    let mock = MockServer::start().await.unwrap();
    let resp = client().get(mock.url("/v1/models")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["id"], "gpt-4o-mini");
    assert_eq!(body["data"][0]["object"], "model");
    assert_eq!(body["data"][0]["owned_by"], "system");
}

#[tokio::test]
async fn scripted_status_body_and_headers() {
    let mock = MockServer::start().await.unwrap();
    let error = json!({"error": {"message": "slow down", "type": "requests", "param": null, "code": "rate_limit_exceeded"}});
    mock.push(MockScript::json(429, error.clone()).header("retry-after", "2"));
    mock.push(MockScript::status(503));
    mock.push(MockScript {
        status: Some(400),
        body: Some("plain words".into()),
        content_type: Some("text/plain".into()),
        ..MockScript::default()
    });

    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(resp.json::<Value>().await.unwrap(), error);

    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "server_error");
    assert_eq!(keys(&body["error"]), ["message", "type", "param", "code"]);

    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.text().await.unwrap(), "plain words");

    // The queue is empty again: back to the default.
    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn scripted_delay_holds_the_headers() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::default().delay_ms(300));
    let start = Instant::now();
    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn truncated_stream_breaks_mid_body() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::stream(StreamScript {
        events: vec![json!({"n": 1}), json!({"n": 2}), json!({"n": 3})],
        truncate_after: Some(2),
        ..StreamScript::default()
    }));
    let mut resp = post(&mock, "/v1/chat/completions", chat(json!({"stream": true}))).await;
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    let err = loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => got.extend_from_slice(&bytes),
            Ok(None) => panic!("stream ended cleanly"),
            Err(e) => break e,
        }
    };
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    assert_eq!(got, b"data: {\"n\":1}\n\ndata: {\"n\":2}\n\n");
}

#[tokio::test]
async fn scripted_stream_raw_delay_and_split() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::stream(StreamScript {
        events: vec![
            json!("event: message_start\ndata: {\"type\":\"message_start\"}\n\n"),
            json!(": keep-alive\n\n"),
            json!({"done": true}),
        ],
        raw: true,
        chunk_delay_ms: 60,
        ..StreamScript::default()
    }));
    let start = Instant::now();
    let resp = post(&mock, "/v1/messages", json!({})).await;
    let body = resp.text().await.unwrap();
    assert!(start.elapsed() >= Duration::from_millis(120));
    assert_eq!(
        body,
        "event: message_start\ndata: {\"type\":\"message_start\"}\n\n: keep-alive\n\n{\"done\":true}\n"
    );

    mock.push(
        MockScript {
            stream: Some(StreamScript {
                events: vec![json!({"a": "bcdefgh"}), json!("x")],
                split_bytes: Some(3),
                ..StreamScript::default()
            }),
            content_type: Some("text/event-stream".into()),
            ..MockScript::default()
        }
        .header("x-extra", "1"),
    );
    let mut resp = post(&mock, "/v1/chat/completions", json!({})).await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    assert_eq!(resp.headers()["x-extra"], "1");
    let mut pieces = Vec::new();
    while let Some(bytes) = resp.chunk().await.unwrap() {
        pieces.push(bytes);
    }
    assert!(pieces.len() > 1, "split body arrives in several reads");
    assert_eq!(
        pieces.concat(),
        b"data: {\"a\":\"bcdefgh\"}\n\ndata: x\n\ndata: [DONE]\n\n"
    );
}

#[tokio::test]
async fn close_and_hang() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::close());
    let err = client()
        .post(mock.url("/v1/chat/completions"))
        .json(&chat(json!({})))
        .send()
        .await
        .unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");

    mock.push(MockScript::hang());
    let err = client()
        .post(mock.url("/v1/chat/completions"))
        .timeout(Duration::from_millis(300))
        .json(&chat(json!({})))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    // The server is still healthy afterwards.
    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn fixture_replay() {
    let Some(dir) = default_fixtures_dir() else {
        println!("skipped: no shared/fixtures dir (set TOLLGATE_FIXTURES_DIR)");
        return;
    };
    let mock = MockServer::start().await.unwrap();
    let sse = "openai/chat_stream_include_usage.sse";
    mock.push(MockScript::fixture(sse));
    let resp = post(&mock, "/v1/chat/completions", chat(json!({"stream": true}))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    assert_eq!(
        resp.bytes().await.unwrap(),
        std::fs::read(dir.join(sse)).unwrap()
    );

    let error = "openai/error_404_model_not_found.json";
    mock.push(MockScript {
        status: Some(404),
        ..MockScript::fixture(error)
    });
    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_eq!(
        resp.bytes().await.unwrap(),
        std::fs::read(dir.join(error)).unwrap()
    );

    mock.push(MockScript::fixture("no/such/file.sse"));
    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn times_and_matchers() {
    let mock = MockServer::start().await.unwrap();
    mock.push(MockScript::reply("for a").for_model("model-a").times(2));
    mock.push(MockScript::json(200, json!({"scripted": true})).for_path_suffix("/embeddings"));

    let content = |v: Value| {
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let ask = |model: &'static str| {
        let mock = &mock;
        async move {
            let body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
            content(
                post(mock, "/v1/chat/completions", body)
                    .await
                    .json()
                    .await
                    .unwrap(),
            )
        }
    };
    assert_eq!(ask("model-b").await, DEFAULT_REPLY);
    assert_eq!(ask("model-a").await, "for a");
    assert_eq!(ask("model-a").await, "for a");
    assert_eq!(ask("model-a").await, DEFAULT_REPLY);
    let emb = json!({"model": "model-a", "input": "x"});
    let body: Value = post(&mock, "/v1/embeddings", emb.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"scripted": true}));
    let body: Value = post(&mock, "/v1/embeddings", emb)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");

    mock.push(MockScript::status(500).times(0));
    for _ in 0..3 {
        let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
        assert_eq!(resp.status(), 500);
    }
    mock.reset();
    let resp = post(&mock, "/v1/chat/completions", chat(json!({}))).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn scripting_and_inspection_over_http() {
    let mock = MockServer::start().await.unwrap();
    let scripts = json!([
        {"status": 429, "json": {"error": {"message": "x"}}, "headers": {"retry-after": "1"}},
        {"reply": "second", "match_model": "gpt-4o-mini"}
    ]);
    let resp = post(&mock, "/__mock/script", scripts).await;
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"queued": 2}));
    let resp = post(&mock, "/__mock/script", json!({"reply": "third"})).await;
    assert_eq!(resp.json::<Value>().await.unwrap(), json!({"queued": 1}));

    for typo in [
        json!({"staus": 500}),
        json!([{"reply": "ok"}, {"staus": 500}]),
    ] {
        let resp = post(&mock, "/__mock/script", typo).await;
        assert_eq!(resp.status(), 400);
        let err: Value = resp.json().await.unwrap();
        let message = err["error"].as_str().unwrap();
        assert!(message.contains("unknown field `staus`"), "{err}");
    }

    assert_eq!(
        post(&mock, "/v1/chat/completions", chat(json!({})))
            .await
            .status(),
        429
    );
    for expected in ["second", "third", DEFAULT_REPLY] {
        let body: Value = post(&mock, "/v1/chat/completions", chat(json!({})))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], expected);
    }

    let requests: Value = client()
        .get(mock.url("/__mock/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests = requests.as_array().unwrap();
    assert_eq!(requests.len(), 4, "control requests are not recorded");
    assert_eq!(requests[0]["path"], "/v1/chat/completions");
    assert_eq!(requests[0]["body"], chat(json!({})));

    let resp = post(&mock, "/__mock/reset", json!({})).await;
    assert_eq!(resp.status(), 200);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn requests_are_recorded() {
    let mock = MockServer::start().await.unwrap();
    client()
        .post(mock.url("/openai/v1/chat/completions?api-version=2024-10-21"))
        .header("X-Custom-Header", "Yes")
        .bearer_auth("sk-test")
        .json(&chat(json!({})))
        .send()
        .await
        .unwrap();
    client()
        .post(mock.url("/v1/other"))
        .body("not json")
        .send()
        .await
        .unwrap();
    client().get(mock.url("/v1/models")).send().await.unwrap();

    let recorded = mock.requests();
    assert_eq!(recorded.len(), 3);
    let first = &recorded[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/openai/v1/chat/completions");
    assert_eq!(first.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(first.header("x-custom-header"), Some("Yes"));
    assert_eq!(first.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(first.header("content-type"), Some("application/json"));
    assert_eq!(first.body, chat(json!({})));
    assert_eq!(recorded[1].body, json!("not json"));
    assert_eq!(recorded[2].method, "GET");
    assert_eq!(recorded[2].query, None);
    assert_eq!(recorded[2].body, Value::Null);
}

#[tokio::test]
async fn concurrent_requests_over_keep_alive_and_http2() {
    let mock = MockServer::start().await.unwrap();
    let http1 = client();
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let requests = (0..100).map(|i| {
        let c = if i % 2 == 0 { &http1 } else { &http2 };
        let url = mock.url("/v1/chat/completions");
        async move {
            let resp = c.post(url).json(&chat(json!({}))).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    });
    let bodies = futures::future::join_all(requests).await;
    assert!(
        bodies
            .iter()
            .all(|b| b["choices"][0]["message"]["content"] == DEFAULT_REPLY)
    );
    assert_eq!(mock.requests().len(), 100);
}

#[tokio::test]
async fn drop_shuts_the_server_down() {
    let mock = MockServer::start().await.unwrap();
    let addr = mock.addr();
    assert_eq!(
        mock.base_url(),
        format!("http://127.0.0.1:{}/v1", addr.port())
    );
    drop(mock);
    let deadline = Instant::now() + Duration::from_secs(2);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after drop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate-mock"))
        .args(["--port", "0", "--host", "127.0.0.1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let result = async {
        client()
            .post(format!("{url}/__mock/script"))
            .json(&json!({"status": 418}))
            .send()
            .await?;
        let scripted = client()
            .get(format!("{url}/v1/models"))
            .send()
            .await?
            .status();
        let models: Value = client()
            .get(format!("{url}/v1/models"))
            .send()
            .await?
            .json()
            .await?;
        Ok::<_, reqwest::Error>((scripted, models))
    }
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let (scripted, models) = result.unwrap();
    assert_eq!(scripted, 418);
    assert_eq!(models["data"][0]["id"], "gpt-4o-mini");
}
