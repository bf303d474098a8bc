//! OpenAI Embeddings: request and response.

use serde::{Deserialize, Serialize};

use crate::chat::Extra;

/// `POST /v1/embeddings` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    /// `float | base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl EmbeddingsRequest {
    /// A request embedding the given texts.
    pub fn new(model: impl Into<String>, input: Vec<String>) -> Self {
        Self {
            model: model.into(),
            input: EmbeddingInput::Many(input),
            encoding_format: None,
            dimensions: None,
            user: None,
            extra: Extra::new(),
        }
    }
}

/// `input`: a string, strings, a token array or token arrays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    TokenBatches(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    /// How many vectors the request asks for.
    pub fn len(&self) -> usize {
        match self {
            Self::One(_) | Self::Tokens(_) => 1,
            Self::Many(v) => v.len(),
            Self::TokenBatches(v) => v.len(),
        }
    }

    /// Whether the request asks for no vector at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `POST /v1/embeddings` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<Embedding>,
    #[serde(default)]
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<EmbeddingsUsage>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn list_object() -> String {
    "list".to_owned()
}

/// One vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    #[serde(default = "embedding_object")]
    pub object: String,
    pub index: u32,
    pub embedding: EmbeddingVector,
    #[serde(flatten)]
    pub extra: Extra,
}

fn embedding_object() -> String {
    "embedding".to_owned()
}

/// Floats, or base64 of little-endian f32 when `encoding_format` is `base64`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

impl EmbeddingsResponse {
    /// Re-encodes float vectors as base64 of little-endian f32, the form OpenAI returns for
    /// `encoding_format: "base64"` (the OpenAI SDKs ask for it by default). Providers other
    /// than OpenAI only return floats, so the gateway converts.
    pub fn encode_base64(&mut self) {
        use base64::Engine as _;
        for e in &mut self.data {
            if let EmbeddingVector::Float(v) = &e.embedding {
                let mut bytes = Vec::with_capacity(v.len() * 4);
                for f in v {
                    bytes.extend_from_slice(&f.to_le_bytes());
                }
                e.embedding = EmbeddingVector::Base64(
                    base64::engine::general_purpose::STANDARD.encode(bytes),
                );
            }
        }
    }
}

/// Embeddings usage: prompt tokens only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingsUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_vectors_become_little_endian_f32_base64() {
        let mut r: EmbeddingsResponse = serde_json::from_str(
            r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[1.0,-2.5]}],"model":"m"}"#,
        )
        .unwrap();
        r.encode_base64();
        // struct.pack('<2f', 1.0, -2.5) == b'\x00\x00\x80?\x00\x00 \xc0'
        assert_eq!(
            r.data[0].embedding,
            EmbeddingVector::Base64("AACAPwAAIMA=".into())
        );
    }
}
