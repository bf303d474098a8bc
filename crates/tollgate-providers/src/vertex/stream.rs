//! The stream decoder: Gemini's `alt=sse` events or Anthropic's named events, decoded by the
//! respective module's decoder; errors from the Anthropic one are renamed to `VertexAI`.

use crate::anthropic::AnthropicStreamDecoder;
use crate::gemini::GeminiStreamDecoder;
use crate::openai::OpenAiStreamDecoder;
use crate::stream_event::StreamEvent;

use super::error::renamed;
use super::{Format, VertexAdapter};

/// Decodes one Vertex AI stream into typed chunks.
#[derive(Debug)]
pub enum VertexStreamDecoder {
    /// `streamGenerateContent?alt=sse`.
    Gemini(GeminiStreamDecoder),
    /// `streamRawPredict`.
    Anthropic(AnthropicStreamDecoder),
    /// OpenAI-format SSE of partner models (Llama MaaS, Mistral).
    OpenAi(OpenAiStreamDecoder),
}

impl VertexAdapter {
    /// A decoder for this deployment's chat stream; its chunks are `created` now.
    pub fn stream_decoder(&self) -> VertexStreamDecoder {
        match &self.format {
            Format::Gemini(g) => VertexStreamDecoder::Gemini(g.stream_decoder()),
            Format::Anthropic(a) => VertexStreamDecoder::Anthropic(a.stream_decoder()),
            Format::OpenAi(o, _) => VertexStreamDecoder::OpenAi(o.stream_decoder()),
        }
    }
}

impl VertexStreamDecoder {
    /// Feeds bytes as they arrive.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<StreamEvent> {
        match self {
            Self::Gemini(d) => d.feed(bytes),
            Self::Anthropic(d) => rename_errors(d.feed(bytes)),
            Self::OpenAi(d) => d.feed(bytes),
        }
    }

    /// The upstream closed the body.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        match self {
            Self::Gemini(d) => d.finish(),
            Self::Anthropic(d) => rename_errors(d.finish()),
            Self::OpenAi(d) => d.finish(),
        }
    }
}

fn rename_errors(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    events
        .into_iter()
        .map(|e| match e {
            StreamEvent::Error(err) => StreamEvent::Error(renamed(err)),
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use tollgate_core::{Env, ModelRef};

    #[test]
    fn anthropic_stream_errors_name_vertex() {
        let m = ModelRef::parse("vertex_ai/claude-sonnet-4-5", None).unwrap();
        let params = ProviderParams {
            vertex_project: Some("p".into()),
            api_key: Some("t".into()),
            ..ProviderParams::default()
        };
        let a = VertexAdapter::new(&m, &params, &Env::default())
            .unwrap()
            .unwrap();
        let mut d = a.stream_decoder();
        let mut events = d.feed(
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
        );
        events.extend(d.finish());
        let err = events
            .iter()
            .find_map(|e| match e {
                StreamEvent::Error(e) => Some(e),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            err.to_string(),
            "litellm.ServiceUnavailableError: VertexAIException - Overloaded"
        );
    }
}
