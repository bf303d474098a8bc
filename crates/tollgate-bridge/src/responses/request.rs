//! A Responses API request (plus the conversation behind `previous_response_id`) turned into
//! the OpenAI chat request every provider adapter understands.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tollgate_core::chat::{
    ContentPart, FilePart, FunctionCall, FunctionDefinition, FunctionName, ImageUrl,
    JsonSchemaFormat, MessageContent, NamedToolChoice, ResponseFormat, Role, Tool, ToolCall,
    ToolChoice,
};
use tollgate_core::{ChatCompletionRequest, ChatMessage, GatewayError};

/// `POST /v1/responses`. The fields the bridge reads are typed; everything else is kept in
/// `extra` and passed on to the chat request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Input>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_response_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncation: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input`: a plain string (one user message) or a list of items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Items(Vec<Value>),
}

impl ResponsesRequest {
    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the gateway should keep this response for `previous_response_id` (the API's
    /// default is to store).
    pub fn wants_store(&self) -> bool {
        self.store != Some(false)
    }

    /// Whether the client asked for reasoning to come back as `encrypted_content`.
    pub fn wants_encrypted_reasoning(&self) -> bool {
        self.include
            .as_ref()
            .is_some_and(|i| i.iter().any(|s| s == "reasoning.encrypted_content"))
    }

    /// The request's own input as items (a string becomes one user message).
    pub fn input_items(&self) -> Vec<Value> {
        match &self.input {
            None => Vec::new(),
            Some(Input::Text(t)) => vec![serde_json::json!({
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": t}]
            })],
            Some(Input::Items(items)) => items.clone(),
        }
    }
}

/// Request fields with no meaning outside OpenAI's own servers: refused by name rather than
/// silently ignored.
const REFUSED_FIELDS: &[(&str, &str)] = &[
    (
        "background",
        "background responses are not supported by the gateway",
    ),
    (
        "conversation",
        "the Conversations API is not supported by the gateway; use previous_response_id",
    ),
    (
        "prompt",
        "stored prompt templates are not supported by the gateway",
    ),
];

/// Builds the chat request: `history` is the stored conversation before this request (items of
/// earlier inputs and outputs, oldest first). With `drop_params` (the gateway's setting, or
/// `drop_params: true` in the request), built-in tools and `include` values the bridge cannot
/// honour are dropped (and logged) instead of refused.
pub fn to_chat_request(
    req: &ResponsesRequest,
    history: &[Value],
    drop_params: bool,
) -> Result<ChatCompletionRequest, GatewayError> {
    let drop_params = drop_params || req.extra.get("drop_params") == Some(&Value::Bool(true));
    for (field, why) in REFUSED_FIELDS {
        if req
            .extra
            .get(*field)
            .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
        {
            return Err(GatewayError::invalid_request(
                format!("'{field}': {why}"),
                Some((*field).into()),
            ));
        }
    }
    if let Some(include) = &req.include {
        for (i, what) in include.iter().enumerate() {
            if what != "reasoning.encrypted_content" && !drop_params {
                return Err(GatewayError::invalid_request(
                    format!(
                        "include value '{what}' is not supported for model={}; only 'reasoning.encrypted_content' is",
                        req.model
                    ),
                    Some(format!("include[{i}]")),
                ));
            }
        }
    }

    let mut messages = Vec::new();
    if let Some(instructions) = req.instructions.as_deref().filter(|s| !s.is_empty()) {
        messages.push(ChatMessage::system(instructions));
    }
    let mut builder = Conversation::default();
    for (i, item) in history.iter().enumerate() {
        builder.push(item, &format!("previous_response_id(item {i})"))?;
    }
    for (i, item) in req.input_items().iter().enumerate() {
        builder.push(item, &format!("input[{i}]"))?;
    }
    messages.extend(builder.finish());
    if messages.is_empty() {
        return Err(GatewayError::invalid_request(
            "'input' must contain at least one item",
            Some("input".into()),
        ));
    }

    let mut chat = ChatCompletionRequest::new(req.model.clone(), messages);
    chat.temperature = req.temperature;
    chat.top_p = req.top_p;
    chat.max_tokens = req.max_output_tokens;
    chat.user = req.user.clone();
    chat.parallel_tool_calls = req.parallel_tool_calls;
    if let Some(tools) = &req.tools {
        let mut kept = Vec::with_capacity(tools.len());
        for (i, t) in tools.iter().enumerate() {
            match tool(t, i, &req.model) {
                Ok(t) => kept.push(t),
                Err(e) if drop_params && is_function(t) == Some(false) => {
                    tracing::debug!("drop_params: {e}");
                }
                Err(e) => return Err(e),
            }
        }
        let tools = kept;
        if !tools.is_empty() {
            chat.tools = Some(tools);
        }
    }
    if let Some(choice) = &req.tool_choice {
        chat.tool_choice = Some(tool_choice(choice)?);
    }
    if let Some(reasoning) = &req.reasoning {
        if let Some(effort) = reasoning.get("effort").and_then(Value::as_str) {
            chat.reasoning_effort = Some(effort.to_owned());
        }
    }
    if let Some(text) = &req.text {
        if let Some(format) = text.get("format").filter(|f| !f.is_null()) {
            chat.response_format = response_format(format)?;
        }
        if let Some(v) = text.get("verbosity").and_then(Value::as_str) {
            chat.verbosity = Some(v.to_owned());
        }
    }
    for (key, value) in &req.extra {
        if REFUSED_FIELDS.iter().any(|(f, _)| f == key) || BRIDGE_ONLY.contains(&key.as_str()) {
            continue;
        }
        chat.extra.insert(key.clone(), value.clone());
    }
    Ok(chat)
}

/// Fields that only shape the Responses object or OpenAI's own service (echoed back or used as
/// hints there), not sent to the model behind the bridge: `client_metadata` is the client's
/// own bookkeeping, `prompt_cache_key` and `safety_identifier` steer OpenAI's cache and abuse
/// monitoring, and other providers reject unknown fields.
const BRIDGE_ONLY: &[&str] = &[
    "stream_options",
    "max_tool_calls",
    "top_logprobs",
    "client_metadata",
    "prompt_cache_key",
    "safety_identifier",
];

/// Whether a tool is a function tool (`None` when it has no type at all).
fn is_function(tool: &Value) -> Option<bool> {
    tool.get("type")
        .and_then(Value::as_str)
        .map(|t| t == "function")
}

/// Folds Responses items into chat messages: an assistant turn's text, reasoning and function
/// calls become one assistant message; each function output a tool message.
#[derive(Default)]
struct Conversation {
    messages: Vec<ChatMessage>,
    /// Reasoning waiting for the assistant message it belongs to.
    reasoning: Option<(String, Option<Value>)>,
    /// Whether the last message is an assistant message still open for more calls.
    assistant_open: bool,
}

impl Conversation {
    fn push(&mut self, item: &Value, at: &str) -> Result<(), GatewayError> {
        let kind =
            item.get("type")
                .and_then(Value::as_str)
                .unwrap_or(if item.get("role").is_some() {
                    "message"
                } else {
                    ""
                });
        match kind {
            "message" => self.message(item, at),
            "function_call" => {
                let call_id = str_field(item, "call_id", at)?;
                let name = str_field(item, "name", at)?;
                let arguments = item
                    .get("arguments")
                    .and_then(Value::as_str)
                    .unwrap_or("{}")
                    .to_owned();
                let call = ToolCall {
                    id: call_id.to_owned(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name: name.to_owned(),
                        arguments,
                    },
                    extra: Map::new(),
                };
                let message = self.open_assistant();
                message.tool_calls.get_or_insert_with(Vec::new).push(call);
                Ok(())
            }
            "function_call_output" => {
                let call_id = str_field(item, "call_id", at)?;
                let output = match item.get("output") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Array(parts)) => parts
                        .iter()
                        .filter_map(|p| p.get("text").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(""),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                self.close_assistant();
                let mut message = message_of(Role::Tool, Some(MessageContent::Text(output)));
                message.tool_call_id = Some(call_id.to_owned());
                self.messages.push(message);
                Ok(())
            }
            "reasoning" => {
                let summary = item
                    .get("summary")
                    .and_then(Value::as_array)
                    .map(|parts| {
                        parts
                            .iter()
                            .filter_map(|p| p.get("text").and_then(Value::as_str))
                            .collect::<Vec<_>>()
                            .join("\n\n")
                    })
                    .unwrap_or_default();
                let blocks = item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .and_then(decode_thinking_blocks);
                self.close_assistant();
                self.reasoning = Some((summary, blocks));
                Ok(())
            }
            "" => Err(GatewayError::invalid_request(
                format!("{at}: an input item needs a 'type' (or a 'role' for a message)"),
                Some(at.to_owned()),
            )),
            other => Err(GatewayError::invalid_request(
                format!(
                    "{at}: input items of type '{other}' are not supported by the gateway's Responses bridge (message, function_call, function_call_output and reasoning are)"
                ),
                Some(at.to_owned()),
            )),
        }
    }

    fn message(&mut self, item: &Value, at: &str) -> Result<(), GatewayError> {
        let role = match item.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("system") => Role::System,
            Some("developer") => Role::Developer,
            Some("assistant") => Role::Assistant,
            other => {
                return Err(GatewayError::invalid_request(
                    format!("{at}: unsupported message role {other:?}"),
                    Some(format!("{at}.role")),
                ));
            }
        };
        let content = content(item.get("content"), role, at)?;
        if role == Role::Assistant {
            let message = self.open_assistant();
            match (&mut message.content, content) {
                (Some(MessageContent::Text(old)), MessageContent::Text(new)) => old.push_str(&new),
                (slot, new) => *slot = Some(new),
            }
            return Ok(());
        }
        self.close_assistant();
        self.messages.push(message_of(role, Some(content)));
        Ok(())
    }

    /// The assistant message the next output item joins, created when needed; pending
    /// reasoning attaches to it.
    fn open_assistant(&mut self) -> &mut ChatMessage {
        if !self.assistant_open {
            let mut message = message_of(Role::Assistant, None);
            if let Some((summary, blocks)) = self.reasoning.take() {
                if !summary.is_empty() {
                    message.reasoning_content = Some(summary);
                }
                if let Some(blocks) = blocks {
                    message.extra.insert("thinking_blocks".into(), blocks);
                }
            }
            self.messages.push(message);
            self.assistant_open = true;
        }
        let last = self.messages.len() - 1;
        &mut self.messages[last]
    }

    fn close_assistant(&mut self) {
        self.assistant_open = false;
    }

    fn finish(mut self) -> Vec<ChatMessage> {
        // Reasoning with no answer after it (an interrupted turn) still belongs to the history.
        if self.reasoning.is_some() {
            self.close_assistant();
            self.open_assistant();
        }
        self.messages
    }
}

fn message_of(role: Role, content: Option<MessageContent>) -> ChatMessage {
    let mut message = ChatMessage::text(role, "");
    message.content = content;
    message
}

fn str_field<'a>(item: &'a Value, field: &str, at: &str) -> Result<&'a str, GatewayError> {
    item.get(field).and_then(Value::as_str).ok_or_else(|| {
        GatewayError::invalid_request(
            format!("{at}: '{field}' is required"),
            Some(format!("{at}.{field}")),
        )
    })
}

/// A message's `content`: a string, or input/output parts.
fn content(value: Option<&Value>, role: Role, at: &str) -> Result<MessageContent, GatewayError> {
    let parts = match value {
        None | Some(Value::Null) => return Ok(MessageContent::Text(String::new())),
        Some(Value::String(s)) => return Ok(MessageContent::Text(s.clone())),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(GatewayError::invalid_request(
                format!("{at}.content must be a string or a list of parts"),
                Some(format!("{at}.content")),
            ));
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        let here = format!("{at}.content[{j}]");
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        let text = || {
            part.get("text")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    GatewayError::invalid_request(
                        format!("{here}: 'text' is required"),
                        Some(here.clone()),
                    )
                })
        };
        match kind {
            "input_text" | "output_text" | "text" | "summary_text" => out.push(ContentPart::Text {
                text: text()?,
                extra: Map::new(),
            }),
            "refusal" => out.push(ContentPart::Refusal {
                refusal: part
                    .get("refusal")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                extra: Map::new(),
            }),
            "input_image" => {
                let Some(url) = part.get("image_url").and_then(Value::as_str) else {
                    return Err(GatewayError::invalid_request(
                        format!(
                            "{here}: input_image needs an 'image_url' (a URL or data: URI); file_id references are not supported by the gateway"
                        ),
                        Some(here),
                    ));
                };
                out.push(ContentPart::ImageUrl {
                    image_url: ImageUrl {
                        url: url.to_owned(),
                        detail: part
                            .get("detail")
                            .and_then(Value::as_str)
                            .filter(|d| *d != "auto")
                            .map(str::to_owned),
                        extra: Map::new(),
                    },
                    extra: Map::new(),
                });
            }
            "input_file" => {
                let file_data = part
                    .get("file_data")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let file_id = part
                    .get("file_id")
                    .or_else(|| part.get("file_url"))
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                if file_data.is_none() && file_id.is_none() {
                    return Err(GatewayError::invalid_request(
                        format!("{here}: input_file needs file_data, file_id or file_url"),
                        Some(here),
                    ));
                }
                out.push(ContentPart::File {
                    file: FilePart {
                        file_id,
                        file_data,
                        filename: part
                            .get("filename")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        extra: Map::new(),
                    },
                    extra: Map::new(),
                });
            }
            other => {
                return Err(GatewayError::invalid_request(
                    format!("{here}: content parts of type '{other}' are not supported"),
                    Some(here),
                ));
            }
        }
    }
    // Assistant history and text-only messages travel as plain strings, which every provider
    // takes.
    let all_text = out.iter().all(|p| matches!(p, ContentPart::Text { .. }));
    if all_text && (role == Role::Assistant || out.len() == 1) {
        let joined = out
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect::<String>();
        return Ok(MessageContent::Text(joined));
    }
    Ok(MessageContent::Parts(out))
}

/// Responses tools are flat (`{"type":"function","name",...}`); only function tools can run
/// on a model behind the bridge.
fn tool(value: &Value, i: usize, model: &str) -> Result<Tool, GatewayError> {
    let kind = value.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "function" {
        return Err(GatewayError::invalid_request(
            format!(
                "tools[{i}]: the built-in tool '{kind}' cannot run on model={model} through the gateway; only function tools are supported"
            ),
            Some(format!("tools[{i}]")),
        ));
    }
    let name = str_field(value, "name", &format!("tools[{i}]"))?;
    let mut extra = Map::new();
    for (k, v) in value.as_object().into_iter().flatten() {
        if !matches!(
            k.as_str(),
            "type" | "name" | "description" | "parameters" | "strict"
        ) {
            extra.insert(k.clone(), v.clone());
        }
    }
    Ok(Tool {
        kind: "function".into(),
        function: Some(FunctionDefinition {
            name: name.to_owned(),
            description: value
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
            parameters: value.get("parameters").filter(|p| !p.is_null()).cloned(),
            strict: value.get("strict").and_then(Value::as_bool),
            extra,
        }),
        extra: Map::new(),
    })
}

fn tool_choice(value: &Value) -> Result<ToolChoice, GatewayError> {
    match value {
        Value::String(mode) if matches!(mode.as_str(), "auto" | "none" | "required") => {
            Ok(ToolChoice::Mode(mode.clone()))
        }
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o.get("name").and_then(Value::as_str).ok_or_else(|| {
                GatewayError::invalid_request(
                    "tool_choice: a function choice needs a 'name'",
                    Some("tool_choice".into()),
                )
            })?;
            Ok(ToolChoice::Named(NamedToolChoice {
                kind: "function".into(),
                function: FunctionName {
                    name: name.to_owned(),
                },
                extra: Map::new(),
            }))
        }
        other => Err(GatewayError::invalid_request(
            format!("tool_choice {other} is not supported through the gateway"),
            Some("tool_choice".into()),
        )),
    }
}

fn response_format(format: &Value) -> Result<Option<ResponseFormat>, GatewayError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::JsonObject)),
        Some("json_schema") => {
            let mut extra = Map::new();
            for (k, v) in format.as_object().into_iter().flatten() {
                if !matches!(
                    k.as_str(),
                    "type" | "name" | "schema" | "strict" | "description"
                ) {
                    extra.insert(k.clone(), v.clone());
                }
            }
            Ok(Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchemaFormat {
                    name: format
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("response")
                        .to_owned(),
                    description: format
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    schema: format.get("schema").cloned(),
                    strict: format.get("strict").and_then(Value::as_bool),
                    extra,
                },
            }))
        }
        other => Err(GatewayError::invalid_request(
            format!("text.format type {other:?} is not supported"),
            Some("text.format".into()),
        )),
    }
}

/// Provider thinking blocks travel through clients as `encrypted_content`: opaque to them,
/// restored here so signed reasoning (Anthropic, Bedrock, Gemini) goes back intact.
const BLOCKS_PREFIX: &str = "tollgate.thinking_blocks.v1:";

/// `thinking_blocks` as the opaque string a reasoning item carries.
pub fn encode_thinking_blocks(blocks: &Value) -> String {
    format!("{BLOCKS_PREFIX}{blocks}")
}

fn decode_thinking_blocks(s: &str) -> Option<Value> {
    s.strip_prefix(BLOCKS_PREFIX)
        .and_then(|json| serde_json::from_str(json).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn chat(req: Value, history: &[Value]) -> Value {
        let req: ResponsesRequest = serde_json::from_value(req).unwrap();
        serde_json::to_value(to_chat_request(&req, history, false).unwrap()).unwrap()
    }

    fn refused(req: Value) -> GatewayError {
        let req: ResponsesRequest = serde_json::from_value(req).unwrap();
        to_chat_request(&req, &[], false).unwrap_err()
    }

    #[test]
    fn a_string_input_and_instructions_become_system_and_user_messages() {
        let c = chat(
            json!({"model": "m", "instructions": "be brief", "input": "hi",
                "max_output_tokens": 50, "temperature": 0.3, "user": "u1"}),
            &[],
        );
        assert_eq!(
            c,
            json!({"model": "m", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "hi"}],
                "temperature": 0.3, "max_tokens": 50, "user": "u1"})
        );
    }

    #[test]
    fn function_calls_and_outputs_pair_up_as_tool_calls_and_tool_messages() {
        let c = chat(
            json!({"model": "m", "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "need tool"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"type": "function_call", "call_id": "c1", "name": "get", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "c2", "name": "get", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "rain"}]}
            ]}),
            &[],
        );
        assert_eq!(
            c["messages"],
            json!([
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "Checking.", "reasoning_content": "need tool", "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "get", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "c2", "type": "function", "function": {"name": "get", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "content": "sunny", "tool_call_id": "c1"},
                {"role": "tool", "content": "rain", "tool_call_id": "c2"}
            ])
        );
    }

    #[test]
    fn history_comes_first_and_instructions_are_not_inherited() {
        let history = vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}),
            json!({"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                "content": [{"type": "output_text", "text": "hello", "annotations": []}]}),
        ];
        let c = chat(
            json!({"model": "m", "instructions": "new rules", "input": "again"}),
            &history,
        );
        assert_eq!(
            c["messages"],
            json!([
                {"role": "system", "content": "new rules"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "again"}
            ])
        );
    }

    #[test]
    fn images_files_tools_choice_reasoning_and_json_schema_map_to_chat() {
        let c = chat(
            json!({"model": "m",
                "input": [{"role": "user", "content": [
                    {"type": "input_text", "text": "what is it?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "high"},
                    {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}]}],
                "tools": [{"type": "function", "name": "f", "description": "d",
                    "parameters": {"type": "object"}, "strict": true}],
                "tool_choice": {"type": "function", "name": "f"},
                "reasoning": {"effort": "high", "summary": "auto"},
                "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": true},
                    "verbosity": "low"},
                "parallel_tool_calls": false,
                "prompt_cache_key": "k1", "client_metadata": {"a": "b"}, "top_k": 5}),
            &[],
        );
        assert_eq!(
            c["messages"][0]["content"],
            json!([{"type": "text", "text": "what is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "high"}},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}])
        );
        assert_eq!(
            c["tools"],
            json!([{"type": "function", "function": {"name": "f", "description": "d",
                "parameters": {"type": "object"}, "strict": true}}])
        );
        assert_eq!(
            c["tool_choice"],
            json!({"type": "function", "function": {"name": "f"}})
        );
        assert_eq!(c["reasoning_effort"], "high");
        assert_eq!(c["verbosity"], "low");
        assert_eq!(c["parallel_tool_calls"], false);
        assert_eq!(
            c["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": true}})
        );
        assert_eq!(c["top_k"], 5, "unknown fields pass through");
        assert!(c.get("prompt_cache_key").is_none() && c.get("client_metadata").is_none());
    }

    #[test]
    fn signed_thinking_blocks_round_trip_through_encrypted_content() {
        let blocks = json!([{"type": "thinking", "thinking": "hmm", "signature": "sig=="}]);
        let c = chat(
            json!({"model": "m", "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "summary": [], "encrypted_content": encode_thinking_blocks(&blocks)},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "1"}
            ]}),
            &[],
        );
        assert_eq!(c["messages"][1]["thinking_blocks"], blocks);
        assert!(c["messages"][1].get("reasoning_content").is_none());
        // OpenAI's own encrypted reasoning is opaque to us: nothing is invented from it.
        let c = chat(
            json!({"model": "m", "input": [
                {"role": "user", "content": "q"},
                {"type": "reasoning", "summary": [], "encrypted_content": "gAAAA..."},
                {"role": "assistant", "content": "a"}]}),
            &[],
        );
        assert_eq!(
            c["messages"][1],
            json!({"role": "assistant", "content": "a"})
        );
    }

    #[test]
    fn drop_params_drops_built_in_tools_and_unknown_includes_instead() {
        let req = json!({"model": "m", "input": "x",
            "tools": [{"type": "web_search", "external_web_access": false},
                {"type": "function", "name": "f"},
                {"type": "namespace", "name": "agents", "tools": []}],
            "include": ["reasoning.encrypted_content", "file_search_call.results"]});
        let parsed: ResponsesRequest = serde_json::from_value(req.clone()).unwrap();
        assert_eq!(
            to_chat_request(&parsed, &[], false).unwrap_err().status(),
            400
        );
        let c = serde_json::to_value(to_chat_request(&parsed, &[], true).unwrap()).unwrap();
        assert_eq!(
            c["tools"],
            json!([{"type": "function", "function": {"name": "f"}}])
        );
        // The per-request switch works too, and still reaches the router.
        let mut per_request = req;
        per_request["drop_params"] = json!(true);
        let parsed: ResponsesRequest = serde_json::from_value(per_request).unwrap();
        let c = serde_json::to_value(to_chat_request(&parsed, &[], false).unwrap()).unwrap();
        assert_eq!(c["tools"].as_array().unwrap().len(), 1);
        assert_eq!(c["drop_params"], true);
        // A function tool that is malformed is refused even with drop_params.
        let bad: ResponsesRequest = serde_json::from_value(
            json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
        )
        .unwrap();
        assert_eq!(to_chat_request(&bad, &[], true).unwrap_err().status(), 400);
    }

    #[test]
    fn what_the_bridge_cannot_do_is_refused_by_name() {
        for (req, param) in [
            (
                json!({"model": "m", "input": "x", "tools": [{"type": "web_search_preview"}]}),
                "tools[0]",
            ),
            (
                json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
                "input[0]",
            ),
            (
                json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
                "input[0].content[0]",
            ),
            (
                json!({"model": "m", "input": "x", "background": true}),
                "background",
            ),
            (
                json!({"model": "m", "input": "x", "include": ["file_search_call.results"]}),
                "include[0]",
            ),
            (json!({"model": "m"}), "input"),
            (
                json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}),
                "input[0].call_id",
            ),
        ] {
            let e = refused(req.clone());
            assert_eq!(e.status(), 400, "{req}");
            assert_eq!(
                e.to_body().error.param.as_deref(),
                Some(param),
                "{req}: {e}"
            );
        }
    }
}
