//! Our request to the provider's HTTP request: OpenAI messages and parameters become a
//! `GenerateContentRequest`, an embeddings request becomes `batchEmbedContents`.
//!
//! Every OpenAI parameter is either mapped, deliberately ignored the way LiteLLM ignores it
//! (`user`, `stream_options`), or refused with [`GatewayError::UnsupportedParams`] unless
//! `drop_params` is on; nothing is dropped without a trace.

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

use super::{GeminiAdapter, generation, is_gemini_3_or_newer};
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

/// LiteLLM's separator for a thought signature appended to a tool-call id
/// (`call_x__thought__<signature>`); ids in that form are understood on the way in.
pub(super) const THOUGHT_SIGNATURE_SEPARATOR: &str = "__thought__";

/// Google's documented "skip the signature check" value (base64 of
/// `skip_thought_signature_validator`), what LiteLLM sends for Gemini 3 function calls whose
/// signature the client did not send back.
const DUMMY_THOUGHT_SIGNATURE: &str = "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I=";

/// JSON-Schema keywords the OpenAPI subset of `parameters` rejects (LiteLLM strips the same).
const STRIPPED_SCHEMA_KEYS: &[&str] =
    &["additionalProperties", "strict", "$schema", "$id", "title"];

/// `$ref` chains are inlined up to this depth; deeper (recursive) references become a plain
/// object, since `parameters` cannot express recursion.
const MAX_REF_DEPTH: usize = 16;

impl GeminiAdapter {
    /// `POST .../models/{m}:generateContent`, or `:streamGenerateContent?alt=sse` for a stream.
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        let (body, stream) = self.chat_body(req, options)?;
        let url = if stream {
            self.url("streamGenerateContent", Some("alt=sse"))
        } else {
            self.url("generateContent", None)
        };
        Ok(UpstreamRequest {
            method: Method::POST,
            url,
            headers: self.headers()?,
            body,
        })
    }

    /// The `GenerateContentRequest` body for `req` and whether it asks for a stream: the
    /// translation alone, shared with Vertex AI, which sends it to its own URL.
    pub(crate) fn chat_body(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<(Bytes, bool), GatewayError> {
        let req = self.with_defaults(req)?;
        let drop = options.drop_params || self.params.drop_params;
        let mut t = Translator {
            model: &self.upstream_model,
            vertex: self.vertex,
            refused: Vec::new(),
        };
        let body = t.request(&req)?;
        if let (Some(param), false) = (t.refused.first(), drop) {
            let provider = if self.vertex {
                tollgate_core::Provider::VertexAi
            } else {
                tollgate_core::Provider::Gemini
            };
            return Err(GatewayError::UnsupportedParams {
                provider: provider.to_string(),
                model: self.upstream_model.clone(),
                param: param.clone(),
            });
        }
        let body = Bytes::from(serde_json::to_vec(&body).map_err(encode_error)?);
        Ok((body, req.is_stream()))
    }

    /// `POST .../models/{m}:batchEmbedContents`, one entry per input text.
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        let texts: Vec<&str> = match &req.input {
            EmbeddingInput::One(s) => vec![s.as_str()],
            EmbeddingInput::Many(v) => v.iter().map(String::as_str).collect(),
            EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
                return Err(GatewayError::invalid_request(
                    "Gemini embeddings take text input, not token ids",
                    Some("input".into()),
                ));
            }
        };
        let defaults = &self.params.default_params;
        let dimensions = req
            .dimensions
            .map(Value::from)
            .or_else(|| defaults.get("dimensions").cloned());
        let mut task_type = None;
        let mut title = None;
        let mut refused = None;
        for (key, value) in &req.extra {
            match key.as_str() {
                "task_type" | "taskType" => task_type = Some(value.clone()),
                "title" => title = Some(value.clone()),
                _ if value.is_null() => {}
                other => {
                    refused.get_or_insert_with(|| other.to_owned());
                }
            }
        }
        task_type = task_type.or_else(|| {
            defaults
                .get("task_type")
                .or_else(|| defaults.get("taskType"))
                .cloned()
        });
        title = title.or_else(|| defaults.get("title").cloned());
        if let (Some(param), false) = (refused, self.params.drop_params) {
            return Err(GatewayError::UnsupportedParams {
                provider: tollgate_core::Provider::Gemini.to_string(),
                model: self.upstream_model.clone(),
                param,
            });
        }
        let model = format!("models/{}", self.upstream_model);
        let requests: Vec<Value> = texts
            .into_iter()
            .map(|text| {
                let mut r = Map::new();
                r.insert("model".into(), Value::String(model.clone()));
                r.insert("content".into(), json!({ "parts": [{ "text": text }] }));
                if let Some(d) = &dimensions {
                    r.insert("outputDimensionality".into(), d.clone());
                }
                if let Some(t) = &task_type {
                    r.insert("taskType".into(), t.clone());
                }
                if let Some(t) = &title {
                    r.insert("title".into(), t.clone());
                }
                Value::Object(r)
            })
            .collect();
        let body = json!({ "requests": requests });
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.embeddings_url(),
            headers: self.headers()?,
            body: Bytes::from(serde_json::to_vec(&body).map_err(encode_error)?),
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

    /// `content-type`, the key (AI Studio only) and the deployment's `extra_headers`.
    pub(crate) fn headers(&self) -> Result<HeaderMap, GatewayError> {
        let mut h = HeaderMap::with_capacity(2 + self.params.extra_headers.len());
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(key) = &self.api_key {
            h.insert("x-goog-api-key", header_value("x-goog-api-key", key)?);
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

/// One translation: the model decides a few mappings, `refused` collects what cannot be sent.
struct Translator<'a> {
    model: &'a str,
    /// Vertex AI rather than AI Studio.
    vertex: bool,
    refused: Vec<String>,
}

impl Translator<'_> {
    fn refuse(&mut self, param: &str) {
        if !self.refused.iter().any(|p| p == param) {
            self.refused.push(param.to_owned());
        }
    }

    fn request(&mut self, req: &ChatCompletionRequest) -> Result<Value, GatewayError> {
        let (mut contents, mut system) = self.contents(&req.messages)?;
        if contents.is_empty() {
            // Gemini needs at least one turn; a request of system messages only is answered
            // as if the instructions were the user's message.
            match system.take() {
                Some(Value::Object(mut s)) => {
                    s.insert("role".into(), Value::String("user".into()));
                    contents.push(Value::Object(s));
                }
                _ => {
                    return Err(GatewayError::invalid_request(
                        "messages must contain at least one message with content",
                        Some("messages".into()),
                    ));
                }
            }
        }
        let mut body = Map::new();
        body.insert("contents".into(), Value::Array(contents));
        if let Some(s) = system {
            body.insert("systemInstruction".into(), s);
        }
        let tools = self.tools(req)?;
        let declared = tools
            .iter()
            .filter_map(|t| t.get("functionDeclarations").and_then(Value::as_array))
            .map(Vec::len)
            .sum::<usize>();
        if !tools.is_empty() {
            body.insert("tools".into(), Value::Array(tools));
        }
        if let Some(config) = self.tool_config(req) {
            body.insert("toolConfig".into(), config);
        }
        if req.parallel_tool_calls == Some(false) && declared > 1 {
            // Gemini cannot be told to call one function at a time (LiteLLM refuses too).
            self.refuse("parallel_tool_calls");
        }
        let mut generation_config = self.generation_config(req)?;
        self.extras(req, &mut body, &mut generation_config);
        if !generation_config.is_empty() {
            body.insert("generationConfig".into(), Value::Object(generation_config));
        }
        self.refuse_unmapped(req);
        Ok(Value::Object(body))
    }

    /// OpenAI parameters with no Gemini counterpart.
    fn refuse_unmapped(&mut self, req: &ChatCompletionRequest) {
        let unmapped = [
            ("logit_bias", req.logit_bias.is_some()),
            ("audio", req.audio.is_some()),
            ("prediction", req.prediction.is_some()),
            ("service_tier", req.service_tier.is_some()),
            ("store", req.store.is_some()),
            ("verbosity", req.verbosity.is_some()),
        ];
        for (name, set) in unmapped {
            if set {
                self.refuse(name);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Messages
    // -----------------------------------------------------------------------------------------

    /// `contents` (turns with roles `user` / `model`, consecutive same-role turns merged) and
    /// `systemInstruction` (every system and developer message, one part each).
    fn contents(
        &mut self,
        messages: &[ChatMessage],
    ) -> Result<(Vec<Value>, Option<Value>), GatewayError> {
        let mut system_parts = Vec::new();
        let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
        // Tool-call id → function name, for the `functionResponse` that answers it. Later calls
        // overwrite earlier ones: a result answers the most recent call with its id.
        let mut call_names: HashMap<String, String> = HashMap::new();
        for (i, m) in messages.iter().enumerate() {
            match m.role {
                Role::System | Role::Developer => {
                    let text = m.text_content().unwrap_or_default();
                    if !text.is_empty() {
                        system_parts.push(json!({ "text": text }));
                    }
                }
                Role::User => push_turn(&mut turns, "user", user_parts(m.content.as_ref(), i)?),
                Role::Assistant => {
                    let parts = self.assistant_parts(m, i, &mut call_names)?;
                    push_turn(&mut turns, "model", parts);
                }
                Role::Tool | Role::Function => {
                    let part = self.function_response(m, i, &call_names)?;
                    push_turn(&mut turns, "user", vec![part]);
                }
            }
        }
        let contents = turns
            .into_iter()
            .map(|(role, parts)| json!({ "role": role, "parts": parts }))
            .collect();
        let system = (!system_parts.is_empty()).then(|| json!({ "parts": system_parts }));
        Ok((contents, system))
    }

    fn assistant_parts(
        &self,
        m: &ChatMessage,
        index: usize,
        call_names: &mut HashMap<String, String>,
    ) -> Result<Vec<Value>, GatewayError> {
        let mut parts = Vec::new();
        let mut texts = Vec::new();
        match &m.content {
            Some(MessageContent::Text(s)) => texts.push(s.as_str()),
            Some(MessageContent::Parts(ps)) => {
                for p in ps {
                    match p {
                        ContentPart::Text { text, .. } => texts.push(text),
                        ContentPart::Refusal { refusal, .. } => texts.push(refusal),
                        // A model turn cannot carry images or files in Gemini's history.
                        _ => {
                            return Err(GatewayError::invalid_request(
                                "assistant messages may only contain text parts for Gemini",
                                Some(format!("messages[{index}].content")),
                            ));
                        }
                    }
                }
            }
            None => {}
        }
        let mut text_signature = message_text_signature(m);
        for text in texts.into_iter().filter(|t| !t.is_empty()) {
            let mut part = Map::new();
            part.insert("text".into(), Value::String(text.to_owned()));
            // The signature Gemini put on a text part goes back on the first one.
            if let Some(sig) = text_signature.take() {
                part.insert("thoughtSignature".into(), Value::String(sig));
            }
            parts.push(Value::Object(part));
        }
        let first_call = parts.len();
        // Legacy `function_call` on the message.
        if let Some(fc) = m.extra.get("function_call").filter(|v| !v.is_null()) {
            let name = fc.get("name").and_then(Value::as_str).unwrap_or_default();
            let args = fc.get("arguments").and_then(Value::as_str).unwrap_or("");
            let args = parse_arguments(args, index)?;
            parts.push(json!({ "functionCall": { "name": name, "args": args } }));
        }
        for (j, call) in m.tool_calls.iter().flatten().enumerate() {
            let (base_id, id_signature) = split_signature(&call.id);
            call_names.insert(call.id.clone(), call.function.name.clone());
            call_names.insert(base_id.to_owned(), call.function.name.clone());
            let args = parse_arguments(&call.function.arguments, index).map_err(|_| {
                GatewayError::invalid_request(
                    format!(
                        "messages[{index}].tool_calls[{j}].function.arguments is not a JSON object"
                    ),
                    Some(format!("messages[{index}].tool_calls")),
                )
            })?;
            let mut function_call = Map::new();
            function_call.insert("name".into(), Value::String(call.function.name.clone()));
            function_call.insert("args".into(), args);
            if self.forwards_call_ids() && !base_id.is_empty() {
                function_call.insert("id".into(), Value::String(base_id.to_owned()));
            }
            let mut part = Map::new();
            part.insert("functionCall".into(), Value::Object(function_call));
            if let Some(sig) = tool_call_signature(&call.extra).or(id_signature) {
                part.insert("thoughtSignature".into(), Value::String(sig));
            }
            parts.push(Value::Object(part));
        }
        // Gemini 3 rejects a step whose first function call has no signature; the client lost
        // it, so send Google's documented bypass value rather than fail the conversation.
        if is_gemini_3_or_newer(self.model) {
            if let Some(Value::Object(first)) = parts.get_mut(first_call) {
                if first.contains_key("functionCall") && !first.contains_key("thoughtSignature") {
                    first.insert(
                        "thoughtSignature".into(),
                        Value::String(DUMMY_THOUGHT_SIGNATURE.into()),
                    );
                }
            }
        }
        Ok(parts)
    }

    fn function_response(
        &self,
        m: &ChatMessage,
        index: usize,
        call_names: &HashMap<String, String>,
    ) -> Result<Value, GatewayError> {
        let id = m.tool_call_id.as_deref().unwrap_or_default();
        let (base_id, _) = split_signature(id);
        let name = call_names
            .get(id)
            .or_else(|| call_names.get(base_id))
            .cloned()
            .or_else(|| m.name.clone().filter(|n| !n.is_empty()))
            .ok_or_else(|| {
                GatewayError::invalid_request(
                    format!(
                        "messages[{index}] answers tool_call_id={id:?}, which no earlier assistant tool call has; Gemini needs the function name"
                    ),
                    Some(format!("messages[{index}].tool_call_id")),
                )
            })?;
        if let Some(MessageContent::Parts(parts)) = &m.content {
            if parts.iter().any(|p| !matches!(p, ContentPart::Text { .. })) {
                // Dropping an image a tool returned would change the answer without a word.
                return Err(GatewayError::invalid_request(
                    "tool results may only contain text parts for Gemini",
                    Some(format!("messages[{index}].content")),
                ));
            }
        }
        let text = m.text_content().unwrap_or_default();
        // A JSON object or array result is sent as structured data; anything else as text.
        let content = match serde_json::from_str::<Value>(&text) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => Value::String(text),
        };
        let mut response = Map::new();
        response.insert("name".into(), Value::String(name));
        response.insert("response".into(), json!({ "content": content }));
        if self.forwards_call_ids() && !base_id.is_empty() {
            response.insert("id".into(), Value::String(base_id.to_owned()));
        }
        Ok(json!({ "functionResponse": response }))
    }

    /// Only Gemini 3 and newer on AI Studio take `id` on function calls and responses; Vertex
    /// has rejected the field as unknown (a 400), so it never gets it.
    fn forwards_call_ids(&self) -> bool {
        !self.vertex && is_gemini_3_or_newer(self.model)
    }

    // -----------------------------------------------------------------------------------------
    // Tools
    // -----------------------------------------------------------------------------------------

    /// `tools`: every function in one `functionDeclarations` tool, then one tool per built-in
    /// (Google Search, code execution, ...), as Gemini wants one kind per tool object.
    fn tools(&mut self, req: &ChatCompletionRequest) -> Result<Vec<Value>, GatewayError> {
        let mut declarations = Vec::new();
        let mut builtins: Vec<Value> = Vec::new();
        let mut add_builtin = |key: &str, value: Value| {
            if !builtins.iter().any(|b| b.get(key).is_some()) {
                let mut m = Map::new();
                m.insert(key.to_owned(), value);
                builtins.push(Value::Object(m));
            }
        };
        for (i, tool) in req.tools.iter().flatten().enumerate() {
            match tool.kind.as_str() {
                "function" => {
                    let f = tool.function.as_ref().ok_or_else(|| {
                        GatewayError::invalid_request(
                            format!("tools[{i}] has type function but no function"),
                            Some(format!("tools[{i}].function")),
                        )
                    })?;
                    declarations.push(function_declaration(f));
                }
                "web_search" | "web_search_preview" => add_builtin("googleSearch", json!({})),
                _ => match native_tool(&tool.extra) {
                    Some((key, value)) => add_builtin(key, value),
                    None => self.refuse("tools"),
                },
            }
        }
        for f in req.functions.iter().flatten() {
            match serde_json::from_value::<FunctionDefinition>(f.clone()) {
                Ok(def) => declarations.push(function_declaration(&def)),
                Err(_) => self.refuse("functions"),
            }
        }
        if req.web_search_options.is_some() {
            add_builtin("googleSearch", json!({}));
        }
        let mut tools = Vec::new();
        if !declarations.is_empty() {
            tools.push(json!({ "functionDeclarations": declarations }));
        }
        tools.extend(builtins);
        Ok(tools)
    }

    /// `toolConfig.functionCallingConfig` from `tool_choice` (or legacy `function_call`).
    fn tool_config(&mut self, req: &ChatCompletionRequest) -> Option<Value> {
        let (mode, name) = match (&req.tool_choice, &req.function_call) {
            (Some(ToolChoice::Mode(m)), _) => (m.as_str(), None),
            (Some(ToolChoice::Named(n)), _) => ("required", Some(n.function.name.as_str())),
            (None, Some(Value::String(m))) => (m.as_str(), None),
            (None, Some(Value::Object(o))) => ("required", o.get("name").and_then(Value::as_str)),
            (None, Some(Value::Null) | None) => return None,
            (None, Some(_)) => {
                self.refuse("function_call");
                return None;
            }
        };
        let param = if req.tool_choice.is_some() {
            "tool_choice"
        } else {
            "function_call"
        };
        let mode = match mode {
            "auto" => "AUTO",
            "none" => "NONE",
            "required" | "any" => "ANY",
            _ => {
                self.refuse(param);
                return None;
            }
        };
        let mut config = Map::new();
        config.insert("mode".into(), Value::String(mode.into()));
        if let Some(name) = name {
            config.insert("allowedFunctionNames".into(), json!([name]));
        }
        Some(json!({ "functionCallingConfig": config }))
    }

    // -----------------------------------------------------------------------------------------
    // Generation config
    // -----------------------------------------------------------------------------------------

    fn generation_config(
        &mut self,
        req: &ChatCompletionRequest,
    ) -> Result<Map<String, Value>, GatewayError> {
        let mut gc = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                gc.insert(k.to_owned(), v);
            }
        };
        put("temperature", req.temperature.map(Value::from));
        put("topP", req.top_p.map(Value::from));
        put("candidateCount", req.n.map(Value::from));
        put(
            "maxOutputTokens",
            req.max_completion_tokens
                .or(req.max_tokens)
                .map(Value::from),
        );
        put(
            "stopSequences",
            req.stop
                .as_ref()
                .map(|s| s.to_vec())
                .filter(|s| !s.is_empty())
                .map(Value::from),
        );
        put("seed", req.seed.map(Value::from));
        put("responseLogprobs", req.logprobs.map(Value::from));
        put("logprobs", req.top_logprobs.map(Value::from));
        put(
            "responseModalities",
            req.modalities.as_ref().map(|m| {
                Value::from(
                    m.iter()
                        .map(|x| match x.as_str() {
                            "text" => "TEXT".to_owned(),
                            "image" => "IMAGE".to_owned(),
                            "audio" => "AUDIO".to_owned(),
                            other => other.to_ascii_uppercase(),
                        })
                        .collect::<Vec<_>>(),
                )
            }),
        );
        // Gemini 3 takes no penalties (LiteLLM lists them as unsupported there).
        for (name, key, value) in [
            ("presence_penalty", "presencePenalty", req.presence_penalty),
            (
                "frequency_penalty",
                "frequencyPenalty",
                req.frequency_penalty,
            ),
        ] {
            if let Some(v) = value {
                if is_gemini_3_or_newer(self.model) {
                    self.refuse(name);
                } else {
                    gc.insert(key.into(), Value::from(v));
                }
            }
        }
        match &req.response_format {
            None => {}
            Some(ResponseFormat::Text) => {
                gc.insert("responseMimeType".into(), "text/plain".into());
            }
            Some(ResponseFormat::JsonObject) => {
                gc.insert("responseMimeType".into(), "application/json".into());
            }
            Some(ResponseFormat::JsonSchema { json_schema }) => {
                gc.insert("responseMimeType".into(), "application/json".into());
                if let Some(schema) = &json_schema.schema {
                    if takes_json_schema(self.model) {
                        gc.insert("responseJsonSchema".into(), schema.clone());
                    } else {
                        gc.insert("responseSchema".into(), clean_schema(schema, true));
                    }
                }
            }
        }
        if let Some(effort) = &req.reasoning_effort {
            if thinks(self.model) {
                gc.insert(
                    "thinkingConfig".into(),
                    thinking_for_effort(self.model, effort)?,
                );
            } else {
                self.refuse("reasoning_effort");
            }
        }
        Ok(gc)
    }

    /// Provider-specific fields clients send through the OpenAI body (LiteLLM's pass-through
    /// params): mapped when Gemini has them, refused otherwise.
    fn extras(
        &mut self,
        req: &ChatCompletionRequest,
        body: &mut Map<String, Value>,
        gc: &mut Map<String, Value>,
    ) {
        let mut raw_config = None;
        for (key, value) in &req.extra {
            if value.is_null() {
                continue;
            }
            match key.as_str() {
                "top_k" | "topK" => {
                    gc.insert("topK".into(), value.clone());
                }
                "safety_settings" | "safetySettings" => {
                    body.insert("safetySettings".into(), value.clone());
                }
                "cached_content" | "cachedContent" => {
                    body.insert("cachedContent".into(), value.clone());
                }
                // Vertex bills by label; AI Studio has no such field.
                "labels" if self.vertex => {
                    body.insert("labels".into(), value.clone());
                }
                "thinking" => match thinking_for_anthropic_param(self.model, value) {
                    Some(config) => {
                        gc.insert("thinkingConfig".into(), config);
                    }
                    None => self.refuse("thinking"),
                },
                // Escape hatch: raw Gemini generation settings win over the mapped ones.
                "generation_config" | "generationConfig" => match value {
                    Value::Object(o) => raw_config = Some(o),
                    _ => self.refuse(key),
                },
                other => self.refuse(other),
            }
        }
        if let Some(raw) = raw_config {
            for (k, v) in raw {
                gc.insert(k.clone(), v.clone());
            }
        }
    }
}

fn push_turn(turns: &mut Vec<(&'static str, Vec<Value>)>, role: &'static str, parts: Vec<Value>) {
    if parts.is_empty() {
        return;
    }
    match turns.last_mut() {
        Some((last, existing)) if *last == role => existing.extend(parts),
        _ => turns.push((role, parts)),
    }
}

/// A user message's parts: text, images, audio and files.
fn user_parts(content: Option<&MessageContent>, index: usize) -> Result<Vec<Value>, GatewayError> {
    let parts = match content {
        None => return Ok(Vec::new()),
        Some(MessageContent::Text(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(MessageContent::Text(s)) => return Ok(vec![json!({ "text": s })]),
        Some(MessageContent::Parts(p)) => p,
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let at = || format!("messages[{index}].content[{j}]");
        match part {
            ContentPart::Text { text, .. } | ContentPart::Refusal { refusal: text, .. } => {
                if !text.is_empty() {
                    out.push(json!({ "text": text }));
                }
            }
            ContentPart::ImageUrl { image_url, .. } => {
                let format = image_url.extra.get("format").and_then(Value::as_str);
                out.push(
                    media_part(&image_url.url, format, Some("image/jpeg")).ok_or_else(|| {
                        GatewayError::invalid_request(
                            "image_url must be a base64 data: URI or an https:// or gs:// URL",
                            Some(at()),
                        )
                    })?,
                );
            }
            ContentPart::InputAudio { input_audio, .. } => {
                let mime = match input_audio.format.as_str() {
                    "mp3" => "audio/mp3".to_owned(),
                    "wav" => "audio/wav".to_owned(),
                    other => format!("audio/{other}"),
                };
                out.push(json!({ "inlineData": { "mimeType": mime, "data": input_audio.data } }));
            }
            ContentPart::File { file, .. } => {
                let format = file.extra.get("format").and_then(Value::as_str);
                let source = file.file_data.as_deref().or(file.file_id.as_deref());
                let guessed = file.filename.as_deref().and_then(mime_from_extension);
                let part = source.and_then(|s| media_part(s, format.or(guessed), None));
                out.push(part.ok_or_else(|| {
                    GatewayError::invalid_request(
                        "file parts need file_data as a base64 data: URI, or a file_id that is an https:// or gs:// URL with a known type (set file.format to name the MIME type)",
                        Some(at()),
                    )
                })?);
            }
        }
    }
    Ok(out)
}

/// `data:<mime>;base64,<data>` → `inlineData`; an `https://`, `http://` or `gs://` URL →
/// `fileData` with the given MIME type, else one guessed from the extension, else `default`.
/// Gemini fetches URLs itself (the adapter does no I/O), so unlike LiteLLM, which downloads
/// https images and inlines them, a URL Gemini cannot fetch fails upstream.
fn media_part(url: &str, format: Option<&str>, default: Option<&str>) -> Option<Value> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest.split_once(',')?;
        let mime = meta.strip_suffix(";base64")?;
        let mime = format.unwrap_or(if mime.is_empty() { default? } else { mime });
        return Some(json!({ "inlineData": { "mimeType": mime, "data": data } }));
    }
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("gs://"))
    {
        return None;
    }
    let mime = format.or_else(|| mime_from_extension(url)).or(default)?;
    Some(json!({ "fileData": { "mimeType": mime, "fileUri": url } }))
}

/// The MIME type Gemini expects for a file, from its extension (query and fragment ignored).
fn mime_from_extension(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "mp3" => "audio/mp3",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "mp4" => "video/mp4",
        "mov" => "video/mov",
        "mpeg" | "mpg" => "video/mpeg",
        "avi" => "video/avi",
        "wmv" => "video/wmv",
        "flv" => "video/flv",
        "webm" => "video/webm",
        _ => return None,
    })
}

/// Tool-call arguments (a JSON string) as the object `args` must be; empty or `null` is `{}`.
fn parse_arguments(args: &str, index: usize) -> Result<Value, GatewayError> {
    if args.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(args) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(Value::Null) => Ok(json!({})),
        _ => Err(GatewayError::invalid_request(
            format!("messages[{index}]: function call arguments are not a JSON object"),
            Some(format!("messages[{index}]")),
        )),
    }
}

/// `call_x__thought__<sig>` → (`call_x`, Some(sig)); other ids are returned as they are.
fn split_signature(id: &str) -> (&str, Option<String>) {
    match id.split_once(THOUGHT_SIGNATURE_SEPARATOR) {
        Some((base, sig)) if !sig.is_empty() => (base, Some(sig.to_owned())),
        _ => (id, None),
    }
}

/// The signature a client sent back on a tool call: ours and LiteLLM's
/// `provider_specific_fields.thought_signature`, or Google's OpenAI-compatible
/// `extra_content.google.thought_signature`.
fn tool_call_signature(extra: &Map<String, Value>) -> Option<String> {
    extra
        .get("provider_specific_fields")
        .and_then(|p| p.get("thought_signature"))
        .or_else(|| {
            extra
                .get("extra_content")
                .and_then(|e| e.get("google"))
                .and_then(|g| g.get("thought_signature"))
        })
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The first of `provider_specific_fields.thought_signatures` on an assistant message: the
/// signature Gemini put on its text part.
fn message_text_signature(m: &ChatMessage) -> Option<String> {
    m.extra
        .get("provider_specific_fields")
        .and_then(|p| p.get("thought_signatures"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn function_declaration(f: &FunctionDefinition) -> Value {
    let mut d = Map::new();
    d.insert("name".into(), Value::String(f.name.clone()));
    if let Some(desc) = &f.description {
        d.insert("description".into(), Value::String(desc.clone()));
    }
    if let Some(params) = f.parameters.as_ref().filter(|p| !p.is_null()) {
        let cleaned = clean_schema(params, false);
        // A function without arguments is declared without `parameters`: Gemini rejects an
        // OBJECT with empty `properties`, which is how OpenAI clients spell "no arguments".
        if !is_empty_object_schema(&cleaned) {
            d.insert("parameters".into(), cleaned);
        }
    }
    Value::Object(d)
}

fn is_empty_object_schema(schema: &Value) -> bool {
    let Some(o) = schema.as_object() else {
        return false;
    };
    let no_properties = o
        .get("properties")
        .is_none_or(|p| p.as_object().is_some_and(Map::is_empty));
    let nothing_else = o.iter().all(|(k, v)| match k.as_str() {
        "type" => v == "object",
        "properties" => true,
        "required" => v.as_array().is_some_and(Vec::is_empty),
        _ => false,
    });
    no_properties && nothing_else
}

/// A Gemini built-in tool sent in the OpenAI `tools` list (`{"type": "...", "googleSearch":
/// {}}`), under its camelCase name.
fn native_tool(extra: &Map<String, Value>) -> Option<(&'static str, Value)> {
    const NATIVE: &[(&str, &str)] = &[
        ("googleSearch", "googleSearch"),
        ("google_search", "googleSearch"),
        ("googleSearchRetrieval", "googleSearchRetrieval"),
        ("google_search_retrieval", "googleSearchRetrieval"),
        ("codeExecution", "codeExecution"),
        ("code_execution", "codeExecution"),
        ("urlContext", "urlContext"),
        ("url_context", "urlContext"),
        ("enterpriseWebSearch", "enterpriseWebSearch"),
        ("enterprise_web_search", "enterpriseWebSearch"),
        ("googleMaps", "googleMaps"),
        ("google_maps", "googleMaps"),
    ];
    NATIVE.iter().find_map(|(key, camel)| {
        extra
            .get(*key)
            .map(|v| (*camel, if v.is_null() { json!({}) } else { v.clone() }))
    })
}

/// JSON Schema → the OpenAPI subset Gemini's `parameters` / `responseSchema` take, as LiteLLM
/// does it: `$ref`s into `$defs` inlined, unsupported keywords dropped, `format` kept only for
/// `enum` and `date-time`, `anyOf` with `null` and `type: [.., "null"]` turned into
/// `nullable`, `type: object` added where `properties` imply it. With `ordering`, objects get
/// `propertyOrdering` (older models otherwise answer with keys sorted alphabetically).
pub(super) fn clean_schema(schema: &Value, ordering: bool) -> Value {
    let mut defs = Map::new();
    if let Some(o) = schema.as_object() {
        for key in ["$defs", "definitions"] {
            if let Some(Value::Object(d)) = o.get(key) {
                defs.extend(d.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    clean_node(schema, &defs, ordering, 0)
}

fn clean_node(node: &Value, defs: &Map<String, Value>, ordering: bool, depth: usize) -> Value {
    let Some(obj) = node.as_object() else {
        return node.clone();
    };
    if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        let mut resolved = match defs.get(name) {
            Some(target) if depth < MAX_REF_DEPTH => clean_node(target, defs, ordering, depth + 1),
            _ => json!({ "type": "object" }),
        };
        if let (Some(r), Some(desc)) = (resolved.as_object_mut(), obj.get("description")) {
            r.insert("description".into(), desc.clone());
        }
        return resolved;
    }
    let mut out = Map::new();
    let mut nullable = false;
    for (key, value) in obj {
        match key.as_str() {
            k if STRIPPED_SCHEMA_KEYS.contains(&k) => {}
            "$defs" | "definitions" => {}
            "format" => {
                if matches!(value.as_str(), Some("enum" | "date-time")) {
                    out.insert(key.clone(), value.clone());
                }
            }
            "required" if value.is_null() => {}
            "properties" => match value.as_object() {
                Some(props) => {
                    let cleaned: Map<String, Value> = props
                        .iter()
                        .map(|(k, v)| (k.clone(), clean_node(v, defs, ordering, depth)))
                        .collect();
                    out.insert(key.clone(), Value::Object(cleaned));
                }
                None => {
                    out.insert(key.clone(), value.clone());
                }
            },
            "items" => {
                out.insert(key.clone(), clean_node(value, defs, ordering, depth));
            }
            "anyOf" | "oneOf" | "allOf" => match value.as_array() {
                Some(options) => {
                    let mut kept = Vec::with_capacity(options.len());
                    let mut had_null = false;
                    for o in options {
                        if o.get("type").and_then(Value::as_str) == Some("null") {
                            had_null = true;
                        } else {
                            kept.push(clean_node(o, defs, ordering, depth));
                        }
                    }
                    if had_null && kept.is_empty() {
                        nullable = true;
                        continue;
                    }
                    if had_null {
                        for k in &mut kept {
                            if let Some(ko) = k.as_object_mut() {
                                ko.insert("nullable".into(), Value::Bool(true));
                            }
                        }
                    }
                    out.insert(key.clone(), Value::Array(kept));
                }
                None => {
                    out.insert(key.clone(), value.clone());
                }
            },
            "type" => match value {
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    nullable |= non_null.len() < types.len();
                    if let [one] = non_null.as_slice() {
                        out.insert(key.clone(), (*one).clone());
                    } else if !non_null.is_empty() {
                        // Several real types: Gemini has no union type keyword but anyOf.
                        let options = non_null.iter().map(|t| json!({ "type": t })).collect();
                        out.insert("anyOf".into(), Value::Array(options));
                    }
                }
                _ => {
                    out.insert(key.clone(), value.clone());
                }
            },
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    if nullable {
        out.insert("nullable".into(), Value::Bool(true));
    }
    if let Some(Value::Object(props)) = out.get("properties") {
        let keys: Vec<Value> = props.keys().cloned().map(Value::String).collect();
        out.insert("type".into(), Value::String("object".into()));
        if ordering && !keys.is_empty() && !out.contains_key("propertyOrdering") {
            out.insert("propertyOrdering".into(), Value::Array(keys));
        }
    }
    Value::Object(out)
}

/// Gemini 2.0 and newer take full JSON Schema in `responseJsonSchema`; older ones only the
/// OpenAPI subset in `responseSchema` (LiteLLM's split).
fn takes_json_schema(model: &str) -> bool {
    generation(model).is_none_or(|g| g >= 2) && !is_legacy_name(model)
}

/// `gemini-pro` / `gemini-pro-vision`: the 1.0 generation under its old names.
fn is_legacy_name(model: &str) -> bool {
    matches!(model, "gemini-pro" | "gemini-pro-vision")
}

/// Whether the model thinks: 1.x and 2.0 models reject `thinkingConfig` (bar the 2.0
/// thinking experiment).
fn thinks(model: &str) -> bool {
    let old = generation(model) == Some(1)
        || is_legacy_name(model)
        || (model.starts_with("gemini-2.0") && !model.contains("thinking"));
    !old
}

/// `reasoning_effort` → `thinkingConfig`, LiteLLM's table: budgets for 2.x (`minimal` by
/// model, low 1024, medium 2048, high 4096, `none`/`disable` 0 without thoughts), levels for
/// Gemini 3.
fn thinking_for_effort(model: &str, effort: &str) -> Result<Value, GatewayError> {
    let invalid = || {
        GatewayError::invalid_request(
            format!(
                "reasoning_effort={effort:?} is not one of minimal, low, medium, high, none, disable"
            ),
            Some("reasoning_effort".into()),
        )
    };
    if is_gemini_3_or_newer(model) {
        let flash = model.contains("flash");
        let pro_31 = model.contains("gemini-3.1-pro-preview");
        let (level, thoughts) = match effort {
            "minimal" => (if flash { "minimal" } else { "low" }, true),
            "low" => ("low", true),
            "medium" => (if flash || pro_31 { "medium" } else { "high" }, true),
            "high" => ("high", true),
            "none" | "disable" => (if flash { "minimal" } else { "low" }, false),
            _ => return Err(invalid()),
        };
        return Ok(json!({ "thinkingLevel": level, "includeThoughts": thoughts }));
    }
    let (budget, thoughts) = match effort {
        "minimal" if model.contains("gemini-2.5-flash-lite") => (512, true),
        "minimal" if model.contains("gemini-2.5-pro") => (128, true),
        "minimal" if model.contains("gemini-2.5-flash") => (1, true),
        "minimal" => (128, true),
        "low" => (1024, true),
        "medium" => (2048, true),
        "high" => (4096, true),
        "none" | "disable" => (0, false),
        _ => return Err(invalid()),
    };
    Ok(json!({ "thinkingBudget": budget, "includeThoughts": thoughts }))
}

/// Anthropic-style `thinking: {"type": "enabled", "budget_tokens": N}` (LiteLLM accepts it for
/// Gemini): thoughts on unless the budget is 0, the budget as `thinkingBudget` before Gemini 3.
fn thinking_for_anthropic_param(model: &str, value: &Value) -> Option<Value> {
    let kind = value.get("type")?.as_str()?;
    let budget = value.get("budget_tokens").and_then(Value::as_i64);
    let enabled = kind == "enabled";
    if kind != "enabled" && kind != "disabled" {
        return None;
    }
    let mut config = Map::new();
    if is_gemini_3_or_newer(model) {
        let thoughts = enabled && budget.is_some_and(|b| b != 0);
        config.insert("includeThoughts".into(), Value::Bool(thoughts));
    } else {
        if enabled && budget != Some(0) {
            config.insert("includeThoughts".into(), Value::Bool(true));
        }
        if let Some(b) = budget {
            config.insert("thinkingBudget".into(), Value::from(b));
        }
    }
    Some(Value::Object(config))
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

    fn adapter_with(model: &str, params: ProviderParams) -> GeminiAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        GeminiAdapter::new(&m, &params, &Env::with_overlay(Default::default()))
            .unwrap()
            .unwrap()
    }

    fn adapter(model: &str) -> GeminiAdapter {
        adapter_with(
            model,
            ProviderParams {
                api_key: Some("k".into()),
                ..Default::default()
            },
        )
    }

    fn req(v: Value) -> ChatCompletionRequest {
        serde_json::from_value(v).unwrap()
    }

    fn body(a: &GeminiAdapter, r: &ChatCompletionRequest) -> Value {
        serde_json::from_slice(&a.chat_request(r, CallOptions::default()).unwrap().body).unwrap()
    }

    #[test]
    fn system_messages_become_the_system_instruction_and_roles_merge() {
        let a = adapter("gemini/gemini-2.0-flash");
        let r = req(json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "developer", "content": [{"type": "text", "text": "No emojis."}]},
            {"role": "user", "content": [{"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello"},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": [{"type": "text", "text": "again"}]},
            {"role": "user", "content": ""},
            {"role": "user", "content": "Bye"}
        ]}));
        let r = a.chat_request(&r, CallOptions::default()).unwrap();
        assert_eq!(
            r.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
        );
        assert_eq!(r.headers["x-goog-api-key"], "k");
        assert!(r.headers.get("authorization").is_none());
        let b: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            b,
            json!({
                "contents": [
                    {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
                    {"role": "model", "parts": [{"text": "Hello"}, {"text": "again"}]},
                    {"role": "user", "parts": [{"text": "Bye"}]}
                ],
                "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "No emojis."}]}
            })
        );
    }

    #[test]
    fn a_system_only_conversation_is_sent_as_the_user_turn() {
        let b = body(
            &adapter("gemini/gemini-2.0-flash"),
            &req(json!({"model": "m", "messages": [{"role": "system", "content": "Say hi"}]})),
        );
        assert_eq!(
            b,
            json!({"contents": [{"parts": [{"text": "Say hi"}], "role": "user"}]})
        );
        let err = adapter("gemini/gemini-2.0-flash")
            .chat_request(
                &req(json!({"model": "m", "messages": [{"role": "user", "content": ""}]})),
                CallOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn images_audio_and_files_become_inline_or_file_data() {
        let b = body(
            &adapter("gemini/gemini-2.5-flash"),
            &req(
                json!({"model": "m", "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "What are these?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp?x=1", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "gs://bucket/dog"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/pic", "format": "image/png"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "a.pdf"}},
                    {"type": "file", "file": {"file_id": "https://example.com/report.pdf"}}
                ]}]}),
            ),
        );
        assert_eq!(
            b["contents"][0]["parts"],
            json!([
                {"text": "What are these?"},
                {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
                {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?x=1"}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "gs://bucket/dog"}},
                {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/pic"}},
                {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
                {"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}},
                {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/report.pdf"}}
            ])
        );
        for bad in [
            json!({"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}),
            json!({"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}),
            json!({"type": "file", "file": {"file_id": "file-abc"}}),
        ] {
            let err = adapter("gemini/gemini-2.5-flash")
                .chat_request(
                    &req(json!({"model": "m", "messages": [{"role": "user", "content": [bad]}]})),
                    CallOptions::default(),
                )
                .unwrap_err();
            assert_eq!(err.status(), 400, "{err}");
            assert!(matches!(err, GatewayError::InvalidRequest { .. }), "{err}");
        }
    }

    #[test]
    fn tool_calls_and_results_round_trip_with_names_and_signatures() {
        let conversation = json!({"model": "m", "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a_0", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"},
                 "provider_specific_fields": {"thought_signature": "sigA"}},
                {"id": "call_a_1__thought__sigB", "type": "function", "function": {"name": "time", "arguments": ""}}
            ]},
            {"role": "tool", "tool_call_id": "call_a_0", "content": "{\"temp\": 21}"},
            {"role": "tool", "tool_call_id": "call_a_1__thought__sigB", "content": "noon"},
            {"role": "user", "content": "Thanks"}
        ]});
        let b = body(
            &adapter("gemini/gemini-2.5-flash"),
            &req(conversation.clone()),
        );
        assert_eq!(
            b["contents"],
            json!([
                {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "weather", "args": {"city": "Paris"}}, "thoughtSignature": "sigA"},
                    {"functionCall": {"name": "time", "args": {}}, "thoughtSignature": "sigB"}
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "weather", "response": {"content": {"temp": 21}}}},
                    {"functionResponse": {"name": "time", "response": {"content": "noon"}}},
                    {"text": "Thanks"}
                ]}
            ])
        );
        // Gemini 3 takes the ids too.
        let b = body(&adapter("gemini/gemini-3-pro-preview"), &req(conversation));
        assert_eq!(
            b["contents"][1]["parts"][1]["functionCall"]["id"],
            "call_a_1"
        );
        assert_eq!(
            b["contents"][2]["parts"][1]["functionResponse"]["id"],
            "call_a_1"
        );
    }

    #[test]
    fn gemini_3_function_calls_without_a_signature_get_the_bypass_value() {
        let r = req(json!({"model": "m", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ], "provider_specific_fields": {"thought_signatures": ["textsig"]}},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
            {"role": "tool", "tool_call_id": "c2", "content": "2"}
        ]}));
        let b = body(&adapter("gemini/gemini-3-flash-preview"), &r);
        let parts = &b["contents"][1]["parts"];
        assert_eq!(
            parts[0],
            json!({"text": "Let me check.", "thoughtSignature": "textsig"})
        );
        assert_eq!(parts[1]["thoughtSignature"], DUMMY_THOUGHT_SIGNATURE);
        assert!(parts[2].get("thoughtSignature").is_none());
        // Older models are not given one.
        let b = body(&adapter("gemini/gemini-2.5-flash"), &r);
        assert!(
            b["contents"][1]["parts"][1]
                .get("thoughtSignature")
                .is_none()
        );
    }

    #[test]
    fn a_tool_result_without_a_matching_call_is_a_clear_400() {
        let err = adapter("gemini/gemini-2.5-flash")
            .chat_request(
                &req(json!({"model": "m", "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "tool", "tool_call_id": "nope", "content": "1"}
                ]})),
                CallOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("nope"), "{err}");
        // A legacy function message names itself.
        let b = body(
            &adapter("gemini/gemini-2.5-flash"),
            &req(json!({"model": "m", "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": null, "function_call": {"name": "f", "arguments": "{\"a\":1}"}},
                {"role": "function", "name": "f", "content": "[1,2]"}
            ]})),
        );
        assert_eq!(
            b["contents"][1]["parts"][0],
            json!({"functionCall": {"name": "f", "args": {"a": 1}}})
        );
        assert_eq!(
            b["contents"][2]["parts"][0],
            json!({"functionResponse": {"name": "f", "response": {"content": [1, 2]}}})
        );
        // A tool result with an image is refused rather than sent without it.
        let err = adapter("gemini/gemini-2.5-flash")
            .chat_request(
                &req(json!({"model": "m", "messages": [
                    {"role": "user", "content": "x"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c", "type": "function", "function": {"name": "shot", "arguments": "{}"}}]},
                    {"role": "tool", "tool_call_id": "c", "content": [
                        {"type": "text", "text": "here"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
                ]})),
                CallOptions::default(),
            )
            .unwrap_err();
        assert!(matches!(err, GatewayError::InvalidRequest { .. }), "{err}");
    }

    #[test]
    fn tools_schemas_and_tool_choice_map_like_litellm() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "tools": [
                    {"type": "function", "function": {"name": "lookup", "description": "Find a thing", "strict": true,
                      "parameters": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                        "title": "Args", "additionalProperties": false,
                        "properties": {
                          "email": {"type": "string", "format": "email", "title": "Email"},
                          "when": {"type": "string", "format": "date-time"},
                          "tag": {"anyOf": [{"$ref": "#/$defs/Tag"}, {"type": "null"}]},
                          "count": {"type": ["integer", "null"]},
                          "title": {"type": "string"}
                        },
                        "required": ["email"],
                        "$defs": {"Tag": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": false}}
                      }}},
                    {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}, "required": []}}},
                    {"type": "web_search"}
                ],
                "tool_choice": {"type": "function", "function": {"name": "lookup"}}
            }),
        );
        let b = body(&adapter("gemini/gemini-2.5-flash"), &r);
        assert_eq!(
            b["tools"],
            json!([
                {"functionDeclarations": [
                    {"name": "lookup", "description": "Find a thing", "parameters": {
                        "type": "object",
                        "properties": {
                            "email": {"type": "string"},
                            "when": {"type": "string", "format": "date-time"},
                            "tag": {"anyOf": [{"type": "object", "properties": {"name": {"type": "string"}}, "nullable": true}]},
                            "count": {"type": "integer", "nullable": true},
                            "title": {"type": "string"}
                        },
                        "required": ["email"]
                    }},
                    {"name": "ping"}
                ]},
                {"googleSearch": {}}
            ])
        );
        assert_eq!(
            b["toolConfig"],
            json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup"]}})
        );
        for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
            let mut r = r.clone();
            r.tool_choice = Some(ToolChoice::Mode(choice.into()));
            assert_eq!(
                body(&adapter("gemini/gemini-2.5-flash"), &r)["toolConfig"],
                json!({"functionCallingConfig": {"mode": mode}})
            );
        }
        let mut r = r.clone();
        r.tool_choice = Some(ToolChoice::Mode("sometimes".into()));
        let err = adapter("gemini/gemini-2.5-flash")
            .chat_request(&r, CallOptions::default())
            .unwrap_err();
        assert!(
            matches!(&err, GatewayError::UnsupportedParams { param, .. } if param == "tool_choice"),
            "{err}"
        );
    }

    #[test]
    fn generation_config_covers_the_sampling_parameters() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
                "temperature": 0.3, "top_p": 0.9, "top_k": 40, "n": 2, "max_tokens": 100,
                "max_completion_tokens": 200, "stop": "END", "seed": 7, "presence_penalty": 0.5,
                "frequency_penalty": 0.25, "logprobs": true, "top_logprobs": 3,
                "response_format": {"type": "json_object"}, "modalities": ["text"],
                "user": "u-1", "stream_options": {"include_usage": true},
                "safety_settings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]
            }),
        );
        let b = body(&adapter("gemini/gemini-2.0-flash"), &r);
        assert_eq!(
            b["generationConfig"],
            json!({
                "temperature": 0.3, "topP": 0.9, "candidateCount": 2, "maxOutputTokens": 200,
                "stopSequences": ["END"], "seed": 7, "responseLogprobs": true, "logprobs": 3,
                "responseModalities": ["TEXT"], "presencePenalty": 0.5, "frequencyPenalty": 0.25,
                "responseMimeType": "application/json", "topK": 40
            })
        );
        assert_eq!(b["safetySettings"][0]["threshold"], "BLOCK_NONE");
    }

    #[test]
    fn json_schema_goes_to_response_json_schema_or_the_openapi_subset_by_generation() {
        let schema = json!({"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}},
            "required": ["a", "b"], "additionalProperties": false});
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": true}}}),
        );
        let b = body(&adapter("gemini/gemini-2.5-flash"), &r);
        assert_eq!(
            b["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(b["generationConfig"]["responseJsonSchema"], schema);
        let b = body(&adapter("gemini/gemini-1.5-pro"), &r);
        assert_eq!(
            b["generationConfig"]["responseSchema"],
            json!({"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "integer"}},
                "required": ["a", "b"], "propertyOrdering": ["b", "a"]})
        );
    }

    #[test]
    fn reasoning_effort_maps_to_budgets_or_levels() {
        let with = |model: &str, effort: &str| {
            let mut r = req(json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}));
            r.reasoning_effort = Some(effort.into());
            adapter(model)
                .chat_request(&r, CallOptions::default())
                .map(|u| serde_json::from_slice::<Value>(&u.body).unwrap()["generationConfig"]["thinkingConfig"].clone())
        };
        for (effort, budget, thoughts) in [
            ("low", 1024, true),
            ("medium", 2048, true),
            ("high", 4096, true),
            ("none", 0, false),
            ("disable", 0, false),
            ("minimal", 1, true),
        ] {
            assert_eq!(
                with("gemini/gemini-2.5-flash", effort).unwrap(),
                json!({"thinkingBudget": budget, "includeThoughts": thoughts}),
                "{effort}"
            );
        }
        assert_eq!(
            with("gemini/gemini-2.5-pro", "minimal").unwrap()["thinkingBudget"],
            128
        );
        assert_eq!(
            with("gemini/gemini-3-pro-preview", "medium").unwrap(),
            json!({"thinkingLevel": "high", "includeThoughts": true})
        );
        assert_eq!(
            with("gemini/gemini-3-flash-preview", "none").unwrap(),
            json!({"thinkingLevel": "minimal", "includeThoughts": false})
        );
        assert_eq!(
            with("gemini/gemini-2.5-flash", "xhigh")
                .unwrap_err()
                .status(),
            400
        );
        assert!(matches!(
            with("gemini/gemini-2.0-flash", "low").unwrap_err(),
            GatewayError::UnsupportedParams { .. }
        ));
        // Anthropic's `thinking` spelling is accepted too.
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "thinking": {"type": "enabled", "budget_tokens": 1500}}),
        );
        assert_eq!(
            body(&adapter("gemini/gemini-2.5-flash"), &r)["generationConfig"]["thinkingConfig"],
            json!({"includeThoughts": true, "thinkingBudget": 1500})
        );
    }

    #[test]
    fn unsupported_params_are_refused_unless_dropped() {
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "logit_bias": {"1": 1}, "some_vendor_flag": true, "temperature": 0.1}),
        );
        let a = adapter("gemini/gemini-2.5-flash");
        let err = a.chat_request(&r, CallOptions::default()).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(
            err.to_string()
                .starts_with("gemini does not support parameters: ['some_vendor_flag']"),
            "{err}"
        );
        let ok = a
            .chat_request(
                &r,
                CallOptions {
                    drop_params: true,
                    ..Default::default()
                },
            )
            .unwrap();
        let b: Value = serde_json::from_slice(&ok.body).unwrap();
        assert_eq!(b["generationConfig"], json!({"temperature": 0.1}));
        assert!(b.get("some_vendor_flag").is_none());
        // Penalties on Gemini 3, and parallel_tool_calls=false with several functions.
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "presence_penalty": 1.0}),
        );
        assert!(
            adapter("gemini/gemini-3-pro-preview")
                .chat_request(&r, CallOptions::default())
                .is_err()
        );
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "parallel_tool_calls": false, "tools": [
                {"type": "function", "function": {"name": "a"}},
                {"type": "function", "function": {"name": "b"}}]}),
        );
        let err = a.chat_request(&r, CallOptions::default()).unwrap_err();
        assert!(err.to_string().contains("parallel_tool_calls"), "{err}");
        // The deployment's drop_params counts as well.
        let a = adapter_with(
            "gemini/gemini-2.5-flash",
            ProviderParams {
                drop_params: true,
                ..Default::default()
            },
        );
        assert!(a.chat_request(&r, CallOptions::default()).is_ok());
    }

    #[test]
    fn deployment_defaults_fill_gaps_and_streams_use_sse() {
        let mut defaults = Map::new();
        defaults.insert("temperature".into(), json!(0.9));
        defaults.insert("top_k".into(), json!(5));
        defaults.insert("max_tokens".into(), json!(10));
        let a = adapter_with(
            "gemini/gemini-2.5-flash",
            ProviderParams {
                default_params: defaults,
                additional_drop_params: vec!["seed".into()],
                extra_headers: vec![("x-team".into(), "blue".into())],
                ..Default::default()
            },
        );
        let r = req(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.1, "seed": 3, "stream": true}),
        );
        let u = a.chat_request(&r, CallOptions::default()).unwrap();
        assert!(
            u.url.ends_with(":streamGenerateContent?alt=sse"),
            "{}",
            u.url
        );
        assert_eq!(u.headers["x-team"], "blue");
        let b: Value = serde_json::from_slice(&u.body).unwrap();
        assert_eq!(
            b["generationConfig"],
            json!({"temperature": 0.1, "maxOutputTokens": 10, "topK": 5})
        );
    }

    #[test]
    fn embeddings_become_batch_requests() {
        let a = adapter("gemini/gemini-embedding-001");
        let mut e = EmbeddingsRequest::new("x", vec!["a".into(), "b".into()]);
        e.dimensions = Some(768);
        e.encoding_format = Some("float".into());
        e.extra.insert("task_type".into(), json!("RETRIEVAL_QUERY"));
        let u = a.embeddings_request(&e).unwrap();
        assert_eq!(
            u.url,
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents"
        );
        let b: Value = serde_json::from_slice(&u.body).unwrap();
        assert_eq!(
            b,
            json!({"requests": [
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 768, "taskType": "RETRIEVAL_QUERY"},
                {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 768, "taskType": "RETRIEVAL_QUERY"}
            ]})
        );
        e.extra.insert("mystery".into(), json!(1));
        assert!(matches!(
            a.embeddings_request(&e).unwrap_err(),
            GatewayError::UnsupportedParams { .. }
        ));
        let tokens = EmbeddingsRequest {
            input: EmbeddingInput::Tokens(vec![1, 2]),
            ..EmbeddingsRequest::new("x", vec![])
        };
        assert_eq!(a.embeddings_request(&tokens).unwrap_err().status(), 400);
    }

    #[test]
    fn mime_types_are_guessed_from_extensions() {
        assert_eq!(mime_from_extension("https://x/a.JPG"), Some("image/jpeg"));
        assert_eq!(mime_from_extension("gs://b/c/d.mp4#t=1"), Some("video/mp4"));
        assert_eq!(mime_from_extension("https://x.com/noext"), None);
        assert_eq!(mime_from_extension("https://x.com/dir.d/noext"), None);
    }
}
