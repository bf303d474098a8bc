//! The real binary serving the rest of the OpenAI surface against the mock: legacy
//! completions (forwarded, and bridged to chat for Anthropic), images, audio transcription and
//! speech, moderations and rerank, each checked on the wire the mock recorded.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gateway, client, sse_data};
use serde_json::{Value, json};
use tollgate_mock::{DEFAULT_REPLY, MockScript, MockServer, StreamScript};

async fn setup() -> (MockServer, Gateway) {
    let mock = MockServer::start().await.unwrap();
    let base = mock.base_url();
    let root = mock.url("");
    let gw = Gateway::start(&format!(
        r#"
model_list:
  - model_name: instruct
    litellm_params: {{model: openai/gpt-3.5-turbo-instruct, api_base: "{base}", api_key: sk-upstream}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{root}", api_key: sk-ant-upstream}}
  - model_name: dalle
    litellm_params: {{model: openai/dall-e-3, api_base: "{base}", api_key: sk-upstream}}
  - model_name: azure-dalle
    litellm_params: {{model: azure/dalle-deploy, api_base: "{root}", api_key: az-key, api_version: "2024-02-01"}}
  - model_name: whisper
    litellm_params: {{model: openai/whisper-1, api_base: "{base}", api_key: sk-upstream}}
  - model_name: tts
    litellm_params: {{model: openai/tts-1, api_base: "{base}", api_key: sk-upstream}}
  - model_name: guard
    litellm_params: {{model: openai/omni-moderation-2024-09-26, api_base: "{base}", api_key: sk-upstream}}
  - model_name: rerank
    litellm_params: {{model: cohere/rerank-v3.5, api_base: "{root}", api_key: co-key}}
environment_variables:
  OPENAI_API_BASE: "{base}"
  OPENAI_API_KEY: sk-env-openai
general_settings:
  master_key: sk-master
"#
    ));
    (mock, gw)
}

async fn post(gw: &Gateway, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(gw.url(path))
        .bearer_auth("sk-master")
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn completions_are_forwarded_to_openai_under_every_alias() {
    let (mock, gw) = setup().await;
    for path in [
        "/v1/completions",
        "/completions",
        "/engines/instruct/completions",
        "/openai/deployments/instruct/completions",
    ] {
        mock.reset();
        let resp = post(
            &gw,
            path,
            json!({"model": "instruct", "prompt": "Say hi", "max_tokens": 7, "echo": false}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["x-litellm-model-group"], "instruct");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["model"], "instruct", "{path}: the client's name");
        assert_eq!(v["choices"][0]["text"], DEFAULT_REPLY);
        assert_eq!(v["usage"]["prompt_tokens"], 2);
        let sent = mock.requests();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].path, "/v1/completions");
        assert_eq!(sent[0].header("authorization"), Some("Bearer sk-upstream"));
        assert_eq!(sent[0].body["model"], "gpt-3.5-turbo-instruct");
        assert_eq!(sent[0].body["max_tokens"], 7);
        assert_eq!(
            sent[0].body["echo"], false,
            "unknown-to-chat fields reach OpenAI"
        );
    }
}

#[tokio::test]
async fn streamed_completions_are_forwarded() {
    let (_mock, gw) = setup().await;
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "instruct", "prompt": "x", "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = resp.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]");
    for d in &data[..data.len() - 1] {
        let v: Value = serde_json::from_str(d).unwrap();
        assert_eq!(
            v["model"], "instruct",
            "every chunk carries the client's name"
        );
    }
    let text: String = data[..data.len() - 1]
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["choices"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
}

fn anthropic_message(text: &str) -> Value {
    json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 5, "output_tokens": 2}})
}

#[tokio::test]
async fn completions_for_anthropic_are_bridged_through_chat() {
    let (mock, gw) = setup().await;
    mock.push(MockScript::json(200, anthropic_message("Paris.")).for_path_suffix("/v1/messages"));
    mock.push(MockScript::json(200, anthropic_message("Rome.")).for_path_suffix("/v1/messages"));
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "claude", "prompt": ["Capital of France?", "Capital of Italy?"], "max_tokens": 20}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "claude");
    let mut texts: Vec<&str> = v["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    assert_eq!(texts, ["Paris.", "Rome."]);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 10, "usage summed over prompts");
    let sent = mock.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].path, "/v1/messages");
    assert_eq!(sent[0].body["max_tokens"], 20);
    assert_eq!(sent[0].body["messages"][0]["role"], "user");

    // Completion-only parameters are refused rather than silently lost.
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "claude", "prompt": "x", "echo": true}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains("echo"),
        "{v}"
    );
}

#[tokio::test]
async fn streamed_completions_for_anthropic_become_text_completion_chunks() {
    let (mock, gw) = setup().await;
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"lo\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let mut script = MockScript::json(200, Value::Null).for_path_suffix("/v1/messages");
    script.json = None;
    script.body = Some(stream.to_owned());
    script.content_type = Some("text/event-stream".into());
    mock.push(script);
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "claude", "prompt": "hi", "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "text_completion" && c["model"] == "claude")
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, "Hello");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    assert!(
        chunks.iter().any(|c| c["usage"]["completion_tokens"] == 2),
        "{body}"
    );
}

#[tokio::test]
async fn images_go_to_openai_and_azure_and_are_refused_elsewhere() {
    let (mock, gw) = setup().await;
    let resp = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "dalle", "prompt": "a red fox", "n": 2, "size": "1024x1024"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let sent = mock.requests();
    assert_eq!(sent[0].path, "/v1/images/generations");
    assert_eq!(sent[0].body["model"], "dall-e-3");
    assert_eq!(sent[0].body["size"], "1024x1024");

    mock.reset();
    let resp = post(
        &gw,
        "/images/generations",
        json!({"model": "azure-dalle", "prompt": "a fox"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let sent = mock.requests();
    assert_eq!(
        sent[0].path,
        "/openai/deployments/dalle-deploy/images/generations"
    );
    assert_eq!(sent[0].query.as_deref(), Some("api-version=2024-02-01"));
    assert_eq!(sent[0].header("api-key"), Some("az-key"));

    // Azure OpenAI's URL shape on the gateway, as AzureOpenAI clients call it.
    mock.reset();
    let resp = post(
        &gw,
        "/openai/deployments/dalle/images/generations?api-version=2024-02-01",
        json!({"prompt": "a fox"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.requests()[0].body["model"], "dall-e-3");

    mock.reset();
    let resp = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "claude", "prompt": "a fox"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["message"],
        "Anthropic does not support /v1/images/generations"
    );
    assert_eq!(v["error"]["code"], "400");
    assert!(mock.requests().is_empty());
}

fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "XyZbOuNdArY";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .bytes(),
        );
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hello.wav\"\r\nContent-Type: audio/wav\r\n\r\n").bytes());
    body.extend_from_slice(file);
    body.extend(format!("\r\n--{boundary}--\r\n").bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn transcriptions_forward_the_form_with_the_model_swapped() {
    let (mock, gw) = setup().await;
    let audio = b"RIFF\x00\x00\xffWAVEfmt binary\r\n--not-a-boundary";
    let (ct, body) = multipart(&[("model", "whisper"), ("language", "en")], audio);
    let resp = client()
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth("sk-master")
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["text"], DEFAULT_REPLY);
    let sent = mock.requests();
    assert_eq!(sent[0].path, "/v1/audio/transcriptions");
    assert!(
        sent[0]
            .header("content-type")
            .unwrap()
            .starts_with("multipart/form-data; boundary=")
    );
    let raw = sent[0].body.as_str().unwrap();
    assert!(raw.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"), "{raw}");
    assert!(raw.contains("name=\"language\"\r\n\r\nen\r\n"));
    assert!(raw.contains("filename=\"hello.wav\""));
    assert!(
        raw.contains("WAVEfmt binary\r\n--not-a-boundary"),
        "file bytes intact"
    );

    // A text format comes back as text, with its content type.
    let (ct, body) = multipart(
        &[("model", "whisper"), ("response_format", "text")],
        b"RIFF",
    );
    let resp = client()
        .post(gw.url("/audio/transcriptions"))
        .bearer_auth("sk-master")
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(resp.text().await.unwrap(), DEFAULT_REPLY);

    // No file: a 400 before any upstream call.
    mock.reset();
    let resp = client()
        .post(gw.url("/v1/audio/transcriptions"))
        .bearer_auth("sk-master")
        .header("content-type", "multipart/form-data; boundary=B")
        .body("--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--B--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn speech_streams_the_audio_bytes() {
    let (mock, gw) = setup().await;
    let input = "Hello there, this is a longer sentence to span chunks.";
    let resp = post(
        &gw,
        "/v1/audio/speech",
        json!({"model": "tts", "input": input, "voice": "alloy"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/mpeg");
    let bytes = resp.bytes().await.unwrap();
    let mut expected = b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec();
    expected.extend(input.bytes().map(|b| b.wrapping_mul(31)));
    assert_eq!(bytes.as_ref(), expected.as_slice());
    let sent = mock.requests();
    assert_eq!(sent[0].body["model"], "tts-1");
    assert_eq!(sent[0].body["voice"], "alloy");
    let resp = post(
        &gw,
        "/openai/deployments/tts/audio/speech",
        json!({"input": "hi", "voice": "alloy"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(mock.requests()[1].body["model"], "tts-1");
}

#[tokio::test]
async fn moderations_with_and_without_a_model() {
    let (mock, gw) = setup().await;
    let resp = post(
        &gw,
        "/v1/moderations",
        json!({"model": "guard", "input": ["a", "b"]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert_eq!(v["model"], "guard");
    assert_eq!(
        mock.requests()[0].body["model"],
        "omni-moderation-2024-09-26"
    );

    mock.reset();
    let resp = post(&gw, "/moderations", json!({"input": "hello"})).await;
    assert_eq!(resp.status(), 200);
    let sent = mock.requests();
    assert_eq!(sent[0].body["model"], "omni-moderation-latest");
    assert_eq!(
        sent[0].header("authorization"),
        Some("Bearer sk-env-openai")
    );

    let resp = post(
        &gw,
        "/v1/moderations",
        json!({"model": "claude", "input": "x"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn rerank_goes_to_cohere_and_is_refused_elsewhere() {
    let (mock, gw) = setup().await;
    for path in ["/v1/rerank", "/v2/rerank", "/rerank"] {
        mock.reset();
        let resp = post(
            &gw,
            path,
            json!({"model": "rerank", "query": "red fox", "documents": ["blue sky", "a red fox", "red car"], "top_n": 2}),
        )
        .await;
        assert_eq!(resp.status(), 200, "{path}");
        let v: Value = resp.json().await.unwrap();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["index"], 1);
        assert_eq!(v["meta"]["billed_units"]["search_units"], 1);
        let sent = mock.requests();
        assert_eq!(sent[0].path, "/v2/rerank");
        assert_eq!(sent[0].header("authorization"), Some("Bearer co-key"));
        assert_eq!(sent[0].body["model"], "rerank-v3.5");
        assert_eq!(sent[0].body["top_n"], 2);
    }
    let resp = post(
        &gw,
        "/v1/rerank",
        json!({"model": "instruct", "query": "q", "documents": ["d"]}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "OpenAI does not support /v1/rerank");
}

#[tokio::test]
async fn operations_require_a_key_and_a_known_model() {
    let (mock, gw) = setup().await;
    let resp = client()
        .post(gw.url("/v1/images/generations"))
        .json(&json!({"model": "dalle", "prompt": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "nope", "prompt": "x"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid model name passed in model=nope")
    );
    let resp = post(&gw, "/v1/images/generations", json!({"prompt": "x"})).await;
    assert_eq!(resp.status(), 400);
    assert!(mock.requests().is_empty());

    // A passing rate limit is retried by the routing loop.
    mock.push(MockScript::status(429).for_path_suffix("/images/generations"));
    let resp = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "dalle", "prompt": "x"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-litellm-attempted-retries"], "1");

    // Upstream errors keep their status and LiteLLM's message shape.
    mock.push(MockScript::status(400).for_path_suffix("/images/generations"));
    let resp = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "dalle", "prompt": "x"}),
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("litellm.BadRequestError"),
        "{v}"
    );
}

/// Groups for the routing tests: a pair where the first in `order` is down, and groups that
/// fall back to healthy ones (OpenAI-format, and Anthropic served through the chat bridge).
async fn routed_setup() -> (MockServer, Gateway) {
    let mock = MockServer::start().await.unwrap();
    let base = mock.base_url();
    let root = mock.url("");
    let gw = Gateway::start(&format!(
        r#"
model_list:
  - model_name: painter
    litellm_params: {{model: openai/paint-down, api_base: "{base}", api_key: k, order: 1}}
  - model_name: painter
    litellm_params: {{model: openai/paint-up, api_base: "{base}", api_key: k, order: 2}}
  - model_name: art-main
    litellm_params: {{model: openai/art-down, api_base: "{base}", api_key: k}}
  - model_name: art-backup
    litellm_params: {{model: openai/art-up, api_base: "{base}", api_key: k}}
  - model_name: text-main
    litellm_params: {{model: openai/text-down, api_base: "{base}", api_key: k}}
  - model_name: text-backup
    litellm_params: {{model: openai/text-up, api_base: "{base}", api_key: k}}
  - model_name: text-alone
    litellm_params: {{model: openai/text-down, api_base: "{base}", api_key: k}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-up, api_base: "{root}", api_key: k}}
  - model_name: speaker
    litellm_params: {{model: openai/tts-cut, api_base: "{base}", api_key: k, order: 1}}
  - model_name: speaker
    litellm_params: {{model: openai/tts-up, api_base: "{base}", api_key: k, order: 2}}
  - model_name: resp-main
    litellm_params: {{model: openai/resp-down, api_base: "{base}", api_key: k}}
  - model_name: resp-backup
    litellm_params: {{model: openai/resp-up, api_base: "{base}", api_key: k}}
router_settings:
  fallbacks: [{{art-main: [art-backup]}}, {{text-main: [text-backup]}}, {{text-alone: [claude]}}, {{resp-main: [resp-backup]}}]
  num_retries: 1
  allowed_fails: 0
  cooldown_time: 60
general_settings:
  master_key: sk-master
"#
    ));
    for down in ["paint-down", "art-down", "text-down", "resp-down"] {
        mock.push(MockScript::status(500).for_model(down).times(0));
    }
    (mock, gw)
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn sent_models(mock: &MockServer) -> Vec<String> {
    mock.requests()
        .iter()
        .map(|r| r.body["model"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_failing_deployment_is_retried_on_another_of_its_group() {
    let (mock, gw) = routed_setup().await;
    let resp = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "painter", "prompt": "a cat"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-retries"), "1");
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "0");
    assert_eq!(header(&resp, "x-litellm-model-group"), "painter");
    let v: Value = resp.json().await.unwrap();
    assert!(!v["data"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(sent_models(&mock), ["paint-down", "paint-up"]);
}

#[tokio::test]
async fn images_fall_back_to_another_group() {
    let (mock, gw) = routed_setup().await;
    let resp = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "art-main", "prompt": "a cat"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&resp, "x-litellm-model-group"), "art-backup");
    let v: Value = resp.json().await.unwrap();
    assert!(!v["data"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(sent_models(&mock), ["art-down", "art-up"]);
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/images/generations", "/v1/images/generations"]);
}

#[tokio::test]
async fn completions_fall_back_to_another_group_whole_and_streamed() {
    let (mock, gw) = routed_setup().await;
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "text-main", "prompt": "Say hi"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&resp, "x-litellm-model-group"), "text-backup");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(
        v["model"], "text-main",
        "the client's name, not the fallback's"
    );
    assert_eq!(v["choices"][0]["text"], DEFAULT_REPLY);
    assert_eq!(sent_models(&mock), ["text-down", "text-up"]);

    // The primary is cooling now: a stream goes straight to the fallback.
    mock.reset();
    mock.push(MockScript::status(500).for_model("text-down").times(0));
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "text-main", "prompt": "Say hi", "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    let body = resp.text().await.unwrap();
    let data = sse_data(&body);
    assert_eq!(data.last().unwrap(), "[DONE]");
    let text: String = data[..data.len() - 1]
        .iter()
        .map(|d| {
            let v = serde_json::from_str::<Value>(d).unwrap();
            assert_eq!(v["model"], "text-main");
            v["choices"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(text, DEFAULT_REPLY);
    assert_eq!(sent_models(&mock).last().unwrap(), "text-up");
}

#[tokio::test]
async fn completions_fall_back_to_a_chat_only_group_through_the_bridge() {
    let (mock, gw) = routed_setup().await;
    mock.push(MockScript::json(200, anthropic_message("Hi.")).for_path_suffix("/v1/messages"));
    let resp = post(
        &gw,
        "/v1/completions",
        json!({"model": "text-alone", "prompt": "Say hi"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&resp, "x-litellm-model-group"), "claude");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["model"], "text-alone");
    assert_eq!(v["choices"][0]["text"], "Hi.");
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        ["/v1/completions", "/v1/messages"],
        "the primary is not asked twice"
    );
}

#[tokio::test]
async fn an_operation_failing_everywhere_reports_its_attempts() {
    let (mock, gw) = routed_setup().await;
    mock.push(MockScript::status(500).for_model("art-up").times(0));
    let resp = post(
        &gw,
        "/v1/images/generations",
        json!({"model": "art-main", "prompt": "a cat"}),
    )
    .await;
    assert_eq!(resp.status(), 500);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
}

#[tokio::test]
async fn a_stream_cut_before_its_first_byte_fails_over() {
    let (mock, gw) = routed_setup().await;
    // The first deployment answers 200 and then drops the connection before any audio.
    mock.push(
        MockScript::stream(StreamScript {
            events: vec![json!("never sent")],
            truncate_after: Some(0),
            ..StreamScript::default()
        })
        .for_model("tts-cut"),
    );
    let resp = post(
        &gw,
        "/v1/audio/speech",
        json!({"model": "speaker", "input": "hello", "voice": "alloy"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-retries"), "1");
    let audio = resp.bytes().await.unwrap();
    assert!(audio.starts_with(b"ID3"), "the second deployment's audio");
    assert_eq!(sent_models(&mock), ["tts-cut", "tts-up"]);
}

#[tokio::test]
async fn native_responses_fall_back_to_another_group() {
    let (mock, gw) = routed_setup().await;
    let resp = post(
        &gw,
        "/v1/responses",
        json!({"model": "resp-main", "input": "Say hi"}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    assert_eq!(header(&resp, "x-litellm-model-group"), "resp-backup");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(sent_models(&mock), ["resp-down", "resp-up"]);
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/v1/responses", "/v1/responses"], "both native");

    // Streamed, with the primary cooling: straight to the fallback, events untouched.
    let resp = post(
        &gw,
        "/v1/responses",
        json!({"model": "resp-main", "input": "Say hi", "stream": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
    let text = resp.text().await.unwrap();
    assert!(text.contains("event: response.completed\n"), "{text}");

    // Every group failing: the error carries the attempt headers.
    mock.push(MockScript::status(503).for_model("resp-up").times(0));
    let resp = post(
        &gw,
        "/v1/responses",
        json!({"model": "resp-main", "input": "Say hi"}),
    )
    .await;
    assert_eq!(resp.status(), 503);
    assert_eq!(header(&resp, "x-litellm-attempted-fallbacks"), "1");
}
