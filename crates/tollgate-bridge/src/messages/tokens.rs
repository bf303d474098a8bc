//! `count_tokens` for targets that cannot count natively: an estimate over every piece of
//! text the model would read (system, messages, tool definitions).

use serde_json::Value;

use super::request::MessagesRequest;

/// Tokens an image costs whatever its size (Anthropic's ~1600 for a 1.15 MP image is the
/// ceiling; a fixed figure keeps the estimate deterministic without decoding images).
const IMAGE_TOKENS: u64 = 1600;
/// Per-message framing (role markers), as chat tokenizers count it.
const PER_MESSAGE: u64 = 3;

/// Estimated input tokens of `req`, texts counted by [`count_text`].
pub fn estimate_input_tokens(req: &MessagesRequest) -> u64 {
    count_input_tokens(req, &count_text)
}

/// Input tokens of `req` with `count` counting each text (a real tokenizer, in the gateway).
pub fn count_input_tokens(req: &MessagesRequest, count: &dyn Fn(&str) -> u64) -> u64 {
    let mut total = 0;
    if let Some(s) = &req.system {
        total += PER_MESSAGE + value_tokens(s, count);
    }
    for m in &req.messages {
        total += PER_MESSAGE + m.get("content").map_or(0, |c| value_tokens(c, count));
    }
    for t in req.tools.iter().flatten() {
        total += count(&t.to_string());
    }
    total
}

/// Text inside a content value; images count a fixed amount, base64 payloads nothing else.
fn value_tokens(v: &Value, count: &dyn Fn(&str) -> u64) -> u64 {
    let inner = |v: &Value| value_tokens(v, count);
    match v {
        Value::String(s) => count(s),
        Value::Array(items) => items.iter().map(inner).sum(),
        Value::Object(o) => match o.get("type").and_then(Value::as_str) {
            Some("image") => IMAGE_TOKENS,
            Some("text") => o.get("text").map_or(0, inner),
            Some("thinking") => o.get("thinking").map_or(0, inner),
            Some("tool_use") => {
                o.get("name").map_or(0, inner) + o.get("input").map_or(0, |i| count(&i.to_string()))
            }
            Some("tool_result") => o.get("content").map_or(0, inner),
            Some("document") => o
                .get("source")
                .and_then(|s| s.get("data"))
                .filter(|_| o["source"].get("type").and_then(Value::as_str) == Some("text"))
                .map_or(IMAGE_TOKENS, inner),
            _ => 0,
        },
        _ => 0,
    }
}

/// Tokens in a text without a tokenizer (the library's pure estimate; the gateway counts with
/// a real BPE through [`count_input_tokens`]): one token per four bytes of English text or
/// code, and one per word-ish piece at least.
pub fn count_text(text: &str) -> u64 {
    let bytes = text.len() as u64;
    let words = text.split_whitespace().count() as u64;
    bytes.div_ceil(4).max(words)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    #[test]
    fn grows_with_every_part_of_the_request() {
        let base: MessagesRequest = serde_json::from_value(
            json!({"model": "m", "messages": [{"role": "user", "content": "Hello there, how are you?"}]}),
        )
        .unwrap();
        let n = estimate_input_tokens(&base);
        assert!(n > PER_MESSAGE, "{n}");
        let mut more = base.clone();
        more.system = Some(json!("You are a terse assistant."));
        let with_system = estimate_input_tokens(&more);
        assert!(with_system > n);
        more.tools = Some(vec![
            json!({"name": "get_weather", "input_schema": {"type": "object"}}),
        ]);
        assert!(estimate_input_tokens(&more) > with_system);
        more.messages.push(json!({"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]}));
        assert!(estimate_input_tokens(&more) >= with_system + IMAGE_TOKENS);
        assert_eq!(count_text(""), 0);
    }
}
