//! Claude on Bedrock spoken natively through InvokeModel: the client's Messages body with
//! `model` and `stream` removed and Bedrock's `anthropic_version`, sent to `invoke` or
//! `invoke-with-response-stream`. The stream's event-stream `chunk` messages carry Anthropic's
//! own events (base64 JSON), which [`InvokeStreamToSse`] turns back into SSE.

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};
use http::Method;
use serde_json::{Map, Value};
use tollgate_core::GatewayError;

use super::error::{exception_error, unmodeled_error};
use super::stream::EventStreamFramer;
use super::{BedrockAdapter, PROVIDER_NAME, Route, encode_model_id};
use crate::transport::UpstreamRequest;

/// `anthropic_version` of Claude bodies on Bedrock.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";

impl BedrockAdapter {
    /// Whether `/v1/messages` goes to this deployment natively: a Claude model configured on
    /// the invoke route (`bedrock/invoke/anthropic.claude-...`). Other Claude deployments use
    /// Converse through the chat bridge.
    pub fn speaks_messages(&self) -> bool {
        self.route() == Route::Invoke && self.base_model().starts_with("anthropic.")
    }

    /// The native InvokeModel request for a Messages body. `betas` go in `anthropic_beta`.
    pub fn native_messages_request(
        &self,
        mut body: Map<String, Value>,
        betas: &[String],
        stream: bool,
    ) -> Result<UpstreamRequest, GatewayError> {
        body.shift_remove("model");
        body.shift_remove("stream");
        body.insert(
            "anthropic_version".into(),
            Value::String(BEDROCK_ANTHROPIC_VERSION.into()),
        );
        if !betas.is_empty() && !body.contains_key("anthropic_beta") {
            body.insert(
                "anthropic_beta".into(),
                Value::Array(betas.iter().cloned().map(Value::String).collect()),
            );
        }
        let (url, accept) = if stream {
            (
                format!(
                    "{}/model/{}/invoke-with-response-stream",
                    self.invoke_endpoint,
                    encode_model_id(&self.url_model)
                ),
                "application/vnd.amazon.eventstream",
            )
        } else {
            (self.invoke_url(), "application/json")
        };
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| GatewayError::Internal(format!("cannot encode the request: {e}")))?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url,
            headers: self.headers(accept, &[])?,
            body: Bytes::from(body),
        })
    }
}

/// InvokeModelWithResponseStream bytes in, Anthropic SSE bytes (`event: T\ndata: {...}\n\n`)
/// out, split anywhere. An exception message ends the stream as an error.
#[derive(Debug, Default)]
pub struct InvokeStreamToSse {
    framer: EventStreamFramer,
    failed: bool,
}

impl InvokeStreamToSse {
    /// A converter with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// The SSE text of every message `bytes` complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Bytes, GatewayError> {
        if self.failed {
            return Ok(Bytes::new());
        }
        self.framer.push(bytes);
        let mut out = BytesMut::new();
        loop {
            let frame = match self.framer.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return Ok(out.freeze()),
                Err(e) => return Err(self.fail(invalid(e))),
            };
            match frame.header(":message-type").unwrap_or("event") {
                "event" => {}
                "exception" => {
                    let kind = frame.header(":exception-type").unwrap_or("exception");
                    return Err(self.fail(exception_error(kind, &frame.payload)));
                }
                _ => {
                    return Err(self.fail(unmodeled_error(
                        frame.header(":error-code").unwrap_or("UnknownError"),
                        frame.header(":error-message").unwrap_or_default(),
                    )));
                }
            }
            if frame.header(":event-type") != Some("chunk") {
                continue;
            }
            let json = serde_json::from_slice::<Value>(&frame.payload)
                .ok()
                .and_then(|v| v.get("bytes").and_then(Value::as_str).map(str::to_owned))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
            let Some(json) = json else {
                return Err(self.fail(invalid("a chunk without base64 bytes".into())));
            };
            let kind = serde_json::from_slice::<Value>(&json)
                .ok()
                .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| "message".to_owned());
            out.put_slice(b"event: ");
            out.put_slice(kind.as_bytes());
            out.put_slice(b"\ndata: ");
            out.put_slice(&json);
            out.put_slice(b"\n\n");
        }
    }

    /// The end of the body: bytes left over mean the stream was cut mid-message.
    pub fn finish(&mut self) -> Result<(), GatewayError> {
        if !self.failed && self.framer.pending() > 0 {
            return Err(self.fail(invalid("the stream ended inside a message".into())));
        }
        Ok(())
    }

    fn fail(&mut self, e: GatewayError) -> GatewayError {
        self.failed = true;
        e
    }
}

fn invalid(message: String) -> GatewayError {
    GatewayError::InvalidUpstreamResponse {
        provider: PROVIDER_NAME.to_owned(),
        message,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::bedrock::stream::tests::encode;
    use crate::params::{AwsParams, ProviderParams};
    use serde_json::json;
    use tollgate_core::{Env, ModelRef};

    fn adapter(model: &str) -> BedrockAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let params = ProviderParams {
            aws: AwsParams {
                access_key_id: Some("AKIDEXAMPLE".into()),
                secret_access_key: Some("secret".into()),
                region_name: Some("us-east-1".into()),
                ..AwsParams::default()
            },
            ..ProviderParams::default()
        };
        BedrockAdapter::new(&m, &params, &Env::with_overlay(Default::default()))
            .unwrap()
            .unwrap()
    }

    #[test]
    fn only_invoke_route_claude_is_native() {
        assert!(
            adapter("bedrock/invoke/anthropic.claude-sonnet-4-5-20250929-v1:0").speaks_messages()
        );
        assert!(
            adapter("bedrock/invoke/us.anthropic.claude-sonnet-4-5-20250929-v1:0")
                .speaks_messages()
        );
        assert!(!adapter("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0").speaks_messages());
        assert!(!adapter("bedrock/invoke/amazon.nova-pro-v1:0").speaks_messages());
    }

    #[test]
    fn body_and_urls() {
        let a = adapter("bedrock/invoke/anthropic.claude-sonnet-4-5-20250929-v1:0");
        let Value::Object(body) = json!({"model": "alias", "stream": true, "max_tokens": 9,
            "messages": [{"role": "user", "content": "hi"}]})
        else {
            panic!()
        };
        let r = a
            .native_messages_request(body.clone(), &["b1".into()], true)
            .unwrap();
        assert!(
            r.url.ends_with(
                "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream"
            ),
            "{}",
            r.url
        );
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            sent,
            json!({"max_tokens": 9, "messages": [{"role": "user", "content": "hi"}],
                   "anthropic_version": "bedrock-2023-05-31", "anthropic_beta": ["b1"]})
        );
        let r = a.native_messages_request(body, &[], false).unwrap();
        assert!(r.url.ends_with("%3A0/invoke"));
    }

    fn chunk(event: &Value) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(event.to_string());
        encode(
            &[
                (":event-type", "chunk"),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            json!({"bytes": b64, "p": "abc"}).to_string().as_bytes(),
        )
    }

    #[test]
    fn chunks_become_sse_at_every_split_and_exceptions_end_it() {
        let events = [
            json!({"type": "message_start", "message": {"model": "claude", "usage": {"input_tokens": 3}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hé"}}),
            json!({"type": "message_stop"}),
        ];
        let body: Vec<u8> = events.iter().flat_map(chunk).collect();
        let mut whole = String::new();
        for e in &events {
            whole.push_str(&format!(
                "event: {}\ndata: {e}\n\n",
                e["type"].as_str().unwrap()
            ));
        }
        for split in 0..body.len() {
            let mut c = InvokeStreamToSse::new();
            let mut out = Vec::new();
            out.extend_from_slice(&c.feed(&body[..split]).unwrap());
            out.extend_from_slice(&c.feed(&body[split..]).unwrap());
            c.finish().unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), whole, "split {split}");
        }
        let mut c = InvokeStreamToSse::new();
        let exception = encode(
            &[
                (":message-type", "exception"),
                (":exception-type", "throttlingException"),
            ],
            br#"{"message":"slow down"}"#,
        );
        let e = c.feed(&exception).unwrap_err();
        assert_eq!(e.status(), 429);
        let mut c = InvokeStreamToSse::new();
        c.feed(&body[..body.len() - 3]).unwrap();
        assert!(c.finish().is_err());
    }
}
