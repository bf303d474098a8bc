//! LiteLLM's `mock_response`: an answer made up without calling the provider, for testing
//! clients and configs.

use tollgate_core::{ChatCompletionResponse, Usage};

/// LiteLLM's `mock_response`: an answer made up without calling the provider.
pub(crate) fn mock_response(model: &str, text: &str) -> ChatCompletionResponse {
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let completion_tokens = text.split_whitespace().count() as u64;
    ChatCompletionResponse {
        id: format!("chatcmpl-{}", created),
        object: "chat.completion".into(),
        created,
        model: model.to_owned(),
        choices: vec![tollgate_core::Choice {
            index: 0,
            message: tollgate_core::ChatMessage::text(tollgate_core::Role::Assistant, text),
            finish_reason: Some(tollgate_core::FinishReason::Stop),
            logprobs: None,
            extra: Default::default(),
        }],
        usage: Some(Usage::new(10, completion_tokens)),
        system_fingerprint: None,
        service_tier: None,
        extra: Default::default(),
    }
}
