//! The library API in-process, against the mock provider.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use futures::StreamExt;
use tollgate::{ChatCompletionRequest, ChatMessage, Config, FinishReason, StreamOptions, Tollgate};
use tollgate_mock::{MockScript, MockServer};

async fn client(mock: &MockServer) -> Tollgate {
    let yaml = format!(
        "model_list:\n  - model_name: chat\n    litellm_params:\n      model: openai/gpt-4o-mini\n      api_base: {0}\n      api_key: sk-up\n  - model_name: vec\n    litellm_params:\n      model: openai/text-embedding-3-small\n      api_base: {0}\n  - model_name: \"groq/*\"\n    litellm_params:\n      model: \"groq/*\"\n      api_base: {0}\n",
        mock.base_url()
    );
    let config = Config::from_yaml_str(&yaml, std::path::Path::new("inline.yaml")).unwrap();
    Tollgate::from_config(&config).unwrap()
}

#[tokio::test]
async fn completion_returns_typed_answer_with_the_requested_model_name() {
    let mock = MockServer::start().await.unwrap();
    let tg = client(&mock).await;
    let r = tg
        .chat("chat", vec![ChatMessage::user("hi")])
        .await
        .unwrap();
    assert_eq!(r.model, "chat");
    assert_eq!(
        r.choices[0].message.text_content().as_deref(),
        Some(tollgate_mock::DEFAULT_REPLY)
    );
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
    assert!(r.usage.unwrap().total_tokens > 0);
}

#[tokio::test]
async fn wildcard_groups_pass_the_captured_model_upstream() {
    let mock = MockServer::start().await.unwrap();
    let tg = client(&mock).await;
    let r = tg
        .chat("groq/llama-3.3-70b", vec![ChatMessage::user("hi")])
        .await
        .unwrap();
    assert_eq!(r.model, "groq/llama-3.3-70b");
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["model"], "llama-3.3-70b");
}

#[tokio::test]
async fn stream_yields_typed_chunks_and_a_final_usage_chunk() {
    let mock = MockServer::start().await.unwrap();
    let tg = client(&mock).await;
    let mut req = ChatCompletionRequest::new("chat", vec![ChatMessage::user("hi")]);
    req.stream = Some(true);
    req.stream_options = Some(StreamOptions {
        include_usage: Some(true),
        ..Default::default()
    });
    let chunks: Vec<_> = tg.completion_stream(req).await.unwrap().collect().await;
    let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
    let text: String = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter_map(|ch| ch.delta.content.clone())
        .collect();
    assert_eq!(text, tollgate_mock::DEFAULT_REPLY);
    let last = chunks.last().unwrap();
    assert!(last.choices.is_empty());
    assert!(last.usage().unwrap().completion_tokens > 0);
    assert!(chunks.iter().all(|c| c.model == "chat"));
}

#[tokio::test]
async fn stream_errors_surface_as_the_last_item() {
    let mock = MockServer::start().await.unwrap();
    let tg = client(&mock).await;
    let mut script = tollgate_mock::StreamScript::events(vec![
        serde_json::json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}),
        serde_json::json!({"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":null}]}),
    ]);
    script.truncate_after = Some(1);
    mock.push(MockScript::stream(script));
    let mut req = ChatCompletionRequest::new("chat", vec![ChatMessage::user("hi")]);
    req.stream = Some(true);
    let items: Vec<_> = tg.completion_stream(req).await.unwrap().collect().await;
    assert!(items[0].is_ok());
    assert!(items.last().unwrap().is_err());
}

#[tokio::test]
async fn embeddings_and_errors() {
    let mock = MockServer::start().await.unwrap();
    let tg = client(&mock).await;
    let e = tg
        .embed("vec", vec!["a".into(), "b".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(e.data.len(), 3);
    assert_eq!(e.model, "vec");
    // One 429 is retried away (the router's default num_retries is LiteLLM's 2) ...
    mock.push(MockScript::status(429));
    tg.chat("chat", vec![ChatMessage::user("hi")])
        .await
        .unwrap();
    // ... a lasting one surfaces with its status.
    mock.push(MockScript::status(429).header("retry-after", "0").times(0));
    let err = tg
        .chat("chat", vec![ChatMessage::user("hi")])
        .await
        .unwrap_err();
    assert_eq!(err.status(), 429);
    assert_eq!(err.class(), tollgate::ErrorClass::RateLimit);
    let err = tg
        .chat("missing", vec![ChatMessage::user("hi")])
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400);
}
