//! Our OpenAI-format request to a Messages API request.
//!
//! What is translated, and how, follows LiteLLM's `AnthropicConfig` and `anthropic_messages_pt`:
//! system and developer messages become the top-level `system`; tool results become
//! `tool_result` blocks of a user turn; consecutive turns of one role are merged (the API
//! requires alternation); `max_tokens` always has a value. OpenAI parameters Anthropic has no
//! equivalent for are refused with `UnsupportedParams` unless `drop_params` is set. Fields the
//! gateway does not model (`top_k`, `thinking`, `container`, `mcp_servers`, ...) are copied
//! into the body as sent: a client that names an Anthropic field means it, and a field
//! Anthropic does not know comes back as its own 400 naming the field, not silence.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value, json};
use tollgate_core::chat::{ContentPart, FilePart, ResponseFormat, ToolChoice};
use tollgate_core::{
    ChatCompletionRequest, ChatMessage, EmbeddingsRequest, GatewayError, MessageContent, Role,
    Tool, ToolCall,
};

use super::{
    ANTHROPIC_VERSION, AnthropicAdapter, Auth, DEFAULT_MAX_TOKENS, FILES_BETA, JSON_TOOL_NAME,
    OAUTH_BETA,
};
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

/// Thinking budgets for `reasoning_effort` (LiteLLM's `DEFAULT_REASONING_EFFORT_*`).
const BUDGET_LOW: u64 = 1024;
const BUDGET_MEDIUM: u64 = 2048;
const BUDGET_HIGH: u64 = 4096;

/// Request fields consumed here rather than copied into the body.
const NOT_FORWARDED: &[&str] = &["extra_headers", "anthropic_beta", "thinking"];

impl AnthropicAdapter {
    /// `POST {base}/v1/messages`.
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        let (body, headers) = self.messages_body(req, options)?;
        let body = serde_json::to_vec(&Value::Object(body))
            .map_err(|e| GatewayError::Internal(format!("cannot encode the request: {e}")))?;
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.url.clone(),
            headers,
            body: Bytes::from(body),
        })
    }

    /// The Messages body for `req` (as an object, for callers that reshape it) and the
    /// headers to send it with: the translation alone, shared with Claude on Vertex AI.
    pub(crate) fn messages_body(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<(Map<String, Value>, HeaderMap), GatewayError> {
        let req = self.with_deployment_params(req)?;
        let drop = options.drop_params || self.params.drop_params;
        if !drop {
            if let Some(param) = refused_params(&req).first() {
                return Err(GatewayError::UnsupportedParams {
                    provider: tollgate_core::Provider::Anthropic.to_string(),
                    model: self.upstream_model.clone(),
                    param: (*param).to_owned(),
                });
            }
        }
        let mut b = Builder {
            drop,
            betas: Vec::new(),
            headers: Vec::new(),
        };
        b.request_headers(&req)?;
        for (name, value) in &self.params.extra_headers {
            b.add_header(name, value);
        }
        let body = b.body(&req, &self.upstream_model)?;
        Ok((body, self.headers(b.betas, &b.headers)?))
    }

    /// Anthropic has no embeddings API (it points to Voyage).
    pub fn embeddings_request(
        &self,
        _req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        Err(GatewayError::UnsupportedOperation {
            provider: tollgate_core::Provider::Anthropic.to_string(),
            operation: "embeddings".into(),
        })
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
        mut betas: Vec<String>,
        extra: &[(String, String)],
    ) -> Result<HeaderMap, GatewayError> {
        let mut h = HeaderMap::with_capacity(6 + extra.len());
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            "anthropic-version",
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        match &self.auth {
            Auth::ApiKey(key) => {
                h.insert("x-api-key", header_value("x-api-key", key)?);
            }
            Auth::Bearer(token) => {
                h.insert(
                    http::header::AUTHORIZATION,
                    header_value("Authorization", &format!("Bearer {token}"))?,
                );
            }
            Auth::OAuthToken(token) => {
                h.insert(
                    http::header::AUTHORIZATION,
                    header_value("Authorization", &format!("Bearer {token}"))?,
                );
                h.insert(
                    "anthropic-dangerous-direct-browser-access",
                    HeaderValue::from_static("true"),
                );
                betas.insert(0, OAUTH_BETA.to_owned());
            }
            Auth::None => {}
        }
        for (name, value) in extra {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                GatewayError::invalid_request(
                    format!("invalid header name in extra_headers: {name:?}"),
                    None,
                )
            })?;
            h.insert(name.clone(), header_value(name.as_str(), value)?);
        }
        let mut seen: Vec<&str> = Vec::with_capacity(betas.len());
        for beta in &betas {
            if !seen.contains(&beta.as_str()) {
                seen.push(beta);
            }
        }
        if !seen.is_empty() {
            h.insert(
                "anthropic-beta",
                header_value("anthropic-beta", &seen.join(","))?,
            );
        }
        Ok(h)
    }
}

/// The OpenAI parameters of `req` that Anthropic cannot honour, in a fixed order. Values that
/// ask for nothing (`n: 1`, `logprobs: false`, a zero penalty, `store: false`) are not refused.
fn refused_params(req: &ChatCompletionRequest) -> Vec<&'static str> {
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
    // Anthropic's own tiers pass; OpenAI's (`default`, `flex`, `priority`) mean nothing there.
    if req
        .service_tier
        .as_deref()
        .is_some_and(|t| !matches!(t, "auto" | "standard_only"))
    {
        out.push("service_tier");
    }
    out
}

/// State of one translation: the `anthropic-beta` flags and headers it asks for.
struct Builder {
    drop: bool,
    betas: Vec<String>,
    headers: Vec<(String, String)>,
}

impl Builder {
    /// `extra_headers` and `anthropic_beta` sent in the body are headers for Anthropic, not
    /// body fields (the API would reject them as unknown inputs).
    fn request_headers(&mut self, req: &ChatCompletionRequest) -> Result<(), GatewayError> {
        if let Some(h) = req.extra.get("extra_headers").filter(|v| !v.is_null()) {
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
                self.add_header(name, value);
            }
        }
        match req.extra.get("anthropic_beta") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => self.add_beta_list(s),
            Some(Value::Array(items)) => {
                for item in items {
                    let Value::String(s) = item else {
                        return Err(bad(
                            "anthropic_beta must be a string or a list of strings",
                            "anthropic_beta",
                        ));
                    };
                    self.add_beta_list(s);
                }
            }
            Some(_) => {
                return Err(bad(
                    "anthropic_beta must be a string or a list of strings",
                    "anthropic_beta",
                ));
            }
        }
        Ok(())
    }

    /// Headers are kept in order; several sources of `anthropic-beta` are merged, not
    /// overwritten, since each asks for a feature.
    fn add_header(&mut self, name: &str, value: &str) {
        if name.eq_ignore_ascii_case("anthropic-beta") {
            self.add_beta_list(value);
        } else {
            self.headers.push((name.to_owned(), value.to_owned()));
        }
    }

    fn add_beta_list(&mut self, list: &str) {
        for beta in list.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            self.betas.push(beta.to_owned());
        }
    }

    fn body(
        &mut self,
        req: &ChatCompletionRequest,
        model: &str,
    ) -> Result<Map<String, Value>, GatewayError> {
        let mut body = Map::new();
        body.insert("model".into(), Value::String(model.to_owned()));
        let (system, messages) = self.messages(&req.messages)?;
        body.insert("messages".into(), Value::Array(messages));
        if let Some(system) = system {
            body.insert("system".into(), system);
        }

        let thinking = match req.extra.get("thinking").filter(|v| !v.is_null()) {
            Some(t) => Some(t.clone()),
            None => thinking_for_effort(req.reasoning_effort.as_deref())?,
        };
        let thinking_on = thinking
            .as_ref()
            .and_then(|t| t.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "enabled" || t == "adaptive");
        let max_tokens = match req.max_completion_tokens.or(req.max_tokens) {
            Some(n) => u64::from(n),
            // The budget must stay below max_tokens; LiteLLM adds its default on top.
            None => {
                let budget = thinking
                    .as_ref()
                    .filter(|_| thinking_on)
                    .and_then(|t| t.get("budget_tokens"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                budget + u64::from(DEFAULT_MAX_TOKENS)
            }
        };
        body.insert("max_tokens".into(), Value::from(max_tokens));

        if let Some(stop) = &req.stop {
            // Anthropic rejects whitespace-only stop sequences; LiteLLM drops them only under
            // drop_params, and so do we.
            let stops: Vec<Value> = stop
                .to_vec()
                .into_iter()
                .filter(|s| !(self.drop && s.trim().is_empty()))
                .map(Value::String)
                .collect();
            if !stops.is_empty() {
                body.insert("stop_sequences".into(), Value::Array(stops));
            }
        }
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), Value::from(t));
        }
        if let Some(p) = req.top_p {
            body.insert("top_p".into(), Value::from(p));
        }

        self.tools(req, thinking_on, &mut body)?;

        if let Some(t) = thinking {
            body.insert("thinking".into(), t);
        }
        if let Some(user_id) = user_id(req) {
            body.insert("metadata".into(), json!({ "user_id": user_id }));
        }
        if let Some(tier) = req
            .service_tier
            .as_deref()
            .filter(|t| matches!(*t, "auto" | "standard_only"))
        {
            body.insert("service_tier".into(), Value::String(tier.to_owned()));
        }
        body.insert("stream".into(), Value::Bool(req.is_stream()));

        for (k, v) in &req.extra {
            if !NOT_FORWARDED.contains(&k.as_str()) {
                body.insert(k.clone(), v.clone());
            }
        }
        Ok(body)
    }

    /// `tools` (the client's, then the JSON-mode tool) and `tool_choice`.
    fn tools(
        &mut self,
        req: &ChatCompletionRequest,
        thinking_on: bool,
        body: &mut Map<String, Value>,
    ) -> Result<(), GatewayError> {
        // `strict` on a tool needs Anthropic's structured-outputs beta; without it the field
        // is dropped, as LiteLLM drops it, so that OpenAI clients that always send
        // `strict: true` keep working.
        let strict_ok = self
            .betas
            .iter()
            .any(|b| b.starts_with("structured-outputs-"));
        let mut tools = Vec::new();
        for (i, tool) in req.tools.iter().flatten().enumerate() {
            tools.push(tool_def(tool, &format!("tools[{i}]"), strict_ok)?);
        }
        for (i, f) in req.functions.iter().flatten().enumerate() {
            tools.push(legacy_function_def(f, &format!("functions[{i}]"))?);
        }

        let mut choice = match &req.tool_choice {
            Some(c) => tool_choice(c)?,
            None => match &req.function_call {
                Some(Value::String(mode)) => match mode.as_str() {
                    "auto" => Some(json!({"type": "auto"})),
                    "none" => Some(json!({"type": "none"})),
                    other => {
                        return Err(bad(
                            format!(
                                "function_call={other:?} is not one of auto, none or a named function"
                            ),
                            "function_call",
                        ));
                    }
                },
                Some(Value::Object(f)) => match f.get("name").and_then(Value::as_str) {
                    Some(name) => Some(json!({"type": "tool", "name": name})),
                    None => return Err(bad("function_call.name is missing", "function_call")),
                },
                _ => None,
            },
        };
        if let (Some(parallel), false) = (req.parallel_tool_calls, tools.is_empty()) {
            let none = choice
                .as_ref()
                .is_some_and(|c| c.get("type").and_then(Value::as_str) == Some("none"));
            if !none {
                let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
                if let Some(obj) = c.as_object_mut() {
                    obj.insert("disable_parallel_tool_use".into(), Value::Bool(!parallel));
                }
            }
        }

        if let Some(schema) = json_mode_schema(req.response_format.as_ref()) {
            let mut tool = Map::new();
            tool.insert("name".into(), Value::String(JSON_TOOL_NAME.to_owned()));
            if let Some(ResponseFormat::JsonSchema { json_schema }) = &req.response_format {
                if let Some(d) = &json_schema.description {
                    tool.insert("description".into(), Value::String(d.clone()));
                }
            }
            tool.insert("input_schema".into(), schema);
            tools.push(Value::Object(tool));
            // Extended thinking forbids forcing a tool; the model then calls it by itself.
            if !thinking_on {
                choice = Some(json!({"type": "tool", "name": JSON_TOOL_NAME}));
            }
        }

        if !tools.is_empty() {
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(c) = choice {
            body.insert("tool_choice".into(), c);
        }
        Ok(())
    }

    /// `system` (a string when it is one plain text, else text blocks so `cache_control`
    /// survives) and the alternating user/assistant turns.
    fn messages(
        &mut self,
        messages: &[ChatMessage],
    ) -> Result<(Option<Value>, Vec<Value>), GatewayError> {
        let mut system: Vec<Map<String, Value>> = Vec::new();
        let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
        for (i, msg) in messages.iter().enumerate() {
            let path = format!("messages[{i}]");
            match msg.role {
                Role::System | Role::Developer => self.system_blocks(msg, &path, &mut system)?,
                Role::User => push_turn(&mut turns, "user", self.user_blocks(msg, &path)?),
                Role::Tool | Role::Function => {
                    push_turn(&mut turns, "user", vec![self.tool_result(msg, &path)?]);
                }
                Role::Assistant => {
                    push_turn(&mut turns, "assistant", self.assistant_blocks(msg, &path)?);
                }
            }
        }
        if turns.is_empty() {
            return Err(bad(
                "Anthropic needs at least one user or assistant message besides the system prompt",
                "messages",
            ));
        }
        // Anthropic wants a turn's tool results before anything else the user says in it.
        for (role, blocks) in &mut turns {
            if *role == "user" {
                let (mut results, rest): (Vec<Value>, Vec<Value>) = std::mem::take(blocks)
                    .into_iter()
                    .partition(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"));
                results.extend(rest);
                *blocks = results;
            }
        }
        // A final assistant turn (a prefill) must not end in whitespace (the API rejects it).
        if let Some((role, blocks)) = turns.last_mut() {
            if *role == "assistant" {
                for b in blocks.iter_mut() {
                    if b.get("type").and_then(Value::as_str) == Some("text") {
                        if let Some(Value::String(t)) = b.get_mut("text") {
                            let trimmed = t.trim_end().len();
                            t.truncate(trimmed);
                        }
                    }
                }
                blocks.retain(|b| {
                    b.get("type").and_then(Value::as_str) != Some("text")
                        || b.get("text").and_then(Value::as_str) != Some("")
                });
            }
        }
        turns.retain(|(_, blocks)| !blocks.is_empty());
        let messages = turns
            .into_iter()
            .map(|(role, content)| json!({ "role": role, "content": content }))
            .collect();

        let system = match system.len() {
            0 => None,
            1 if system[0].len() == 2 => system.pop().and_then(|mut b| b.remove("text")),
            _ => Some(Value::Array(
                system.into_iter().map(Value::Object).collect(),
            )),
        };
        Ok((system, messages))
    }

    fn system_blocks(
        &mut self,
        msg: &ChatMessage,
        path: &str,
        out: &mut Vec<Map<String, Value>>,
    ) -> Result<(), GatewayError> {
        match &msg.content {
            Some(MessageContent::Text(text)) if !text.is_empty() => {
                let mut b = text_block(text);
                copy_cache_control(&mut b, &msg.extra);
                out.push(b);
            }
            Some(MessageContent::Text(_)) | None => {}
            Some(MessageContent::Parts(parts)) => {
                let first = out.len();
                for (j, part) in parts.iter().enumerate() {
                    let ContentPart::Text { text, extra } = part else {
                        return Err(bad(
                            "a system message may only contain text parts",
                            format!("{path}.content[{j}]"),
                        ));
                    };
                    if !text.is_empty() {
                        let mut b = text_block(text);
                        copy_cache_control(&mut b, extra);
                        out.push(b);
                    }
                }
                if let Some(last) = out[first..].last_mut() {
                    if !last.contains_key("cache_control") {
                        copy_cache_control(last, &msg.extra);
                    }
                }
            }
        }
        Ok(())
    }

    fn user_blocks(&mut self, msg: &ChatMessage, path: &str) -> Result<Vec<Value>, GatewayError> {
        let mut blocks = match &msg.content {
            None => Vec::new(),
            Some(MessageContent::Text(text)) => vec![Value::Object(text_block(text))],
            Some(MessageContent::Parts(parts)) => {
                let mut blocks = Vec::with_capacity(parts.len());
                for (j, part) in parts.iter().enumerate() {
                    blocks.push(self.part(part, &format!("{path}.content[{j}]"))?);
                }
                blocks
            }
        };
        cache_control_on_last(&mut blocks, &msg.extra);
        Ok(blocks)
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
        let mut b = Map::new();
        b.insert("type".into(), Value::String("tool_result".into()));
        b.insert("tool_use_id".into(), Value::String(id));
        match &msg.content {
            None => {}
            Some(MessageContent::Text(text)) => {
                b.insert("content".into(), Value::String(text.clone()));
            }
            Some(MessageContent::Parts(parts)) => {
                let mut content = Vec::with_capacity(parts.len());
                for (j, part) in parts.iter().enumerate() {
                    let p = format!("{path}.content[{j}]");
                    match part {
                        ContentPart::Text { .. } | ContentPart::ImageUrl { .. } => {
                            content.push(self.part(part, &p)?);
                        }
                        _ => return Err(bad("a tool result may only contain text and images", p)),
                    }
                }
                b.insert("content".into(), Value::Array(content));
            }
        }
        // Not an OpenAI field: a client that knows Anthropic can mark a failed call.
        if let Some(Value::Bool(e)) = msg.extra.get("is_error") {
            b.insert("is_error".into(), Value::Bool(*e));
        }
        copy_cache_control(&mut b, &msg.extra);
        Ok(Value::Object(b))
    }

    fn assistant_blocks(
        &mut self,
        msg: &ChatMessage,
        path: &str,
    ) -> Result<Vec<Value>, GatewayError> {
        let mut blocks = Vec::new();
        // The signed thinking of a tool-calling turn must be sent back first, untouched, or
        // the API refuses the conversation.
        match msg.extra.get("thinking_blocks") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for (j, item) in items.iter().enumerate() {
                    match item.get("type").and_then(Value::as_str) {
                        Some("thinking" | "redacted_thinking") => blocks.push(item.clone()),
                        _ => {
                            return Err(bad(
                                "thinking_blocks entries must be thinking or redacted_thinking blocks",
                                format!("{path}.thinking_blocks[{j}]"),
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
            Some(MessageContent::Text(text)) if !text.is_empty() => {
                blocks.push(Value::Object(text_block(text)));
            }
            // Empty text blocks are an error at Anthropic, and an empty assistant content is
            // what clients send alongside tool calls.
            Some(MessageContent::Text(_)) | None => {}
            Some(MessageContent::Parts(parts)) => {
                for (j, part) in parts.iter().enumerate() {
                    let (text, extra) = match part {
                        ContentPart::Text { text, extra } => (text, extra),
                        ContentPart::Refusal { refusal, extra } => (refusal, extra),
                        _ => {
                            return Err(bad(
                                "an assistant message may only contain text",
                                format!("{path}.content[{j}]"),
                            ));
                        }
                    };
                    if !text.is_empty() {
                        let mut b = text_block(text);
                        copy_cache_control(&mut b, extra);
                        blocks.push(Value::Object(b));
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
            blocks.push(json!({
                "type": "tool_use",
                "id": legacy_call_id(name),
                "name": name,
                "input": tool_input(args, &format!("{path}.function_call.arguments"))?,
            }));
        }
        cache_control_on_last(&mut blocks, &msg.extra);
        Ok(blocks)
    }

    /// One user content part.
    fn part(&mut self, part: &ContentPart, path: &str) -> Result<Value, GatewayError> {
        let (mut block, extra) = match part {
            ContentPart::Text { text, extra } => (text_block(text), extra),
            ContentPart::Refusal { refusal, extra } => (text_block(refusal), extra),
            ContentPart::ImageUrl { image_url, extra } => {
                let (source, media) = source_for(&image_url.url, &format!("{path}.image_url.url"))?;
                // A PDF passed as an image URL is a document to Anthropic (LiteLLM does this).
                let kind = match media.as_deref() {
                    Some(m) if !m.starts_with("image/") => "document",
                    _ => "image",
                };
                (media_block(kind, source), extra)
            }
            ContentPart::File { file, extra } => (self.file_block(file, path)?, extra),
            ContentPart::InputAudio { .. } => {
                return Err(bad(
                    "Anthropic does not accept audio input",
                    path.to_owned(),
                ));
            }
        };
        copy_cache_control(&mut block, extra);
        for key in ["citations", "title", "context"] {
            if block.get("type").and_then(Value::as_str) == Some("document") {
                if let Some(v) = extra.get(key) {
                    block.insert(key.into(), v.clone());
                }
            }
        }
        Ok(Value::Object(block))
    }

    /// A `file` part: inline data (an image or a document), a URL, or an uploaded file id.
    fn file_block(
        &mut self,
        file: &FilePart,
        path: &str,
    ) -> Result<Map<String, Value>, GatewayError> {
        // LiteLLM's `format` extension names the media type where the payload does not.
        let format = file.extra.get("format").and_then(Value::as_str);
        if let Some(data) = &file.file_data {
            let (source, media) = source_for(data, &format!("{path}.file.file_data"))?;
            let media = media.or_else(|| format.map(str::to_owned));
            let kind = match media.as_deref() {
                Some(m) if m.starts_with("image/") => "image",
                _ => "document",
            };
            return Ok(media_block(kind, source));
        }
        if let Some(id) = &file.file_id {
            if id.starts_with("https://") || id.starts_with("http://") {
                return Ok(media_block("document", json!({"type": "url", "url": id})));
            }
            self.betas.push(FILES_BETA.to_owned());
            let kind = match format {
                Some(m) if m.starts_with("image/") => "image",
                _ => "document",
            };
            return Ok(media_block(kind, json!({"type": "file", "file_id": id})));
        }
        Err(bad(
            "a file part needs file_data or file_id",
            format!("{path}.file"),
        ))
    }
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

fn text_block(text: &str) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("type".into(), Value::String("text".into()));
    b.insert("text".into(), Value::String(text.to_owned()));
    b
}

fn media_block(kind: &str, source: Value) -> Map<String, Value> {
    let mut b = Map::new();
    b.insert("type".into(), Value::String(kind.to_owned()));
    b.insert("source".into(), source);
    b
}

fn copy_cache_control(block: &mut Map<String, Value>, extra: &Map<String, Value>) {
    if let Some(cc) = extra.get("cache_control").filter(|v| !v.is_null()) {
        block.insert("cache_control".into(), cc.clone());
    }
}

/// A message-level `cache_control` marks the end of the message: its last block.
fn cache_control_on_last(blocks: &mut [Value], extra: &Map<String, Value>) {
    if let Some(Value::Object(last)) = blocks.last_mut() {
        if !last.contains_key("cache_control") {
            copy_cache_control(last, extra);
        }
    }
}

/// The Anthropic `source` for an OpenAI URL: a `data:` URI becomes base64 with its media type,
/// an http(s) URL is passed for Anthropic to fetch.
fn source_for(url: &str, path: &str) -> Result<(Value, Option<String>), GatewayError> {
    if let Some(rest) = url.strip_prefix("data:") {
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
        let source = json!({"type": "base64", "media_type": media, "data": data});
        return Ok((source, Some(media)));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok((json!({"type": "url", "url": url}), None));
    }
    Err(bad("expected an http(s) URL or a base64 data: URI", path))
}

fn tool_use(call: &ToolCall, path: &str) -> Result<Value, GatewayError> {
    if call.kind != "function" {
        return Err(bad(
            format!("tool call type {:?} cannot be sent to Anthropic", call.kind),
            format!("{path}.type"),
        ));
    }
    let mut b = Map::new();
    b.insert("type".into(), Value::String("tool_use".into()));
    b.insert("id".into(), Value::String(call.id.clone()));
    b.insert("name".into(), Value::String(call.function.name.clone()));
    b.insert(
        "input".into(),
        tool_input(
            &call.function.arguments,
            &format!("{path}.function.arguments"),
        )?,
    );
    copy_cache_control(&mut b, &call.extra);
    Ok(Value::Object(b))
}

/// OpenAI sends arguments as a JSON string; Anthropic wants the object. Empty and `null`
/// (argument-less calls from some providers) mean `{}`.
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

/// A function tool as `{name, description, input_schema}`; any other tool type is taken to be
/// an Anthropic tool (`web_search_20250305`, `bash_20250124`, ...) and sent as written.
fn tool_def(tool: &Tool, path: &str, strict_ok: bool) -> Result<Value, GatewayError> {
    if tool.kind != "function" {
        let mut t = Map::new();
        t.insert("type".into(), Value::String(tool.kind.clone()));
        for (k, v) in &tool.extra {
            t.insert(k.clone(), v.clone());
        }
        return Ok(Value::Object(t));
    }
    let Some(f) = &tool.function else {
        return Err(bad(
            "a function tool needs `function`",
            format!("{path}.function"),
        ));
    };
    let mut t = Map::new();
    t.insert("name".into(), Value::String(f.name.clone()));
    if let Some(d) = &f.description {
        t.insert("description".into(), Value::String(d.clone()));
    }
    t.insert(
        "input_schema".into(),
        f.parameters
            .clone()
            .filter(|p| !p.is_null())
            .unwrap_or_else(empty_schema),
    );
    if let (Some(strict), true) = (f.strict, strict_ok) {
        t.insert("strict".into(), Value::Bool(strict));
    }
    copy_cache_control(&mut t, &f.extra);
    copy_cache_control(&mut t, &tool.extra);
    Ok(Value::Object(t))
}

/// Legacy `functions[]` entries: `{name, description, parameters}`.
fn legacy_function_def(f: &Value, path: &str) -> Result<Value, GatewayError> {
    let name = f
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("a function needs a name", format!("{path}.name")))?;
    let mut t = Map::new();
    t.insert("name".into(), Value::String(name.to_owned()));
    if let Some(d) = f.get("description").and_then(Value::as_str) {
        t.insert("description".into(), Value::String(d.to_owned()));
    }
    t.insert(
        "input_schema".into(),
        f.get("parameters")
            .filter(|p| !p.is_null())
            .cloned()
            .unwrap_or_else(empty_schema),
    );
    Ok(Value::Object(t))
}

fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

/// Ids for legacy `function_call` turns, which have none: derived from the function name so
/// the call and its `function` result pair up without randomness.
fn legacy_call_id(name: &str) -> String {
    format!("toolu_legacy_{name}")
}

fn tool_choice(choice: &ToolChoice) -> Result<Option<Value>, GatewayError> {
    Ok(Some(match choice {
        ToolChoice::Mode(mode) => match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" | "any" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            other => {
                return Err(bad(
                    format!(
                        "tool_choice={other:?} is not one of auto, required, none or a named function"
                    ),
                    "tool_choice",
                ));
            }
        },
        ToolChoice::Named(named) => json!({"type": "tool", "name": named.function.name}),
    }))
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

/// `reasoning_effort` as an extended-thinking budget (LiteLLM's mapping; `minimal` gets the
/// smallest budget Anthropic accepts, `none` turns thinking off by not asking for it).
fn thinking_for_effort(effort: Option<&str>) -> Result<Option<Value>, GatewayError> {
    let budget = match effort {
        None | Some("none") => return Ok(None),
        Some("minimal" | "low") => BUDGET_LOW,
        Some("medium") => BUDGET_MEDIUM,
        Some("high") => BUDGET_HIGH,
        Some(other) => {
            return Err(bad(
                format!(
                    "reasoning_effort={other:?} has no Anthropic equivalent; use none, minimal, low, medium or high"
                ),
                "reasoning_effort",
            ));
        }
    };
    Ok(Some(json!({"type": "enabled", "budget_tokens": budget})))
}

/// `metadata.user_id`: the request's `metadata.user_id`, else `user`. Emails and phone numbers
/// are not sent, because Anthropic rejects them (LiteLLM's `_valid_user_id`).
fn user_id(req: &ChatCompletionRequest) -> Option<String> {
    req.metadata
        .as_ref()
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .or(req.user.as_deref())
        .filter(|u| !u.is_empty() && !looks_like_email(u) && !looks_like_phone(u))
        .map(str::to_owned)
}

/// `^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`.
fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let Some((host, tld)) = domain.rsplit_once('.') else {
        return false;
    };
    !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c))
        && tld.len() >= 2
        && tld.chars().all(|c| c.is_ascii_alphabetic())
}

/// `^\+?[\d\s\(\)-]{7,}$`.
fn looks_like_phone(s: &str) -> bool {
    let rest = s.strip_prefix('+').unwrap_or(s);
    rest.chars().count() >= 7
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_whitespace() || "()-".contains(c))
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
    use crate::params::ProviderParams;
    use std::collections::HashMap;
    use tollgate_core::{Env, ErrorClass, ModelRef};

    fn adapter_with(params: ProviderParams) -> AnthropicAdapter {
        let m = ModelRef::parse("anthropic/claude-sonnet-4-5", None).unwrap();
        let env = Env::with_overlay(HashMap::from([
            ("ANTHROPIC_API_KEY".to_owned(), String::new()),
            ("ANTHROPIC_AUTH_TOKEN".to_owned(), String::new()),
            ("ANTHROPIC_API_BASE".to_owned(), String::new()),
            ("ANTHROPIC_BASE_URL".to_owned(), String::new()),
        ]));
        AnthropicAdapter::new(&m, &params, &env).unwrap()
    }

    fn adapter() -> AnthropicAdapter {
        adapter_with(ProviderParams {
            api_key: Some("sk-ant-test".into()),
            ..Default::default()
        })
    }

    fn req(v: Value) -> ChatCompletionRequest {
        serde_json::from_value(v).unwrap()
    }

    fn body_of(a: &AnthropicAdapter, r: &ChatCompletionRequest) -> Value {
        let up = a.chat_request(r, CallOptions::default()).unwrap();
        serde_json::from_slice(&up.body).unwrap()
    }

    fn body(v: Value) -> Value {
        body_of(&adapter(), &req(v))
    }

    fn err(v: Value) -> GatewayError {
        adapter()
            .chat_request(&req(v), CallOptions::default())
            .unwrap_err()
    }

    #[test]
    fn minimal_request_gets_model_max_tokens_stream_and_headers() {
        let up = adapter()
            .chat_request(
                &req(json!({"model": "alias", "messages": [{"role": "user", "content": "hi"}]})),
                CallOptions::default(),
            )
            .unwrap();
        assert_eq!(up.url, "https://api.anthropic.com/v1/messages");
        assert_eq!(up.method, Method::POST);
        assert_eq!(up.headers["x-api-key"], "sk-ant-test");
        assert_eq!(up.headers["anthropic-version"], "2023-06-01");
        assert_eq!(up.headers["content-type"], "application/json");
        assert!(up.headers.get("authorization").is_none());
        assert!(up.headers.get("anthropic-beta").is_none());
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            b,
            json!({
                "model": "claude-sonnet-4-5",
                "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
                "max_tokens": 4096,
                "stream": false
            })
        );
    }

    #[test]
    fn system_and_developer_messages_become_the_system_prompt_in_order() {
        let b = body(json!({"model": "m", "messages": [
            {"role": "system", "content": "one"},
            {"role": "user", "content": "hi"},
            {"role": "developer", "content": [{"type": "text", "text": "two"}, {"type": "text", "text": ""}]},
            {"role": "system", "content": [{"type": "text", "text": "three", "cache_control": {"type": "ephemeral"}}]}
        ]}));
        assert_eq!(
            b["system"],
            json!([
                {"type": "text", "text": "one"},
                {"type": "text", "text": "two"},
                {"type": "text", "text": "three", "cache_control": {"type": "ephemeral"}}
            ])
        );
        assert_eq!(b["messages"].as_array().unwrap().len(), 1);
        // One plain system text is sent as a string.
        let b = body(json!({"model": "m", "messages": [
            {"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}
        ]}));
        assert_eq!(b["system"], "be brief");
        // A message-level cache_control on a string system prompt keeps it a block.
        let b = body(json!({"model": "m", "messages": [
            {"role": "system", "content": "cached", "cache_control": {"type": "ephemeral"}},
            {"role": "user", "content": "hi"}
        ]}));
        assert_eq!(
            b["system"],
            json!([{"type": "text", "text": "cached", "cache_control": {"type": "ephemeral"}}])
        );
        let e = err(json!({"model": "m", "messages": [
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "user", "content": "hi"}
        ]}));
        assert_eq!(
            e.to_body().error.param.as_deref(),
            Some("messages[0].content[0]")
        );
        let e = err(json!({"model": "m", "messages": [{"role": "system", "content": "only"}]}));
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn consecutive_turns_merge_and_tool_results_join_the_user_turn_first() {
        let b = body(
            json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}], "messages": [
                {"role": "user", "content": "a"},
                {"role": "user", "content": [{"type": "text", "text": "b"}]},
                {"role": "assistant", "content": "thinking out loud"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]},
                {"role": "user", "content": "also this"},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "one"},
                {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "two"}], "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "thanks"}
            ]}),
        );
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "thinking out loud"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}},
                    {"type": "tool_use", "id": "toolu_2", "name": "f", "input": {}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "one"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "two"}], "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "also this"},
                    {"type": "text", "text": "thanks"}
                ]}
            ])
        );
        let e = err(json!({"model": "m", "messages": [
            {"role": "user", "content": "a"}, {"role": "tool", "content": "x"}
        ]}));
        assert_eq!(
            e.to_body().error.param.as_deref(),
            Some("messages[1].tool_call_id")
        );
    }

    #[test]
    fn tool_call_arguments_must_be_a_json_object() {
        let e = err(json!({"model": "m", "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "tool_calls": [
                {"id": "ok", "type": "function", "function": {"name": "f", "arguments": "null"}},
                {"id": "bad", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
            ]}
        ]}));
        assert_eq!(e.status(), 400);
        assert_eq!(
            e.to_body().error.param.as_deref(),
            Some("messages[1].tool_calls[1].function.arguments")
        );
        assert!(e.to_string().contains("not valid JSON"), "{e}");
        let e = err(json!({"model": "m", "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "tool_calls": [{"id": "x", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]}
        ]}));
        assert!(e.to_string().contains("JSON object"), "{e}");
    }

    #[test]
    fn max_tokens_defaults_and_precedence() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let with = |extra: Value| {
            let mut v = base.clone();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            body(v)
        };
        assert_eq!(with(json!({}))["max_tokens"], 4096);
        assert_eq!(with(json!({"max_tokens": 100}))["max_tokens"], 100);
        assert_eq!(
            with(json!({"max_tokens": 100, "max_completion_tokens": 200}))["max_tokens"],
            200
        );
        // The thinking budget must fit under max_tokens.
        let b = with(json!({"reasoning_effort": "high"}));
        assert_eq!(
            b["thinking"],
            json!({"type": "enabled", "budget_tokens": 4096})
        );
        assert_eq!(b["max_tokens"], 8192);
        let b = with(json!({"thinking": {"type": "enabled", "budget_tokens": 3000}}));
        assert_eq!(b["max_tokens"], 7096);
        assert_eq!(
            with(
                json!({"thinking": {"type": "enabled", "budget_tokens": 3000}, "max_tokens": 5000})
            )["max_tokens"],
            5000
        );
    }

    #[test]
    fn reasoning_effort_and_thinking() {
        let mk = |effort: &str| {
            body(
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": effort}),
            )
        };
        assert_eq!(mk("low")["thinking"]["budget_tokens"], 1024);
        assert_eq!(mk("minimal")["thinking"]["budget_tokens"], 1024);
        assert_eq!(mk("medium")["thinking"]["budget_tokens"], 2048);
        assert_eq!(mk("high")["thinking"]["budget_tokens"], 4096);
        assert!(mk("none").get("thinking").is_none());
        assert!(mk("none").get("reasoning_effort").is_none());
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "extreme"}),
        );
        assert_eq!(e.to_body().error.param.as_deref(), Some("reasoning_effort"));
        // An explicit `thinking` wins and is sent as given.
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": "high", "thinking": {"type": "adaptive"}}),
        );
        assert_eq!(b["thinking"], json!({"type": "adaptive"}));
        assert_eq!(b["max_tokens"], 4096);
    }

    #[test]
    fn thinking_blocks_go_back_first_with_signatures_intact() {
        let b = body(
            json!({"model": "m", "tools": [{"type": "function", "function": {"name": "get_weather"}}], "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "Let me check.", "reasoning_content": "The user wants weather",
                 "thinking_blocks": [
                    {"type": "thinking", "thinking": "The user wants weather", "signature": "EqSig=="},
                    {"type": "redacted_thinking", "data": "EncRypted"}
                 ],
                 "tool_calls": [{"id": "toolu_9", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "toolu_9", "content": "sunny"}
            ]}),
        );
        assert_eq!(
            b["messages"][1]["content"],
            json!([
                {"type": "thinking", "thinking": "The user wants weather", "signature": "EqSig=="},
                {"type": "redacted_thinking", "data": "EncRypted"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}}
            ])
        );
        let e = err(json!({"model": "m", "messages": [
            {"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "thinking_blocks": [{"type": "text"}]}
        ]}));
        assert_eq!(
            e.to_body().error.param.as_deref(),
            Some("messages[1].thinking_blocks[0]")
        );
    }

    #[test]
    fn images_and_files() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "text", "text": "what is this"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K", "detail": "high"}, "cache_control": {"type": "ephemeral"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
                {"type": "image_url", "image_url": {"url": "data:application/pdf;base64,JVBERi0"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0", "filename": "a.pdf"}},
                {"type": "file", "file": {"file_id": "https://example.com/doc.pdf"}}
            ]}]}),
        );
        assert_eq!(
            b["messages"][0]["content"],
            json!([
                {"type": "text", "text": "what is this"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}, "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0"}},
                {"type": "document", "source": {"type": "url", "url": "https://example.com/doc.pdf"}}
            ])
        );
        // An uploaded file id needs the Files API beta.
        let up = adapter()
            .chat_request(
                &req(
                    json!({"model": "m", "messages": [{"role": "user", "content": [
                        {"type": "file", "file": {"file_id": "file_011"}}
                    ]}]}),
                ),
                CallOptions::default(),
            )
            .unwrap();
        assert_eq!(up.headers["anthropic-beta"], "files-api-2025-04-14");
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert_eq!(
            b["messages"][0]["content"][0],
            json!({"type": "document", "source": {"type": "file", "file_id": "file_011"}})
        );
        for (url, why) in [
            ("ftp://x/y.png", "http(s)"),
            ("data:image/png,raw", "base64"),
            ("data:;base64,AAA", "media type"),
        ] {
            let e = err(
                json!({"model": "m", "messages": [{"role": "user", "content": [
                    {"type": "image_url", "image_url": {"url": url}}
                ]}]}),
            );
            assert_eq!(
                e.to_body().error.param.as_deref(),
                Some("messages[0].content[0].image_url.url")
            );
            assert!(e.to_string().contains(why), "{e}");
        }
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}
            ]}]}),
        );
        assert!(e.to_string().contains("audio"), "{e}");
    }

    #[test]
    fn tools_tool_choice_and_parallel_calls() {
        let tools = json!([
            {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}},
            {"type": "function", "function": {"name": "now"}, "cache_control": {"type": "ephemeral"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
        ]);
        let mk = |choice: Value, parallel: Value| {
            let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools.clone()});
            if !choice.is_null() {
                v["tool_choice"] = choice;
            }
            if !parallel.is_null() {
                v["parallel_tool_calls"] = parallel;
            }
            body(v)
        };
        let b = mk(Value::Null, Value::Null);
        assert_eq!(
            b["tools"],
            json!([
                {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
                {"name": "now", "input_schema": {"type": "object", "properties": {}}, "cache_control": {"type": "ephemeral"}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
            ])
        );
        assert!(b.get("tool_choice").is_none());
        assert_eq!(
            mk(json!("auto"), Value::Null)["tool_choice"],
            json!({"type": "auto"})
        );
        assert_eq!(
            mk(json!("required"), Value::Null)["tool_choice"],
            json!({"type": "any"})
        );
        assert_eq!(
            mk(json!("none"), Value::Null)["tool_choice"],
            json!({"type": "none"})
        );
        assert_eq!(
            mk(
                json!({"type": "function", "function": {"name": "now"}}),
                Value::Null
            )["tool_choice"],
            json!({"type": "tool", "name": "now"})
        );
        assert_eq!(
            mk(Value::Null, json!(false))["tool_choice"],
            json!({"type": "auto", "disable_parallel_tool_use": true})
        );
        assert_eq!(
            mk(json!("required"), json!(true))["tool_choice"],
            json!({"type": "any", "disable_parallel_tool_use": false})
        );
        assert_eq!(
            mk(json!("none"), json!(false))["tool_choice"],
            json!({"type": "none"})
        );
        // Without tools there is nothing to make parallel.
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "parallel_tool_calls": false}),
        );
        assert!(b.get("tool_choice").is_none());
        let e = err(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools, "tool_choice": "sometimes"}),
        );
        assert_eq!(e.to_body().error.param.as_deref(), Some("tool_choice"));

        // `strict` is forwarded only with the structured-outputs beta.
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": tools,
            "extra_headers": {"anthropic-beta": "structured-outputs-2025-11-13"}}),
        );
        assert_eq!(b["tools"][0]["strict"], true);
        assert!(b.get("extra_headers").is_none());
    }

    #[test]
    fn response_format_becomes_the_forced_json_tool() {
        let schema = json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "auto",
            "response_format": {"type": "json_schema", "json_schema": {"name": "place", "schema": schema.clone(), "strict": true}}}),
        );
        let tools = b["tools"].as_array().unwrap();
        assert_eq!(tools.len(), 2);
        assert_eq!(
            tools[1],
            json!({"name": "json_tool_call", "input_schema": schema})
        );
        assert_eq!(
            b["tool_choice"],
            json!({"type": "tool", "name": "json_tool_call"})
        );
        assert!(b.get("response_format").is_none());

        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"}}),
        );
        assert_eq!(
            b["tools"],
            json!([{"name": "json_tool_call", "input_schema": {"type": "object", "additionalProperties": true, "properties": {}}}])
        );
        // Thinking cannot be combined with a forced tool: the tool is offered, not forced.
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "reasoning_effort": "low", "response_format": {"type": "json_object"}}),
        );
        assert!(b.get("tool_choice").is_none());
        assert_eq!(b["tools"][0]["name"], "json_tool_call");
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "text"}}),
        );
        assert!(b.get("tools").is_none());
    }

    #[test]
    fn sampling_stop_user_and_passthrough() {
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5, "top_p": 0.9, "top_k": 40, "stop": "END", "user": "user-42",
            "stream": true, "stream_options": {"include_usage": true},
            "service_tier": "auto", "container": {"id": "c1"}}),
        );
        assert_eq!(b["temperature"], 0.5);
        assert_eq!(b["top_p"], 0.9);
        assert_eq!(b["top_k"], 40);
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["metadata"], json!({"user_id": "user-42"}));
        assert_eq!(b["stream"], true);
        assert_eq!(b["service_tier"], "auto");
        assert_eq!(b["container"], json!({"id": "c1"}));
        assert!(b.get("stream_options").is_none());
        assert!(b.get("user").is_none());
        assert!(b.get("stop").is_none());
        let b = body(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "stop": ["a", " "], "user": "someone@example.com"}),
        );
        assert_eq!(b["stop_sequences"], json!(["a", " "]));
        assert!(b.get("metadata").is_none());
        assert!(looks_like_phone("+1 (555) 123-4567"));
        assert!(!looks_like_phone("user-42"));
        assert!(looks_like_email("a.b+c@mail.example.org"));
        assert!(!looks_like_email("a@b"));
        // Under drop_params whitespace-only stop sequences are removed.
        let up = adapter()
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": [" ", "\n"]})),
                CallOptions { drop_params: true, ..Default::default() },
            )
            .unwrap();
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert!(b.get("stop_sequences").is_none());
    }

    #[test]
    fn unsupported_params_are_refused_unless_dropped() {
        let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (param, value) in [
            ("n", json!(2)),
            ("logit_bias", json!({"50256": -100})),
            ("presence_penalty", json!(0.5)),
            ("frequency_penalty", json!(-0.5)),
            ("logprobs", json!(true)),
            ("top_logprobs", json!(2)),
            ("seed", json!(7)),
            ("modalities", json!(["text", "audio"])),
            ("audio", json!({"voice": "alloy", "format": "wav"})),
            ("prediction", json!({"type": "content", "content": "x"})),
            ("verbosity", json!("low")),
            ("store", json!(true)),
            ("web_search_options", json!({})),
            ("service_tier", json!("flex")),
        ] {
            let mut v = base.clone();
            v[param] = value;
            let r = req(v);
            let e = adapter()
                .chat_request(&r, CallOptions::default())
                .unwrap_err();
            assert_eq!(e.class(), ErrorClass::UnsupportedParams, "{param}");
            assert_eq!(e.status(), 400, "{param}");
            assert!(
                e.to_string().contains(&format!("['{param}']")),
                "{param}: {e}"
            );
            assert!(e.to_string().contains("anthropic"), "{param}: {e}");
            // Request-level and deployment-level drop_params both drop it.
            let up = adapter()
                .chat_request(
                    &r,
                    CallOptions {
                        drop_params: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            let b: Value = serde_json::from_slice(&up.body).unwrap();
            assert!(b.get(param).is_none(), "{param}");
            let dropping = adapter_with(ProviderParams {
                drop_params: true,
                ..Default::default()
            });
            assert!(
                dropping.chat_request(&r, CallOptions::default()).is_ok(),
                "{param}"
            );
        }
        // Values that ask for nothing are not refused.
        let mut v = base.clone();
        for (k, x) in [
            ("n", json!(1)),
            ("logprobs", json!(false)),
            ("presence_penalty", json!(0)),
            ("store", json!(false)),
            ("modalities", json!(["text"])),
        ] {
            v[k] = x;
        }
        let b = body(v);
        for k in ["n", "logprobs", "presence_penalty", "store", "modalities"] {
            assert!(b.get(k).is_none(), "{k}");
        }
    }

    #[test]
    fn final_assistant_prefill_loses_trailing_whitespace() {
        let b = body(json!({"model": "m", "messages": [
            {"role": "user", "content": "Say hi"},
            {"role": "assistant", "content": "Hi \n"}
        ]}));
        assert_eq!(
            b["messages"][1]["content"],
            json!([{"type": "text", "text": "Hi"}])
        );
        // Earlier assistant turns are left alone.
        let b = body(json!({"model": "m", "messages": [
            {"role": "assistant", "content": "Hi \n"}, {"role": "user", "content": "x"}
        ]}));
        assert_eq!(b["messages"][0]["content"][0]["text"], "Hi \n");
    }

    #[test]
    fn message_level_cache_control_marks_the_last_block() {
        let b = body(json!({"model": "m", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "cache_control": {"type": "ephemeral"}},
            {"role": "assistant", "content": "c", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
            {"role": "user", "content": "d", "cache_control": {"type": "ephemeral"}}
        ]}));
        let with_tools = body(
            json!({"model": "m", "tools": [{"type": "function", "function": {"name": "f"}}], "messages": [
                {"role": "system", "content": [{"type": "text", "text": "s1"}, {"type": "text", "text": "s2"}], "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": "calling", "cache_control": {"type": "ephemeral"},
                 "tool_calls": [{"id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t", "content": "r"}
            ]}),
        );
        assert_eq!(
            with_tools["system"],
            json!([{"type": "text", "text": "s1"}, {"type": "text", "text": "s2", "cache_control": {"type": "ephemeral"}}])
        );
        assert_eq!(
            with_tools["messages"][1]["content"],
            json!([
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "t", "name": "f", "input": {}, "cache_control": {"type": "ephemeral"}}
            ])
        );
        assert_eq!(
            b["messages"],
            json!([
                {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}}]},
                {"role": "assistant", "content": [{"type": "text", "text": "c", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]},
                {"role": "user", "content": [{"type": "text", "text": "d", "cache_control": {"type": "ephemeral"}}]}
            ])
        );
    }

    #[test]
    fn legacy_functions_pair_call_and_result() {
        let b = body(json!({"model": "m",
        "functions": [{"name": "lookup", "parameters": {"type": "object", "properties": {}}}],
        "function_call": {"name": "lookup"},
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": null, "function_call": {"name": "lookup", "arguments": "{\"k\":1}"}},
            {"role": "function", "name": "lookup", "content": "v"}
        ]}));
        assert_eq!(
            b["tools"],
            json!([{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}])
        );
        assert_eq!(b["tool_choice"], json!({"type": "tool", "name": "lookup"}));
        assert_eq!(b["messages"][1]["content"][0]["id"], "toolu_legacy_lookup");
        assert_eq!(b["messages"][1]["content"][0]["input"], json!({"k": 1}));
        assert_eq!(
            b["messages"][2]["content"][0]["tool_use_id"],
            "toolu_legacy_lookup"
        );
        assert!(b.get("functions").is_none() && b.get("function_call").is_none());
    }

    #[test]
    fn auth_and_beta_headers() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "anthropic_beta": ["context-1m-2025-08-07"],
            "extra_headers": {"anthropic-beta": "interleaved-thinking-2025-05-14,context-1m-2025-08-07", "x-trace": "t1"}}),
        );
        let a = adapter_with(ProviderParams {
            api_key: Some("sk-ant-oat01-abc".into()),
            extra_headers: vec![("anthropic-beta".into(), "files-api-2025-04-14".into())],
            ..Default::default()
        });
        let up = a.chat_request(&r, CallOptions::default()).unwrap();
        assert_eq!(up.headers["authorization"], "Bearer sk-ant-oat01-abc");
        assert!(up.headers.get("x-api-key").is_none());
        assert_eq!(
            up.headers["anthropic-dangerous-direct-browser-access"],
            "true"
        );
        assert_eq!(
            up.headers["anthropic-beta"],
            "oauth-2025-04-20,interleaved-thinking-2025-05-14,context-1m-2025-08-07,files-api-2025-04-14"
        );
        assert_eq!(up.headers["x-trace"], "t1");
        let b: Value = serde_json::from_slice(&up.body).unwrap();
        assert!(b.get("anthropic_beta").is_none() && b.get("extra_headers").is_none());

        let m = ModelRef::parse("anthropic/claude-x", None).unwrap();
        let env = Env::with_overlay(HashMap::from([
            ("ANTHROPIC_API_KEY".to_owned(), String::new()),
            ("ANTHROPIC_AUTH_TOKEN".to_owned(), "tok".to_owned()),
        ]));
        let a = AnthropicAdapter::new(&m, &ProviderParams::default(), &env).unwrap();
        let up = a.chat_request(&r, CallOptions::default()).unwrap();
        assert_eq!(up.headers["authorization"], "Bearer tok");
        let e = adapter()
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "extra_headers": {"x": 1}})),
                CallOptions::default(),
            )
            .unwrap_err();
        assert_eq!(e.to_body().error.param.as_deref(), Some("extra_headers"));
    }

    #[test]
    fn deployment_defaults_and_drops() {
        let mut defaults = Map::new();
        defaults.insert("temperature".into(), json!(0.9));
        defaults.insert("max_tokens".into(), json!(1000));
        defaults.insert("top_k".into(), json!(5));
        let a = adapter_with(ProviderParams {
            default_params: defaults,
            additional_drop_params: vec!["seed".into()],
            ..Default::default()
        });
        let b = body_of(
            &a,
            &req(
                json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.1, "seed": 3}),
            ),
        );
        assert_eq!(b["temperature"], 0.1);
        assert_eq!(b["max_tokens"], 1000);
        assert_eq!(b["top_k"], 5);
        assert!(b.get("seed").is_none());
    }

    #[test]
    fn embeddings_are_unsupported() {
        let e = adapter()
            .embeddings_request(&EmbeddingsRequest::new("m", vec!["a".into()]))
            .unwrap_err();
        assert!(matches!(e, GatewayError::UnsupportedOperation { .. }));
        assert_eq!(e.status(), 400);
    }
}
