//! Our OpenAI-format requests to Bedrock ones: chat to Converse / ConverseStream, embeddings to
//! InvokeModel with Titan or Cohere bodies.
//!
//! Chat follows LiteLLM's `AmazonConverseConfig`: system and developer messages become
//! `system[]`; tool results become `toolResult` blocks of a user turn and consecutive turns of
//! one role are merged (Bedrock wants alternation); images must be inline (`data:` URIs) since
//! Bedrock cannot fetch URLs; `cache_control` becomes a `cachePoint` after its block;
//! `max_tokens` / `temperature` / `top_p` / `stop` go to `inferenceConfig`; `reasoning_effort`
//! and `thinking` become Claude's `additionalModelRequestFields.thinking`; fields the gateway
//! does not model are model-specific and go to `additionalModelRequestFields` (Converse's own
//! top-level fields, such as `guardrailConfig`, stay top level). OpenAI parameters Bedrock has
//! no equivalent for are refused unless `drop_params`; `user` and `metadata` are ignored, as
//! LiteLLM ignores them.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value, json};
use tollgate_core::chat::{ContentPart, FilePart, ResponseFormat, ToolChoice};
use tollgate_core::embeddings::EmbeddingInput;
use tollgate_core::{
    ChatCompletionRequest, ChatMessage, EmbeddingsRequest, GatewayError, MessageContent, Role,
    Tool, ToolCall,
};

use super::{BedrockAdapter, DEFAULT_MAX_TOKENS, JSON_TOOL_NAME, PROVIDER_NAME};
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

/// Thinking budgets for `reasoning_effort` (LiteLLM's `DEFAULT_REASONING_EFFORT_*`, shared
/// with the Anthropic adapter).
const BUDGET_LOW: u64 = 1024;
const BUDGET_MEDIUM: u64 = 2048;
const BUDGET_HIGH: u64 = 4096;

/// Converse request fields that are top level, not model-specific, when a client sends them.
const TOP_LEVEL_FIELDS: &[&str] = &[
    "guardrailConfig",
    "performanceConfig",
    "promptVariables",
    "requestMetadata",
    "additionalModelResponseFieldPaths",
    "serviceTier",
];

/// Request fields consumed here rather than forwarded.
const CONSUMED: &[&str] = &[
    "extra_headers",
    "thinking",
    "top_k",
    "additionalModelRequestFields",
];

/// Which InvokeModel body an embeddings model takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EmbeddingFamily {
    /// `amazon.titan-embed-*`: one `inputText` per call.
    Titan,
    /// `cohere.embed-*`: a batch of `texts`.
    Cohere,
}

/// The model families whose request shapes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Claude,
    Nova,
    OpenAi,
    Other,
}

impl BedrockAdapter {
    fn family(&self) -> Family {
        let base = self.base_model();
        if base.starts_with("anthropic.") || base.contains("claude") {
            Family::Claude
        } else if base.starts_with("amazon.nova") {
            Family::Nova
        } else if base.starts_with("openai.") {
            Family::OpenAi
        } else {
            Family::Other
        }
    }

    pub(super) fn embedding_family(&self) -> Result<EmbeddingFamily, GatewayError> {
        let base = self.base_model();
        if base.starts_with("amazon.titan-embed-text") {
            Ok(EmbeddingFamily::Titan)
        } else if base.starts_with("cohere.embed-") {
            Ok(EmbeddingFamily::Cohere)
        } else {
            Err(GatewayError::invalid_request(
                format!(
                    "Bedrock embeddings are supported for amazon.titan-embed-text-* and cohere.embed-* models, not {}",
                    self.model
                ),
                Some("model".into()),
            ))
        }
    }

    /// `POST {endpoint}/model/{id}/converse` (or `/converse-stream` for a stream).
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        let req = self.with_deployment_params(req)?;
        let drop = options.drop_params || self.params.drop_params;
        let family = self.family();
        if !drop {
            if let Some(param) = refused_params(&req, family).first() {
                return Err(GatewayError::UnsupportedParams {
                    provider: tollgate_core::Provider::Bedrock.to_string(),
                    model: self.model.clone(),
                    param: (*param).to_owned(),
                });
            }
        }
        let mut b = Builder {
            family,
            headers: Vec::new(),
            documents: 0,
        };
        b.request_headers(&req)?;
        let body = b.body(&req)?;
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| GatewayError::Internal(format!("cannot encode the request: {e}")))?;
        let accept = if req.is_stream() {
            "application/vnd.amazon.eventstream"
        } else {
            "application/json"
        };
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.converse_url(req.is_stream()),
            headers: self.headers(accept, &b.headers)?,
            body: Bytes::from(body),
        })
    }

    /// The InvokeModel calls one embeddings request needs: one per text for Titan, which
    /// embeds a single text per call, else one. The engine sends them (concurrently) and
    /// hands the bodies, in order, to [`Self::merge_embeddings_bodies`].
    pub fn embeddings_requests(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<Vec<UpstreamRequest>, GatewayError> {
        match (self.embedding_family()?, &req.input) {
            (EmbeddingFamily::Titan, EmbeddingInput::Many(texts)) if texts.len() > 1 => texts
                .iter()
                .map(|text| {
                    let mut one = req.clone();
                    one.input = EmbeddingInput::One(text.clone());
                    self.embeddings_request(&one)
                })
                .collect(),
            _ => Ok(vec![self.embeddings_request(req)?]),
        }
    }

    /// One body from the bodies of [`Self::embeddings_requests`]' calls, in request order:
    /// the Titan answers as a JSON array, which [`Self::parse_embeddings_response`] reads as
    /// one vector per input with the token counts summed.
    pub fn merge_embeddings_bodies(&self, mut bodies: Vec<Bytes>) -> Result<Bytes, GatewayError> {
        if bodies.len() == 1 {
            if let Some(only) = bodies.pop() {
                return Ok(only);
            }
        }
        let mut items = Vec::with_capacity(bodies.len());
        for body in &bodies {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                GatewayError::InvalidUpstreamResponse {
                    provider: PROVIDER_NAME.to_owned(),
                    message: e.to_string(),
                }
            })?;
            items.push(v);
        }
        serde_json::to_vec(&Value::Array(items))
            .map(Bytes::from)
            .map_err(|e| GatewayError::Internal(e.to_string()))
    }

    /// `POST {endpoint}/model/{id}/invoke` with a Titan (`inputText`) or Cohere (`texts`)
    /// body. Titan embeds one text per call: a Titan batch goes through
    /// [`Self::embeddings_requests`] instead.
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        let family = self.embedding_family()?;
        let texts: Vec<&str> = match &req.input {
            EmbeddingInput::One(s) => vec![s.as_str()],
            EmbeddingInput::Many(v) => v.iter().map(String::as_str).collect(),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
                return Err(bad(
                    "Bedrock embeddings take text input, not token ids",
                    "input",
                ));
            }
        };
        if texts.is_empty() {
            return Err(bad("input must contain at least one text", "input"));
        }
        let defaults = &self.params.default_params;
        let param = |name: &str| {
            req.extra
                .get(name)
                .filter(|v| !v.is_null())
                .or_else(|| defaults.get(name).filter(|v| !v.is_null()))
                .cloned()
        };
        let dimensions = req
            .dimensions
            .map(Value::from)
            .or_else(|| param("dimensions"));
        let mut body = Map::new();
        let mut known: Vec<&str> = Vec::new();
        match family {
            EmbeddingFamily::Titan => {
                let [text] = texts.as_slice() else {
                    return Err(bad(
                        format!(
                            "{} embeds one text per call: a batch of {} inputs is sent as one call per input",
                            self.model,
                            texts.len()
                        ),
                        "input",
                    ));
                };
                body.insert("inputText".into(), Value::String((*text).to_owned()));
                if let Some(d) = dimensions {
                    body.insert("dimensions".into(), d);
                }
                for name in ["normalize", "embeddingTypes"] {
                    known.push(name);
                    if let Some(v) = param(name) {
                        body.insert(name.into(), v);
                    }
                }
            }
            EmbeddingFamily::Cohere => {
                body.insert(
                    "texts".into(),
                    Value::Array(
                        texts
                            .iter()
                            .map(|t| Value::String((*t).to_owned()))
                            .collect(),
                    ),
                );
                body.insert(
                    "input_type".into(),
                    param("input_type").unwrap_or_else(|| json!("search_document")),
                );
                known.push("input_type");
                for name in ["truncate", "embedding_types"] {
                    known.push(name);
                    if let Some(v) = param(name) {
                        body.insert(name.into(), v);
                    }
                }
                if let Some(d) = dimensions {
                    if self.base_model().starts_with("cohere.embed-v4") {
                        body.insert("output_dimension".into(), d);
                    } else if !self.params.drop_params {
                        return Err(self.unsupported("dimensions"));
                    }
                }
            }
        }
        // Anything else the client named is refused rather than lost.
        for (key, value) in &req.extra {
            if !value.is_null()
                && !known.contains(&key.as_str())
                && key != "dimensions"
                && !self.params.drop_params
            {
                return Err(self.unsupported(key));
            }
        }
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| GatewayError::Internal(format!("cannot encode the request: {e}")))?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.invoke_url(),
            headers: self.headers("application/json", &[])?,
            body: Bytes::from(body),
        })
    }

    fn unsupported(&self, param: &str) -> GatewayError {
        GatewayError::UnsupportedParams {
            provider: tollgate_core::Provider::Bedrock.to_string(),
            model: self.model.clone(),
            param: param.to_owned(),
        }
    }

    /// The request with the deployment's `default_params` filled in (the request wins) and
    /// its `additional_drop_params` removed; borrowed when there is nothing to do.
    fn with_deployment_params<'a>(
        &self,
        req: &'a ChatCompletionRequest,
    ) -> Result<Cow<'a, ChatCompletionRequest>, GatewayError> {
        self.params.apply_to(req)
    }

    pub(super) fn headers(
        &self,
        accept: &str,
        extra: &[(String, String)],
    ) -> Result<HeaderMap, GatewayError> {
        let mut h = HeaderMap::with_capacity(4 + extra.len());
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(http::header::ACCEPT, header_value("accept", accept)?);
        if let Some(key) = self.bearer() {
            let mut v = header_value("Authorization", &format!("Bearer {key}"))?;
            v.set_sensitive(true);
            h.insert(http::header::AUTHORIZATION, v);
        }
        for (name, value) in self.params.extra_headers.iter().chain(extra) {
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

/// The OpenAI parameters of `req` that Converse cannot honour, in a fixed order. Values that
/// ask for nothing (`n: 1`, `logprobs: false`, a zero penalty) are not refused.
fn refused_params(req: &ChatCompletionRequest, family: Family) -> Vec<&'static str> {
    let mut out = Vec::new();
    let set = |v: &Option<Value>| v.as_ref().is_some_and(|v| !v.is_null());
    if req.n.is_some_and(|n| n > 1) {
        out.push("n");
    }
    if req.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
        out.push("logit_bias");
    }
    if req.presence_penalty.is_some_and(|p| p != 0.0) {
        out.push("presence_penalty");
    }
    if req.frequency_penalty.is_some_and(|p| p != 0.0) {
        out.push("frequency_penalty");
    }
    if req.logprobs == Some(true) {
        out.push("logprobs");
    }
    if req.top_logprobs.is_some_and(|n| n > 0) {
        out.push("top_logprobs");
    }
    if req.seed.is_some() {
        out.push("seed");
    }
    if req
        .modalities
        .as_ref()
        .is_some_and(|m| m.iter().any(|x| x != "text"))
    {
        out.push("modalities");
    }
    if set(&req.audio) {
        out.push("audio");
    }
    if set(&req.prediction) {
        out.push("prediction");
    }
    if req.verbosity.is_some() {
        out.push("verbosity");
    }
    if req.store == Some(true) {
        out.push("store");
    }
    if set(&req.web_search_options) {
        out.push("web_search_options");
    }
    if req
        .service_tier
        .as_deref()
        .is_some_and(|t| !matches!(t, "auto" | "default"))
    {
        out.push("service_tier");
    }
    // Converse always allows parallel calls and has no switch for it.
    if req.parallel_tool_calls == Some(false) {
        out.push("parallel_tool_calls");
    }
    // Converse has no "none" tool choice (LiteLLM refuses it too).
    let none = |mode: &str| mode == "none";
    if matches!(&req.tool_choice, Some(ToolChoice::Mode(m)) if none(m))
        || matches!(&req.function_call, Some(Value::String(m)) if none(m))
    {
        out.push("tool_choice");
    }
    if req.reasoning_effort.as_deref().is_some_and(|e| e != "none")
        && !matches!(family, Family::Claude | Family::OpenAi)
    {
        out.push("reasoning_effort");
    }
    out
}

/// State of one translation.
struct Builder {
    family: Family,
    /// Headers asked for in the body (`extra_headers`).
    headers: Vec<(String, String)>,
    /// Documents named so far (Bedrock requires a name per document).
    documents: usize,
}

impl Builder {
    /// `extra_headers` sent in the body are headers, not body fields.
    fn request_headers(&mut self, req: &ChatCompletionRequest) -> Result<(), GatewayError> {
        let Some(h) = req.extra.get("extra_headers").filter(|v| !v.is_null()) else {
            return Ok(());
        };
        let Value::Object(map) = h else {
            return Err(bad(
                "extra_headers must be an object of strings",
                "extra_headers",
            ));
        };
        for (name, value) in map {
            let Value::String(value) = value else {
                return Err(bad(
                    format!("extra_headers.{name} must be a string"),
                    "extra_headers",
                ));
            };
            self.headers.push((name.clone(), value.clone()));
        }
        Ok(())
    }

    fn body(&mut self, req: &ChatCompletionRequest) -> Result<Map<String, Value>, GatewayError> {
        let mut body = Map::new();
        let (system, messages, has_tool_blocks) = self.messages(&req.messages)?;
        body.insert("messages".into(), Value::Array(messages));
        if !system.is_empty() {
            body.insert("system".into(), Value::Array(system));
        }

        let mut additional = match req.extra.get("additionalModelRequestFields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => {
                return Err(bad(
                    "additionalModelRequestFields must be an object",
                    "additionalModelRequestFields",
                ));
            }
        };
        let thinking = match req.extra.get("thinking").filter(|v| !v.is_null()) {
            Some(t) => Some(t.clone()),
            None if self.family == Family::Claude => {
                thinking_for_effort(req.reasoning_effort.as_deref())?
            }
            None => None,
        };
        let thinking_on = thinking
            .as_ref()
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "enabled" || t == "adaptive");
        let budget = thinking
            .as_ref()
            .filter(|_| thinking_on)
            .and_then(|t| t.get("budget_tokens"))
            .and_then(Value::as_u64);
        if let Some(t) = thinking {
            additional.insert("thinking".into(), t);
        }
        if self.family == Family::OpenAi {
            if let Some(effort) = req.reasoning_effort.as_deref() {
                additional.insert("reasoning_effort".into(), Value::String(effort.to_owned()));
            }
        }

        let mut inference = Map::new();
        match (req.max_completion_tokens.or(req.max_tokens), budget) {
            (Some(n), _) => {
                inference.insert("maxTokens".into(), Value::from(n));
            }
            // The budget must stay below maxTokens; LiteLLM adds its default on top.
            (None, Some(b)) => {
                inference.insert("maxTokens".into(), Value::from(b + DEFAULT_MAX_TOKENS));
            }
            (None, None) => {}
        }
        if let Some(t) = req.temperature {
            inference.insert("temperature".into(), Value::from(t));
        }
        if let Some(p) = req.top_p {
            inference.insert("topP".into(), Value::from(p));
        }
        if let Some(stop) = &req.stop {
            // Converse rejects empty stop sequences; they ask for nothing anyway.
            let stops: Vec<Value> = stop
                .to_vec()
                .into_iter()
                .filter(|s| !s.is_empty())
                .map(Value::String)
                .collect();
            if !stops.is_empty() {
                inference.insert("stopSequences".into(), Value::Array(stops));
            }
        }
        body.insert("inferenceConfig".into(), Value::Object(inference));

        if let Some(k) = req.extra.get("top_k").filter(|v| !v.is_null()) {
            if self.family == Family::Nova {
                let cfg = additional
                    .entry("inferenceConfig")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(cfg) = cfg {
                    cfg.insert("topK".into(), k.clone());
                }
            } else {
                additional.insert("top_k".into(), k.clone());
            }
        }

        if let Some(tool_config) = self.tool_config(req, thinking_on)? {
            body.insert("toolConfig".into(), tool_config);
        } else if has_tool_blocks {
            return Err(bad(
                "Bedrock rejects a conversation with tool calls or tool results unless `tools` is sent too; include the tool definitions",
                "tools",
            ));
        }

        for (k, v) in &req.extra {
            if CONSUMED.contains(&k.as_str()) || v.is_null() {
                continue;
            }
            if TOP_LEVEL_FIELDS.contains(&k.as_str()) {
                body.insert(k.clone(), v.clone());
            } else {
                additional.insert(k.clone(), v.clone());
            }
        }
        if !additional.is_empty() {
            body.insert(
                "additionalModelRequestFields".into(),
                Value::Object(additional),
            );
        }
        Ok(body)
    }

    /// `toolConfig` from `tools` (or legacy `functions`), the JSON-mode tool and the choice.
    fn tool_config(
        &mut self,
        req: &ChatCompletionRequest,
        thinking_on: bool,
    ) -> Result<Option<Value>, GatewayError> {
        let mut tools = Vec::new();
        for (i, tool) in req.tools.iter().flatten().enumerate() {
            tool_def(tool, &format!("tools[{i}]"), &mut tools)?;
        }
        for (i, f) in req.functions.iter().flatten().enumerate() {
            let path = format!("functions[{i}]");
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("a function needs a name", format!("{path}.name")))?;
            tools.push(tool_spec(
                name,
                f.get("description").and_then(Value::as_str),
                f.get("parameters").filter(|p| !p.is_null()).cloned(),
            ));
        }
        let mut choice = match (&req.tool_choice, &req.function_call) {
            (Some(ToolChoice::Mode(mode)), _) => match mode.as_str() {
                "auto" => Some(json!({"auto": {}})),
                "required" | "any" => Some(json!({"any": {}})),
                // Refused earlier unless drop_params: then Bedrock's default (auto) applies.
                "none" => None,
                other => {
                    return Err(bad(
                        format!(
                            "tool_choice={other:?} is not one of auto, required or a named function"
                        ),
                        "tool_choice",
                    ));
                }
            },
            (Some(ToolChoice::Named(named)), _) => {
                Some(json!({"tool": {"name": named.function.name}}))
            }
            (None, Some(Value::Object(f))) => match f.get("name").and_then(Value::as_str) {
                Some(name) => Some(json!({"tool": {"name": name}})),
                None => return Err(bad("function_call.name is missing", "function_call")),
            },
            (None, Some(Value::String(mode))) if mode == "auto" => Some(json!({"auto": {}})),
            _ => None,
        };
        if let Some(schema) = json_mode_schema(req.response_format.as_ref()) {
            let description = match &req.response_format {
                Some(ResponseFormat::JsonSchema { json_schema }) => {
                    json_schema.description.as_deref()
                }
                _ => None,
            };
            tools.push(tool_spec(JSON_TOOL_NAME, description, Some(schema)));
            // Extended thinking forbids forcing a tool; the model then calls it by itself.
            if !thinking_on {
                choice = Some(json!({"tool": {"name": JSON_TOOL_NAME}}));
            }
        }
        if tools.is_empty() {
            return Ok(None);
        }
        let mut config = Map::new();
        config.insert("tools".into(), Value::Array(tools));
        if let Some(c) = choice {
            config.insert("toolChoice".into(), c);
        }
        Ok(Some(Value::Object(config)))
    }

    /// `system` blocks, the alternating turns, and whether any turn holds tool blocks.
    fn messages(
        &mut self,
        messages: &[ChatMessage],
    ) -> Result<(Vec<Value>, Vec<Value>, bool), GatewayError> {
        let mut system = Vec::new();
        let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
        let mut has_tool_blocks = false;
        for (i, msg) in messages.iter().enumerate() {
            let path = format!("messages[{i}]");
            match msg.role {
                Role::System | Role::Developer => system_blocks(msg, &path, &mut system)?,
                Role::User => push_turn(&mut turns, "user", self.user_blocks(msg, &path)?),
                Role::Tool | Role::Function => {
                    has_tool_blocks = true;
                    let block = self.tool_result(msg, &path)?;
                    push_turn(&mut turns, "user", vec![block]);
                }
                Role::Assistant => {
                    has_tool_blocks |= msg.tool_calls.as_ref().is_some_and(|c| !c.is_empty())
                        || msg.extra.get("function_call").is_some_and(|f| !f.is_null());
                    push_turn(&mut turns, "assistant", assistant_blocks(msg, &path)?);
                }
            }
        }
        if turns.is_empty() {
            return Err(bad(
                "Bedrock needs at least one user or assistant message besides the system prompt",
                "messages",
            ));
        }
        let messages = turns
            .into_iter()
            .map(|(role, content)| json!({ "role": role, "content": content }))
            .collect();
        Ok((system, messages, has_tool_blocks))
    }

    fn user_blocks(&mut self, msg: &ChatMessage, path: &str) -> Result<Vec<Value>, GatewayError> {
        let mut blocks = Vec::new();
        match &msg.content {
            None => {}
            Some(MessageContent::Text(text)) => push_text(&mut blocks, text),
            Some(MessageContent::Parts(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    self.part(part, &format!("{path}.content[{j}]"), &mut blocks)?;
                }
            }
        }
        cache_point_after(&mut blocks, &msg.extra);
        Ok(blocks)
    }

    /// One user content part (and its cache point).
    fn part(
        &mut self,
        part: &ContentPart,
        path: &str,
        out: &mut Vec<Value>,
    ) -> Result<(), GatewayError> {
        let extra = match part {
            ContentPart::Text { text, extra }
            | ContentPart::Refusal {
                refusal: text,
                extra,
            } => {
                push_text(out, text);
                extra
            }
            ContentPart::ImageUrl { image_url, extra } => {
                out.push(image_block(
                    &image_url.url,
                    &format!("{path}.image_url.url"),
                )?);
                extra
            }
            ContentPart::File { file, extra } => {
                out.push(self.file_block(file, path)?);
                extra
            }
            ContentPart::InputAudio { .. } => {
                return Err(bad("Bedrock Converse does not accept audio input", path));
            }
        };
        cache_point_after(out, extra);
        Ok(())
    }

    /// A `file` part with inline data: an image or a document.
    fn file_block(&mut self, file: &FilePart, path: &str) -> Result<Value, GatewayError> {
        let Some(data) = &file.file_data else {
            return Err(bad(
                "Bedrock needs files inline: send file.file_data as a base64 data: URI (uploaded file ids and URLs cannot be fetched)",
                format!("{path}.file"),
            ));
        };
        let p = format!("{path}.file.file_data");
        let (media, payload) = parse_data_uri(data, &p)?;
        if media.starts_with("image/") {
            return image_from_parts(&media, payload, &p);
        }
        let format = document_format(&media).ok_or_else(|| {
            bad(
                format!(
                    "Bedrock documents must be pdf, csv, doc, docx, xls, xlsx, html, txt or md, not {media}"
                ),
                p.clone(),
            )
        })?;
        self.documents += 1;
        let name = file
            .filename
            .as_deref()
            .map(document_name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("document-{}", self.documents));
        Ok(json!({"document": {"format": format, "name": name, "source": {"bytes": payload}}}))
    }

    fn tool_result(&mut self, msg: &ChatMessage, path: &str) -> Result<Value, GatewayError> {
        let id = match (&msg.tool_call_id, msg.role, &msg.name) {
            (Some(id), _, _) => id.clone(),
            // Legacy `function` results carry only the name; the matching `function_call`
            // turn gets the same derived id.
            (None, Role::Function, Some(name)) => legacy_call_id(name),
            _ => {
                return Err(bad(
                    "a tool message needs tool_call_id",
                    format!("{path}.tool_call_id"),
                ));
            }
        };
        let mut content = Vec::new();
        match &msg.content {
            None => content.push(json!({"text": ""})),
            Some(MessageContent::Text(text)) => content.push(json!({ "text": text })),
            Some(MessageContent::Parts(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    let p = format!("{path}.content[{j}]");
                    match part {
                        ContentPart::Text { text, .. } => content.push(json!({ "text": text })),
                        ContentPart::ImageUrl { image_url, .. } => {
                            content
                                .push(image_block(&image_url.url, &format!("{p}.image_url.url"))?);
                        }
                        _ => return Err(bad("a tool result may only contain text and images", p)),
                    }
                }
            }
        }
        let mut result = Map::new();
        result.insert("toolUseId".into(), Value::String(id));
        result.insert("content".into(), Value::Array(content));
        // Not an OpenAI field: a client that knows Bedrock can mark a failed call.
        if msg.extra.get("is_error") == Some(&Value::Bool(true)) {
            result.insert("status".into(), json!("error"));
        }
        Ok(json!({ "toolResult": result }))
    }
}

fn system_blocks(msg: &ChatMessage, path: &str, out: &mut Vec<Value>) -> Result<(), GatewayError> {
    match &msg.content {
        None => {}
        Some(MessageContent::Text(text)) => push_text(out, text),
        Some(MessageContent::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let ContentPart::Text { text, extra } = part else {
                    return Err(bad(
                        "a system message may only contain text parts",
                        format!("{path}.content[{j}]"),
                    ));
                };
                push_text(out, text);
                cache_point_after(out, extra);
            }
        }
    }
    cache_point_after(out, &msg.extra);
    Ok(())
}

fn assistant_blocks(msg: &ChatMessage, path: &str) -> Result<Vec<Value>, GatewayError> {
    let mut blocks = Vec::new();
    // The signed thinking of a tool-calling turn must be sent back first, untouched.
    match msg.extra.get("thinking_blocks") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                let p = format!("{path}.thinking_blocks[{j}]");
                match item.get("type").and_then(Value::as_str) {
                    Some("thinking") => {
                        let mut text = Map::new();
                        text.insert(
                            "text".into(),
                            item.get("thinking").cloned().unwrap_or_else(|| json!("")),
                        );
                        if let Some(sig) = item.get("signature").filter(|s| !s.is_null()) {
                            text.insert("signature".into(), sig.clone());
                        }
                        blocks.push(json!({"reasoningContent": {"reasoningText": text}}));
                    }
                    Some("redacted_thinking") => {
                        let data = item.get("data").cloned().unwrap_or_else(|| json!(""));
                        blocks.push(json!({"reasoningContent": {"redactedContent": data}}));
                    }
                    _ => {
                        return Err(bad(
                            "thinking_blocks entries must be thinking or redacted_thinking blocks",
                            p,
                        ));
                    }
                }
            }
        }
        Some(_) => {
            return Err(bad(
                "thinking_blocks must be a list",
                format!("{path}.thinking_blocks"),
            ));
        }
    }
    match &msg.content {
        None => {}
        Some(MessageContent::Text(text)) => push_text(&mut blocks, text),
        Some(MessageContent::Parts(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                match part {
                    ContentPart::Text { text, extra }
                    | ContentPart::Refusal {
                        refusal: text,
                        extra,
                    } => {
                        push_text(&mut blocks, text);
                        cache_point_after(&mut blocks, extra);
                    }
                    _ => {
                        return Err(bad(
                            "an assistant message may only contain text",
                            format!("{path}.content[{j}]"),
                        ));
                    }
                }
            }
        }
    }
    for (j, call) in msg.tool_calls.iter().flatten().enumerate() {
        blocks.push(tool_use(call, &format!("{path}.tool_calls[{j}]"))?);
    }
    if let Some(f) = msg.extra.get("function_call").filter(|v| !v.is_null()) {
        let name = f.get("name").and_then(Value::as_str).ok_or_else(|| {
            bad(
                "function_call.name is missing",
                format!("{path}.function_call"),
            )
        })?;
        let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
        blocks.push(json!({"toolUse": {
            "toolUseId": legacy_call_id(name),
            "name": name,
            "input": tool_input(args, &format!("{path}.function_call.arguments"))?,
        }}));
    }
    cache_point_after(&mut blocks, &msg.extra);
    Ok(blocks)
}

fn push_turn(turns: &mut Vec<(&'static str, Vec<Value>)>, role: &'static str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, content)) if *last == role => content.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

/// Bedrock rejects blank text blocks ("The text field in the ContentBlock object is blank"),
/// and an empty assistant content beside tool calls is what clients send: both are skipped.
fn push_text(out: &mut Vec<Value>, text: &str) {
    if !text.trim().is_empty() {
        out.push(json!({ "text": text }));
    }
}

/// `cache_control` marks the end of what precedes it: Bedrock's `cachePoint` block.
fn cache_point_after(blocks: &mut Vec<Value>, extra: &Map<String, Value>) {
    let marked = extra.get("cache_control").is_some_and(|c| !c.is_null());
    let already = blocks.last().is_some_and(|b| b.get("cachePoint").is_some());
    if marked && !already && !blocks.is_empty() {
        blocks.push(json!({"cachePoint": {"type": "default"}}));
    }
}

/// `(media type, base64 payload)` of a base64 `data:` URI.
fn parse_data_uri<'a>(url: &'a str, path: &str) -> Result<(String, &'a str), GatewayError> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(bad("expected a base64 data: URI", path));
    };
    let Some((meta, data)) = rest.split_once(',') else {
        return Err(bad("the data: URI has no ',' before its payload", path));
    };
    let mut fields = meta.split(';');
    let media = fields
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !fields.any(|f| f.trim().eq_ignore_ascii_case("base64")) {
        return Err(bad("only base64 data: URIs are supported", path));
    }
    if media.is_empty() {
        return Err(bad("the data: URI names no media type", path));
    }
    Ok((media, data))
}

/// An OpenAI image URL as a Converse image block. Bedrock takes image bytes (or an S3
/// object), never a URL it would have to fetch, and Tollgate does not download on a client's
/// behalf: an http(s) URL is a 400 that says so.
fn image_block(url: &str, path: &str) -> Result<Value, GatewayError> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Err(bad(
            "Bedrock needs images inline and cannot fetch image URLs: send the image as a base64 data: URI (data:image/png;base64,...)",
            path,
        ));
    }
    if let Some(key) = url.strip_prefix("s3://") {
        let ext = key
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let format = image_format(&format!("image/{ext}")).ok_or_else(|| {
            bad(
                "an s3:// image needs a png, jpeg, gif or webp file extension",
                path,
            )
        })?;
        return Ok(json!({"image": {"format": format, "source": {"s3Location": {"uri": url}}}}));
    }
    let (media, payload) = parse_data_uri(url, path)?;
    image_from_parts(&media, payload, path)
}

fn image_from_parts(media: &str, payload: &str, path: &str) -> Result<Value, GatewayError> {
    let format = image_format(media).ok_or_else(|| {
        bad(
            format!("Bedrock accepts png, jpeg, gif and webp images, not {media}"),
            path,
        )
    })?;
    Ok(json!({"image": {"format": format, "source": {"bytes": payload}}}))
}

/// The bare subtype Converse wants (`png`, not `image/png`).
fn image_format(media: &str) -> Option<&'static str> {
    Some(match media {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => return None,
    })
}

fn document_format(media: &str) -> Option<&'static str> {
    Some(match media {
        "application/pdf" => "pdf",
        "text/csv" => "csv",
        "application/msword" => "doc",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "text/html" => "html",
        "text/plain" => "txt",
        "text/markdown" => "md",
        _ => return None,
    })
}

/// A document name Bedrock accepts (letters, digits, single spaces, `-()[]`).
fn document_name(filename: &str) -> String {
    let mut out = String::with_capacity(filename.len());
    for c in filename.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else if c.is_whitespace() {
            ' '
        } else {
            '-'
        };
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

fn tool_use(call: &ToolCall, path: &str) -> Result<Value, GatewayError> {
    if call.kind != "function" {
        return Err(bad(
            format!("tool call type {:?} cannot be sent to Bedrock", call.kind),
            format!("{path}.type"),
        ));
    }
    Ok(json!({"toolUse": {
        "toolUseId": call.id,
        "name": call.function.name,
        "input": tool_input(&call.function.arguments, &format!("{path}.function.arguments"))?,
    }}))
}

/// OpenAI sends arguments as a JSON string; Converse wants the object. Empty and `null` mean
/// `{}`.
fn tool_input(arguments: &str, path: &str) -> Result<Value, GatewayError> {
    let trimmed = arguments.trim();
    if trimmed.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(trimmed) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(Value::Null) => Ok(Value::Object(Map::new())),
        Ok(_) => Err(bad("tool call arguments must be a JSON object", path)),
        Err(e) => Err(bad(
            format!("tool call arguments are not valid JSON: {e}"),
            path,
        )),
    }
}

/// A function tool as a `toolSpec` (plus a `cachePoint` after it when marked). `strict` has
/// no Converse counterpart and is dropped, as LiteLLM drops it, so clients that always send
/// it keep working.
fn tool_def(tool: &Tool, path: &str, out: &mut Vec<Value>) -> Result<(), GatewayError> {
    if tool.kind != "function" {
        return Err(bad(
            format!(
                "Bedrock Converse only takes function tools, not {:?}",
                tool.kind
            ),
            format!("{path}.type"),
        ));
    }
    let Some(f) = &tool.function else {
        return Err(bad(
            "a function tool needs `function`",
            format!("{path}.function"),
        ));
    };
    out.push(tool_spec(
        &f.name,
        f.description.as_deref(),
        f.parameters.clone().filter(|p| !p.is_null()),
    ));
    if f.extra.get("cache_control").is_some_and(|c| !c.is_null())
        || tool
            .extra
            .get("cache_control")
            .is_some_and(|c| !c.is_null())
    {
        out.push(json!({"cachePoint": {"type": "default"}}));
    }
    Ok(())
}

fn tool_spec(name: &str, description: Option<&str>, schema: Option<Value>) -> Value {
    let mut spec = Map::new();
    spec.insert("name".into(), Value::String(name.to_owned()));
    if let Some(d) = description {
        spec.insert("description".into(), Value::String(d.to_owned()));
    }
    let schema = schema.unwrap_or_else(|| json!({"type": "object", "properties": {}}));
    spec.insert("inputSchema".into(), json!({ "json": schema }));
    json!({ "toolSpec": spec })
}

/// Ids for legacy `function_call` turns, which have none: derived from the function name so
/// the call and its `function` result pair up without randomness.
fn legacy_call_id(name: &str) -> String {
    format!("tooluse_legacy_{name}")
}

/// The input schema of the JSON-mode tool, if the request asks for JSON output.
fn json_mode_schema(format: Option<&ResponseFormat>) -> Option<Value> {
    let permissive = || json!({"type": "object", "additionalProperties": true, "properties": {}});
    match format? {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(permissive()),
        ResponseFormat::JsonSchema { json_schema } => match &json_schema.schema {
            Some(Value::Object(schema)) => {
                // The tool's input is always an object; the client's schema refines it.
                let mut s = Map::new();
                s.insert("type".into(), Value::String("object".into()));
                for (k, v) in schema {
                    s.insert(k.clone(), v.clone());
                }
                Some(Value::Object(s))
            }
            _ => Some(permissive()),
        },
    }
}

/// `reasoning_effort` as a Claude extended-thinking budget (LiteLLM's mapping; `none` asks
/// for no thinking).
fn thinking_for_effort(effort: Option<&str>) -> Result<Option<Value>, GatewayError> {
    let budget = match effort {
        None | Some("none") => return Ok(None),
        Some("minimal" | "low") => BUDGET_LOW,
        Some("medium") => BUDGET_MEDIUM,
        Some("high") => BUDGET_HIGH,
        Some(other) => {
            return Err(bad(
                format!(
                    "reasoning_effort={other:?} has no Claude equivalent; use none, minimal, low, medium or high"
                ),
                "reasoning_effort",
            ));
        }
    };
    Ok(Some(json!({"type": "enabled", "budget_tokens": budget})))
}

fn bad(message: impl Into<String>, param: impl Into<String>) -> GatewayError {
    GatewayError::invalid_request(message, Some(param.into()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{AwsParams, ProviderParams};
    use std::collections::HashMap;
    use tollgate_core::{Env, ErrorClass, ModelRef};

    fn adapter_for(model: &str, params: ProviderParams) -> BedrockAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        let env = Env::with_overlay(HashMap::from([
            ("AWS_BEARER_TOKEN_BEDROCK".to_owned(), String::new()),
            ("AWS_ACCESS_KEY_ID".to_owned(), String::new()),
            ("AWS_REGION_NAME".to_owned(), String::new()),
            ("AWS_REGION".to_owned(), String::new()),
            ("AWS_DEFAULT_REGION".to_owned(), String::new()),
            ("AWS_BEDROCK_RUNTIME_ENDPOINT".to_owned(), String::new()),
        ]));
        BedrockAdapter::new(&m, &params, &env).unwrap().unwrap()
    }

    fn claude() -> BedrockAdapter {
        adapter_for(
            "bedrock/us.anthropic.claude-sonnet-4-20250514-v1:0",
            ProviderParams {
                aws: AwsParams {
                    access_key_id: Some("AKID".into()),
                    secret_access_key: Some("secret".into()),
                    region_name: Some("us-east-1".into()),
                    ..AwsParams::default()
                },
                ..ProviderParams::default()
            },
        )
    }

    fn req(v: Value) -> ChatCompletionRequest {
        serde_json::from_value(v).unwrap()
    }

    fn body_of(a: &BedrockAdapter, v: Value) -> Value {
        let up = a.chat_request(&req(v), CallOptions::default()).unwrap();
        serde_json::from_slice(&up.body).unwrap()
    }

    fn body(v: Value) -> Value {
        body_of(&claude(), v)
    }

    fn err(v: Value) -> GatewayError {
        claude()
            .chat_request(&req(v), CallOptions::default())
            .unwrap_err()
    }

    #[test]
    fn minimal_request_url_headers_and_body() {
        let up = claude()
            .chat_request(
                &req(json!({"model": "alias", "messages": [{"role": "user", "content": "hi"}], "user": "u1"})),
                CallOptions::default(),
            )
            .unwrap();
        assert_eq!(
            up.url,
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
        );
        assert_eq!(up.headers["content-type"], "application/json");
        assert_eq!(up.headers["accept"], "application/json");
        assert!(
            up.headers.get("authorization").is_none(),
            "signed later, in authorize"
        );
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            b,
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {}})
        );
        let up = claude()
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true})),
                CallOptions::default(),
            )
            .unwrap();
        assert!(up.url.ends_with("/converse-stream"));
        assert_eq!(up.headers["accept"], "application/vnd.amazon.eventstream");
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert!(b.get("stream").is_none());
    }

    #[test]
    fn system_turns_tools_and_cache_points() {
        let b = body(json!({"model": "m",
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}, "strict": true}, "cache_control": {"type": "ephemeral"}}],
        "tool_choice": "required",
        "messages": [
            {"role": "system", "content": "sys", "cache_control": {"type": "ephemeral"}},
            {"role": "developer", "content": [{"type": "text", "text": "dev"}]},
            {"role": "user", "content": "a"},
            {"role": "user", "content": [{"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "  "}]},
            {"role": "assistant", "content": "", "thinking_blocks": [
                {"type": "thinking", "thinking": "hm", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xyz"}],
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                            {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": ""}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "one"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "two"}], "is_error": true},
            {"role": "user", "content": "thanks"}
        ]}));
        assert_eq!(
            b["system"],
            json!([{"text": "sys"}, {"cachePoint": {"type": "default"}}, {"text": "dev"}])
        );
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"text": "a"}, {"text": "b"}, {"cachePoint": {"type": "default"}}]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hm", "signature": "sig"}}},
                    {"reasoningContent": {"redactedContent": "xyz"}},
                    {"toolUse": {"toolUseId": "call_1", "name": "f", "input": {"x": 1}}},
                    {"toolUse": {"toolUseId": "call_2", "name": "f", "input": {}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "call_1", "content": [{"text": "one"}]}},
                    {"toolResult": {"toolUseId": "call_2", "content": [{"text": "two"}], "status": "error"}},
                    {"text": "thanks"}
                ]}
            ])
        );
        assert_eq!(
            b["toolConfig"],
            json!({"tools": [
                {"toolSpec": {"name": "f", "description": "d", "inputSchema": {"json": {"type": "object"}}}},
                {"cachePoint": {"type": "default"}}
            ], "toolChoice": {"any": {}}})
        );
    }

    #[test]
    fn tool_choice_forms_and_history_without_tools() {
        let tools = json!([{"type": "function", "function": {"name": "f"}}]);
        let m = |choice: Value| {
            body(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools, "tool_choice": choice}),
            )
        };
        assert_eq!(
            m(json!("auto"))["toolConfig"]["toolChoice"],
            json!({"auto": {}})
        );
        assert_eq!(
            m(json!({"type": "function", "function": {"name": "f"}}))["toolConfig"]["toolChoice"],
            json!({"tool": {"name": "f"}})
        );
        assert!(m(Value::Null)["toolConfig"].get("toolChoice").is_none());
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools, "tool_choice": "none"}),
        );
        assert_eq!(e.class(), ErrorClass::UnsupportedParams);
        let dropped = claude()
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools, "tool_choice": "none"})),
                CallOptions { drop_params: true, ..Default::default() },
            )
            .unwrap();
        let b: Value = serde_json::from_slice(&dropped.body).unwrap();
        assert!(b["toolConfig"].get("toolChoice").is_none());
        let e = err(json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "r"}
        ]}));
        assert_eq!(e.to_body().error.param.as_deref(), Some("tools"));
    }

    #[test]
    fn images_documents_and_refused_urls() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/AA=="}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "q3 report.pdf"}},
                {"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}},
                {"type": "image_url", "image_url": {"url": "s3://bucket/cat.PNG"}}
            ]}]}),
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([
                {"image": {"format": "jpeg", "source": {"bytes": "/9j/AA=="}}},
                {"document": {"format": "pdf", "name": "q3 report-pdf", "source": {"bytes": "JVBERg=="}}},
                {"document": {"format": "txt", "name": "document-2", "source": {"bytes": "aGk="}}},
                {"image": {"format": "png", "source": {"s3Location": {"uri": "s3://bucket/cat.PNG"}}}}
            ])
        );
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
        );
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("inline"), "{e}");
        assert_eq!(
            e.to_body().error.param.as_deref(),
            Some("messages[0].content[0].image_url.url")
        );
        for bad_part in [
            json!({"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AA=="}}),
            json!({"type": "image_url", "image_url": {"url": "data:image/png,raw"}}),
            json!({"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}),
            json!({"type": "file", "file": {"file_id": "file-1"}}),
        ] {
            let e =
                err(json!({"model": "m", "messages": [{"role": "user", "content": [bad_part]}]}));
            assert_eq!(e.status(), 400, "{e}");
        }
    }

    #[test]
    fn inference_config_thinking_and_model_specific_fields() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "max_tokens": 100, "temperature": 0.2, "top_p": 0.9, "stop": ["END", ""], "top_k": 40,
            "guardrailConfig": {"guardrailIdentifier": "g", "guardrailVersion": "1"},
            "anthropic_beta": ["context-1m-2025-08-07"],
            "extra_headers": {"x-trace": "t"}}),
        );
        assert_eq!(
            b["inferenceConfig"],
            json!({"maxTokens": 100, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]})
        );
        assert_eq!(b["guardrailConfig"]["guardrailIdentifier"], "g");
        assert_eq!(
            b["additionalModelRequestFields"],
            json!({"top_k": 40, "anthropic_beta": ["context-1m-2025-08-07"]})
        );
        assert!(b.get("extra_headers").is_none());

        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "medium"}),
        );
        assert_eq!(
            b["additionalModelRequestFields"],
            json!({"thinking": {"type": "enabled", "budget_tokens": 2048}})
        );
        assert_eq!(b["inferenceConfig"]["maxTokens"], 2048 + 4096);
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "thinking": {"type": "enabled", "budget_tokens": 5000}, "max_completion_tokens": 9000}),
        );
        assert_eq!(
            b["additionalModelRequestFields"]["thinking"]["budget_tokens"],
            5000
        );
        assert_eq!(b["inferenceConfig"]["maxTokens"], 9000);
        // JSON mode with thinking offers the tool without forcing it.
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "reasoning_effort": "low", "response_format": {"type": "json_object"}}),
        );
        assert_eq!(
            b["toolConfig"]["tools"][0]["toolSpec"]["name"],
            JSON_TOOL_NAME
        );
        assert!(b["toolConfig"].get("toolChoice").is_none());
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": {"properties": {"a": {"type": "string"}}}}}}),
        );
        assert_eq!(
            b["toolConfig"],
            json!({"tools": [{"toolSpec": {"name": JSON_TOOL_NAME, "inputSchema": {"json": {"type": "object", "properties": {"a": {"type": "string"}}}}}}],
                   "toolChoice": {"tool": {"name": JSON_TOOL_NAME}}})
        );

        // Nova takes top_k inside its own inferenceConfig; reasoning_effort is not for it.
        let nova = adapter_for(
            "bedrock/us.amazon.nova-lite-v1:0",
            ProviderParams {
                api_key: Some("k".into()),
                ..ProviderParams::default()
            },
        );
        let b = body_of(
            &nova,
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_k": 5}),
        );
        assert_eq!(
            b["additionalModelRequestFields"],
            json!({"inferenceConfig": {"topK": 5}})
        );
        let e = nova
            .chat_request(&req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low"})), CallOptions::default())
            .unwrap_err();
        assert_eq!(e.class(), ErrorClass::UnsupportedParams);
        let up = nova
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]})),
                CallOptions::default(),
            )
            .unwrap();
        assert_eq!(up.headers["authorization"], "Bearer k");
        let gpt = adapter_for("bedrock/openai.gpt-oss-120b-1:0", ProviderParams::default());
        let b = body_of(
            &gpt,
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "high"}),
        );
        assert_eq!(
            b["additionalModelRequestFields"],
            json!({"reasoning_effort": "high"})
        );
    }

    #[test]
    fn unsupported_params_are_refused_unless_dropped() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (param, value) in [
            ("n", json!(2)),
            ("logit_bias", json!({"1": 1})),
            ("presence_penalty", json!(0.5)),
            ("frequency_penalty", json!(0.5)),
            ("logprobs", json!(true)),
            ("top_logprobs", json!(2)),
            ("seed", json!(1)),
            ("modalities", json!(["text", "audio"])),
            ("audio", json!({"voice": "x"})),
            ("prediction", json!({"type": "content", "content": "x"})),
            ("verbosity", json!("low")),
            ("store", json!(true)),
            ("web_search_options", json!({})),
            ("service_tier", json!("flex")),
            ("parallel_tool_calls", json!(false)),
        ] {
            let mut v = base.clone();
            v[param] = value;
            let e = err(v.clone());
            assert_eq!(e.class(), ErrorClass::UnsupportedParams, "{param}");
            assert!(e.to_string().contains(&format!("['{param}']")), "{e}");
            assert!(e.to_string().contains("bedrock"), "{e}");
            let up = claude()
                .chat_request(
                    &req(v),
                    CallOptions {
                        drop_params: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            let b: Value = serde_json::from_slice(&up.body).unwrap();
            assert!(b.get(param).is_none(), "{param}");
            assert!(b.get("additionalModelRequestFields").is_none(), "{param}");
        }
    }

    #[test]
    fn deployment_defaults_and_drops() {
        let mut defaults = Map::new();
        defaults.insert("temperature".into(), json!(0.9));
        defaults.insert("max_tokens".into(), json!(1000));
        let a = adapter_for(
            "bedrock/anthropic.claude-x",
            ProviderParams {
                api_key: Some("k".into()),
                default_params: defaults,
                additional_drop_params: vec!["seed".into()],
                ..ProviderParams::default()
            },
        );
        let b = body_of(
            &a,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.1, "seed": 3}),
        );
        assert_eq!(
            b["inferenceConfig"],
            json!({"maxTokens": 1000, "temperature": 0.1})
        );
    }

    fn embed_adapter(model: &str) -> BedrockAdapter {
        adapter_for(
            model,
            ProviderParams {
                api_key: Some("k".into()),
                ..ProviderParams::default()
            },
        )
    }

    #[test]
    fn embeddings_bodies() {
        let titan = embed_adapter("bedrock/amazon.titan-embed-text-v2:0");
        let mut e = EmbeddingsRequest::new("x", vec!["hello".into()]);
        e.dimensions = Some(256);
        e.extra.insert("normalize".into(), json!(true));
        let up = titan.embeddings_request(&e).unwrap();
        assert!(
            up.url
                .ends_with("/model/amazon.titan-embed-text-v2%3A0/invoke"),
            "{}",
            up.url
        );
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            b,
            json!({"inputText": "hello", "dimensions": 256, "normalize": true})
        );
        let batch = EmbeddingsRequest::new("x", vec!["a".into(), "b".into()]);
        let err = titan.embeddings_request(&batch).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("one text per call"), "{err}");
        // A Titan batch is one call per input, each with the batch's parameters.
        let mut batch3 = EmbeddingsRequest::new("x", vec!["a".into(), "b".into(), "é".into()]);
        batch3.dimensions = Some(256);
        let calls = titan.embeddings_requests(&batch3).unwrap();
        let bodies: Vec<Value> = calls
            .iter()
            .map(|c| serde_json::from_slice(&c.body).unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                json!({"inputText": "a", "dimensions": 256}),
                json!({"inputText": "b", "dimensions": 256}),
                json!({"inputText": "é", "dimensions": 256})
            ]
        );
        assert!(calls.iter().all(|c| c.url == up.url));
        let merged = titan
            .merge_embeddings_bodies(vec![
                Bytes::from_static(br#"{"embedding":[1.0],"inputTextTokenCount":2}"#),
                Bytes::from_static(br#"{"embedding":[2.0],"inputTextTokenCount":3}"#),
                Bytes::from_static(br#"{"embedding":[3.0],"inputTextTokenCount":4}"#),
            ])
            .unwrap();
        let r = titan.parse_embeddings_response(&merged).unwrap();
        let vectors: Vec<_> = r
            .data
            .iter()
            .map(|d| (d.index, d.embedding.clone()))
            .collect();
        assert_eq!(
            vectors,
            [
                (
                    0,
                    tollgate_core::embeddings::EmbeddingVector::Float(vec![1.0])
                ),
                (
                    1,
                    tollgate_core::embeddings::EmbeddingVector::Float(vec![2.0])
                ),
                (
                    2,
                    tollgate_core::embeddings::EmbeddingVector::Float(vec![3.0])
                )
            ]
        );
        assert_eq!(r.usage.as_ref().map(|u| u.prompt_tokens), Some(9));
        assert!(
            titan
                .merge_embeddings_bodies(vec![Bytes::from_static(b"x"), Bytes::from_static(b"{}")])
                .is_err()
        );
        // One text, and other families, stay one call with the body untouched by merging.
        assert_eq!(titan.embeddings_requests(&e).unwrap().len(), 1);
        let one = Bytes::from_static(b"{\"embedding\":[1]}");
        assert_eq!(
            titan.merge_embeddings_bodies(vec![one.clone()]).unwrap(),
            one
        );

        let cohere = embed_adapter("bedrock/cohere.embed-english-v3");
        let up = cohere.embeddings_request(&batch).unwrap();
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            b,
            json!({"texts": ["a", "b"], "input_type": "search_document"})
        );
        let mut q = batch.clone();
        q.extra.insert("input_type".into(), json!("search_query"));
        q.extra.insert("truncate".into(), json!("NONE"));
        let b: Value =
            serde_json::from_slice(&cohere.embeddings_request(&q).unwrap().body).unwrap();
        assert_eq!(
            b,
            json!({"texts": ["a", "b"], "input_type": "search_query", "truncate": "NONE"})
        );
        let mut d = batch.clone();
        d.dimensions = Some(512);
        assert_eq!(
            cohere.embeddings_request(&d).unwrap_err().class(),
            ErrorClass::UnsupportedParams
        );
        let mut m = batch.clone();
        m.extra.insert("mystery".into(), json!(1));
        assert_eq!(
            cohere.embeddings_request(&m).unwrap_err().class(),
            ErrorClass::UnsupportedParams
        );
        let other = embed_adapter("bedrock/amazon.nova-micro-v1:0");
        assert_eq!(other.embeddings_request(&batch).unwrap_err().status(), 400);
    }
}
