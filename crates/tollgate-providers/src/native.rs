//! What `/v1/messages` needs from an adapter: whether the deployment speaks the Messages
//! format itself, and the native request when it does.

use serde_json::{Map, Value};
use tollgate_core::GatewayError;

use crate::{Adapter, UpstreamRequest};

impl Adapter {
    /// Whether a Messages request can go to this deployment as it is (Anthropic, Claude on
    /// Vertex AI).
    pub fn speaks_messages(&self) -> bool {
        match self {
            Self::Anthropic(_) => true,
            Self::VertexAi(v) => v.is_claude(),
            Self::Bedrock(b) => b.speaks_messages(),
            _ => false,
        }
    }

    /// The native Messages request, `None` when the deployment does not speak the format.
    /// `count_tokens` calls are native on Anthropic only (`None` elsewhere).
    pub fn native_messages_request(
        &self,
        body: Map<String, Value>,
        betas: &[String],
        stream: bool,
        count_tokens: bool,
    ) -> Option<Result<UpstreamRequest, GatewayError>> {
        match self {
            Self::Anthropic(a) => Some(a.native_messages_request(body, betas, count_tokens)),
            Self::VertexAi(v) if !count_tokens => v.native_messages_request(body, betas, stream),
            Self::Bedrock(b) if b.speaks_messages() && !count_tokens => {
                Some(b.native_messages_request(body, betas, stream))
            }
            _ => None,
        }
    }

    /// The converter a native Messages stream needs before it is SSE (Bedrock's event
    /// stream), `None` when the provider streams SSE itself.
    pub fn native_stream_framing(&self) -> Option<crate::bedrock::InvokeStreamToSse> {
        match self {
            Self::Bedrock(_) => Some(crate::bedrock::InvokeStreamToSse::new()),
            _ => None,
        }
    }
}
