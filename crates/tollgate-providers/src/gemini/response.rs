//! Response bytes to our types: `GenerateContentResponse` to a Chat Completions response, and
//! `batchEmbedContents` to an embeddings list. The pieces shared with the stream decoder
//! (parts, finish reasons, usage, tool-call ids) live here too.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tollgate_core::chat::FunctionCall as OpenAiFunctionCall;
use tollgate_core::embeddings::{Embedding, EmbeddingVector, EmbeddingsUsage};
use tollgate_core::usage::{CompletionTokensDetails, PromptTokensDetails};
use tollgate_core::{
    ChatCompletionResponse, ChatMessage, Choice, EmbeddingsResponse, Extra, FinishReason,
    GatewayError, MessageContent, Role, ToolCall, Usage,
};

use super::GeminiAdapter;
use super::error::error_from_value;

/// One `GenerateContentResponse` (a whole response, or one stream event).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateContentResponse {
    #[serde(default)]
    pub candidates: Option<Vec<Candidate>>,
    #[serde(default)]
    pub prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    pub usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub response_id: Option<String>,
    /// An error reported in place of a response (mid-stream, or a 200 carrying one).
    #[serde(default)]
    pub error: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate {
    #[serde(default)]
    pub content: Option<Content>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub logprobs_result: Option<Value>,
    #[serde(default)]
    pub grounding_metadata: Option<Value>,
    #[serde(default)]
    pub citation_metadata: Option<Value>,
    #[serde(default)]
    pub url_context_metadata: Option<Value>,
    #[serde(default)]
    pub safety_ratings: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Content {
    #[serde(default)]
    pub parts: Option<Vec<Part>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Part {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thought: Option<bool>,
    #[serde(default)]
    pub thought_signature: Option<String>,
    #[serde(default)]
    pub function_call: Option<GeminiFunctionCall>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct GeminiFunctionCall {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub args: Option<Value>,
    /// Gemini 3 may name its calls; older models never do.
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    #[serde(default)]
    pub block_reason: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UsageMetadata {
    #[serde(default)]
    pub prompt_token_count: Option<u64>,
    #[serde(default)]
    pub candidates_token_count: Option<u64>,
    #[serde(default)]
    pub thoughts_token_count: Option<u64>,
    #[serde(default)]
    pub cached_content_token_count: Option<u64>,
}

impl Candidate {
    pub(super) fn parts(&self) -> &[Part] {
        self.content
            .as_ref()
            .and_then(|c| c.parts.as_deref())
            .unwrap_or_default()
    }
}

/// What a candidate's parts say, in OpenAI terms.
#[derive(Debug, Default)]
pub(super) struct Pieces {
    /// Answer text (non-thought parts) joined; `None` when there is none.
    pub text: Option<String>,
    /// Thought summaries (`thought: true` parts) joined; `None` when there are none.
    pub reasoning: Option<String>,
    pub calls: Vec<CallPiece>,
    /// Signatures Gemini put on text parts, in order (sent back with the next turn).
    pub text_signatures: Vec<String>,
}

/// One function call: Gemini's id if it gave one, the name, compact JSON arguments.
#[derive(Debug)]
pub(super) struct CallPiece {
    pub id: Option<String>,
    pub name: String,
    pub arguments: String,
    pub signature: Option<String>,
}

pub(super) fn pieces(parts: &[Part]) -> Pieces {
    let mut p = Pieces::default();
    for part in parts {
        if let Some(fc) = &part.function_call {
            let arguments = match &fc.args {
                None | Some(Value::Null) => "{}".to_owned(),
                Some(v) => v.to_string(),
            };
            p.calls.push(CallPiece {
                id: fc.id.clone().filter(|i| !i.is_empty()),
                name: fc.name.clone(),
                arguments,
                signature: part.thought_signature.clone(),
            });
            continue;
        }
        if let Some(text) = &part.text {
            if part.thought == Some(true) {
                if !text.is_empty() {
                    p.reasoning.get_or_insert_with(String::new).push_str(text);
                }
            } else {
                if !text.is_empty() {
                    p.text.get_or_insert_with(String::new).push_str(text);
                }
                if let Some(sig) = &part.thought_signature {
                    p.text_signatures.push(sig.clone());
                }
            }
        }
    }
    p
}

/// Gemini's finish reasons in OpenAI's vocabulary (providers.md §0.3). A response that called
/// functions finished with `tool_calls`, whatever Gemini says (it says `STOP`).
pub(super) fn finish_reason(raw: Option<&str>, called_tools: bool) -> FinishReason {
    if called_tools {
        return FinishReason::ToolCalls;
    }
    match raw {
        Some("MAX_TOKENS") => FinishReason::Length,
        Some(
            "SAFETY"
            | "RECITATION"
            | "LANGUAGE"
            | "OTHER"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION"
            | "IMAGE_OTHER"
            | "NO_IMAGE",
        ) => FinishReason::ContentFilter,
        // STOP, FINISH_REASON_UNSPECIFIED, MALFORMED_FUNCTION_CALL, ... and anything new.
        _ => FinishReason::Stop,
    }
}

/// `usageMetadata` in OpenAI's shape: completion tokens include thoughts, cached and
/// reasoning counts go to the details.
pub(super) fn usage(m: &UsageMetadata) -> Usage {
    let prompt = m.prompt_token_count.unwrap_or(0);
    let thoughts = m.thoughts_token_count;
    let completion = m.candidates_token_count.unwrap_or(0) + thoughts.unwrap_or(0);
    let mut u = Usage::new(prompt, completion);
    if let Some(cached) = m.cached_content_token_count {
        u.prompt_tokens_details = Some(PromptTokensDetails {
            cached_tokens: Some(cached),
            ..PromptTokensDetails::default()
        });
    }
    if let Some(reasoning) = thoughts {
        u.completion_tokens_details = Some(CompletionTokensDetails {
            reasoning_tokens: Some(reasoning),
            ..CompletionTokensDetails::default()
        });
    }
    u
}

/// `logprobsResult` in OpenAI's `logprobs.content` shape.
pub(super) fn logprobs(result: &Value) -> Option<Value> {
    let chosen = result.get("chosenCandidates")?.as_array()?;
    let top = result.get("topCandidates").and_then(Value::as_array);
    let entry = |c: &Value| {
        json!({
            "token": c.get("token").and_then(Value::as_str).unwrap_or_default(),
            "logprob": c.get("logProbability").cloned().unwrap_or(Value::from(0.0)),
        })
    };
    let content: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut e = entry(c);
            let alternatives: Vec<Value> = top
                .and_then(|t| t.get(i))
                .and_then(|t| t.get("candidates"))
                .and_then(Value::as_array)
                .map(|cs| cs.iter().map(entry).collect())
                .unwrap_or_default();
            if let Some(o) = e.as_object_mut() {
                o.insert("top_logprobs".into(), Value::Array(alternatives));
            }
            e
        })
        .collect();
    Some(json!({ "content": content }))
}

/// Tool-call ids for one response: Gemini's own when it names a call, else
/// `call_<response id>_<n>`, so ids are stable within a response and do not repeat across
/// turns (a bare `call_0` in every turn would collide in clients that key results by id).
#[derive(Debug, Clone)]
pub(super) struct CallIds {
    prefix: String,
    next: usize,
}

impl CallIds {
    pub(super) fn new(response_id: Option<&str>) -> Self {
        let prefix: String = response_id
            .map(|r| {
                r.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .take(24)
                    .collect()
            })
            .filter(|p: &String| !p.is_empty())
            .unwrap_or_else(unique_suffix);
        Self { prefix, next: 0 }
    }

    pub(super) fn next(&mut self, gemini_id: Option<&str>) -> String {
        let n = self.next;
        self.next += 1;
        match gemini_id {
            Some(id) => id.to_owned(),
            None => format!("call_{}_{n}", self.prefix),
        }
    }
}

/// A process-unique hex string for responses Gemini did not give an id.
pub(super) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{nanos:x}{n:x}")
}

pub(super) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `provider_specific_fields` carrying signatures (LiteLLM's field name).
pub(super) fn signature_fields(key: &str, value: Value) -> Extra {
    let mut inner = Map::new();
    inner.insert(key.to_owned(), value);
    let mut extra = Extra::new();
    extra.insert("provider_specific_fields".into(), Value::Object(inner));
    extra
}

/// The candidates' grounding, citation, URL-context and safety metadata under LiteLLM's
/// response fields (`vertex_ai_grounding_metadata`, ...): one list entry per candidate that
/// carries it, a field only when some candidate does. Kept verbatim: clients render search
/// results and citations from it, so dropping it would lose what the user paid for.
pub(super) fn candidate_metadata(candidates: &[Candidate]) -> Extra {
    let mut extra = Extra::new();
    type Field = fn(&Candidate) -> Option<&Value>;
    let fields: [(&str, Field); 4] = [
        ("vertex_ai_grounding_metadata", |c| {
            c.grounding_metadata.as_ref()
        }),
        ("vertex_ai_url_context_metadata", |c| {
            c.url_context_metadata.as_ref()
        }),
        ("vertex_ai_safety_results", |c| c.safety_ratings.as_ref()),
        ("vertex_ai_citation_metadata", |c| {
            c.citation_metadata.as_ref()
        }),
    ];
    for (key, get) in fields {
        let values: Vec<Value> = candidates
            .iter()
            .filter_map(get)
            .filter(|v| !v.is_null())
            .cloned()
            .collect();
        if !values.is_empty() {
            extra.insert(key.to_owned(), Value::Array(values));
        }
    }
    extra
}

/// `modelVersion` without the `models/` prefix some responses carry.
pub(super) fn model_name(version: Option<&str>, fallback: &str) -> String {
    version
        .map(|v| v.strip_prefix("models/").unwrap_or(v))
        .filter(|v| !v.is_empty())
        .unwrap_or(fallback)
        .to_owned()
}

#[derive(Debug, Deserialize)]
struct EmbedResponse {
    #[serde(default)]
    embeddings: Option<Vec<EmbedValues>>,
    /// `embedContent` answers with one vector.
    #[serde(default)]
    embedding: Option<EmbedValues>,
}

#[derive(Debug, Deserialize)]
struct EmbedValues {
    #[serde(default)]
    values: Vec<f32>,
}

impl GeminiAdapter {
    /// Parses a 2xx `generateContent` body into a Chat Completions response.
    pub fn parse_chat_response(&self, body: &[u8]) -> Result<ChatCompletionResponse, GatewayError> {
        let r: GenerateContentResponse =
            serde_json::from_slice(body).map_err(|e| self.invalid(&e))?;
        if let Some(err) = &r.error {
            return Err(error_from_value(self.provider_name(), 500, err));
        }
        let mut ids = CallIds::new(r.response_id.as_deref());
        let candidates = r.candidates.unwrap_or_default();
        let metadata = candidate_metadata(&candidates);
        let mut choices = Vec::with_capacity(candidates.len().max(1));
        for (pos, c) in candidates.iter().enumerate() {
            let p = pieces(c.parts());
            let tool_calls: Vec<ToolCall> = p
                .calls
                .into_iter()
                .map(|call| ToolCall {
                    id: ids.next(call.id.as_deref()),
                    kind: "function".to_owned(),
                    function: OpenAiFunctionCall {
                        name: call.name,
                        arguments: call.arguments,
                    },
                    extra: call
                        .signature
                        .map(|s| signature_fields("thought_signature", Value::String(s)))
                        .unwrap_or_default(),
                })
                .collect();
            let finish = finish_reason(c.finish_reason.as_deref(), !tool_calls.is_empty());
            let extra = if p.text_signatures.is_empty() {
                Extra::new()
            } else {
                signature_fields("thought_signatures", Value::from(p.text_signatures))
            };
            choices.push(Choice {
                index: c
                    .index
                    .unwrap_or_else(|| u32::try_from(pos).unwrap_or(u32::MAX)),
                message: ChatMessage {
                    role: Role::Assistant,
                    content: p.text.map(MessageContent::Text),
                    name: None,
                    tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                    tool_call_id: None,
                    refusal: None,
                    reasoning_content: p.reasoning,
                    extra,
                },
                finish_reason: Some(finish),
                logprobs: c.logprobs_result.as_ref().and_then(logprobs),
                extra: Extra::new(),
            });
        }
        if choices.is_empty() {
            // No candidates: a blocked prompt (or nothing at all) is an empty, filtered answer,
            // not an error, as LiteLLM reports it.
            let blocked = r
                .prompt_feedback
                .as_ref()
                .and_then(|f| f.block_reason.as_ref())
                .is_some();
            choices.push(Choice {
                index: 0,
                message: ChatMessage {
                    content: None,
                    ..ChatMessage::text(Role::Assistant, "")
                },
                finish_reason: Some(if blocked {
                    FinishReason::ContentFilter
                } else {
                    FinishReason::Stop
                }),
                logprobs: None,
                extra: Extra::new(),
            });
        }
        Ok(ChatCompletionResponse {
            id: r
                .response_id
                .unwrap_or_else(|| format!("chatcmpl-{}", unique_suffix())),
            object: "chat.completion".to_owned(),
            created: now(),
            model: model_name(r.model_version.as_deref(), &self.upstream_model),
            choices,
            usage: r.usage_metadata.as_ref().map(usage),
            system_fingerprint: None,
            service_tier: None,
            extra: metadata,
        })
    }

    /// Parses a 2xx `batchEmbedContents` (or `embedContent`) body. Gemini reports no token
    /// counts, so usage is zero rather than a guess.
    pub fn parse_embeddings_response(
        &self,
        body: &[u8],
    ) -> Result<EmbeddingsResponse, GatewayError> {
        let r: EmbedResponse = serde_json::from_slice(body).map_err(|e| self.invalid(&e))?;
        let vectors = match (r.embeddings, r.embedding) {
            (Some(many), _) => many,
            (None, Some(one)) => vec![one],
            (None, None) => {
                return Err(GatewayError::InvalidUpstreamResponse {
                    provider: self.provider_name().to_owned(),
                    message: "embeddings response has neither `embeddings` nor `embedding`".into(),
                });
            }
        };
        let data = vectors
            .into_iter()
            .enumerate()
            .map(|(i, v)| Embedding {
                object: "embedding".to_owned(),
                index: u32::try_from(i).unwrap_or(u32::MAX),
                embedding: EmbeddingVector::Float(v.values),
                extra: Extra::new(),
            })
            .collect();
        Ok(EmbeddingsResponse {
            object: "list".to_owned(),
            data,
            model: self.upstream_model.clone(),
            usage: Some(EmbeddingsUsage::default()),
            extra: Extra::new(),
        })
    }

    /// The client-facing embeddings body under the client's model name. The usage returned
    /// for accounting is `None`: Gemini does not count embedding tokens.
    pub fn forward_embeddings_response(
        &self,
        body: Bytes,
        client_model: &str,
    ) -> Result<(Bytes, Option<Usage>), GatewayError> {
        let mut response = self.parse_embeddings_response(&body)?;
        client_model.clone_into(&mut response.model);
        let out =
            serde_json::to_vec(&response).map_err(|e| GatewayError::Internal(e.to_string()))?;
        Ok((Bytes::from(out), None))
    }

    pub(super) fn invalid(&self, e: &serde_json::Error) -> GatewayError {
        GatewayError::InvalidUpstreamResponse {
            provider: self.provider_name().to_owned(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::ProviderParams;
    use tollgate_core::{Env, ModelRef};

    fn adapter() -> GeminiAdapter {
        let m = ModelRef::parse("gemini/gemini-2.5-flash", None).unwrap();
        GeminiAdapter::new(
            &m,
            &ProviderParams::default(),
            &Env::with_overlay(Default::default()),
        )
        .unwrap()
        .unwrap()
    }

    fn parse(v: Value) -> ChatCompletionResponse {
        adapter()
            .parse_chat_response(v.to_string().as_bytes())
            .unwrap()
    }

    #[test]
    fn text_thoughts_and_calls_are_split() {
        let r = parse(json!({
            "candidates": [{"content": {"role": "model", "parts": [
                {"text": "Let me think.", "thought": true},
                {"text": "Calling", "thoughtSignature": "t1"},
                {"text": " now."},
                {"functionCall": {"name": "add", "args": {"x": 1, "y": "é"}}, "thoughtSignature": "f1"},
                {"functionCall": {"name": "noop"}}
            ]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "thoughtsTokenCount": 7,
                "cachedContentTokenCount": 4, "totalTokenCount": 22},
            "modelVersion": "models/gemini-2.5-flash", "responseId": "resp-1"
        }));
        assert_eq!(r.id, "resp-1");
        assert_eq!(r.model, "gemini-2.5-flash");
        let c = &r.choices[0];
        assert_eq!(c.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(c.message.text_content().as_deref(), Some("Calling now."));
        assert_eq!(
            c.message.reasoning_content.as_deref(),
            Some("Let me think.")
        );
        assert_eq!(
            c.message.extra["provider_specific_fields"],
            json!({"thought_signatures": ["t1"]})
        );
        let calls = c.message.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].id, "call_resp-1_0");
        assert_eq!(calls[0].function.arguments, "{\"x\":1,\"y\":\"é\"}");
        assert_eq!(
            calls[0].extra["provider_specific_fields"]["thought_signature"],
            "f1"
        );
        assert_eq!(calls[1].id, "call_resp-1_1");
        assert_eq!(calls[1].function.arguments, "{}");
        assert!(calls[1].extra.is_empty());
        let u = r.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens, u.total_tokens),
            (10, 12, 22)
        );
        assert_eq!((u.cached_tokens(), u.reasoning_tokens()), (4, 7));
    }

    #[test]
    fn grounding_citation_url_context_and_safety_metadata_are_kept() {
        let grounding = json!({"webSearchQueries": ["who won euro 2024"],
            "groundingChunks": [{"web": {"uri": "https://example.com/a", "title": "a"}}],
            "groundingSupports": [{"segment": {"startIndex": 0, "endIndex": 5, "text": "Spain"},
                "groundingChunkIndices": [0], "confidenceScores": [0.9]}],
            "searchEntryPoint": {"renderedContent": "<div></div>"}, "futureField": 1});
        let safety =
            json!([{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]);
        let citation =
            json!({"citations": [{"startIndex": 1, "endIndex": 9, "uri": "https://c.example"}]});
        let url = json!({"urlMetadata": [{"retrievedUrl": "https://u.example", "urlRetrievalStatus": "URL_RETRIEVAL_STATUS_SUCCESS"}]});
        let r = parse(json!({"candidates": [
            {"content": {"parts": [{"text": "Spain"}]}, "finishReason": "STOP", "index": 0,
             "groundingMetadata": grounding, "safetyRatings": safety,
             "citationMetadata": citation, "urlContextMetadata": url},
            {"content": {"parts": [{"text": "Spain!"}]}, "finishReason": "STOP", "index": 1,
             "safetyRatings": []}
        ]}));
        let out = serde_json::to_value(&r).unwrap();
        assert_eq!(out["vertex_ai_grounding_metadata"], json!([grounding]));
        assert_eq!(out["vertex_ai_safety_results"], json!([safety, []]));
        assert_eq!(out["vertex_ai_citation_metadata"], json!([citation]));
        assert_eq!(out["vertex_ai_url_context_metadata"], json!([url]));
        // Without any, the response has none of the fields.
        let plain = serde_json::to_value(parse(json!({"candidates": [
            {"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}]})))
        .unwrap();
        assert!(plain.get("vertex_ai_grounding_metadata").is_none());
        assert!(plain.get("vertex_ai_safety_results").is_none());
    }

    #[test]
    fn finish_reasons_follow_the_litellm_table() {
        assert_eq!(finish_reason(Some("STOP"), false), FinishReason::Stop);
        assert_eq!(
            finish_reason(Some("MAX_TOKENS"), false),
            FinishReason::Length
        );
        assert_eq!(
            finish_reason(Some("SAFETY"), false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_reason(Some("PROHIBITED_CONTENT"), false),
            FinishReason::ContentFilter
        );
        assert_eq!(
            finish_reason(Some("MALFORMED_FUNCTION_CALL"), false),
            FinishReason::Stop
        );
        assert_eq!(
            finish_reason(Some("SOMETHING_NEW"), false),
            FinishReason::Stop
        );
        assert_eq!(finish_reason(None, false), FinishReason::Stop);
        assert_eq!(finish_reason(Some("STOP"), true), FinishReason::ToolCalls);
    }

    #[test]
    fn a_blocked_prompt_is_an_empty_filtered_answer() {
        let r = parse(json!({
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": []},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}
        }));
        assert_eq!(r.choices.len(), 1);
        assert_eq!(
            r.choices[0].finish_reason,
            Some(FinishReason::ContentFilter)
        );
        assert_eq!(r.choices[0].message.content, None);
        assert_eq!(r.usage.as_ref().unwrap().prompt_tokens, 8);
        let out: Value = serde_json::to_value(&r).unwrap();
        assert_eq!(
            out["choices"][0]["message"],
            json!({"role": "assistant", "content": null})
        );
    }

    #[test]
    fn several_candidates_become_several_choices_with_distinct_call_ids() {
        let r = parse(json!({"candidates": [
            {"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP", "index": 0},
            {"content": {"parts": [{"functionCall": {"name": "f", "args": {}, "id": "g-7"}}]}, "finishReason": "STOP", "index": 1},
            {"content": {"parts": []}, "finishReason": "MAX_TOKENS", "index": 2}
        ]}));
        assert_eq!(r.choices.len(), 3);
        let id0 = &r.choices[0].message.tool_calls.as_ref().unwrap()[0].id;
        let id1 = &r.choices[1].message.tool_calls.as_ref().unwrap()[0].id;
        assert!(id0.starts_with("call_") && id0.ends_with("_0"), "{id0}");
        assert_eq!(id1, "g-7");
        assert_eq!(r.choices[2].finish_reason, Some(FinishReason::Length));
        assert_eq!(r.choices[2].message.content, None);
    }

    #[test]
    fn logprobs_are_reshaped() {
        let r = parse(
            json!({"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP",
            "logprobsResult": {
                "chosenCandidates": [{"token": "Hi", "logProbability": -0.1}],
                "topCandidates": [{"candidates": [{"token": "Hi", "logProbability": -0.1}, {"token": "Hello", "logProbability": -2.5}]}]
            }}]}),
        );
        assert_eq!(
            r.choices[0].logprobs,
            Some(
                json!({"content": [{"token": "Hi", "logprob": -0.1, "top_logprobs": [
                {"token": "Hi", "logprob": -0.1}, {"token": "Hello", "logprob": -2.5}]}]})
            )
        );
    }

    #[test]
    fn an_error_in_a_200_body_is_an_error() {
        let err = adapter()
            .parse_chat_response(br#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#)
            .unwrap_err();
        assert_eq!(err.status(), 503);
        assert!(adapter().parse_chat_response(b"not json").is_err());
    }

    #[test]
    fn embeddings_parse_both_shapes() {
        let a = adapter();
        let r = a
            .parse_embeddings_response(br#"{"embeddings":[{"values":[0.5,-1]},{"values":[2]}]}"#)
            .unwrap();
        assert_eq!(r.data.len(), 2);
        assert_eq!(r.data[1].index, 1);
        assert_eq!(r.data[0].embedding, EmbeddingVector::Float(vec![0.5, -1.0]));
        let r = a
            .parse_embeddings_response(br#"{"embedding":{"values":[1]}}"#)
            .unwrap();
        assert_eq!(r.data.len(), 1);
        assert!(a.parse_embeddings_response(b"{}").is_err());
        let (out, usage) = a
            .forward_embeddings_response(
                Bytes::from_static(br#"{"embeddings":[{"values":[1]}]}"#),
                "alias",
            )
            .unwrap();
        assert_eq!(usage, None);
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            out,
            json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [1.0]}],
                "model": "alias", "usage": {"prompt_tokens": 0, "total_tokens": 0}})
        );
    }
}
