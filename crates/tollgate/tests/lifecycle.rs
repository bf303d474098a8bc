//! Process lifecycle: SIGTERM drains in-flight requests; a client that goes away cancels the
//! upstream call.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Gateway, client, config_for};
use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_mock::{MockScript, MockServer};

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits() {
    let mock = MockServer::start().await.unwrap();
    let mut gw = Gateway::start(&config_for(&mock.base_url()));
    mock.push(MockScript::reply("made it").delay_ms(800));
    let url = gw.url("/v1/chat/completions");
    let inflight = tokio::spawn(async move {
        client()
            .post(url)
            .bearer_auth("sk-master")
            .json(&json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = gw.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let resp = inflight.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "made it");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "gateway did not exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An upstream that streams forever and reports when its client hangs up.
async fn endless_upstream() -> (String, tokio::sync::oneshot::Receiver<Instant>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 65536];
        let _ = sock.read(&mut buf).await.unwrap();
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n").await.unwrap();
        let chunk = r#"data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"tick "},"finish_reason":null}]}"#;
        loop {
            let payload = format!("{chunk}\n\n");
            let framed = format!("{:x}\r\n{payload}\r\n", payload.len());
            if sock.write_all(framed.as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = tx.send(Instant::now());
    });
    (format!("http://{addr}/v1"), rx)
}

#[tokio::test]
async fn a_client_disconnect_mid_stream_cancels_the_upstream_request() {
    let (upstream, hung_up) = endless_upstream().await;
    let gw = Gateway::start(&format!(
        "model_list:\n  - model_name: endless\n    litellm_params:\n      model: openai/m\n      api_base: {upstream}\n"
    ));
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "endless", "stream": true, "messages": [{"role": "user", "content": "go"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("tick"));
    let dropped = Instant::now();
    drop(body);
    let when = tokio::time::timeout(Duration::from_secs(5), hung_up)
        .await
        .expect("upstream still streaming 5 s after the client left")
        .unwrap();
    assert!(when.duration_since(dropped) < Duration::from_secs(5));
}
