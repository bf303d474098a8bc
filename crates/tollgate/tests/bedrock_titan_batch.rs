//! A batch of texts to Bedrock Titan (one text per InvokeModel call) goes out as one call per
//! text, concurrently, and comes back as one response in input order with summed usage,
//! against a tiny InvokeModel endpoint on 127.0.0.1 that answers each text by its length.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tollgate::{Config, Tollgate};
use tollgate_core::embeddings::EmbeddingVector;

/// Answers `{"inputText": t}` with `embedding: [len(t)]` and `len(t)` tokens; the first text
/// (the longest here) answers last, so arrival order differs from input order. `"fail"` is
/// a Bedrock ValidationException.
async fn titan_server() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let s = s.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = conn.read(&mut chunk).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |v| v.trim().parse().unwrap());
                        break (i + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = conn.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
                let body: Value = serde_json::from_slice(&buf[head_end..]).unwrap();
                let text = body["inputText"].as_str().unwrap_or_default().to_owned();
                s.lock().unwrap().push((path, body));
                let (status, answer) = if text == "fail" {
                    (400, json!({"message": "Malformed input request"}))
                } else {
                    let n = text.chars().count();
                    (
                        200,
                        json!({"embedding": [n as f64], "inputTextTokenCount": n}),
                    )
                };
                if text.len() > 5 {
                    tokio::time::sleep(Duration::from_millis(30)).await;
                }
                let answer = answer.to_string();
                let extra = if status == 400 {
                    "x-amzn-errortype: ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/\r\n"
                } else {
                    ""
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    (url, seen)
}

fn client(url: &str) -> Tollgate {
    let yaml = format!(
        "model_list:\n  - model_name: titan\n    litellm_params:\n      model: bedrock/amazon.titan-embed-text-v2:0\n      api_base: {url}\n      api_key: bedrock-key\n      aws_region_name: us-east-1\n"
    );
    let config = Config::from_yaml_str(&yaml, std::path::Path::new("inline.yaml")).unwrap();
    Tollgate::from_config(&config).unwrap()
}

#[tokio::test]
async fn a_titan_batch_is_one_call_per_text_merged_in_order() {
    let (url, seen) = titan_server().await;
    let tg = client(&url);
    let texts = ["longest text", "ab", "é", "four"];
    let r = tg
        .embed("titan", texts.iter().map(|t| (*t).to_owned()).collect())
        .await
        .unwrap();
    assert_eq!(r.model, "titan");
    let got: Vec<(u32, EmbeddingVector)> = r
        .data
        .iter()
        .map(|d| (d.index, d.embedding.clone()))
        .collect();
    let want: Vec<(u32, EmbeddingVector)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                u32::try_from(i).unwrap(),
                EmbeddingVector::Float(vec![t.chars().count() as f32]),
            )
        })
        .collect();
    assert_eq!(got, want);
    let usage = r.usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.total_tokens), (19, 19));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert!(
        seen.iter()
            .all(|(p, _)| p == "/model/amazon.titan-embed-text-v2%3A0/invoke"),
        "{seen:?}"
    );
    let mut sent: Vec<String> = seen
        .iter()
        .map(|(_, b)| b["inputText"].as_str().unwrap().to_owned())
        .collect();
    sent.sort();
    let mut expected: Vec<String> = texts.iter().map(|t| (*t).to_owned()).collect();
    expected.sort();
    assert_eq!(sent, expected);

    // One text stays one call.
    let r = tg.embed("titan", vec!["solo".into()]).await.unwrap();
    assert_eq!(r.data.len(), 1);
}

#[tokio::test]
async fn one_failed_call_fails_the_batch() {
    let (url, _) = titan_server().await;
    let tg = client(&url);
    let err = tg
        .embed("titan", vec!["ok".into(), "fail".into(), "fine".into()])
        .await
        .unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
    assert!(err.to_string().contains("Malformed input request"), "{err}");
}
