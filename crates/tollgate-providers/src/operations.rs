//! The OpenAI routes beyond chat and embeddings (legacy completions, images, audio,
//! moderations, rerank) and provider pass-through, as pure request building.
//!
//! Bodies are kept as the client sent them (a JSON object or a multipart form) with only the
//! model swapped, so fields Tollgate does not know reach the provider unchanged.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value};
use tollgate_core::GatewayError;

use crate::Adapter;
use crate::transport::UpstreamRequest;

/// An OpenAI route other than chat and embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `POST /v1/completions` (legacy text completions).
    Completions,
    /// `POST /v1/images/generations`.
    ImageGenerations,
    /// `POST /v1/audio/transcriptions` (multipart).
    AudioTranscriptions,
    /// `POST /v1/audio/speech` (binary answer).
    AudioSpeech,
    /// `POST /v1/moderations`.
    Moderations,
    /// `POST /v1/rerank` (Cohere's format).
    Rerank,
}

impl Operation {
    /// The client-facing route, for messages (`/v1/images/generations`).
    pub fn route(self) -> &'static str {
        match self {
            Self::Completions => "/v1/completions",
            Self::ImageGenerations => "/v1/images/generations",
            Self::AudioTranscriptions => "/v1/audio/transcriptions",
            Self::AudioSpeech => "/v1/audio/speech",
            Self::Moderations => "/v1/moderations",
            Self::Rerank => "/v1/rerank",
        }
    }

    /// LiteLLM's `call_type` for the spend log.
    pub fn call_type(self) -> &'static str {
        match self {
            Self::Completions => "atext_completion",
            Self::ImageGenerations => "aimage_generation",
            Self::AudioTranscriptions => "atranscription",
            Self::AudioSpeech => "aspeech",
            Self::Moderations => "amoderation",
            Self::Rerank => "arerank",
        }
    }

    /// The path below an OpenAI-format base (`images/generations`).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::Completions => "completions",
            Self::ImageGenerations => "images/generations",
            Self::AudioTranscriptions => "audio/transcriptions",
            Self::AudioSpeech => "audio/speech",
            Self::Moderations => "moderations",
            Self::Rerank => "rerank",
        }
    }

    /// The "provider does not support" error for this route.
    pub fn unsupported(self, provider: &str) -> GatewayError {
        GatewayError::UnsupportedOperation {
            provider: provider.to_owned(),
            operation: self.route().to_owned(),
        }
    }
}

/// A request body as the client sent it.
#[derive(Debug, Clone)]
pub enum OperationBody {
    /// A JSON object.
    Json(Map<String, Value>),
    /// A `multipart/form-data` form.
    Multipart(MultipartForm),
}

impl OperationBody {
    /// The `model` the client named, if any.
    pub fn model(&self) -> Option<&str> {
        match self {
            Self::Json(o) => o.get("model").and_then(Value::as_str),
            Self::Multipart(f) => f.text("model"),
        }
    }

    /// Sets `model` (what the upstream will see).
    pub fn set_model(&mut self, model: &str) {
        match self {
            Self::Json(o) => {
                o.insert("model".into(), Value::String(model.to_owned()));
            }
            Self::Multipart(f) => f.set_text("model", model),
        }
    }

    /// The body bytes and their content type.
    pub fn encode(&self) -> Result<(Bytes, HeaderValue), GatewayError> {
        match self {
            Self::Json(o) => {
                let bytes = serde_json::to_vec(o)
                    .map_err(|e| GatewayError::Internal(format!("cannot encode the body: {e}")))?;
                Ok((
                    Bytes::from(bytes),
                    HeaderValue::from_static("application/json"),
                ))
            }
            Self::Multipart(f) => {
                let boundary = format!("tollgate-{}", uuid::Uuid::new_v4().simple());
                let ct =
                    HeaderValue::from_str(&format!("multipart/form-data; boundary={boundary}"))
                        .map_err(|e| GatewayError::Internal(e.to_string()))?;
                Ok((f.encode(&boundary), ct))
            }
        }
    }
}

/// One part of a multipart form.
#[derive(Debug, Clone, PartialEq)]
pub struct FormPart {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A parsed `multipart/form-data` body, parts in the client's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MultipartForm {
    pub parts: Vec<FormPart>,
}

impl MultipartForm {
    /// The value of a text field (no file name), if present and UTF-8.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .and_then(|p| std::str::from_utf8(&p.data).ok())
    }

    /// Replaces a text field, or appends it.
    pub fn set_text(&mut self, name: &str, value: &str) {
        let data = Bytes::copy_from_slice(value.as_bytes());
        match self
            .parts
            .iter_mut()
            .find(|p| p.name == name && p.filename.is_none())
        {
            Some(p) => p.data = data,
            None => self.parts.push(FormPart {
                name: name.to_owned(),
                filename: None,
                content_type: None,
                data,
            }),
        }
    }

    /// Whether the form has a file part named `name`.
    pub fn has_file(&self, name: &str) -> bool {
        self.parts
            .iter()
            .any(|p| p.name == name && p.filename.is_some())
    }

    /// The form as `multipart/form-data` bytes with `boundary`.
    pub fn encode(&self, boundary: &str) -> Bytes {
        let mut out = BytesMut::new();
        for p in &self.parts {
            out.put_slice(b"--");
            out.put_slice(boundary.as_bytes());
            out.put_slice(b"\r\nContent-Disposition: form-data; name=\"");
            out.put_slice(quote(&p.name).as_bytes());
            out.put_slice(b"\"");
            if let Some(f) = &p.filename {
                out.put_slice(b"; filename=\"");
                out.put_slice(quote(f).as_bytes());
                out.put_slice(b"\"");
            }
            out.put_slice(b"\r\n");
            if let Some(ct) = &p.content_type {
                out.put_slice(b"Content-Type: ");
                out.put_slice(ct.replace(['\r', '\n'], "").as_bytes());
                out.put_slice(b"\r\n");
            }
            out.put_slice(b"\r\n");
            out.put_slice(&p.data);
            out.put_slice(b"\r\n");
        }
        out.put_slice(b"--");
        out.put_slice(boundary.as_bytes());
        out.put_slice(b"--\r\n");
        out.freeze()
    }
}

/// A header parameter value: quotes and line breaks escaped as browsers do.
fn quote(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A client's request to a provider pass-through route, the route prefix removed.
#[derive(Debug, Clone)]
pub struct PassthroughCall {
    pub method: Method,
    /// The path after the provider prefix, starting with `/` (`/v1/messages`).
    pub path: String,
    /// The client's query string, gateway-only parameters already removed.
    pub query: Option<String>,
    /// The client's headers, gateway credentials already removed.
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Headers never forwarded upstream: hop-by-hop ones, those the transport sets, and every
/// header the gateway reads its own key from (the provider credential is added instead).
/// `accept-encoding` goes too: usage is read from the body, so it must arrive uncompressed.
const DROPPED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "accept-encoding",
    "authorization",
    "x-api-key",
    "api-key",
    "x-litellm-api-key",
    "x-goog-api-key",
    "ocp-apim-subscription-key",
    "litellm_user_api_key",
];

/// The client's headers minus what must not reach the provider; `also` names extra headers to
/// drop (a custom key header).
pub fn forwardable_headers(headers: &HeaderMap, also: &[&str]) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        if DROPPED_HEADERS.contains(&n)
            || also.iter().any(|a| a.eq_ignore_ascii_case(n))
            || n.starts_with("x-litellm-")
        {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// `base` + `path` (+ `?query`), without a doubled slash or a doubled `/v1` when the base
/// already ends with the version the path starts with.
pub(crate) fn join(base: &str, path: &str, query: Option<&str>) -> String {
    let (base, base_query) = match base.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (base, None),
    };
    let base = base.trim_end_matches('/');
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let mut url = match base.rsplit_once('/') {
        Some((head, last))
            if !last.is_empty()
                && is_version(last)
                && (path == format!("/{last}") || path.starts_with(&format!("/{last}/"))) =>
        {
            format!("{head}{path}")
        }
        _ => format!("{base}{path}"),
    };
    let queries: Vec<&str> = base_query
        .into_iter()
        .chain(query)
        .filter(|q| !q.is_empty())
        .collect();
    if !queries.is_empty() {
        url.push('?');
        url.push_str(&queries.join("&"));
    }
    url
}

/// `v1`, `v2`, `v1beta`, `v1alpha`...
fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_ascii_digit())
}

/// Adds `name: value` to `headers`, refusing values HTTP cannot carry without echoing them
/// (they may be credentials).
pub(crate) fn put_header(
    headers: &mut HeaderMap,
    name: &'static str,
    value: &str,
) -> Result<(), GatewayError> {
    let v = HeaderValue::from_str(value).map_err(|_| {
        GatewayError::invalid_request(
            format!("header {name} has characters HTTP does not allow"),
            None,
        )
    })?;
    headers.insert(HeaderName::from_static(name), v);
    Ok(())
}

/// `body` with its top-level `model` replaced and LiteLLM's own `litellm_metadata` removed.
pub(crate) fn swap_model(body: &Bytes, model: &str) -> Result<Bytes, GatewayError> {
    let needs_edit = memchr::memmem::find(body, b"\"litellm_metadata\"").is_some();
    if !needs_edit {
        if let Some(b) = crate::json_splice::replace_top_level_string(body, "model", model) {
            return Ok(b);
        }
    }
    let mut v: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::invalid_request(format!("the body is not a JSON object: {e}"), None)
    })?;
    v.remove("litellm_metadata");
    v.insert("model".into(), Value::String(model.to_owned()));
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|e| GatewayError::Internal(e.to_string()))
}

/// An upstream request for an operation with the body as given: `POST url`, `headers`, the
/// encoded body and its content type.
pub(crate) fn post(
    url: String,
    mut headers: HeaderMap,
    body: &OperationBody,
) -> Result<UpstreamRequest, GatewayError> {
    let (bytes, content_type) = body.encode()?;
    headers.insert(http::header::CONTENT_TYPE, content_type);
    Ok(UpstreamRequest {
        method: Method::POST,
        url,
        headers,
        body: bytes,
    })
}

/// The pass-through request: the client's method, headers and body to `url`, plus `auth`.
pub(crate) fn forward(call: &PassthroughCall, url: String, auth: HeaderMap) -> UpstreamRequest {
    let mut headers = call.headers.clone();
    for (name, value) in &auth {
        headers.insert(name.clone(), value.clone());
    }
    UpstreamRequest {
        method: call.method.clone(),
        url,
        headers,
        body: call.body.clone(),
    }
}

impl Adapter {
    /// The upstream request for `op`; `body.model` must already be the upstream model. A
    /// provider without the operation is a 400 naming it.
    pub fn operation_request(
        &self,
        op: Operation,
        body: &OperationBody,
    ) -> Result<UpstreamRequest, GatewayError> {
        match self {
            Self::OpenAi(a) => a.operation_request(op, body),
            Self::Azure(a) => a.operation_request(op, body),
            Self::Cohere(a) => a.operation_request(op, body),
            other => Err(op.unsupported(other.provider_name())),
        }
    }

    /// Whether this adapter serves `op` natively (completions are otherwise bridged to chat).
    pub fn supports_operation(&self, op: Operation) -> bool {
        match self {
            Self::OpenAi(a) => a.supports_operation(op),
            Self::Azure(_) => !matches!(op, Operation::Rerank | Operation::Moderations),
            Self::Cohere(_) => op == Operation::Rerank,
            _ => false,
        }
    }

    /// The model id this deployment sends upstream.
    pub fn upstream_model(&self) -> &str {
        match self {
            Self::OpenAi(a) => a.upstream_model(),
            Self::Azure(a) => a.upstream_model(),
            Self::Cohere(a) => a.upstream_model(),
            Self::Anthropic(a) => a.upstream_model(),
            Self::Gemini(a) => a.upstream_model(),
            Self::Ollama(a) => a.upstream_model(),
            Self::VertexAi(a) => a.upstream_model(),
            Self::Bedrock(a) => a.upstream_model(),
        }
    }

    /// A Responses API request for providers that serve `/responses` themselves (OpenAI and
    /// Azure OpenAI): the client's bytes with `model` swapped. `None` for every other provider,
    /// which the chat bridge serves.
    pub fn responses_request(&self, body: &Bytes) -> Result<Option<UpstreamRequest>, GatewayError> {
        match self {
            Self::OpenAi(a) => a.responses_request(body),
            Self::Azure(a) => a.responses_request(body),
            _ => Ok(None),
        }
    }

    /// A request about a stored response at the provider (`GET /responses/{id}`, `DELETE`,
    /// `.../input_items`, `.../cancel`): `suffix` is what follows `/responses`. `None` for
    /// providers without the Responses API.
    pub fn responses_item_request(
        &self,
        method: Method,
        suffix: &str,
        query: Option<&str>,
    ) -> Result<Option<UpstreamRequest>, GatewayError> {
        let Some(mut request) = self.responses_request(&Bytes::from_static(b"{}"))? else {
            return Ok(None);
        };
        let (path, base_query) = match request.url.split_once('?') {
            Some((p, q)) => (p.to_owned(), Some(q.to_owned())),
            None => (request.url.clone(), None),
        };
        let queries: Vec<&str> = base_query
            .as_deref()
            .into_iter()
            .chain(query)
            .filter(|q| !q.is_empty())
            .collect();
        request.url = if queries.is_empty() {
            format!("{path}{suffix}")
        } else {
            format!("{path}{suffix}?{}", queries.join("&"))
        };
        request.headers.remove(http::header::CONTENT_TYPE);
        request.body = if method == Method::POST {
            Bytes::from_static(b"{}")
        } else {
            Bytes::new()
        };
        if method == Method::POST {
            request.headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        request.method = method;
        Ok(Some(request))
    }

    /// The client's request forwarded to this provider's API with the gateway's credential
    /// (added here for key providers; SigV4 and OAuth tokens are added by
    /// [`Adapter::authorize`]).
    pub fn passthrough_request(
        &self,
        call: &PassthroughCall,
    ) -> Result<UpstreamRequest, GatewayError> {
        match self {
            Self::OpenAi(a) => a.passthrough_request(call),
            Self::Azure(a) => a.passthrough_request(call),
            Self::Cohere(a) => a.passthrough_request(call),
            Self::Anthropic(a) => a.passthrough_request(call),
            Self::Gemini(a) => a.passthrough_request(call),
            Self::VertexAi(a) => a.passthrough_request(call),
            Self::Bedrock(a) => a.passthrough_request(call),
            Self::Ollama(a) => Err(GatewayError::invalid_request(
                format!("{} has no pass-through route", a.provider_name()),
                None,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_drops_a_doubled_version_and_keeps_queries() {
        assert_eq!(
            join("https://api.openai.com/v1", "/v1/chat/completions", None),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            join(
                "https://api.anthropic.com/",
                "/v1/messages",
                Some("beta=true")
            ),
            "https://api.anthropic.com/v1/messages?beta=true"
        );
        assert_eq!(
            join("http://h/v1?x=1", "/files", Some("y=2")),
            "http://h/v1/files?x=1&y=2"
        );
        assert_eq!(join("http://h/v1", "/v10/x", None), "http://h/v1/v10/x");
    }

    #[test]
    fn multipart_round_trips_with_the_model_swapped() {
        let mut form = MultipartForm::default();
        form.set_text("model", "whisper");
        form.parts.push(FormPart {
            name: "file".into(),
            filename: Some("a \"b\".wav".into()),
            content_type: Some("audio/wav".into()),
            data: Bytes::from_static(b"RIFF\x00\x01"),
        });
        form.set_text("model", "whisper-1");
        assert_eq!(form.text("model"), Some("whisper-1"));
        assert!(form.has_file("file"));
        let bytes = form.encode("B");
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with(
            "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
        ));
        assert!(text.contains("filename=\"a %22b%22.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF"));
        assert!(text.ends_with("--B--\r\n"));
    }

    #[test]
    fn gateway_credentials_and_hop_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer sk-gw"));
        h.insert("x-api-key", HeaderValue::from_static("sk-gw"));
        h.insert("my-key", HeaderValue::from_static("sk-gw"));
        h.insert("x-litellm-timeout", HeaderValue::from_static("3"));
        h.insert("anthropic-beta", HeaderValue::from_static("x"));
        h.insert("host", HeaderValue::from_static("gw"));
        let out = forwardable_headers(&h, &["My-Key"]);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["anthropic-beta"]);
    }
}
