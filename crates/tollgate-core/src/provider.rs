//! Model strings: `provider/model`, and bare names resolved the way LiteLLM resolves them.

use std::fmt;

use crate::error::GatewayError;

macro_rules! providers {
    ($( $variant:ident => $name:literal ),* $(,)?) => {
        /// Every provider prefix LiteLLM understands (whether or not Tollgate implements it yet).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Provider { $( $variant ),* }

        impl Provider {
            /// All providers, in declaration order.
            pub const ALL: &'static [Provider] = &[ $( Provider::$variant ),* ];

            /// The prefix as written in model strings (`together_ai`, `vertex_ai`, ...).
            pub fn as_str(self) -> &'static str {
                match self { $( Provider::$variant => $name ),* }
            }

            /// The provider for a prefix, if it is one LiteLLM knows.
            pub fn from_prefix(prefix: &str) -> Option<Provider> {
                match prefix { $( $name => Some(Provider::$variant), )* _ => None }
            }
        }
    };
}

providers! {
    OpenAi => "openai",
    TextCompletionOpenAi => "text-completion-openai",
    Azure => "azure",
    AzureAi => "azure_ai",
    Anthropic => "anthropic",
    Gemini => "gemini",
    VertexAi => "vertex_ai",
    Bedrock => "bedrock",
    Sagemaker => "sagemaker",
    Cohere => "cohere",
    CohereChat => "cohere_chat",
    Mistral => "mistral",
    Codestral => "codestral",
    Groq => "groq",
    TogetherAi => "together_ai",
    FireworksAi => "fireworks_ai",
    Deepseek => "deepseek",
    Perplexity => "perplexity",
    Xai => "xai",
    OpenRouter => "openrouter",
    Ollama => "ollama",
    OllamaChat => "ollama_chat",
    HostedVllm => "hosted_vllm",
    Vllm => "vllm",
    HuggingFace => "huggingface",
    NvidiaNim => "nvidia_nim",
    LmStudio => "lm_studio",
    Cerebras => "cerebras",
    DeepInfra => "deepinfra",
    Databricks => "databricks",
    Watsonx => "watsonx",
    Replicate => "replicate",
    Cloudflare => "cloudflare",
    Voyage => "voyage",
    JinaAi => "jina_ai",
    Ai21 => "ai21",
    Sambanova => "sambanova",
    Github => "github",
    FriendliAi => "friendliai",
    Dashscope => "dashscope",
    Moonshot => "moonshot",
    Novita => "novita",
    Nebius => "nebius",
    Hyperbolic => "hyperbolic",
    LiteLlmProxy => "litellm_proxy",
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resolved model: which provider, and the model id to send it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    pub provider: Provider,
    /// The upstream model id: everything after the first `/` of a prefixed string.
    pub model: String,
}

impl ModelRef {
    /// Resolves a model string as LiteLLM's `get_llm_provider` does: an explicit
    /// `custom_llm_provider` wins, then a known `provider/` prefix, then the bare name.
    pub fn parse(model: &str, custom_llm_provider: Option<&str>) -> Result<Self, GatewayError> {
        if let Some(custom) = custom_llm_provider.filter(|c| !c.is_empty()) {
            let provider =
                Provider::from_prefix(custom).ok_or_else(|| GatewayError::UnknownProvider {
                    model: format!("{custom}/{model}"),
                })?;
            let rest = match model.split_once('/') {
                Some((prefix, rest)) if prefix == custom => rest,
                _ => model,
            };
            return Ok(Self {
                provider,
                model: rest.to_owned(),
            });
        }
        if let Some((prefix, rest)) = model.split_once('/') {
            if let Some(provider) = Provider::from_prefix(prefix) {
                if rest.is_empty() {
                    return Err(GatewayError::invalid_request(
                        format!("model={model} names a provider but no model"),
                        Some("model".into()),
                    ));
                }
                return Ok(Self {
                    provider,
                    model: rest.to_owned(),
                });
            }
        }
        infer_bare(model)
            .map(|provider| Self {
                provider,
                model: model.to_owned(),
            })
            .ok_or_else(|| GatewayError::UnknownProvider {
                model: model.to_owned(),
            })
    }

    /// `provider/model`, the canonical string.
    pub fn canonical(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// Bare names LiteLLM infers from its cost map, by family. A bare `gemini-*` means Vertex AI
/// there, not AI Studio, and so it does here.
fn infer_bare(model: &str) -> Option<Provider> {
    const OPENAI_PREFIXES: &[&str] = &[
        "gpt-",
        "o1",
        "o3",
        "o4",
        "chatgpt-",
        "ft:gpt-",
        "text-embedding-3",
        "text-embedding-ada",
        "dall-e",
        "gpt-image",
        "whisper",
        "tts-",
        "omni-moderation",
        "text-moderation",
        "davinci",
        "babbage",
        "codex-",
    ];
    if model == "*" {
        return Some(Provider::OpenAi);
    }
    if model == "gpt-3.5-turbo-instruct" || model.starts_with("gpt-3.5-turbo-instruct-") {
        return Some(Provider::TextCompletionOpenAi);
    }
    if OPENAI_PREFIXES.iter().any(|p| model.starts_with(p)) {
        return Some(Provider::OpenAi);
    }
    if model.starts_with("claude-") {
        return Some(Provider::Anthropic);
    }
    if model.starts_with("gemini-")
        || model.starts_with("text-embedding-00")
        || model.starts_with("text-multilingual-embedding")
    {
        return Some(Provider::VertexAi);
    }
    if is_bedrock_id(model) {
        return Some(Provider::Bedrock);
    }
    if model.starts_with("command-")
        || model.starts_with("embed-english-")
        || model.starts_with("embed-multilingual-")
        || model.starts_with("rerank-")
    {
        return Some(Provider::Cohere);
    }
    None
}

/// `anthropic.claude-...`, `us.anthropic.claude-...`, `amazon.titan-...`, `meta.llama...`.
fn is_bedrock_id(model: &str) -> bool {
    const VENDORS: &[&str] = &[
        "anthropic.",
        "amazon.",
        "meta.",
        "cohere.",
        "mistral.",
        "ai21.",
        "deepseek.",
        "qwen.",
        "openai.",
    ];
    let unprefixed = match model.split_once('.') {
        Some((region, rest))
            if ["us", "eu", "apac", "jp", "au", "global", "us-gov"].contains(&region) =>
        {
            rest
        }
        _ => model,
    };
    VENDORS.iter().any(|v| unprefixed.starts_with(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ModelRef {
        ModelRef::parse(s, None).unwrap()
    }

    #[test]
    fn prefixed_strings_split_at_the_first_slash() {
        assert_eq!(
            parse("openrouter/anthropic/claude-3.5-sonnet").model,
            "anthropic/claude-3.5-sonnet"
        );
        assert_eq!(
            parse("openrouter/anthropic/claude-3.5-sonnet").provider,
            Provider::OpenRouter
        );
        assert_eq!(parse("huggingface/meta-llama/X").model, "meta-llama/X");
        assert_eq!(
            parse("together_ai/meta-llama/Llama-3").provider,
            Provider::TogetherAi
        );
        assert_eq!(parse("openai/my-local-model").provider, Provider::OpenAi);
    }

    #[test]
    fn bare_names_resolve_like_litellm() {
        assert_eq!(parse("gpt-4o").provider, Provider::OpenAi);
        assert_eq!(parse("o3-mini").provider, Provider::OpenAi);
        assert_eq!(parse("text-embedding-3-small").provider, Provider::OpenAi);
        assert_eq!(parse("claude-opus-9-1").provider, Provider::Anthropic);
        assert_eq!(parse("gemini-2.5-flash").provider, Provider::VertexAi);
        assert_eq!(
            parse("us.anthropic.claude-3-5-sonnet-20240620-v1:0").provider,
            Provider::Bedrock
        );
        assert_eq!(
            parse("gpt-3.5-turbo-instruct").provider,
            Provider::TextCompletionOpenAi
        );
    }

    #[test]
    fn unknown_bare_names_are_an_error_naming_the_model() {
        let err = ModelRef::parse("llama3", None).unwrap_err();
        assert!(err.to_string().contains("You passed model=llama3"), "{err}");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn custom_llm_provider_rewrites_the_prefix() {
        let m = ModelRef::parse("foo", Some("openai")).unwrap();
        assert_eq!(m.canonical(), "openai/foo");
        let m = ModelRef::parse("groq/llama3", Some("groq")).unwrap();
        assert_eq!(m.model, "llama3");
    }

    #[test]
    fn every_provider_round_trips_its_prefix() {
        for p in Provider::ALL {
            assert_eq!(Provider::from_prefix(p.as_str()), Some(*p));
        }
    }
}
