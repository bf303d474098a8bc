//! Our request to the provider's HTTP request.
//!
//! The common case (no defaults to merge, nothing to drop) serialises the typed request once
//! and splices the upstream model id in; only requests that need edits go through a
//! `serde_json::Value`.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value};
use tollgate_core::{ChatCompletionRequest, EmbeddingsRequest, GatewayError};

use super::OpenAiAdapter;
use crate::json_splice::replace_top_level_string;
use crate::openai_compat::join_url;
use crate::params::CallOptions;
use crate::transport::UpstreamRequest;

impl OpenAiAdapter {
    /// `POST {base}/chat/completions`.
    pub fn chat_request(
        &self,
        req: &ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<UpstreamRequest, GatewayError> {
        let drop = options.drop_params || self.params.drop_params;
        let mut refused = Vec::new();
        for name in self.profile.unsupported_params {
            if has_param(req, name) {
                refused.push(*name);
            }
        }
        if self.profile.single_choice_only && req.n.is_some_and(|n| n > 1) {
            refused.push("n");
        }
        if let (Some(param), false) = (refused.first(), drop) {
            return Err(GatewayError::UnsupportedParams {
                provider: self.profile.provider.to_string(),
                model: self.upstream_model.clone(),
                param: (*param).to_owned(),
            });
        }
        let add_usage = options.force_stream_usage && req.is_stream() && !req.wants_stream_usage();
        let needs_edit = !refused.is_empty()
            || add_usage
            || !self.params.default_params.is_empty()
            || self
                .params
                .additional_drop_params
                .iter()
                .any(|p| has_param(req, p));

        let body = if needs_edit {
            let mut value = serde_json::to_value(req).map_err(encode_error)?;
            let Some(obj) = value.as_object_mut() else {
                return Err(GatewayError::Internal(
                    "request did not encode as an object".into(),
                ));
            };
            obj.insert("model".into(), Value::String(self.upstream_model.clone()));
            merge_defaults(obj, &self.params.default_params);
            for name in refused.iter().copied().chain(
                self.params
                    .additional_drop_params
                    .iter()
                    .map(String::as_str),
            ) {
                obj.remove(name);
            }
            if add_usage {
                let opts = obj
                    .entry("stream_options")
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Some(o) = opts.as_object_mut() {
                    o.insert("include_usage".into(), Value::Bool(true));
                }
            }
            Bytes::from(serde_json::to_vec(&value).map_err(encode_error)?)
        } else {
            let raw = serde_json::to_vec(req).map_err(encode_error)?;
            replace_top_level_string(&raw, "model", &self.upstream_model)
                .unwrap_or_else(|| Bytes::from(raw))
        };
        Ok(UpstreamRequest {
            method: Method::POST,
            url: join_url(self.profile.url_style, &self.base, "chat/completions"),
            headers: self.headers()?,
            body,
        })
    }

    /// `POST {base}/embeddings`.
    pub fn embeddings_request(
        &self,
        req: &EmbeddingsRequest,
    ) -> Result<UpstreamRequest, GatewayError> {
        if !self.profile.embeddings {
            return Err(GatewayError::UnsupportedOperation {
                provider: self.profile.provider.to_string(),
                operation: "embeddings".into(),
            });
        }
        let raw = serde_json::to_vec(req).map_err(encode_error)?;
        let body = replace_top_level_string(&raw, "model", &self.upstream_model)
            .unwrap_or_else(|| Bytes::from(raw));
        Ok(UpstreamRequest {
            method: Method::POST,
            url: join_url(self.profile.url_style, &self.base, "embeddings"),
            headers: self.headers()?,
            body,
        })
    }

    pub(crate) fn headers(&self) -> Result<HeaderMap, GatewayError> {
        let mut h = HeaderMap::with_capacity(4 + self.params.extra_headers.len());
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(key) = &self.api_key {
            h.insert(
                http::header::AUTHORIZATION,
                header_value("Authorization", &format!("Bearer {key}"))?,
            );
        }
        if let Some(org) = &self.organization {
            h.insert(
                "openai-organization",
                header_value("OpenAI-Organization", org)?,
            );
        }
        for (name, value) in &self.params.extra_headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                GatewayError::invalid_request(
                    format!("invalid header name in extra_headers: {name:?}"),
                    None,
                )
            })?;
            h.insert(name.clone(), header_value(name.as_str(), value)?);
        }
        Ok(h)
    }
}

/// Default params from the deployment fill what the request left unset; the request wins.
fn merge_defaults(obj: &mut Map<String, Value>, defaults: &Map<String, Value>) {
    for (k, v) in defaults {
        match obj.get(k) {
            Some(existing) if !existing.is_null() => {}
            _ => {
                obj.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Whether the request sets `name` (to anything but null).
fn has_param(req: &ChatCompletionRequest, name: &str) -> bool {
    match name {
        "logprobs" => req.logprobs.is_some(),
        "top_logprobs" => req.top_logprobs.is_some(),
        "logit_bias" => req.logit_bias.is_some(),
        "frequency_penalty" => req.frequency_penalty.is_some(),
        "presence_penalty" => req.presence_penalty.is_some(),
        "seed" => req.seed.is_some(),
        "stop" => req.stop.is_some(),
        "n" => req.n.is_some(),
        "temperature" => req.temperature.is_some(),
        "top_p" => req.top_p.is_some(),
        "tools" => req.tools.is_some(),
        "tool_choice" => req.tool_choice.is_some(),
        "response_format" => req.response_format.is_some(),
        "user" => req.user.is_some(),
        "max_tokens" => req.max_tokens.is_some(),
        "max_completion_tokens" => req.max_completion_tokens.is_some(),
        "reasoning_effort" => req.reasoning_effort.is_some(),
        "parallel_tool_calls" => req.parallel_tool_calls.is_some(),
        other => req.extra.get(other).is_some_and(|v| !v.is_null()),
    }
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, GatewayError> {
    // The value may be a credential: never echo it in the error.
    HeaderValue::from_str(value).map_err(|_| {
        GatewayError::invalid_request(
            format!("header {name} has characters HTTP does not allow"),
            None,
        )
    })
}

fn encode_error(e: serde_json::Error) -> GatewayError {
    GatewayError::Internal(format!("cannot encode the request: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai_compat;
    use crate::params::ProviderParams;
    use serde_json::json;
    use tollgate_core::{ChatMessage, Env, ModelRef};

    fn adapter(model: &str, params: ProviderParams) -> OpenAiAdapter {
        let m = ModelRef::parse(model, None).unwrap();
        OpenAiAdapter::new(&m, &params, &Env::with_overlay(Default::default()))
            .unwrap()
            .unwrap()
    }

    fn body(r: &UpstreamRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn openai_request_keeps_every_field_and_rewrites_model() {
        let req: ChatCompletionRequest = serde_json::from_value(json!({
            "model": "my-alias", "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2, "future_param": [1]
        }))
        .unwrap();
        let a = adapter(
            "openai/gpt-4o",
            ProviderParams {
                api_key: Some("sk-x".into()),
                ..Default::default()
            },
        );
        let r = a.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(r.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(r.headers["authorization"], "Bearer sk-x");
        let b = body(&r);
        assert_eq!(b["model"], "gpt-4o");
        assert_eq!(b["future_param"], json!([1]));
        assert_eq!(b["temperature"], 0.2);
    }

    #[test]
    fn defaults_fill_gaps_and_stream_usage_is_forced() {
        let mut defaults = Map::new();
        defaults.insert("temperature".into(), json!(0.9));
        defaults.insert("max_tokens".into(), json!(10));
        let a = adapter(
            "openai/gpt-4o",
            ProviderParams {
                default_params: defaults,
                ..Default::default()
            },
        );
        let mut req = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        req.temperature = Some(0.1);
        req.stream = Some(true);
        let r = a
            .chat_request(
                &req,
                CallOptions {
                    force_stream_usage: true,
                    drop_params: false,
                },
            )
            .unwrap();
        let b = body(&r);
        assert_eq!(b["temperature"], 0.1);
        assert_eq!(b["max_tokens"], 10);
        assert_eq!(b["stream_options"]["include_usage"], true);
    }

    #[test]
    fn unsupported_params_are_refused_or_dropped() {
        let mut req = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        req.logit_bias = Some(Map::new());
        let a = adapter("groq/llama3", ProviderParams::default());
        let err = a.chat_request(&req, CallOptions::default()).unwrap_err();
        assert_eq!(err.status(), 400);
        assert!(err.to_string().contains("logit_bias"), "{err}");
        let r = a
            .chat_request(
                &req,
                CallOptions {
                    drop_params: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(body(&r).get("logit_bias").is_none());
        assert_eq!(r.url, "https://api.groq.com/openai/v1/chat/completions");
    }

    #[test]
    fn family_specifics() {
        let req = ChatCompletionRequest::new("x", vec![ChatMessage::user("hi")]);
        let fw = adapter("fireworks_ai/llama-v3-70b", ProviderParams::default());
        assert_eq!(
            body(&fw.chat_request(&req, CallOptions::default()).unwrap())["model"],
            "accounts/fireworks/models/llama-v3-70b"
        );
        let or = adapter(
            "openrouter/anthropic/claude-3.5-sonnet",
            ProviderParams::default(),
        );
        let r = or.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(r.headers["x-title"], "liteLLM");
        assert_eq!(body(&r)["model"], "anthropic/claude-3.5-sonnet");
        let ds = adapter("deepseek/deepseek-chat", ProviderParams::default());
        assert_eq!(
            ds.chat_request(&req, CallOptions::default()).unwrap().url,
            "https://api.deepseek.com/beta/chat/completions"
        );
        let vllm = adapter(
            "hosted_vllm/m",
            ProviderParams {
                api_base: Some("http://h:8000/v1".into()),
                ..Default::default()
            },
        );
        let r = vllm.chat_request(&req, CallOptions::default()).unwrap();
        assert_eq!(r.headers["authorization"], "Bearer fake-api-key");
        assert!(
            adapter("groq/x", ProviderParams::default())
                .embeddings_request(&tollgate_core::EmbeddingsRequest::new(
                    "x",
                    vec!["a".into()]
                ))
                .is_err()
        );
    }

    #[test]
    fn a_provider_without_a_base_is_a_config_error_not_a_call_to_openai() {
        let m = ModelRef::parse("hosted_vllm/m", None).unwrap();
        let err = OpenAiAdapter::new(
            &m,
            &ProviderParams::default(),
            &Env::with_overlay(Default::default()),
        )
        .unwrap_err();
        assert!(err.to_string().contains("api_base"), "{err}");
    }

    #[test]
    fn each_family_member_sends_its_own_key_variable_as_bearer() {
        let all_keys: Vec<&str> = openai_compat::providers()
            .filter_map(openai_compat::profile)
            .flat_map(|p| p.key_env.iter().copied())
            .collect();
        for provider in openai_compat::providers() {
            let Some(profile) = openai_compat::profile(provider) else {
                continue;
            };
            let mut overlay: std::collections::HashMap<String, String> = all_keys
                .iter()
                .map(|k| ((*k).to_owned(), String::new()))
                .collect();
            let model = ModelRef::parse(&format!("{}/m", provider.as_str()), None).unwrap();
            let params = ProviderParams {
                api_base: Some("http://upstream.test/v1".into()),
                ..ProviderParams::default()
            };
            let sent = |overlay: &std::collections::HashMap<String, String>| {
                let a = OpenAiAdapter::new(&model, &params, &Env::with_overlay(overlay.clone()))
                    .unwrap()
                    .unwrap();
                let req = ChatCompletionRequest::new("alias", vec![ChatMessage::user("hi")]);
                a.chat_request(&req, CallOptions::default())
                    .unwrap()
                    .headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            // Without any key: no credential at all, or the documented placeholder.
            assert_eq!(
                sent(&overlay),
                profile.placeholder_key.map(|k| format!("Bearer {k}")),
                "{provider}"
            );
            // Every variable the profile names is read, the first set one winning.
            for (i, var) in profile.key_env.iter().enumerate().rev() {
                overlay.insert((*var).to_owned(), format!("key-{i}"));
                assert_eq!(
                    sent(&overlay).as_deref(),
                    Some(format!("Bearer key-{i}").as_str()),
                    "{provider} {var}"
                );
            }
            // The deployment's own api_key wins over the environment.
            let own = ProviderParams {
                api_key: Some("own".into()),
                ..params.clone()
            };
            let a = OpenAiAdapter::new(&model, &own, &Env::with_overlay(overlay))
                .unwrap()
                .unwrap();
            let r = a
                .chat_request(
                    &ChatCompletionRequest::new("alias", vec![ChatMessage::user("hi")]),
                    CallOptions::default(),
                )
                .unwrap();
            assert_eq!(r.headers["authorization"], "Bearer own", "{provider}");
        }
    }
}
