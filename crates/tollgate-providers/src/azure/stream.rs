//! The Azure stream decoder: OpenAI-format SSE, decoded by the OpenAI decoder, minus the chunk
//! that opens every Azure stream.
//!
//! Azure's first event is `{"choices":[],"created":0,"id":"","model":"","object":"",
//! "prompt_filter_results":[...]}`: no choice, no usage, no id. Passed on, it would be taken
//! for the `stream_options` usage chunk (`choices: []`), shown to clients that asked for usage
//! with an empty id and object, and hidden from the rest. LiteLLM drops it, and so do we: a
//! chunk with no choices and no usage carries nothing an OpenAI client reads. The per-choice
//! `content_filter_results` of later chunks are forwarded untouched.

use tollgate_core::GatewayError;

use super::AzureAdapter;
use super::error::refine;
use crate::openai::OpenAiStreamDecoder;
use crate::stream_event::StreamEvent;

/// Decodes one Azure stream.
#[derive(Debug)]
pub struct AzureStreamDecoder {
    inner: OpenAiStreamDecoder,
}

impl AzureAdapter {
    /// A decoder for this deployment's chat stream.
    pub fn stream_decoder(&self) -> AzureStreamDecoder {
        AzureStreamDecoder {
            inner: self.inner.stream_decoder(),
        }
    }
}

impl AzureStreamDecoder {
    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        azure_events(self.inner.feed(bytes))
    }

    /// The upstream closed the body; a stream cut before its end is an error.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        azure_events(self.inner.finish())
    }
}

fn azure_events(mut events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    events.retain(|e| !is_filter_only(e));
    for e in &mut events {
        if let StreamEvent::Error(err) = e {
            // A mid-stream content-filter error has no HTTP status; it is still a refusal.
            let taken = std::mem::replace(err, GatewayError::Internal(String::new()));
            *err = refine(taken, None);
        }
    }
    events
}

/// A chunk with neither a choice nor a usage: Azure's prompt-filter chunk.
fn is_filter_only(e: &StreamEvent) -> bool {
    match e {
        StreamEvent::Raw {
            usage_only: true,
            usage: None,
            ..
        } => true,
        StreamEvent::Chunk(c) => c.choices.is_empty() && c.usage().is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tollgate_core::{Env, ErrorClass, ModelRef};

    use super::*;
    use crate::params::ProviderParams;

    fn decoder(model: &str, base: &str) -> AzureStreamDecoder {
        let m = ModelRef::parse(model, None).unwrap();
        let params = ProviderParams {
            api_base: Some(base.into()),
            api_key: Some("k".into()),
            ..Default::default()
        };
        AzureAdapter::new(&m, &params, &Env::with_overlay(HashMap::new()))
            .unwrap()
            .unwrap()
            .stream_decoder()
    }

    const FILTER: &str = "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":{}}]}\n\n";
    const TEXT: &str = "data: {\"choices\":[{\"content_filter_results\":{},\"delta\":{\"content\":\"hi\",\"role\":\"assistant\"},\"finish_reason\":null,\"index\":0}],\"created\":1,\"id\":\"c\",\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n";
    const STOP: &str = "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}],\"created\":1,\"id\":\"c\",\"model\":\"m\",\"object\":\"chat.completion.chunk\"}\n\n";
    const USAGE: &str = "data: {\"choices\":[],\"created\":1,\"id\":\"c\",\"model\":\"m\",\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\n";

    #[test]
    fn the_prompt_filter_chunk_is_dropped_and_the_usage_chunk_kept() {
        for model in ["azure/d", "azure_ai/m"] {
            let mut d = decoder(model, "https://r.services.ai.azure.com");
            let input = format!("{FILTER}{TEXT}{STOP}{USAGE}data: [DONE]\n\n");
            let mut events = d.feed(input.as_bytes());
            events.extend(d.finish());
            assert_eq!(events.len(), 4, "{model}: {events:?}");
            match &events[2] {
                StreamEvent::Raw {
                    usage: Some(u),
                    usage_only: true,
                    ..
                } => assert_eq!(u.total_tokens, 2),
                StreamEvent::Chunk(c) => assert_eq!(c.usage().unwrap().total_tokens, 2),
                other => panic!("{model}: {other:?}"),
            }
            assert!(matches!(events[3], StreamEvent::Done));
        }
    }

    #[test]
    fn a_midstream_content_filter_error_is_a_policy_violation() {
        let mut d = decoder("azure/d", "https://r.openai.azure.com");
        let input = format!(
            "{FILTER}{TEXT}data: {{\"error\":{{\"code\":\"content_filter\",\"message\":\"The response was filtered\"}}}}\n\n"
        );
        let events = d.feed(input.as_bytes());
        assert_eq!(events.len(), 2, "{events:?}");
        match &events[1] {
            StreamEvent::Error(e) => {
                assert_eq!(e.status(), 400);
                assert_eq!(e.class(), ErrorClass::ContentPolicyViolation);
                assert!(e.to_string().starts_with(
                    "litellm.ContentPolicyViolationError: AzureException - The response was filtered"
                ));
            }
            other => panic!("{other:?}"),
        }
        assert!(d.finish().is_empty());
    }

    #[test]
    fn a_stream_cut_after_the_filter_chunk_is_an_error() {
        let mut d = decoder("azure/d", "https://r.openai.azure.com");
        let mut events = d.feed(FILTER.as_bytes());
        events.extend(d.finish());
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0], StreamEvent::Error(_)));
    }
}
