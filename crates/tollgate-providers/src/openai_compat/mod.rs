//! The OpenAI-compatible family: providers that speak Chat Completions with their own base URL,
//! key variable and known deviations. They share the [`crate::openai`] translation; what differs
//! is described here, one [`Profile`] per provider.

use tollgate_core::Provider;

/// How a provider joins its base URL and the operation path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlStyle {
    /// `{base}/chat/completions` (LiteLLM's OpenAI-SDK family).
    Append,
    /// As `Append`, but a base that already contains `chat/completions` is used verbatim
    /// (LiteLLM's HTTP-handler family: groq, together_ai, xai, openrouter, hosted_vllm ...).
    AppendUnlessPresent,
    /// Mistral: `/v1` is added when the base does not end with it.
    EnsureV1,
}

/// How a provider differs from OpenAI.
#[derive(Debug)]
pub struct Profile {
    pub provider: Provider,
    /// Prefix of error messages: `{name}Exception - ...`.
    pub name: &'static str,
    /// Base URL used when neither the deployment nor the environment gives one.
    pub default_base: Option<&'static str>,
    /// Environment variables for the base URL, first set wins.
    pub base_env: &'static [&'static str],
    /// Environment variables for the API key, first set wins.
    pub key_env: &'static [&'static str],
    /// Key sent when none is configured (vLLM and LM Studio accept any key).
    pub placeholder_key: Option<&'static str>,
    pub url_style: UrlStyle,
    /// Whether the provider has an embeddings endpoint.
    pub embeddings: bool,
    /// OpenAI parameters the provider rejects: refused with a 400, or dropped with `drop_params`.
    pub unsupported_params: &'static [&'static str],
    /// Whether `n` above 1 is refused.
    pub single_choice_only: bool,
    /// Whether responses need normalising (reasoning field names, finish reasons, tool-call
    /// arguments as objects); when false, bytes are forwarded untouched but for `model`.
    pub normalize: bool,
    /// Fireworks wants `accounts/fireworks/models/<name>`.
    pub model_prefix: Option<&'static str>,
    /// Headers every call carries (OpenRouter's attribution headers).
    pub fixed_headers: &'static [(&'static str, &'static [&'static str], &'static str)],
}

const NONE: &[&str] = &[];

static PROFILES: &[Profile] = &[
    Profile {
        provider: Provider::OpenAi,
        name: "OpenAI",
        default_base: Some("https://api.openai.com/v1"),
        base_env: &["OPENAI_BASE_URL", "OPENAI_API_BASE"],
        key_env: &["OPENAI_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::Append,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: false,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::Groq,
        name: "Groq",
        default_base: Some("https://api.groq.com/openai/v1"),
        base_env: &["GROQ_API_BASE"],
        key_env: &["GROQ_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::AppendUnlessPresent,
        embeddings: false,
        unsupported_params: &["logprobs", "top_logprobs", "logit_bias"],
        single_choice_only: true,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::TogetherAi,
        name: "Together_ai",
        default_base: Some("https://api.together.ai/v1"),
        base_env: &["TOGETHER_AI_API_BASE"],
        key_env: &[
            "TOGETHER_API_KEY",
            "TOGETHER_AI_API_KEY",
            "TOGETHERAI_API_KEY",
            "TOGETHER_AI_TOKEN",
        ],
        placeholder_key: None,
        url_style: UrlStyle::AppendUnlessPresent,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::FireworksAi,
        name: "Fireworks_ai",
        default_base: Some("https://api.fireworks.ai/inference/v1"),
        base_env: &["FIREWORKS_API_BASE"],
        key_env: &[
            "FIREWORKS_API_KEY",
            "FIREWORKS_AI_API_KEY",
            "FIREWORKSAI_API_KEY",
            "FIREWORKS_AI_TOKEN",
        ],
        placeholder_key: None,
        url_style: UrlStyle::AppendUnlessPresent,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: Some("accounts/fireworks/models/"),
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::Deepseek,
        name: "Deepseek",
        default_base: Some("https://api.deepseek.com/beta"),
        base_env: &["DEEPSEEK_API_BASE"],
        key_env: &["DEEPSEEK_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::AppendUnlessPresent,
        embeddings: false,
        unsupported_params: NONE,
        single_choice_only: false,
        // DeepSeek already says `reasoning_content`, LiteLLM's name for visible reasoning.
        normalize: false,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::Perplexity,
        name: "Perplexity",
        default_base: Some("https://api.perplexity.ai"),
        base_env: &["PERPLEXITY_API_BASE"],
        key_env: &["PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::Append,
        embeddings: false,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: false,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::Xai,
        name: "Xai",
        default_base: Some("https://api.x.ai/v1"),
        base_env: &["XAI_API_BASE"],
        key_env: &["XAI_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::AppendUnlessPresent,
        embeddings: false,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: false,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::OpenRouter,
        name: "OpenRouter",
        default_base: Some("https://openrouter.ai/api/v1"),
        base_env: &["OPENROUTER_API_BASE"],
        key_env: &["OPENROUTER_API_KEY", "OR_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::AppendUnlessPresent,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[
            ("HTTP-Referer", &["OR_SITE_URL"], "https://litellm.ai"),
            ("X-Title", &["OR_APP_NAME"], "liteLLM"),
        ],
    },
    Profile {
        provider: Provider::Mistral,
        name: "Mistral",
        default_base: Some("https://api.mistral.ai/v1"),
        base_env: &["MISTRAL_AZURE_API_BASE"],
        key_env: &["MISTRAL_AZURE_API_KEY", "MISTRAL_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::EnsureV1,
        embeddings: true,
        unsupported_params: &["logit_bias", "logprobs", "top_logprobs"],
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::HostedVllm,
        name: "Hosted_vllm",
        default_base: None,
        base_env: &["HOSTED_VLLM_API_BASE"],
        key_env: &["HOSTED_VLLM_API_KEY"],
        placeholder_key: Some("fake-api-key"),
        url_style: UrlStyle::AppendUnlessPresent,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::LmStudio,
        name: "Lm_studio",
        default_base: None,
        base_env: &["LM_STUDIO_API_BASE"],
        key_env: &["LM_STUDIO_API_KEY"],
        placeholder_key: Some("fake-api-key"),
        url_style: UrlStyle::Append,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::NvidiaNim,
        name: "Nvidia_nim",
        default_base: Some("https://integrate.api.nvidia.com/v1"),
        base_env: &["NVIDIA_NIM_API_BASE"],
        key_env: &["NVIDIA_NIM_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::Append,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::HuggingFace,
        name: "Huggingface",
        default_base: Some("https://router.huggingface.co/v1"),
        base_env: &["HF_API_BASE"],
        key_env: &["HF_TOKEN", "HUGGINGFACE_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::EnsureV1,
        embeddings: false,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::Cerebras,
        name: "Cerebras",
        default_base: Some("https://api.cerebras.ai/v1"),
        base_env: &["CEREBRAS_API_BASE"],
        key_env: &["CEREBRAS_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::Append,
        embeddings: false,
        unsupported_params: &["frequency_penalty", "logit_bias"],
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
    Profile {
        provider: Provider::DeepInfra,
        name: "Deepinfra",
        default_base: Some("https://api.deepinfra.com/v1/openai"),
        base_env: &["DEEPINFRA_API_BASE"],
        key_env: &["DEEPINFRA_API_KEY"],
        placeholder_key: None,
        url_style: UrlStyle::Append,
        embeddings: true,
        unsupported_params: NONE,
        single_choice_only: false,
        normalize: true,
        model_prefix: None,
        fixed_headers: &[],
    },
];

/// The profile of an OpenAI-compatible provider, or `None` for providers with a native format.
pub fn profile(provider: Provider) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.provider == provider)
}

/// Every provider served by the OpenAI-compatible adapter.
pub fn providers() -> impl Iterator<Item = Provider> {
    PROFILES.iter().map(|p| p.provider)
}

/// Joins base and operation path the way the provider's LiteLLM client does. Trailing slashes
/// are removed first: LiteLLM sometimes sends `//chat/completions`, which some servers reject.
pub fn join_url(style: UrlStyle, base: &str, operation: &str) -> String {
    let base = base.trim_end_matches('/');
    match style {
        UrlStyle::Append => format!("{base}/{operation}"),
        UrlStyle::AppendUnlessPresent if base.contains(operation) => base.to_owned(),
        UrlStyle::AppendUnlessPresent => format!("{base}/{operation}"),
        UrlStyle::EnsureV1 if base.ends_with("/v1") => format!("{base}/{operation}"),
        UrlStyle::EnsureV1 => format!("{base}/v1/{operation}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_like_litellm() {
        assert_eq!(
            join_url(UrlStyle::Append, "http://h:8000", "chat/completions"),
            "http://h:8000/chat/completions"
        );
        assert_eq!(
            join_url(UrlStyle::Append, "http://h:8000/v1/", "chat/completions"),
            "http://h:8000/v1/chat/completions"
        );
        assert_eq!(
            join_url(
                UrlStyle::AppendUnlessPresent,
                "https://gw/x/chat/completions",
                "chat/completions"
            ),
            "https://gw/x/chat/completions"
        );
        assert_eq!(
            join_url(UrlStyle::EnsureV1, "https://gw", "chat/completions"),
            "https://gw/v1/chat/completions"
        );
        assert_eq!(
            join_url(UrlStyle::EnsureV1, "https://gw/v1", "embeddings"),
            "https://gw/v1/embeddings"
        );
    }

    #[test]
    fn every_family_member_has_a_profile() {
        for p in [
            Provider::OpenAi,
            Provider::Groq,
            Provider::TogetherAi,
            Provider::FireworksAi,
            Provider::Deepseek,
            Provider::Perplexity,
            Provider::Xai,
            Provider::OpenRouter,
            Provider::Mistral,
            Provider::HostedVllm,
            Provider::LmStudio,
            Provider::NvidiaNim,
            Provider::HuggingFace,
        ] {
            assert!(profile(p).is_some(), "{p}");
        }
        assert!(profile(Provider::Anthropic).is_none());
    }
}
