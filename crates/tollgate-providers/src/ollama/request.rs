//! Our request to the provider's HTTP request: OpenAI chat becomes an `/api/chat` body,
//! embeddings an `/api/embed` body.
//!
//! Sampling parameters go to `options` under Ollama's names (`max_tokens` → `num_predict`);
//! `response_format` becomes `format`, `reasoning_effort` becomes `think`. Ollama streams
//! unless told otherwise, so `"stream"` is always sent. Every OpenAI parameter is mapped,
//! deliberately ignored the way LiteLLM ignores it (`user`, `metadata`, `stream_options`:
//! Ollama always reports its counts), or refused with [`GatewayError::UnsupportedParams`]
//! unless `drop_params` is on.

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value, json};
use tollgate_core::chat::{
    ContentPart, FunctionDefinition, MessageContent, ResponseFormat, ToolChoice,
};
use tollgate_core::embeddings::EmbeddingInput;
use tollgate_core::{ChatCompletionRequest, ChatMessage, EmbeddingsRequest, GatewayError, Role};

use super::OllamaAdapter;
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

/// Ollama runtime options a client may send at the top level of the OpenAI body (LiteLLM
/// passes them the same way); they go into `options`.
const OPTION_KEYS: &[&str] = &[
    "top_k",
    "min_p",
    "typical_p",
    "repeat_last_n",
    "repeat_penalty",
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "tfs_z",
    "num_ctx",
    "num_keep",
    "num_batch",
    "num_gpu",
    "num_gqa",
    "main_gpu",
    "num_thread",
    "use_mmap",
    "penalize_newline",
    "numa",
    "low_vram",
];

/// Top-level `/api/chat` fields a client may send through the OpenAI body.
const NATIVE_CHAT_FIELDS: &[&str] = &["keep_alive", "think", "format", "truncate", "shift"];

impl OllamaAdapter {
    /// `POST {base}/api/chat`.
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
        self.post(self.chat_url(), &body)
    }

    /// `POST {base}/api/embed`: `input` as given (one string or a list), `dimensions`, and
    /// Ollama's `truncate`, `keep_alive` and `options` when the client sends them.
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        let input = match &req.input {
            EmbeddingInput::One(s) => Value::String(s.clone()),
            EmbeddingInput::Many(v) => json!(v),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
                return Err(GatewayError::invalid_request(
                    "Ollama embeddings take text input, not token ids",
                    Some("input".into()),
                ));
            }
        };
        let defaults = &self.params.default_params;
        let mut refused = Vec::new();
        let mut body = Map::new();
        body.insert("model".into(), Value::String(self.upstream_model.clone()));
        body.insert("input".into(), input);
        let dimensions = req
            .dimensions
            .map(Value::from)
            .or_else(|| defaults.get("dimensions").filter(|v| !v.is_null()).cloned());
        if let Some(d) = dimensions {
            body.insert("dimensions".into(), d);
        }
        const NATIVE: &[&str] = &["truncate", "keep_alive", "options"];
        for (key, value) in &req.extra {
            match key.as_str() {
                _ if value.is_null() => {}
                k if NATIVE.contains(&k) => {
                    body.insert(key.clone(), value.clone());
                }
                other => refused.push(other.to_owned()),
            }
        }
        for key in NATIVE {
            if !body.contains_key(*key) {
                if let Some(v) = defaults.get(*key).filter(|v| !v.is_null()) {
                    body.insert((*key).to_owned(), v.clone());
                }
            }
        }
        match req.encoding_format.as_deref() {
            None | Some("float") => {}
            // Ollama has floats only.
            Some(_) => refused.push("encoding_format".into()),
        }
        if !self.params.drop_params {
            self.refuse_first(&refused)?;
        }
        self.post(self.embed_url(), &Value::Object(body))
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

    fn post(&self, url: String, body: &Value) -> Result<UpstreamRequest, GatewayError> {
        Ok(UpstreamRequest {
            method: Method::POST,
            url,
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

    fn headers(&self) -> Result<HeaderMap, GatewayError> {
        let mut h = HeaderMap::with_capacity(2 + self.params.extra_headers.len());
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
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

/// One chat translation; `refused` collects the parameters Ollama cannot take.
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
        if let Some(tools) = self.tools(req)? {
            body.insert("tools".into(), Value::Array(tools));
        }
        let mut options = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                options.insert(k.to_owned(), v);
            }
        };
        put("temperature", req.temperature.map(Value::from));
        put("top_p", req.top_p.map(Value::from));
        put("seed", req.seed.map(Value::from));
        put(
            "num_predict",
            req.max_completion_tokens
                .or(req.max_tokens)
                .map(Value::from),
        );
        put(
            "stop",
            req.stop
                .as_ref()
                .map(|s| s.to_vec())
                .filter(|s| !s.is_empty())
                .map(Value::from),
        );
        // Ollama's own names; LiteLLM sends frequency_penalty as `repeat_penalty`, a
        // multiplicative penalty on another scale (1.0 = off), which this does not copy.
        put("frequency_penalty", req.frequency_penalty.map(Value::from));
        put("presence_penalty", req.presence_penalty.map(Value::from));
        match &req.response_format {
            None | Some(ResponseFormat::Text) => {}
            Some(ResponseFormat::JsonObject) => {
                body.insert("format".into(), Value::from("json"));
            }
            Some(ResponseFormat::JsonSchema { json_schema }) => {
                let format = json_schema
                    .schema
                    .clone()
                    .unwrap_or_else(|| Value::from("json"));
                body.insert("format".into(), format);
            }
        }
        if let Some(effort) = &req.reasoning_effort {
            body.insert("think".into(), think(model, effort));
        }
        self.refuse_unmapped(req);
        let mut raw_options = None;
        for (key, value) in &req.extra {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                k if OPTION_KEYS.contains(&k) => {
                    options.insert(key.clone(), value.clone());
                }
                // Native fields win over the mapped ones: the client asked for them by name.
                k if NATIVE_CHAT_FIELDS.contains(&k) => {
                    body.insert(key.clone(), value.clone());
                }
                "options" => match value {
                    Value::Object(o) => raw_options = Some(o),
                    _ => self.refuse("options"),
                },
                other => self.refuse(other),
            }
        }
        if let Some(raw) = raw_options {
            for (k, v) in raw {
                options.insert(k.clone(), v.clone());
            }
        }
        body.insert("options".into(), Value::Object(options));
        body.insert("stream".into(), Value::Bool(req.is_stream()));
        Ok(Value::Object(body))
    }

    /// OpenAI parameters with no Ollama counterpart.
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
            ("audio", req.audio.is_some()),
            ("modalities", !text_only),
            ("prediction", req.prediction.is_some()),
            ("service_tier", req.service_tier.is_some()),
            ("store", req.store.is_some()),
            ("verbosity", req.verbosity.is_some()),
            ("web_search_options", req.web_search_options.is_some()),
        ];
        for (name, set) in unmapped {
            if set {
                self.refuse(name);
            }
        }
    }

    /// `tools` in OpenAI's shape (which Ollama shares), legacy `functions` included. Ollama
    /// has no tool choice: `auto` is its behaviour, `none` is honoured by sending no tools,
    /// and a forced choice cannot be expressed.
    fn tools(&mut self, req: &ChatCompletionRequest) -> Result<Option<Vec<Value>>, GatewayError> {
        let mut tools = Vec::new();
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
            tools.push(function_tool(f));
        }
        for f in req.functions.iter().flatten() {
            match serde_json::from_value::<FunctionDefinition>(f.clone()) {
                Ok(def) => tools.push(function_tool(&def)),
                Err(_) => self.refuse("functions"),
            }
        }
        let (choice, param) = match (&req.tool_choice, &req.function_call) {
            (Some(ToolChoice::Mode(m)), _) => (Some(m.as_str()), "tool_choice"),
            (Some(ToolChoice::Named(_)), _) => (Some("named"), "tool_choice"),
            (None, Some(Value::String(m))) => (Some(m.as_str()), "function_call"),
            (None, Some(Value::Null) | None) => (None, "tool_choice"),
            (None, Some(_)) => (Some("named"), "function_call"),
        };
        match choice {
            None | Some("auto") => {}
            Some("none") => return Ok(None),
            Some(_) => self.refuse(param),
        }
        if req.parallel_tool_calls == Some(false) && tools.len() > 1 {
            // Ollama cannot be told to make one call at a time.
            self.refuse("parallel_tool_calls");
        }
        Ok((!tools.is_empty()).then_some(tools))
    }
}

fn function_tool(f: &FunctionDefinition) -> Value {
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
    json!({"type": "function", "function": function})
}

/// `reasoning_effort` as `think`: gpt-oss takes a level (`low | medium | high`), every other
/// thinking model a switch; `none` turns thinking off either way.
fn think(model: &str, effort: &str) -> Value {
    if effort == "none" {
        return Value::Bool(false);
    }
    if model.starts_with("gpt-oss") {
        let level = match effort {
            "minimal" | "low" => "low",
            "high" | "xhigh" => "high",
            _ => "medium",
        };
        return Value::from(level);
    }
    Value::Bool(true)
}

/// Messages keep their roles (`developer` becomes `system`). Images go to `images` as bare
/// base64; reasoning goes back as `thinking`; tool calls carry their arguments as objects;
/// tool results name their tool (`tool_name`, resolved from the call they answer) and their
/// call id (`tool_call_id`, read by newer Ollama versions).
fn messages(input: &[ChatMessage]) -> Result<Vec<Value>, GatewayError> {
    let mut out = Vec::with_capacity(input.len());
    // Call id → tool name; a later call with the same id wins, as a result answers the latest.
    let mut call_names: HashMap<&str, &str> = HashMap::new();
    for (i, m) in input.iter().enumerate() {
        let mut msg = Map::new();
        let role = match m.role {
            Role::System | Role::Developer => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool | Role::Function => "tool",
        };
        msg.insert("role".into(), Value::from(role));
        let (text, images) = text_and_images(m.content.as_ref(), i)?;
        msg.insert("content".into(), Value::String(text));
        if !images.is_empty() {
            if matches!(m.role, Role::Tool | Role::Function) {
                // Dropping an image a tool returned would change the answer without a word.
                return Err(GatewayError::invalid_request(
                    "tool results may only contain text parts for Ollama",
                    Some(format!("messages[{i}].content")),
                ));
            }
            msg.insert("images".into(), json!(images));
        }
        match m.role {
            Role::Assistant => {
                if let Some(r) = m.reasoning_content.as_deref().filter(|r| !r.is_empty()) {
                    msg.insert("thinking".into(), Value::from(r));
                }
                let mut calls = Vec::new();
                for (j, c) in m.tool_calls.iter().flatten().enumerate() {
                    call_names.insert(c.id.as_str(), c.function.name.as_str());
                    let arguments = parse_arguments(&c.function.arguments).ok_or_else(|| {
                        GatewayError::invalid_request(
                            format!(
                                "messages[{i}].tool_calls[{j}].function.arguments is not a JSON object"
                            ),
                            Some(format!("messages[{i}].tool_calls")),
                        )
                    })?;
                    let mut call = Map::new();
                    if !c.id.is_empty() {
                        call.insert("id".into(), Value::String(c.id.clone()));
                    }
                    call.insert("type".into(), Value::from("function"));
                    call.insert(
                        "function".into(),
                        json!({"name": c.function.name, "arguments": arguments}),
                    );
                    calls.push(Value::Object(call));
                }
                if !calls.is_empty() {
                    msg.insert("tool_calls".into(), Value::Array(calls));
                }
            }
            Role::Tool | Role::Function => {
                let id = m.tool_call_id.as_deref().filter(|id| !id.is_empty());
                let name = id
                    .and_then(|id| call_names.get(id).copied())
                    .or(m.name.as_deref())
                    .filter(|n| !n.is_empty());
                if let Some(name) = name {
                    msg.insert("tool_name".into(), Value::from(name));
                }
                if let Some(id) = id {
                    msg.insert("tool_call_id".into(), Value::from(id));
                }
            }
            _ => {}
        }
        out.push(Value::Object(msg));
    }
    Ok(out)
}

/// The text of a message and its images as bare base64. Ollama cannot fetch URLs and the
/// adapter does no I/O, so an `https://` image is a 400 rather than a silent omission.
fn text_and_images(
    content: Option<&MessageContent>,
    index: usize,
) -> Result<(String, Vec<String>), GatewayError> {
    let parts = match content {
        None => return Ok((String::new(), Vec::new())),
        Some(MessageContent::Text(s)) => return Ok((s.clone(), Vec::new())),
        Some(MessageContent::Parts(p)) => p,
    };
    let mut text = String::new();
    let mut images = Vec::new();
    for (j, part) in parts.iter().enumerate() {
        let at = || Some(format!("messages[{index}].content[{j}]"));
        match part {
            ContentPart::Text { text: t, .. } | ContentPart::Refusal { refusal: t, .. } => {
                text.push_str(t);
            }
            ContentPart::ImageUrl { image_url, .. } => {
                let url = image_url.url.trim();
                let data = match url.strip_prefix("data:") {
                    Some(rest) => rest
                        .split_once(',')
                        .filter(|(meta, _)| meta.ends_with(";base64"))
                        .map(|(_, data)| data),
                    // Already bare base64 (what Ollama's own clients send).
                    None if !url.contains("://") && !url.is_empty() => Some(url),
                    None => None,
                };
                let data = data.ok_or_else(|| {
                    GatewayError::invalid_request(
                        "Ollama takes images as base64 only: send a data:image/...;base64, URI (URLs are not fetched)",
                        at(),
                    )
                })?;
                images.push(data.to_owned());
            }
            ContentPart::InputAudio { .. } | ContentPart::File { .. } => {
                return Err(GatewayError::invalid_request(
                    "Ollama chat takes text and image parts only",
                    at(),
                ));
            }
        }
    }
    Ok((text, images))
}

/// Tool-call arguments as the object Ollama wants; an empty string is `{}`.
fn parse_arguments(args: &str) -> Option<Value> {
    if args.trim().is_empty() {
        return Some(json!({}));
    }
    match serde_json::from_str::<Value>(args).ok()? {
        v @ Value::Object(_) => Some(v),
        Value::Null => Some(json!({})),
        _ => None,
    }
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

    fn adapter_with(model: &str, params: ProviderParams) -> OllamaAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        OllamaAdapter::new(&m, &params, &Env::with_overlay(Default::default()))
            .unwrap()
            .unwrap()
    }

    fn adapter() -> OllamaAdapter {
        adapter_with("ollama_chat/qwen3:4b", ProviderParams::default())
    }

    fn body_for(a: &OllamaAdapter, req: Value) -> Value {
        let req: ChatCompletionRequest = serde_json::from_value(req).unwrap();
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        serde_json::from_slice(&r.body).unwrap()
    }

    fn body(req: Value) -> Value {
        body_for(&adapter(), req)
    }

    fn refused(req: Value) -> String {
        let req: ChatCompletionRequest = serde_json::from_value(req).unwrap();
        match adapter().chat_request(&req, CallOptions::default()) {
            Err(GatewayError::UnsupportedParams { param, .. }) => param,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sampling_goes_to_options_and_stream_is_explicit() {
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 64, "temperature": 0.1, "top_p": 0.8, "seed": 3, "stop": ["a", "b"],
            "frequency_penalty": 0.5, "presence_penalty": 0.2, "top_k": 20, "num_ctx": 8192,
            "keep_alive": "5m", "user": "u", "stream_options": {"include_usage": true},
            "options": {"temperature": 0.9, "repeat_penalty": 1.1}}),
        );
        assert_eq!(
            b,
            json!({"model": "qwen3:4b", "messages": [{"role": "user", "content": "hi"}],
                "keep_alive": "5m",
                "options": {"temperature": 0.9, "top_p": 0.8, "seed": 3, "num_predict": 64,
                    "stop": ["a", "b"], "frequency_penalty": 0.5, "presence_penalty": 0.2,
                    "top_k": 20, "num_ctx": 8192, "repeat_penalty": 1.1},
                "stream": false})
        );
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "stream": true}),
        );
        assert_eq!(b["stream"], true);
        assert_eq!(b["options"], json!({}));
        let req = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        let r = adapter()
            .chat_request(&req, CallOptions::default())
            .unwrap();
        assert_eq!(r.url, "http://localhost:11434/api/chat");
        assert!(
            r.headers.get("authorization").is_none(),
            "no key, no header"
        );
        let keyed = adapter_with(
            "ollama/m",
            ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
        );
        let r = keyed.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(r.headers["authorization"], "Bearer k");
    }

    #[test]
    fn formats_and_thinking_translate() {
        let base = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        assert_eq!(
            body(with("response_format", json!({"type": "json_object"})))["format"],
            "json"
        );
        assert_eq!(
            body(with(
                "response_format",
                json!({"type": "json_schema",
                "json_schema": {"name": "s", "schema": {"type": "object"}}})
            ))["format"],
            json!({"type": "object"})
        );
        assert!(
            body(with("response_format", json!({"type": "text"})))
                .get("format")
                .is_none()
        );
        assert_eq!(body(with("reasoning_effort", json!("low")))["think"], true);
        assert_eq!(
            body(with("reasoning_effort", json!("none")))["think"],
            false
        );
        let oss = adapter_with("ollama/gpt-oss:20b", ProviderParams::default());
        assert_eq!(
            body_for(&oss, with("reasoning_effort", json!("minimal")))["think"],
            "low"
        );
        assert_eq!(
            body_for(&oss, with("reasoning_effort", json!("medium")))["think"],
            "medium"
        );
        assert_eq!(
            body_for(&oss, with("reasoning_effort", json!("xhigh")))["think"],
            "high"
        );
        // A native `think` wins.
        let mut b = with("reasoning_effort", json!("high"));
        b["think"] = json!(false);
        assert_eq!(body(b)["think"], false);
    }

    #[test]
    fn history_with_images_calls_and_results_translate() {
        let b = body(json!({"model": "x", "messages": [
            {"role": "developer", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "what is "},
                {"type": "text", "text": "this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]},
            {"role": "assistant", "content": null, "reasoning_content": "look it up",
                "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"x\"}"}},
                               {"id": "call_1", "type": "function", "function": {"name": "noop", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_0", "content": "a cat"},
            {"role": "tool", "tool_call_id": "unknown", "name": "noop", "content": [{"type": "text", "text": "ok"}]}
        ]}));
        assert_eq!(
            b["messages"],
            json!([
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "what is this", "images": ["iVBOR"]},
                {"role": "assistant", "content": "", "thinking": "look it up", "tool_calls": [
                    {"id": "call_0", "type": "function", "function": {"name": "lookup", "arguments": {"q": "x"}}},
                    {"id": "call_1", "type": "function", "function": {"name": "noop", "arguments": {}}}]},
                {"role": "tool", "content": "a cat", "tool_name": "lookup", "tool_call_id": "call_0"},
                {"role": "tool", "content": "ok", "tool_name": "noop", "tool_call_id": "unknown"}
            ])
        );
    }

    #[test]
    fn urls_audio_and_bad_arguments_are_400s() {
        for (req, param) in [
            (
                json!({"model": "x", "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"model": "x", "messages": [{"role": "user", "content": [
                    {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}]}]}),
                "messages[0].content[0]",
            ),
            (
                json!({"model": "x", "messages": [{"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}]}),
                "messages[0].tool_calls",
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
    fn tools_and_choices() {
        let tools = json!([{"type": "function", "function": {"name": "f", "description": "d",
            "parameters": {"type": "object"}, "strict": true}}]);
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "tools": tools, "tool_choice": "auto"}),
        );
        assert_eq!(
            b["tools"],
            json!([{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}])
        );
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "tools": tools, "tool_choice": "none"}),
        );
        assert!(
            b.get("tools").is_none(),
            "none is honoured by sending no tools"
        );
        let b = body(
            json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
            "functions": [{"name": "g"}]}),
        );
        assert_eq!(b["tools"][0]["function"]["name"], "g");
        assert_eq!(
            refused(
                json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
                "tools": tools, "tool_choice": "required"})
            ),
            "tool_choice"
        );
        assert_eq!(
            refused(
                json!({"model": "x", "messages": [{"role": "user", "content": "hi"}],
                "tools": tools, "tool_choice": {"type": "function", "function": {"name": "f"}}})
            ),
            "tool_choice"
        );
        assert_eq!(
            refused(json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "n": 3})),
            "n"
        );
        assert_eq!(
            refused(
                json!({"model": "x", "messages": [{"role": "user", "content": "hi"}], "mystery": 1})
            ),
            "mystery"
        );
        let req: ChatCompletionRequest = serde_json::from_value(json!({"model": "x",
            "messages": [{"role": "user", "content": "hi"}], "tools": tools, "tool_choice": "required"}))
        .unwrap();
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
        assert_eq!(b["tools"][0]["function"]["name"], "f");
    }

    #[test]
    fn embeddings_send_input_as_given() {
        let a = adapter_with(
            "ollama/all-minilm",
            ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
        );
        let req: EmbeddingsRequest = serde_json::from_value(
            json!({"model": "x", "input": ["a", "b"], "dimensions": 8, "truncate": false, "user": "u"}),
        )
        .unwrap();
        let r = a.embeddings_request(&req).unwrap();
        assert_eq!(r.url, "http://localhost:11434/api/embed");
        assert_eq!(r.headers["authorization"], "Bearer k");
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            b,
            json!({"model": "all-minilm", "input": ["a", "b"], "dimensions": 8, "truncate": false})
        );
        let req: EmbeddingsRequest =
            serde_json::from_value(json!({"model": "x", "input": "one"})).unwrap();
        let b: Value = serde_json::from_slice(&a.embeddings_request(&req).unwrap().body).unwrap();
        assert_eq!(b["input"], "one");
        let req: EmbeddingsRequest = serde_json::from_value(
            json!({"model": "x", "input": "one", "encoding_format": "base64"}),
        )
        .unwrap();
        assert!(matches!(
            a.embeddings_request(&req),
            Err(GatewayError::UnsupportedParams { ref param, .. }) if param == "encoding_format"
        ));
        let req: EmbeddingsRequest =
            serde_json::from_value(json!({"model": "x", "input": [[1, 2]]})).unwrap();
        assert_eq!(a.embeddings_request(&req).unwrap_err().status(), 400);
    }
}
