//! Our request to the provider's HTTP request: OpenAI chat becomes a v2 `chat` body (messages
//! keep their roles; mostly renames), embeddings become a v2 `embed` body, and a rerank request
//! becomes a `rerank` body.
//!
//! Every OpenAI parameter is mapped, deliberately ignored the way LiteLLM ignores it (`user`,
//! `metadata`, `stream_options`: Cohere always reports usage), or refused with
//! [`GatewayError::UnsupportedParams`] unless `drop_params` is on.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tollgate_core::chat::{ContentPart, MessageContent, ResponseFormat, ToolChoice};
use tollgate_core::embeddings::EmbeddingInput;
use tollgate_core::{
    ChatCompletionRequest, ChatMessage, EmbeddingsRequest, Extra, GatewayError, Role,
};

use super::{CohereAdapter, REQUEST_SOURCE};
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

/// Cohere-native chat fields a client may send in the OpenAI body; forwarded as they are.
const NATIVE_CHAT_FIELDS: &[&str] = &[
    "thinking",
    "safety_mode",
    "documents",
    "citation_options",
    "strict_tools",
    "priority",
    "k",
    "p",
];

/// `input_type` LiteLLM sends when the client names none (required by v3+ embed models).
const DEFAULT_INPUT_TYPE: &str = "search_document";

/// A rerank request (LiteLLM's `/rerank` body, which is Cohere's own shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RerankRequest {
    pub model: String,
    pub query: String,
    /// Strings, or objects whose fields `rank_fields` names.
    pub documents: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rank_fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_documents: Option<bool>,
    /// v2 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_doc: Option<u32>,
    /// v1 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_chunks_per_doc: Option<u32>,
    /// Anything else the client sent.
    #[serde(flatten)]
    pub extra: Extra,
}

impl CohereAdapter {
    /// `POST` to the chat URL with a v2 chat body (`"stream"` always explicit).
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        let req = self.with_defaults(req)?;
        let mut t = Translator::default();
        let body = t.request(&req, &self.upstream_model)?;
        if !(options.drop_params || self.params.drop_params) {
            self.refuse_first(&t.refused)?;
        }
        self.post(&self.chat_url, &body)
    }

    /// `POST` to the embed URL: `input` → `texts`, `input_type` (default `search_document`),
    /// `embedding_types` from `encoding_format`, `dimensions` → `output_dimension` on models
    /// that take it (`embed-v4.0` and newer).
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        let texts: Vec<&str> = match &req.input {
            EmbeddingInput::One(s) => vec![s.as_str()],
            EmbeddingInput::Many(v) => v.iter().map(String::as_str).collect(),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
                return Err(GatewayError::invalid_request(
                    "Cohere embeddings take text input, not token ids",
                    Some("input".into()),
                ));
            }
        };
        let defaults = &self.params.default_params;
        let mut refused = Vec::new();
        let mut body = Map::new();
        body.insert("model".into(), Value::String(self.upstream_model.clone()));
        body.insert("texts".into(), json!(texts));
        let mut native = Map::new();
        for (key, value) in &req.extra {
            match key.as_str() {
                _ if value.is_null() => {}
                "input_type" | "truncate" | "max_tokens" => {
                    native.insert(key.clone(), value.clone());
                }
                other => refused.push(other.to_owned()),
            }
        }
        for key in ["input_type", "truncate", "max_tokens"] {
            if !native.contains_key(key) {
                if let Some(v) = defaults.get(key).filter(|v| !v.is_null()) {
                    native.insert(key.to_owned(), v.clone());
                }
            }
        }
        if !native.contains_key("input_type") {
            native.insert("input_type".into(), Value::from(DEFAULT_INPUT_TYPE));
        }
        let encoding = req
            .encoding_format
            .clone()
            .or_else(|| defaults.get("encoding_format")?.as_str().map(str::to_owned));
        let embedding_type = match encoding.as_deref() {
            None | Some("float") => "float",
            Some("base64") => "base64",
            Some(_) => {
                refused.push("encoding_format".into());
                "float"
            }
        };
        body.extend(native);
        body.insert("embedding_types".into(), json!([embedding_type]));
        let dimensions = req
            .dimensions
            .map(Value::from)
            .or_else(|| defaults.get("dimensions").filter(|v| !v.is_null()).cloned());
        if let Some(d) = dimensions {
            if takes_output_dimension(&self.upstream_model) {
                body.insert("output_dimension".into(), d);
            } else {
                refused.push("dimensions".into());
            }
        }
        if !self.params.drop_params {
            self.refuse_first(&refused)?;
        }
        self.post(&self.embed_url, &Value::Object(body))
    }

    /// `POST` to the rerank URL. The body is Cohere's own shape, so fields are forwarded under
    /// the deployment's model; `max_chunks_per_doc` only goes to the legacy v1 endpoint and
    /// `max_tokens_per_doc` only to v2. Anything else is refused unless `drop_params`.
    pub fn rerank_request(&self, req: &RerankRequest) -> Result<UpstreamRequest, GatewayError> {
        let v1 = self.rerank_url.ends_with("/v1/rerank");
        let mut refused: Vec<String> = req.extra.keys().cloned().collect();
        let mut body = Map::new();
        body.insert("model".into(), Value::String(self.upstream_model.clone()));
        body.insert("query".into(), Value::String(req.query.clone()));
        body.insert("documents".into(), Value::Array(req.documents.clone()));
        if let Some(n) = req.top_n {
            body.insert("top_n".into(), Value::from(n));
        }
        if let Some(f) = &req.rank_fields {
            body.insert("rank_fields".into(), json!(f));
        }
        if let Some(r) = req.return_documents {
            body.insert("return_documents".into(), Value::Bool(r));
        }
        match (v1, req.max_tokens_per_doc, req.max_chunks_per_doc) {
            (false, Some(n), _) => {
                body.insert("max_tokens_per_doc".into(), Value::from(n));
            }
            (true, _, Some(n)) => {
                body.insert("max_chunks_per_doc".into(), Value::from(n));
            }
            _ => {}
        }
        if v1 && req.max_tokens_per_doc.is_some() {
            refused.push("max_tokens_per_doc".into());
        }
        if !v1 && req.max_chunks_per_doc.is_some() {
            refused.push("max_chunks_per_doc".into());
        }
        if !self.params.drop_params {
            self.refuse_first(&refused)?;
        }
        self.post(&self.rerank_url, &Value::Object(body))
    }

    fn refuse_first(&self, refused: &[String]) -> Result<(), GatewayError> {
        match refused.first() {
            Some(param) => Err(GatewayError::UnsupportedParams {
                provider: self.provider.to_string(),
                model: self.upstream_model.clone(),
                param: param.clone(),
            }),
            None => Ok(()),
        }
    }

    fn post(&self, url: &str, body: &Value) -> Result<UpstreamRequest, GatewayError> {
        Ok(UpstreamRequest {
            method: Method::POST,
            url: url.to_owned(),
            headers: self.headers()?,
            body: Bytes::from(serde_json::to_vec(body).map_err(encode_error)?),
        })
    }

    /// The request with the deployment's default params filled in where it left them unset,
    /// and `additional_drop_params` removed. Borrowed when there is nothing to change.
    fn with_defaults<'r>(
        &self,
        req: &'r ChatCompletionRequest,
    ) -> Result<Cow<'r, ChatCompletionRequest>, GatewayError> {
        self.params.apply_to(req)
    }

    pub(super) fn headers(&self) -> Result<HeaderMap, GatewayError> {
        let mut h = HeaderMap::with_capacity(4 + self.params.extra_headers.len());
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        // What LiteLLM sends, streams included: Cohere streams on `"stream": true` alone.
        h.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        h.insert("request-source", HeaderValue::from_static(REQUEST_SOURCE));
        if let Some(key) = &self.api_key {
            let mut v = header_value("authorization", &format!("Bearer {key}"))?;
            v.set_sensitive(true);
            h.insert(http::header::AUTHORIZATION, v);
        }
        for (name, value) in &self.params.extra_headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                GatewayError::invalid_request(
                    format!("invalid header name in extra_headers: {name:?}"),
                    None,
                )
            })?;
            h.insert(name.clone(), header_value(name.as_str(), value)?);
        }
        Ok(h)
    }
}

/// `embed-v4.0` and later take `output_dimension`; the v3 models have one fixed size.
fn takes_output_dimension(model: &str) -> bool {
    let Some(rest) = model.strip_prefix("embed-v") else {
        return false;
    };
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().is_ok_and(|m| m >= 4)
}

/// One chat translation; `refused` collects the parameters Cohere cannot take.
#[derive(Default)]
struct Translator {
    refused: Vec<String>,
}

impl Translator {
    fn refuse(&mut self, param: &str) {
        if !self.refused.iter().any(|p| p == param) {
            self.refused.push(param.to_owned());
        }
    }

    fn request(&mut self, req: &ChatCompletionRequest, model: &str) -> Result<Value, GatewayError> {
        let mut body = Map::new();
        body.insert("model".into(), Value::String(model.to_owned()));
        body.insert("messages".into(), Value::Array(messages(&req.messages)?));
        self.tools(req, &mut body)?;
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(k.to_owned(), v);
            }
        };
        put(
            "max_tokens",
            req.max_completion_tokens
                .or(req.max_tokens)
                .map(Value::from),
        );
        put(
            "stop_sequences",
            req.stop
                .as_ref()
                .map(|s| s.to_vec())
                .filter(|s| !s.is_empty())
                .map(Value::from),
        );
        put("temperature", req.temperature.map(Value::from));
        put("p", req.top_p.map(Value::from));
        put("seed", req.seed.map(Value::from));
        put("frequency_penalty", req.frequency_penalty.map(Value::from));
        put("presence_penalty", req.presence_penalty.map(Value::from));
        put(
            "response_format",
            req.response_format.as_ref().map(response_format),
        );
        self.refuse_unmapped(req);
        for (key, value) in &req.extra {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "top_k" => {
                    body.insert("k".into(), value.clone());
                }
                k if NATIVE_CHAT_FIELDS.contains(&k) => {
                    body.insert(key.clone(), value.clone());
                }
                other => self.refuse(other),
            }
        }
        body.insert("stream".into(), Value::Bool(req.is_stream()));
        Ok(Value::Object(body))
    }

    /// OpenAI parameters with no Cohere v2 counterpart.
    fn refuse_unmapped(&mut self, req: &ChatCompletionRequest) {
        let text_only = req
            .modalities
            .as_ref()
            .is_none_or(|m| m.iter().all(|x| x == "text"));
        let unmapped = [
            ("n", req.n.is_some_and(|n| n > 1)),
            ("logprobs", req.logprobs == Some(true)),
            ("top_logprobs", req.top_logprobs.is_some()),
            ("logit_bias", req.logit_bias.is_some()),
            ("reasoning_effort", req.reasoning_effort.is_some()),
            ("audio", req.audio.is_some()),
            ("modalities", !text_only),
            ("prediction", req.prediction.is_some()),
            ("service_tier", req.service_tier.is_some()),
            ("store", req.store.is_some()),
            ("verbosity", req.verbosity.is_some()),
            ("web_search_options", req.web_search_options.is_some()),
            ("functions", req.functions.is_some()),
            ("function_call", req.function_call.is_some()),
        ];
        for (name, set) in unmapped {
            if set {
                self.refuse(name);
            }
        }
    }

    /// `tools` (OpenAI's shape, which v2 shares) and `tool_choice`. A named choice has no v2
    /// form; it becomes `REQUIRED` with only that tool offered, which forces the same call.
    fn tools(
        &mut self,
        req: &ChatCompletionRequest,
        body: &mut Map<String, Value>,
    ) -> Result<(), GatewayError> {
        let mut tools = Vec::new();
        let mut strict = false;
        for (i, tool) in req.tools.iter().flatten().enumerate() {
            if tool.kind != "function" {
                self.refuse("tools");
                continue;
            }
            let f = tool.function.as_ref().ok_or_else(|| {
                GatewayError::invalid_request(
                    format!("tools[{i}] has type function but no function"),
                    Some(format!("tools[{i}].function")),
                )
            })?;
            strict |= f.strict == Some(true);
            let mut function = Map::new();
            function.insert("name".into(), Value::String(f.name.clone()));
            if let Some(d) = &f.description {
                function.insert("description".into(), Value::String(d.clone()));
            }
            function.insert(
                "parameters".into(),
                f.parameters
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            );
            tools.push((
                f.name.clone(),
                json!({"type": "function", "function": function}),
            ));
        }
        let choice = match &req.tool_choice {
            None => None,
            Some(ToolChoice::Mode(m)) => match m.as_str() {
                "auto" => None,
                "none" => Some("NONE"),
                "required" => Some("REQUIRED"),
                _ => {
                    self.refuse("tool_choice");
                    None
                }
            },
            Some(ToolChoice::Named(n)) => {
                let name = &n.function.name;
                if !tools.iter().any(|(t, _)| t == name) {
                    return Err(GatewayError::invalid_request(
                        format!("tool_choice names {name:?}, which is not among the tools"),
                        Some("tool_choice".into()),
                    ));
                }
                tools.retain(|(t, _)| t == name);
                Some("REQUIRED")
            }
        };
        if req.parallel_tool_calls == Some(false) && tools.len() > 1 {
            // Cohere cannot be told to make one call at a time.
            self.refuse("parallel_tool_calls");
        }
        if !tools.is_empty() {
            body.insert(
                "tools".into(),
                Value::Array(tools.into_iter().map(|(_, t)| t).collect()),
            );
            if let Some(c) = choice {
                body.insert("tool_choice".into(), Value::from(c));
            }
            // Per-function `strict` has no v2 place; Cohere's switch covers every tool.
            if strict {
                body.insert("strict_tools".into(), Value::Bool(true));
            }
        }
        Ok(())
    }
}

/// `response_format`: JSON mode is `json_object`, a schema rides along as `json_schema`.
fn response_format(f: &ResponseFormat) -> Value {
    match f {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema { json_schema } => match &json_schema.schema {
            Some(schema) => json!({"type": "json_object", "json_schema": schema}),
            None => json!({"type": "json_object"}),
        },
    }
}

/// Messages keep their roles (`developer` becomes `system`). An assistant turn that calls
/// tools sends its text as `tool_plan`, where Cohere put it; reasoning from earlier turns is
/// not sent back (Cohere does not need it).
fn messages(input: &[ChatMessage]) -> Result<Vec<Value>, GatewayError> {
    let mut out = Vec::with_capacity(input.len());
    for (i, m) in input.iter().enumerate() {
        match m.role {
            Role::System | Role::Developer => {
                let text = text_only(m.content.as_ref(), i, "system")?;
                out.push(json!({"role": "system", "content": text}));
            }
            Role::User => {
                out.push(json!({"role": "user", "content": user_content(m.content.as_ref(), i)?}));
            }
            Role::Assistant => {
                let text = text_only(m.content.as_ref(), i, "assistant")?;
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .flatten()
                    .map(|c| {
                        json!({"id": c.id, "type": "function",
                            "function": {"name": c.function.name, "arguments": c.function.arguments}})
                    })
                    .collect();
                let mut msg = Map::new();
                msg.insert("role".into(), Value::from("assistant"));
                if calls.is_empty() {
                    if text.is_empty() {
                        // An empty turn carries nothing, and Cohere rejects it.
                        continue;
                    }
                    msg.insert("content".into(), Value::String(text));
                } else {
                    msg.insert("tool_calls".into(), Value::Array(calls));
                    if !text.is_empty() {
                        msg.insert("tool_plan".into(), Value::String(text));
                    }
                }
                out.push(Value::Object(msg));
            }
            Role::Tool => {
                let id = m
                    .tool_call_id
                    .as_deref()
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| {
                        GatewayError::invalid_request(
                            format!("messages[{i}] is a tool result without tool_call_id"),
                            Some(format!("messages[{i}].tool_call_id")),
                        )
                    })?;
                let content = match &m.content {
                    None => Value::String(String::new()),
                    Some(MessageContent::Text(s)) => Value::String(s.clone()),
                    Some(MessageContent::Parts(parts)) => {
                        let mut items = Vec::with_capacity(parts.len());
                        for (j, p) in parts.iter().enumerate() {
                            match p {
                                ContentPart::Text { text, .. } => {
                                    items.push(json!({"type": "text", "text": text}));
                                }
                                _ => {
                                    return Err(GatewayError::invalid_request(
                                        "tool results may only contain text parts for Cohere",
                                        Some(format!("messages[{i}].content[{j}]")),
                                    ));
                                }
                            }
                        }
                        Value::Array(items)
                    }
                };
                out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            Role::Function => {
                return Err(GatewayError::invalid_request(
                    "legacy function messages are not supported for Cohere; send role tool with a tool_call_id",
                    Some(format!("messages[{i}].role")),
                ));
            }
        }
    }
    Ok(out)
}

/// The text of a system or assistant message; anything but text (or a refusal) is a 400.
fn text_only(
    content: Option<&MessageContent>,
    index: usize,
    role: &str,
) -> Result<String, GatewayError> {
    match content {
        None => Ok(String::new()),
        Some(MessageContent::Text(s)) => Ok(s.clone()),
        Some(MessageContent::Parts(parts)) => {
            let mut text = String::new();
            for (j, p) in parts.iter().enumerate() {
                match p {
                    ContentPart::Text { text: t, .. } | ContentPart::Refusal { refusal: t, .. } => {
                        text.push_str(t);
                    }
                    _ => {
                        return Err(GatewayError::invalid_request(
                            format!("{role} messages may only contain text parts for Cohere"),
                            Some(format!("messages[{index}].content[{j}]")),
                        ));
                    }
                }
            }
            Ok(text)
        }
    }
}

/// A user message: a string stays a string; parts become Cohere's text and `image_url` parts
/// (data: URIs and https URLs alike, Cohere fetches URLs itself).
fn user_content(content: Option<&MessageContent>, index: usize) -> Result<Value, GatewayError> {
    let parts = match content {
        None => return Ok(Value::String(String::new())),
        Some(MessageContent::Text(s)) => return Ok(Value::String(s.clone())),
        Some(MessageContent::Parts(p)) => p,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        match part {
            ContentPart::Text { text, .. } | ContentPart::Refusal { refusal: text, .. } => {
                out.push(json!({"type": "text", "text": text}));
            }
            ContentPart::ImageUrl { image_url, .. } => {
                let mut img = Map::new();
                img.insert("url".into(), Value::String(image_url.url.clone()));
                if let Some(d) = &image_url.detail {
                    img.insert("detail".into(), Value::String(d.clone()));
                }
                out.push(json!({"type": "image_url", "image_url": img}));
            }
            ContentPart::InputAudio { .. } | ContentPart::File { .. } => {
                return Err(GatewayError::invalid_request(
                    "Cohere chat takes text and image_url parts only",
                    Some(format!("messages[{index}].content[{j}]")),
                ));
            }
        }
    }
    Ok(Value::Array(out))
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, GatewayError> {
    // The value may be a credential: never echo it in the error.
    HeaderValue::from_str(value).map_err(|_| {
        GatewayError::invalid_request(
            format!("header {name} has characters HTTP does not allow"),
            None,
        )
    })
}

fn encode_error(e: serde_json::Error) -> GatewayError {
    GatewayError::Internal(format!("cannot encode the request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use tollgate_core::{Env, ModelRef};

    fn adapter_with(model: &str, params: ProviderParams) -> CohereAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        CohereAdapter::new(&m, &params, &Env::with_overlay(Default::default()))
            .unwrap()
            .unwrap()
    }

    fn adapter() -> CohereAdapter {
        adapter_with(
            "cohere/command-a-03-2025",
            ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
        )
    }

    fn body(req: Value) -> Value {
        let req: ChatCompletionRequest = serde_json::from_value(req).unwrap();
        let r = adapter()
            .chat_request(&req, CallOptions::default())
            .unwrap();
        serde_json::from_slice(&r.body).unwrap()
    }

    fn refused(req: Value) -> String {
        let req: ChatCompletionRequest = serde_json::from_value(req).unwrap();
        match adapter().chat_request(&req, CallOptions::default()) {
            Err(GatewayError::UnsupportedParams { param, .. }) => param,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parameters_are_renamed() {
        let b = body(json!({"model": "x", "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": "hi"}],
            "max_completion_tokens": 9, "max_tokens": 1, "stop": "END", "temperature": 0.2,
            "top_p": 0.9, "top_k": 5, "seed": 7, "frequency_penalty": 0.1, "presence_penalty": 0.3,
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}},
            "user": "u-1", "stream": true, "stream_options": {"include_usage": true},
            "safety_mode": "OFF", "thinking": {"type": "enabled", "token_budget": 100}}));
        assert_eq!(
            b,
            json!({"model": "command-a-03-2025",
                "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
                "max_tokens": 9, "stop_sequences": ["END"], "temperature": 0.2, "p": 0.9, "seed": 7,
                "frequency_penalty": 0.1, "presence_penalty": 0.3,
                "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
                "k": 5, "safety_mode": "OFF", "thinking": {"type": "enabled", "token_budget": 100},
                "stream": true})
        );
    }

    #[test]
    fn headers_carry_bearer_and_request_source() {
        let req = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        let r = adapter()
            .chat_request(&req, CallOptions::default())
            .unwrap();
        assert_eq!(r.url, "https://api.cohere.com/v2/chat");
        assert_eq!(r.headers["authorization"], "Bearer k");
        assert!(r.headers["authorization"].is_sensitive());
        assert_eq!(r.headers["request-source"], "unspecified:litellm");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["accept"], "application/json");
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(b["stream"], false, "non-streaming is explicit");
    }

    #[test]
    fn image_parts_become_cohere_image_url_parts() {
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "compare"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
            {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}]}]}),
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([{"type": "text", "text": "compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}])
        );
        let req: ChatCompletionRequest = serde_json::from_value(json!({"model": "x", "messages": [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}]}]}))
        .unwrap();
        let e = adapter()
            .chat_request(&req, CallOptions::default())
            .unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(
            e.to_string().contains("text and image_url parts only"),
            "{e}"
        );
    }

    #[test]
    fn tools_choices_and_history_translate() {
        let b = body(json!({"model": "x", "messages": [
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]},
                {"role": "assistant", "content": "I will add.", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "add", "arguments": "{\"x\":1}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "2"},
                {"role": "assistant", "content": "It is 2.", "reasoning_content": "easy"},
                {"role": "assistant", "content": null}],
            "tools": [
                {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}, "strict": true}},
                {"type": "function", "function": {"name": "sub", "description": "minus"}}],
            "tool_choice": {"type": "function", "function": {"name": "add"}}}));
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "add", "arguments": "{\"x\":1}"}}], "tool_plan": "I will add."},
                {"role": "tool", "tool_call_id": "c1", "content": "2"},
                {"role": "assistant", "content": "It is 2."}
            ])
        );
        assert_eq!(
            b["tools"],
            json!([{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}])
        );
        assert_eq!(b["tool_choice"], "REQUIRED");
        assert_eq!(b["strict_tools"], true);
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"}),
        );
        assert_eq!(b["tool_choice"], "NONE");
        assert_eq!(
            b["tools"][0]["function"]["parameters"],
            json!({"type": "object", "properties": {}})
        );
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto"}),
        );
        assert!(b.get("tool_choice").is_none());
    }

    #[test]
    fn what_cohere_cannot_take_is_refused_or_dropped() {
        let base = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert_eq!(refused(with("n", json!(2))), "n");
        assert_eq!(refused(with("logprobs", json!(true))), "logprobs");
        assert_eq!(
            refused(with("reasoning_effort", json!("low"))),
            "reasoning_effort"
        );
        assert_eq!(
            refused(with("some_future_param", json!(1))),
            "some_future_param"
        );
        assert_eq!(
            refused(with("tools", json!([{"type": "web_search"}]))),
            "tools"
        );
        // `n: 1` and `logprobs: false` ask for nothing Cohere lacks.
        body(with("n", json!(1)));
        body(with("logprobs", json!(false)));
        let req: ChatCompletionRequest =
            serde_json::from_value(with("logit_bias", json!({"1": 2}))).unwrap();
        let r = adapter()
            .chat_request(
                &req,
                CallOptions {
                    drop_params: true,
                    ..Default::default()
                },
            )
            .unwrap();
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert!(b.get("logit_bias").is_none());
    }

    #[test]
    fn bad_messages_are_400s() {
        for (req, param) in [
            (
                json!({"model": "x", "messages": [{"role": "tool", "content": "x"}]}),
                "messages[0].tool_call_id",
            ),
            (
                json!({"model": "x", "messages": [{"role": "user", "content": [
                    {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
                    "tools": [{"type": "function", "function": {"name": "f"}}],
                    "tool_choice": {"type": "function", "function": {"name": "g"}}}),
                "tool_choice",
            ),
        ] {
            let req: ChatCompletionRequest = serde_json::from_value(req).unwrap();
            match adapter().chat_request(&req, CallOptions::default()) {
                Err(GatewayError::InvalidRequest { param: Some(p), .. }) => assert_eq!(p, param),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn deployment_defaults_fill_gaps() {
        let mut params = ProviderParams::default();
        params
            .default_params
            .insert("temperature".into(), json!(0.5));
        params.default_params.insert("top_k".into(), json!(3));
        params.additional_drop_params.push("seed".into());
        let a = adapter_with("cohere/command-r", params);
        let req: ChatCompletionRequest = serde_json::from_value(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "temperature": 1.0, "seed": 4}),
        )
        .unwrap();
        let b: Value =
            serde_json::from_slice(&a.chat_request(&req, CallOptions::default()).unwrap().body)
                .unwrap();
        assert_eq!(b["temperature"], 1.0);
        assert_eq!(b["k"], 3);
        assert!(b.get("seed").is_none());
    }

    #[test]
    fn embeddings_map_input_type_types_and_dimensions() {
        let a = adapter_with("cohere/embed-v4.0", ProviderParams::default());
        let req: EmbeddingsRequest = serde_json::from_value(
            json!({"model": "x", "input": "hello", "dimensions": 256, "encoding_format": "base64", "user": "u"}),
        )
        .unwrap();
        let r = a.embeddings_request(&req).unwrap();
        assert_eq!(r.url, "https://api.cohere.ai/v2/embed");
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            b,
            json!({"model": "embed-v4.0", "texts": ["hello"], "input_type": "search_document",
                "embedding_types": ["base64"], "output_dimension": 256})
        );
        let a = adapter_with("cohere/embed-english-v3.0", ProviderParams::default());
        let req: EmbeddingsRequest = serde_json::from_value(
            json!({"model": "x", "input": ["a", "b"], "input_type": "search_query", "truncate": "END"}),
        )
        .unwrap();
        let b: Value = serde_json::from_slice(&a.embeddings_request(&req).unwrap().body).unwrap();
        assert_eq!(
            b,
            json!({"model": "embed-english-v3.0", "texts": ["a", "b"], "input_type": "search_query",
                "truncate": "END", "embedding_types": ["float"]})
        );
        let req: EmbeddingsRequest =
            serde_json::from_value(json!({"model": "x", "input": "a", "dimensions": 256})).unwrap();
        assert!(matches!(
            a.embeddings_request(&req),
            Err(GatewayError::UnsupportedParams { ref param, .. }) if param == "dimensions"
        ));
        let req: EmbeddingsRequest =
            serde_json::from_value(json!({"model": "x", "input": [1, 2]})).unwrap();
        assert_eq!(a.embeddings_request(&req).unwrap_err().status(), 400);
        assert!(takes_output_dimension("embed-v4.0"));
        assert!(takes_output_dimension("embed-v10"));
        assert!(!takes_output_dimension("embed-multilingual-v3.0"));
    }

    #[test]
    fn rerank_forwards_cohere_fields_under_the_deployment_model() {
        let a = adapter_with(
            "cohere/rerank-v3.5",
            ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
        );
        let req: RerankRequest = serde_json::from_value(json!({"model": "alias", "query": "q",
            "documents": ["a", {"text": "b"}], "top_n": 1, "return_documents": true,
            "max_tokens_per_doc": 512}))
        .unwrap();
        let r = a.rerank_request(&req).unwrap();
        assert_eq!(r.url, "https://api.cohere.com/v2/rerank");
        assert_eq!(r.headers["authorization"], "Bearer k");
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            b,
            json!({"model": "rerank-v3.5", "query": "q", "documents": ["a", {"text": "b"}],
                "top_n": 1, "return_documents": true, "max_tokens_per_doc": 512})
        );
        let req: RerankRequest = serde_json::from_value(
            json!({"model": "alias", "query": "q", "documents": ["a"], "max_chunks_per_doc": 3}),
        )
        .unwrap();
        assert!(matches!(
            a.rerank_request(&req),
            Err(GatewayError::UnsupportedParams { ref param, .. }) if param == "max_chunks_per_doc"
        ));
        let v1 = adapter_with(
            "cohere/rerank-english-v2.0",
            ProviderParams {
                api_base: Some("https://gw/v1/rerank".into()),
                ..Default::default()
            },
        );
        let b: Value = serde_json::from_slice(&v1.rerank_request(&req).unwrap().body).unwrap();
        assert_eq!(b["max_chunks_per_doc"], 3);
    }
}
