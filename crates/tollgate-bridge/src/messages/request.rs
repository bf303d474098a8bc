//! A Messages API request turned into the OpenAI chat request every provider adapter
//! understands (used when the target is not an Anthropic model; Anthropic targets get the
//! request as sent).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tollgate_core::chat::{
    ContentPart, FilePart, FunctionCall, FunctionDefinition, FunctionName, ImageUrl,
    MessageContent, NamedToolChoice, Role, StopSequences, StreamOptions, Tool, ToolCall,
    ToolChoice,
};
use tollgate_core::{ChatCompletionRequest, ChatMessage, GatewayError};

/// `POST /v1/messages`. The fields the bridge reads are typed; everything else is kept in
/// `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    #[serde(default)]
    pub messages: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequences: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }
}

/// What the bridge needs to know about the target.
#[derive(Debug, Clone, Copy, Default)]
pub struct BridgeOptions {
    /// Keep `cache_control` markers on content parts and tools (the target is a Claude model
    /// behind a chat-format adapter, such as Bedrock, which turns them into cache points).
    pub keep_cache_control: bool,
    /// `drop_params`: Anthropic-only tools the target cannot run are dropped instead of
    /// refused.
    pub drop_params: bool,
}

/// Anthropic request fields with no chat equivalent; other targets would refuse them as
/// unknown parameters, so they stop here.
const ANTHROPIC_ONLY: &[&str] = &[
    "container",
    "mcp_servers",
    "context_management",
    "service_tier",
    "anthropic_version",
    "anthropic_beta",
];

/// The chat request for `req`.
pub fn to_chat_request(
    req: &MessagesRequest,
    opts: BridgeOptions,
) -> Result<ChatCompletionRequest, GatewayError> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = &req.system {
        if let Some(m) = system_message(system, opts)? {
            messages.push(m);
        }
    }
    for (i, m) in req.messages.iter().enumerate() {
        turn(m, &format!("messages[{i}]"), opts, &mut messages)?;
    }
    let mut chat = ChatCompletionRequest::new(req.model.clone(), messages);
    chat.max_tokens = req.max_tokens;
    chat.temperature = req.temperature;
    chat.top_p = req.top_p;
    chat.stop = req
        .stop_sequences
        .clone()
        .filter(|s| !s.is_empty())
        .map(StopSequences::Many);
    if req.is_stream() {
        chat.stream = Some(true);
        chat.stream_options = Some(StreamOptions {
            include_usage: Some(true),
            extra: Map::new(),
        });
    }
    chat.user = req
        .metadata
        .as_ref()
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(tools) = &req.tools {
        let mut out = Vec::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            if let Some(tool) = tool(t, &format!("tools[{i}]"), opts)? {
                out.push(tool);
            }
        }
        if !out.is_empty() {
            chat.tools = Some(out);
        }
    }
    if let Some(choice) = &req.tool_choice {
        let (choice, parallel) = tool_choice(choice)?;
        if chat.tools.is_some() {
            chat.tool_choice = choice;
            chat.parallel_tool_calls = parallel;
        }
    }
    if let Some(thinking) = &req.thinking {
        chat.reasoning_effort = reasoning_effort(thinking)?;
        if opts.keep_cache_control {
            // A Claude target understands the original block exactly; the adapter prefers it.
            chat.extra.insert("thinking".into(), thinking.clone());
        }
    }
    if opts.keep_cache_control {
        if let Some(k) = req.top_k {
            chat.extra.insert("top_k".into(), Value::from(k));
        }
    }
    for (k, v) in &req.extra {
        if !ANTHROPIC_ONLY.contains(&k.as_str()) {
            chat.extra.insert(k.clone(), v.clone());
        }
    }
    Ok(chat)
}

/// Extended thinking as `reasoning_effort`: the budget picks the nearest effort (LiteLLM's
/// budgets are 1024 low, 2048 medium, 4096 high).
fn reasoning_effort(thinking: &Value) -> Result<Option<String>, GatewayError> {
    let kind = thinking.get("type").and_then(Value::as_str);
    match kind {
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            let effort = match budget {
                0..2048 => "low",
                2048..4096 => "medium",
                _ => "high",
            };
            Ok(Some(effort.to_owned()))
        }
        // Adaptive thinking leaves the depth to the model: the provider's default effort.
        Some("adaptive") => Ok(Some("medium".to_owned())),
        Some("disabled") | None => Ok(None),
        Some(other) => Err(GatewayError::invalid_request(
            format!("thinking.type={other:?} is not one of enabled, adaptive, disabled"),
            Some("thinking.type".into()),
        )),
    }
}

fn system_message(
    system: &Value,
    opts: BridgeOptions,
) -> Result<Option<ChatMessage>, GatewayError> {
    match system {
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => Ok(Some(ChatMessage::text(Role::System, s.clone()))),
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let path = format!("system[{i}]");
                if b.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(GatewayError::invalid_request(
                        "system blocks must be text blocks",
                        Some(path),
                    ));
                }
                parts.push(text_part(b, &path, opts)?);
            }
            if parts.is_empty() {
                return Ok(None);
            }
            Ok(Some(message(Role::System, parts_content(parts, opts))))
        }
        Value::Null => Ok(None),
        _ => Err(GatewayError::invalid_request(
            "system must be a string or a list of text blocks",
            Some("system".into()),
        )),
    }
}

fn message(role: Role, content: MessageContent) -> ChatMessage {
    ChatMessage {
        role,
        content: Some(content),
        name: None,
        tool_calls: None,
        tool_call_id: None,
        refusal: None,
        reasoning_content: None,
        extra: Map::new(),
    }
}

/// Plain text when no part carries anything but text (the form every provider accepts),
/// else the parts.
fn parts_content(parts: Vec<ContentPart>, opts: BridgeOptions) -> MessageContent {
    let plain = !opts.keep_cache_control
        && parts
            .iter()
            .all(|p| matches!(p, ContentPart::Text { extra, .. } if extra.is_empty()));
    if plain {
        let text: Vec<&str> = parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        MessageContent::Text(text.join("\n"))
    } else {
        MessageContent::Parts(parts)
    }
}

fn text_part(block: &Value, path: &str, opts: BridgeOptions) -> Result<ContentPart, GatewayError> {
    let text = block
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(path, "text"))?;
    Ok(ContentPart::Text {
        text: text.to_owned(),
        extra: cache_control(block, opts),
    })
}

fn cache_control(block: &Value, opts: BridgeOptions) -> Map<String, Value> {
    let mut extra = Map::new();
    if opts.keep_cache_control {
        if let Some(cc) = block.get("cache_control").filter(|v| !v.is_null()) {
            extra.insert("cache_control".into(), cc.clone());
        }
    }
    extra
}

fn missing(path: &str, field: &str) -> GatewayError {
    GatewayError::invalid_request(
        format!("{path}.{field}: Field required"),
        Some(format!("{path}.{field}")),
    )
}

/// One Messages turn, appended to `out` as one or more chat messages.
fn turn(
    m: &Value,
    path: &str,
    opts: BridgeOptions,
    out: &mut Vec<ChatMessage>,
) -> Result<(), GatewayError> {
    let role = m
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(path, "role"))?;
    let content = m.get("content").ok_or_else(|| missing(path, "content"))?;
    let blocks: Vec<Value> = match content {
        Value::String(s) => vec![serde_json::json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        _ => {
            return Err(GatewayError::invalid_request(
                "content must be a string or a list of content blocks",
                Some(format!("{path}.content")),
            ));
        }
    };
    match role {
        "user" => user_turn(&blocks, path, opts, out),
        "assistant" => {
            out.push(assistant_turn(&blocks, path)?);
            Ok(())
        }
        other => Err(GatewayError::invalid_request(
            format!("{path}.role: Input should be 'user' or 'assistant', got {other:?}"),
            Some(format!("{path}.role")),
        )),
    }
}

/// Tool results become `tool` messages, which chat requires right after the assistant turn
/// that called the tools; the rest of the turn follows as one user message.
fn user_turn(
    blocks: &[Value],
    path: &str,
    opts: BridgeOptions,
    out: &mut Vec<ChatMessage>,
) -> Result<(), GatewayError> {
    let mut parts = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let bpath = format!("{path}.content[{i}]");
        match b.get("type").and_then(Value::as_str) {
            Some("text") => parts.push(text_part(b, &bpath, opts)?),
            Some("image") => parts.push(image_part(b, &bpath)?),
            Some("document") => parts.push(document_part(b, &bpath)?),
            Some("tool_result") => out.push(tool_result(b, &bpath, opts)?),
            // Thinking never appears in user turns; a client that sends it there gets it
            // ignored, as Anthropic does for blocks it does not use.
            Some("thinking" | "redacted_thinking") => {}
            Some(other) => {
                return Err(GatewayError::invalid_request(
                    format!("content block type {other:?} cannot be sent to this model"),
                    Some(bpath),
                ));
            }
            None => return Err(missing(&bpath, "type")),
        }
    }
    if !parts.is_empty() {
        out.push(message(Role::User, parts_content(parts, opts)));
    }
    Ok(())
}

fn image_part(block: &Value, path: &str) -> Result<ContentPart, GatewayError> {
    let url = source_url(block, path)?;
    Ok(ContentPart::ImageUrl {
        image_url: ImageUrl {
            url,
            detail: None,
            extra: Map::new(),
        },
        extra: Map::new(),
    })
}

fn document_part(block: &Value, path: &str) -> Result<ContentPart, GatewayError> {
    let source = block.get("source").ok_or_else(|| missing(path, "source"))?;
    if source.get("type").and_then(Value::as_str) == Some("text") {
        let text = source.get("data").and_then(Value::as_str).unwrap_or("");
        return Ok(ContentPart::Text {
            text: text.to_owned(),
            extra: Map::new(),
        });
    }
    let url = source_url(block, path)?;
    let (file_id, file_data) = if url.starts_with("data:") {
        (None, Some(url))
    } else {
        (Some(url), None)
    };
    Ok(ContentPart::File {
        file: FilePart {
            file_id,
            file_data,
            filename: block
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            extra: Map::new(),
        },
        extra: Map::new(),
    })
}

/// A `base64` source as a `data:` URI, a `url` source as the URL.
fn source_url(block: &Value, path: &str) -> Result<String, GatewayError> {
    let source = block.get("source").ok_or_else(|| missing(path, "source"))?;
    let spath = format!("{path}.source");
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media = source
                .get("media_type")
                .and_then(Value::as_str)
                .ok_or_else(|| missing(&spath, "media_type"))?;
            let data = source
                .get("data")
                .and_then(Value::as_str)
                .ok_or_else(|| missing(&spath, "data"))?;
            Ok(format!("data:{media};base64,{data}"))
        }
        Some("url") => source
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| missing(&spath, "url")),
        Some("file") => source
            .get("file_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| missing(&spath, "file_id")),
        _ => Err(GatewayError::invalid_request(
            "source.type must be base64, url or file",
            Some(format!("{spath}.type")),
        )),
    }
}

fn tool_result(
    block: &Value,
    path: &str,
    opts: BridgeOptions,
) -> Result<ChatMessage, GatewayError> {
    let id = block
        .get("tool_use_id")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(path, "tool_use_id"))?;
    let content = match block.get("content") {
        None | Some(Value::Null) => MessageContent::Text(String::new()),
        Some(Value::String(s)) => MessageContent::Text(s.clone()),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, b) in items.iter().enumerate() {
                let bpath = format!("{path}.content[{i}]");
                match b.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(text_part(b, &bpath, opts)?),
                    Some("image") => parts.push(image_part(b, &bpath)?),
                    Some("document") => parts.push(document_part(b, &bpath)?),
                    _ => {
                        return Err(GatewayError::invalid_request(
                            "tool_result content must be text, image or document blocks",
                            Some(bpath),
                        ));
                    }
                }
            }
            parts_content(parts, opts)
        }
        Some(_) => {
            return Err(GatewayError::invalid_request(
                "tool_result content must be a string or a list of blocks",
                Some(format!("{path}.content")),
            ));
        }
    };
    let mut m = message(Role::Tool, content);
    m.tool_call_id = Some(id.to_owned());
    if block.get("is_error") == Some(&Value::Bool(true)) {
        m.extra.insert("is_error".into(), Value::Bool(true));
    }
    Ok(m)
}

/// Text, tool calls and the signed thinking blocks (kept verbatim in `thinking_blocks`, the
/// field Claude adapters send back first).
fn assistant_turn(blocks: &[Value], path: &str) -> Result<ChatMessage, GatewayError> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    let mut reasoning = String::new();
    for (i, b) in blocks.iter().enumerate() {
        let bpath = format!("{path}.content[{i}]");
        match b.get("type").and_then(Value::as_str) {
            Some("text") => {
                text.push_str(b.get("text").and_then(Value::as_str).unwrap_or(""));
            }
            Some("tool_use") => {
                let id = b
                    .get("id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(&bpath, "id"))?;
                let name = b
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| missing(&bpath, "name"))?;
                let input = b.get("input").cloned().unwrap_or(Value::Object(Map::new()));
                calls.push(ToolCall {
                    id: id.to_owned(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: name.to_owned(),
                        arguments: input.to_string(),
                    },
                    extra: Map::new(),
                });
            }
            Some("thinking") => {
                reasoning.push_str(b.get("thinking").and_then(Value::as_str).unwrap_or(""));
                thinking.push(b.clone());
            }
            Some("redacted_thinking") => thinking.push(b.clone()),
            Some(other) => {
                return Err(GatewayError::invalid_request(
                    format!("assistant content block type {other:?} cannot be sent to this model"),
                    Some(bpath),
                ));
            }
            None => return Err(missing(&bpath, "type")),
        }
    }
    let mut m = message(Role::Assistant, MessageContent::Text(text));
    if m.content
        .as_ref()
        .is_some_and(|c| matches!(c, MessageContent::Text(t) if t.is_empty()))
        && !calls.is_empty()
    {
        m.content = None;
    }
    if !calls.is_empty() {
        m.tool_calls = Some(calls);
    }
    if !thinking.is_empty() {
        m.reasoning_content = Some(reasoning);
        m.extra
            .insert("thinking_blocks".into(), Value::Array(thinking));
    }
    Ok(m)
}

/// A custom tool as a function tool. Anthropic's own tools (`bash_*`, `web_search_*`, ...)
/// run on Anthropic's side only: refused, or dropped under `drop_params`.
fn tool(t: &Value, path: &str, opts: BridgeOptions) -> Result<Option<Tool>, GatewayError> {
    let kind = t.get("type").and_then(Value::as_str);
    if !matches!(kind, None | Some("custom")) {
        if opts.drop_params {
            return Ok(None);
        }
        return Err(GatewayError::invalid_request(
            format!(
                "tool type {:?} runs only on Anthropic models; this model takes custom tools (set drop_params to drop it)",
                kind.unwrap_or_default()
            ),
            Some(format!("{path}.type")),
        ));
    }
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| missing(path, "name"))?;
    let mut extra = Map::new();
    if opts.keep_cache_control {
        if let Some(cc) = t.get("cache_control").filter(|v| !v.is_null()) {
            extra.insert("cache_control".into(), cc.clone());
        }
    }
    Ok(Some(Tool {
        kind: "function".into(),
        function: Some(FunctionDefinition {
            name: name.to_owned(),
            description: t
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters: t.get("input_schema").cloned(),
            strict: t.get("strict").and_then(Value::as_bool),
            extra: Map::new(),
        }),
        extra,
    }))
}

/// `tool_choice` and `disable_parallel_tool_use` as chat's `tool_choice` and
/// `parallel_tool_calls`.
fn tool_choice(choice: &Value) -> Result<(Option<ToolChoice>, Option<bool>), GatewayError> {
    let parallel = choice
        .get("disable_parallel_tool_use")
        .and_then(Value::as_bool)
        .filter(|d| *d)
        .map(|_| false);
    let mode = |m: &str| Some(ToolChoice::Mode(m.to_owned()));
    let c = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => mode("auto"),
        Some("any") => mode("required"),
        Some("none") => mode("none"),
        Some("tool") => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("tool_choice", "name"))?;
            Some(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: FunctionName {
                    name: name.to_owned(),
                },
                extra: Map::new(),
            }))
        }
        _ => {
            return Err(GatewayError::invalid_request(
                "tool_choice.type must be auto, any, tool or none",
                Some("tool_choice.type".into()),
            ));
        }
    };
    Ok((c, parallel))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn chat(body: Value, opts: BridgeOptions) -> Value {
        let req: MessagesRequest = serde_json::from_value(body).unwrap();
        serde_json::to_value(to_chat_request(&req, opts).unwrap()).unwrap()
    }

    #[test]
    fn conversation_with_tools_maps_to_chat() {
        let c = chat(
            json!({
                "model": "m", "max_tokens": 100, "system": "be brief",
                "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
                "tools": [{"name": "get_weather", "description": "w",
                           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
                "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
                "messages": [
                    {"role": "user", "content": "weather in Paris?"},
                    {"role": "assistant", "content": [
                        {"type": "text", "text": "Checking."},
                        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                        {"type": "text", "text": "and tomorrow?"}]}
                ]
            }),
            BridgeOptions::default(),
        );
        assert_eq!(
            c["messages"],
            json!([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather in Paris?"},
                {"role": "assistant", "content": "Checking.", "tool_calls": [
                    {"id": "toolu_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "content": "18C", "tool_call_id": "toolu_1"},
                {"role": "user", "content": "and tomorrow?"}
            ])
        );
        assert_eq!(c["max_tokens"], 100);
        assert_eq!(c["stop"], json!(["END"]));
        assert_eq!(c["user"], "u1");
        assert_eq!(c["tool_choice"], "required");
        assert_eq!(c["parallel_tool_calls"], false);
        assert_eq!(c["tools"][0]["function"]["name"], "get_weather");
        assert_eq!(
            c["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
            "string"
        );
        assert!(c.get("metadata").is_none());
    }

    #[test]
    fn images_and_documents_become_data_uris() {
        let c = chat(
            json!({"model": "m", "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
                {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
                {"type": "text", "text": "describe"}]}]}),
            BridgeOptions::default(),
        );
        let parts = &c["messages"][0]["content"];
        assert_eq!(parts[0]["image_url"]["url"], "data:image/png;base64,iVBO");
        assert_eq!(parts[1]["image_url"]["url"], "https://x/y.png");
        assert_eq!(
            parts[2]["file"]["file_data"],
            "data:application/pdf;base64,JVBE"
        );
        assert_eq!(parts[3], json!({"type": "text", "text": "describe"}));
    }

    #[test]
    fn thinking_maps_to_effort_and_signed_blocks_survive() {
        let body = json!({"model": "m", "max_tokens": 5000,
        "thinking": {"type": "enabled", "budget_tokens": 3000},
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "SIG=="},
                {"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "ok"}]}]}
        ]});
        let c = chat(body.clone(), BridgeOptions::default());
        assert_eq!(c["reasoning_effort"], "medium");
        assert!(c.get("thinking").is_none());
        let a = &c["messages"][1];
        assert_eq!(a["reasoning_content"], "hmm");
        assert_eq!(a["thinking_blocks"][0]["signature"], "SIG==");
        assert!(a["content"].is_null());
        assert_eq!(c["messages"][2]["content"], "ok");
        let claude = chat(
            body,
            BridgeOptions {
                keep_cache_control: true,
                drop_params: false,
            },
        );
        assert_eq!(claude["thinking"]["budget_tokens"], 3000);
    }

    #[test]
    fn cache_control_kept_only_for_claude_targets() {
        let body = json!({"model": "m",
            "system": [{"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "q"}]});
        let c = chat(
            body.clone(),
            BridgeOptions {
                keep_cache_control: true,
                drop_params: false,
            },
        );
        assert_eq!(
            c["messages"][0]["content"][0]["cache_control"],
            json!({"type": "ephemeral"})
        );
        let c = chat(body, BridgeOptions::default());
        assert_eq!(c["messages"][0]["content"], "long");
    }

    #[test]
    fn server_tools_refused_unless_dropped() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "q"}],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}]});
        let req: MessagesRequest = serde_json::from_value(body).unwrap();
        let e = to_chat_request(&req, BridgeOptions::default()).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("web_search_20250305"));
        let c = to_chat_request(
            &req,
            BridgeOptions {
                keep_cache_control: false,
                drop_params: true,
            },
        )
        .unwrap();
        assert!(c.tools.is_none());
    }

    #[test]
    fn bad_shapes_are_400_with_a_path() {
        for body in [
            json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}),
            json!({"model": "m", "messages": [{"role": "user"}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": 3}]}),
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}]}),
            json!({"model": "m", "messages": [], "thinking": {"type": "sometimes"}}),
            json!({"model": "m", "messages": [], "tool_choice": {"type": "tool"}}),
        ] {
            let req: MessagesRequest = serde_json::from_value(body).unwrap();
            let e = to_chat_request(&req, BridgeOptions::default()).unwrap_err();
            assert_eq!(e.status(), 400, "{e}");
        }
    }

    #[test]
    fn unknown_fields_pass_and_anthropic_only_fields_stop() {
        let c = chat(
            json!({"model": "m", "messages": [], "top_k": 3, "seed_like": 1,
                   "container": "c", "service_tier": "auto"}),
            BridgeOptions::default(),
        );
        assert_eq!(c["seed_like"], 1);
        assert!(c.get("container").is_none());
        assert!(c.get("service_tier").is_none());
        assert!(c.get("top_k").is_none());
    }
}
