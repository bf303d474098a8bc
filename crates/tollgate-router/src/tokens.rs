//! Prompt token counts with OpenAI's tokenizers (tiktoken), as LiteLLM's `token_counter`
//! counts them: the model's own encoding when it is an OpenAI model, `cl100k_base` otherwise,
//! plus the chat format's per-message overhead.

use tiktoken_rs::CoreBPE;
use tollgate_core::{ChatCompletionRequest, Role};

/// Tokens every chat message costs beyond its text (`<|start|>role ... <|end|>`).
const PER_MESSAGE: usize = 3;
/// Tokens that prime the assistant's reply.
const REPLY_PRIMING: usize = 3;

/// The tokenizer for a model string (`gpt-4o`, `openai/gpt-4o`, `azure/gpt-4o-mini`, ...).
fn bpe(model: &str) -> &'static CoreBPE {
    let bare = model.rsplit('/').next().unwrap_or(model);
    tiktoken_rs::bpe_for_model(bare)
        .or_else(|_| tiktoken_rs::bpe_for_model(model))
        .unwrap_or_else(|_| tiktoken_rs::cl100k_base_singleton())
}

/// Whether `model` has its own OpenAI tokenizer (else `cl100k_base` approximates it).
pub fn has_own_tokenizer(model: &str) -> bool {
    let bare = model.rsplit('/').next().unwrap_or(model);
    tiktoken_rs::tokenizer::get_tokenizer(bare).is_some()
}

/// Tokens in plain text.
pub fn count_text_tokens(model: &str, text: &str) -> usize {
    bpe(model).encode_with_special_tokens(text).len()
}

/// Prompt tokens of a chat request: messages (text parts, names, tool calls) and tool
/// definitions.
pub fn count_prompt_tokens(model: &str, req: &ChatCompletionRequest) -> usize {
    let bpe = bpe(model);
    let count = |s: &str| bpe.encode_with_special_tokens(s).len();
    let mut total = REPLY_PRIMING;
    for m in &req.messages {
        total += PER_MESSAGE;
        total += count(role_name(m.role));
        if let Some(content) = &m.content {
            total += count(&content.text());
        }
        if let Some(name) = &m.name {
            total += count(name) + 1;
        }
        for call in m.tool_calls.iter().flatten() {
            total += count(&call.function.name) + count(&call.function.arguments);
        }
    }
    if let Some(tools) = &req.tools
        && let Ok(json) = serde_json::to_string(tools)
    {
        total += count(&json);
    }
    total
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::Developer => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Function => "function",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::ChatMessage;

    #[test]
    fn text_is_counted_with_the_models_tokenizer() {
        // Known counts from OpenAI's tokenizer.
        assert_eq!(count_text_tokens("gpt-4o", "hello world"), 2);
        assert_eq!(count_text_tokens("openai/gpt-4", "hello world"), 2);
        assert!(count_text_tokens("anthropic/claude-3", &"word ".repeat(1000)) >= 1000);
    }

    #[test]
    fn chat_prompt_adds_the_message_overhead() {
        let req =
            ChatCompletionRequest::new("gpt-4o".to_owned(), vec![ChatMessage::user("hello world")]);
        // 3 priming + 3 per message + "user" (1) + "hello world" (2)
        assert_eq!(count_prompt_tokens("gpt-4o", &req), 9);
        let long = ChatCompletionRequest::new(
            "gpt-4o".to_owned(),
            vec![ChatMessage::user("lorem ipsum ".repeat(500))],
        );
        assert!(count_prompt_tokens("gpt-4o", &long) > 1000);
    }
}
