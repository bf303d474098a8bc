#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Costs of real usage shapes (the `usage` objects below are those of the recorded provider
//! payloads in ../shared/fixtures, as Tollgate's providers turn them into OpenAI usage), for
//! every provider family; lookups by LiteLLM's key conventions; overrides; price files.

use std::time::Duration;

use serde_json::{Value, json};
use tollgate_core::Usage;
use tollgate_pricing::{
    CostError, Metering, PriceError, PriceOverrides, PriceTable, TokenSplit, Usd,
};

fn usage(v: Value) -> Usage {
    serde_json::from_value(v).unwrap()
}

fn usd(s: &str) -> Usd {
    Usd::parse(s).unwrap()
}

fn total(table: &PriceTable, model: &str, u: &Usage) -> String {
    table.cost(model, u).unwrap().total().to_string()
}

#[test]
fn every_provider_family_resolves_to_its_entry() {
    let t = PriceTable::builtin();
    let cases = [
        ("openai/gpt-4o", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18"),
        ("openai/gpt-4o-mini-2099-01-01", "gpt-4o-mini"),
        ("openai/gpt-4.1-nano", "gpt-4.1-nano"),
        ("openai/o3-mini", "o3-mini"),
        ("o4-mini", "o4-mini"),
        ("o1", "o1"),
        ("openai/gpt-5-nano-2025-08-07", "gpt-5-nano-2025-08-07"),
        ("openai/text-embedding-3-small", "text-embedding-3-small"),
        (
            "anthropic/claude-3-5-sonnet-20241022",
            "claude-3-5-sonnet-20241022",
        ),
        (
            "anthropic/claude-3-haiku-20240307",
            "claude-3-haiku-20240307",
        ),
        (
            "anthropic/claude-3-7-sonnet-20250219",
            "claude-3-7-sonnet-20250219",
        ),
        ("claude-opus-4-1-20250805", "claude-opus-4-1-20250805"),
        ("anthropic/claude-sonnet-4-5-20991231", "claude-sonnet-4-5"),
        ("anthropic/claude-haiku-4-5", "claude-haiku-4-5"),
        ("gemini/gemini-2.5-pro", "gemini/gemini-2.5-pro"),
        ("vertex_ai/gemini-2.5-flash", "gemini-2.5-flash"),
        ("vertex_ai/gemini-1.5-pro-002", "gemini-1.5-pro"),
        ("gemini/gemini-2.0-flash-001", "gemini/gemini-2.0-flash-001"),
        (
            "vertex_ai/claude-3-5-sonnet-v2@20241022",
            "vertex_ai/claude-3-5-sonnet-v2",
        ),
        (
            "vertex_ai/claude-sonnet-4-5@20250929",
            "vertex_ai/claude-sonnet-4-5",
        ),
        (
            "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
        ),
        (
            "bedrock/converse/eu.anthropic.claude-haiku-4-5-20251001-v1:0",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
        ),
        ("bedrock/apac.amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
        (
            "bedrock/amazon.titan-embed-text-v2:0",
            "amazon.titan-embed-text-v2:0",
        ),
        ("bedrock/cohere.embed-english-v3", "cohere.embed-english-v3"),
        (
            "bedrock/meta.llama3-3-70b-instruct-v1:0",
            "meta.llama3-3-70b-instruct-v1:0",
        ),
        (
            "bedrock/mistral.mistral-large-2407-v1:0",
            "mistral.mistral-large-2407-v1:0",
        ),
        ("azure/gpt-4o", "azure/gpt-4o"),
        ("azure/gpt-5-nano-2025-08-07", "azure/gpt-5-nano-2025-08-07"),
        ("cohere/command-r-plus", "command-r-plus"),
        ("cohere_chat/command-a-03-2025", "command-a-03-2025"),
        ("cohere/embed-v4.0", "embed-v4.0"),
        ("cohere/rerank-v3.5", "rerank-v3.5"),
        (
            "groq/llama-3.3-70b-versatile",
            "groq/llama-3.3-70b-versatile",
        ),
        (
            "groq/meta-llama/llama-4-scout-17b-16e-instruct",
            "groq/meta-llama/llama-4-scout-17b-16e-instruct",
        ),
        (
            "mistral/mistral-large-latest",
            "mistral/mistral-large-latest",
        ),
        ("mistral/mistral-embed", "mistral/mistral-embed"),
        ("deepseek/deepseek-chat", "deepseek/deepseek-chat"),
        ("deepseek/deepseek-reasoner", "deepseek/deepseek-reasoner"),
        ("xai/grok-4", "xai/grok-4"),
        ("xai/grok-3-mini", "xai/grok-3-mini"),
        (
            "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
            "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ),
        (
            "together_ai/meta-llama/llama-3.3-70b-instruct-turbo",
            "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        ),
        (
            "fireworks_ai/accounts/fireworks/models/deepseek-r1",
            "fireworks_ai/accounts/fireworks/models/deepseek-r1",
        ),
        ("ollama/llama3.1", "ollama/*"),
        ("ollama_chat/qwen3:0.6b", "ollama_chat/*"),
    ];
    for (model, key) in cases {
        let found = t.lookup(model).map(|(k, _)| k);
        assert_eq!(found, Some(key), "{model}");
    }
    for unknown in ["hosted_vllm/my-model", "gpt-99", "azure/my-deployment", ""] {
        assert!(t.lookup(unknown).is_none(), "{unknown}");
    }
}

#[test]
fn context_windows_come_with_the_prices() {
    let t = PriceTable::builtin();
    assert_eq!(t.context_window("gpt-4.1"), Some(1_047_576));
    assert_eq!(t.context_window("openai/gpt-4o"), Some(128_000));
    assert_eq!(
        t.context_window("bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0"),
        Some(200_000)
    );
    assert_eq!(t.context_window("gemini/gemini-1.5-pro"), Some(2_097_152));
    assert_eq!(t.get("gpt-4o").unwrap().max_output_tokens, Some(16_384));
    assert_eq!(t.context_window("nope/nothing"), None);
}

#[test]
fn every_builtin_chat_and_embedding_entry_has_rates_and_a_window() {
    let t = PriceTable::builtin();
    assert!(t.len() > 250, "{}", t.len());
    let raw: serde_json::Map<String, Value> =
        serde_json::from_str(include_str!("../data/prices.json")).unwrap();
    assert_eq!(raw.len(), t.len(), "every built-in entry reads");
    assert_eq!(PriceTable::shared_builtin().len(), t.len());
    for key in raw.keys() {
        let p = t.entry(key).unwrap();
        assert!(p.litellm_provider.is_some() && p.mode.is_some(), "{key}");
        // Image, transcription and speech models are priced by their own units.
        if matches!(
            p.mode.as_deref(),
            Some("image_generation" | "audio_transcription" | "audio_speech")
        ) {
            assert!(p.has_rates(), "{key}");
            continue;
        }
        assert!(p.input.is_some() && p.output.is_some(), "{key}");
        if !key.ends_with("/*") {
            assert!(p.context_window().is_some(), "{key}");
        }
    }
}

#[test]
fn images_audio_and_speech_are_priced_by_their_units() {
    let t = PriceTable::builtin();
    // DALL·E 3 by size and quality (standard when none is given), per image.
    let key = t
        .image_key("openai/dall-e-3", "1024x1792", Some("hd"))
        .unwrap();
    assert_eq!(key, "hd/1024-x-1792/dall-e-3");
    let images = |key: &str, n: u64| {
        t.cost_metered(
            key,
            &Metering {
                images: n,
                pixels_per_image: 1024 * 1792,
                ..Metering::default()
            },
        )
        .unwrap()
        .total()
    };
    assert_eq!(images(key, 3), usd("0.36"));
    let standard = t.image_key("dall-e-3", "1024-x-1024", None).unwrap();
    assert_eq!(images(standard, 1), usd("0.04"));
    assert_eq!(
        t.image_key("dall-e-2", "256x256", None),
        Some("256-x-256/dall-e-2")
    );
    assert_eq!(t.image_key("dall-e-3", "7x7", None), None);
    assert_eq!(t.image_key("dall-e-3", "large", None), None);
    // A per-image price wins over reported tokens; without one, tokens are priced.
    let u = Usage::new(1000, 1000);
    let c = t
        .cost_metered(
            standard,
            &Metering {
                usage: Some(&u),
                images: 1,
                ..Metering::default()
            },
        )
        .unwrap();
    assert_eq!(c.total(), usd("0.04"));
    // Per pixel (a deployment's own `input_cost_per_pixel` + `output_cost_per_pixel`).
    let mut o = PriceOverrides::default();
    o.set("input_cost_per_pixel", 1e-8);
    o.set("output_cost_per_pixel", 1e-8);
    let p = t
        .deployment_price("openai/my-image-model", None, &o)
        .unwrap();
    let c = p
        .cost_metered(&Metering {
            images: 2,
            pixels_per_image: 512 * 512,
            ..Metering::default()
        })
        .unwrap();
    assert_eq!(c.total(), usd("0.01048576"));
    // Whisper: one rate per second although the entry lists input and output rates.
    let c = t
        .cost_metered(
            "whisper-1",
            &Metering {
                duration: Some(Duration::from_millis(1500)),
                ..Metering::default()
            },
        )
        .unwrap();
    assert_eq!(c.total(), usd("0.00015"));
    // Speech: per input character.
    let c = t
        .cost_metered(
            "openai/tts-1-hd",
            &Metering {
                characters: 1000,
                ..Metering::default()
            },
        )
        .unwrap();
    assert_eq!(c.total(), usd("0.03"));
}

/// openai/chat_reasoning.json: gpt-5-nano, 192 of 267 completion tokens are reasoning.
#[test]
fn openai_reasoning_tokens_are_output_tokens_priced_once() {
    let u = usage(
        json!({"completion_tokens": 267, "completion_tokens_details": {"accepted_prediction_tokens": 0,
        "audio_tokens": 0, "reasoning_tokens": 192, "rejected_prediction_tokens": 0}, "prompt_tokens": 27,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0}, "total_tokens": 294}),
    );
    let c = PriceTable::builtin()
        .cost("openai/gpt-5-nano-2025-08-07", &u)
        .unwrap();
    // 27 × $0.05/M + 267 × $0.40/M
    assert_eq!(c.total(), usd("0.00010815"));
    assert_eq!(c.output, usd("0.00003"));
    assert_eq!(c.reasoning, usd("0.0000768"));
}

#[test]
fn openai_cached_prompt_tokens_are_not_also_priced_as_input() {
    let u = usage(
        json!({"prompt_tokens": 10000, "completion_tokens": 100, "total_tokens": 10100,
        "prompt_tokens_details": {"cached_tokens": 8000}}),
    );
    let c = PriceTable::builtin().cost("gpt-4o", &u).unwrap();
    assert_eq!(c.input, usd("0.005")); // 2000 × $2.50/M
    assert_eq!(c.cache_read, usd("0.01")); // 8000 × $1.25/M
    assert_eq!(c.output, usd("0.001"));
    assert_eq!(c.total(), usd("0.016"));
}

/// openai/embeddings_float.json
#[test]
fn embeddings_cost_their_input_tokens() {
    let u = usage(json!({"prompt_tokens": 7, "total_tokens": 7}));
    assert_eq!(
        total(&PriceTable::builtin(), "text-embedding-3-small", &u),
        "0.00000014"
    );
    let u = usage(json!({"prompt_tokens": 1000, "total_tokens": 1000}));
    assert_eq!(
        total(
            &PriceTable::builtin(),
            "bedrock/amazon.titan-embed-text-v2:0",
            &u
        ),
        "0.00002"
    );
}

/// openai_compat/xai/chat_completion.json: xAI counts reasoning on top of completion_tokens,
/// and states its own price in `cost_in_usd_ticks` (10⁻¹⁰ USD).
#[test]
fn xai_reasoning_on_top_of_completion_matches_xais_own_bill() {
    let u = usage(
        json!({"prompt_tokens": 12, "completion_tokens": 1, "total_tokens": 241,
        "prompt_tokens_details": {"text_tokens": 12, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 2},
        "completion_tokens_details": {"reasoning_tokens": 228, "audio_tokens": 0,
        "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        "num_sources_used": 0, "cost_in_usd_ticks": 1176500}),
    );
    let split = TokenSplit::of(&u);
    assert_eq!((split.visible_output, split.reasoning), (1, 228));
    let c = PriceTable::builtin().cost("xai/grok-3-mini", &u).unwrap();
    let ticks = u.extra["cost_in_usd_ticks"].as_u64().unwrap();
    assert_eq!(c.total(), Usd::from_atto(u128::from(ticks) * 100_000_000));
}

/// openai_compat/deepseek/chat_stream_cache_usage.sse (final usage chunk).
#[test]
fn deepseek_cache_hits_are_priced_at_the_hit_rate() {
    let t = PriceTable::builtin();
    let u = usage(
        json!({"completion_tokens": 2, "prompt_cache_hit_tokens": 896, "prompt_cache_miss_tokens": 4,
        "prompt_tokens": 900, "prompt_tokens_details": {"cached_tokens": 896}, "total_tokens": 902}),
    );
    // 4 × $0.28/M + 896 × $0.028/M + 2 × $0.42/M
    assert_eq!(total(&t, "deepseek/deepseek-chat", &u), "0.000027048");
    // Older responses carry only DeepSeek's own field.
    let u = usage(
        json!({"completion_tokens": 2, "prompt_cache_hit_tokens": 896,
        "prompt_cache_miss_tokens": 4, "prompt_tokens": 900, "total_tokens": 902}),
    );
    assert_eq!(total(&t, "deepseek/deepseek-chat", &u), "0.000027048");
}

/// bedrock/invoke_anthropic.json (Claude Haiku 4.5 through an EU inference profile): prompt
/// = input 3 + cache read 9511 + cache write 1956, as the Anthropic and Bedrock providers
/// report it.
#[test]
fn anthropic_cache_reads_and_writes_each_at_their_rate() {
    let u = usage(
        json!({"prompt_tokens": 11470, "completion_tokens": 44, "total_tokens": 11514,
        "prompt_tokens_details": {"cached_tokens": 9511},
        "cache_creation_input_tokens": 1956, "cache_read_input_tokens": 9511,
        "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 1956}}),
    );
    let c = PriceTable::builtin()
        .cost("bedrock/eu.anthropic.claude-haiku-4-5-20251001-v1:0", &u)
        .unwrap();
    assert_eq!(c.input, usd("0.000003")); // 3 × $1/M
    assert_eq!(c.cache_write, usd("0.002445")); // 1956 × $1.25/M
    assert_eq!(c.cache_read, usd("0.0009511")); // 9511 × $0.10/M
    assert_eq!(c.output, usd("0.00022")); // 44 × $5/M
    assert_eq!(c.total(), usd("0.0036191"));
    let same = PriceTable::builtin()
        .cost("anthropic/claude-haiku-4-5-20251001", &u)
        .unwrap();
    assert_eq!(same, c);
}

#[test]
fn one_hour_cache_writes_use_the_one_hour_rate() {
    let u = usage(
        json!({"prompt_tokens": 2010, "completion_tokens": 0, "total_tokens": 2010,
        "prompt_tokens_details": {"cached_tokens": 0},
        "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_1h_input_tokens": 1500, "ephemeral_5m_input_tokens": 500}}),
    );
    let c = PriceTable::builtin()
        .cost("anthropic/claude-sonnet-4-5-20250929", &u)
        .unwrap();
    // 500 × $3.75/M + 1500 × $6/M; 10 plain input tokens × $3/M
    assert_eq!(c.cache_write, usd("0.010875"));
    assert_eq!(c.input, usd("0.00003"));
}

/// bedrock/converse_cache_usage.json (Claude Sonnet 4.5 through a US inference profile).
#[test]
fn bedrock_converse_cache_usage() {
    let u = usage(
        json!({"prompt_tokens": 1324, "completion_tokens": 5, "total_tokens": 1329,
        "prompt_tokens_details": {"cached_tokens": 1322},
        "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1322}),
    );
    assert_eq!(
        total(
            &PriceTable::builtin(),
            "bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            &u
        ),
        "0.0004776"
    );
}

/// gemini/thinking_hidden.json: Gemini 2.5 Pro, 275 thought tokens inside completion_tokens.
#[test]
fn gemini_thoughts_are_billed_as_output() {
    let u = usage(
        json!({"prompt_tokens": 15, "completion_tokens": 283, "total_tokens": 298,
        "completion_tokens_details": {"reasoning_tokens": 275}}),
    );
    let t = PriceTable::builtin();
    // 15 × $1.25/M + 283 × $10/M
    assert_eq!(total(&t, "gemini/gemini-2.5-pro", &u), "0.00284875");
    assert_eq!(total(&t, "vertex_ai/gemini-2.5-pro", &u), "0.00284875");
}

#[test]
fn a_reasoning_rate_prices_reasoning_apart_from_visible_output() {
    let u = usage(
        json!({"prompt_tokens": 100, "completion_tokens": 300, "total_tokens": 400,
        "completion_tokens_details": {"reasoning_tokens": 200}}),
    );
    let c = PriceTable::builtin()
        .cost("gemini/gemini-2.5-flash-preview-04-17", &u)
        .unwrap();
    assert_eq!(c.output, usd("0.00006")); // 100 × $0.60/M
    assert_eq!(c.reasoning, usd("0.0007")); // 200 × $3.50/M
    assert_eq!(c.total(), usd("0.000775"));
}

#[test]
fn long_prompts_switch_to_the_tier_rates() {
    let t = PriceTable::builtin();
    let long = usage(
        json!({"prompt_tokens": 250_000, "completion_tokens": 1000, "total_tokens": 251_000,
        "prompt_tokens_details": {"cached_tokens": 50_000}}),
    );
    let c = t.cost("gemini/gemini-2.5-pro", &long).unwrap();
    assert_eq!(c.input, usd("0.5")); // 200k × $2.50/M
    assert_eq!(c.cache_read, usd("0.0125")); // 50k × $0.25/M
    assert_eq!(c.output, usd("0.015")); // 1000 × $15/M
    // At the threshold itself the base rates hold.
    let edge = usage(
        json!({"prompt_tokens": 200_000, "completion_tokens": 1000, "total_tokens": 201_000}),
    );
    assert_eq!(total(&t, "gemini/gemini-2.5-pro", &edge), "0.26");
    let c = t.cost("anthropic/claude-sonnet-4-20250514", &long).unwrap();
    assert_eq!(c.input, usd("1.2")); // 200k × $6/M
    assert_eq!(c.cache_read, usd("0.03")); // 50k × $0.60/M
    assert_eq!(c.output, usd("0.0225"));
    // Gemini 1.5's tier starts at 128k.
    let mid =
        usage(json!({"prompt_tokens": 150_000, "completion_tokens": 0, "total_tokens": 150_000}));
    assert_eq!(total(&t, "gemini/gemini-1.5-flash", &mid), "0.0225");
}

/// mistral/chat.json, azure/chat_completion.json, ollama/openai_compat_chat.json.
#[test]
fn plain_chat_usage_across_providers() {
    let t = PriceTable::builtin();
    let mistral = usage(json!({"completion_tokens": 3, "prompt_tokens": 21,
        "prompt_tokens_details": {"cached_tokens": 0}, "service_tier": "standard", "total_tokens": 24}));
    assert_eq!(
        total(&t, "mistral/mistral-small-latest", &mistral),
        "0.000003"
    );
    let azure = usage(
        json!({"completion_tokens": 9, "prompt_tokens": 14, "total_tokens": 23,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0}}),
    );
    assert_eq!(total(&t, "azure/gpt-4o-2024-11-20", &azure), "0.000125");
    let ollama = usage(json!({"completion_tokens": 15, "prompt_tokens": 136, "total_tokens": 151}));
    assert_eq!(total(&t, "ollama/qwen3:0.6b", &ollama), "0");
    let groq = usage(
        json!({"completion_tokens": 1_000_000, "prompt_tokens": 1_000_000, "total_tokens": 2_000_000}),
    );
    assert_eq!(total(&t, "groq/llama-3.3-70b-versatile", &groq), "1.38");
    assert_eq!(total(&t, "cohere/command-r", &groq), "0.75");
    assert_eq!(total(&t, "bedrock/amazon.nova-micro-v1:0", &groq), "0.175");
}

#[test]
fn rerank_is_priced_per_search() {
    let c = PriceTable::builtin()
        .cost_metered(
            "cohere/rerank-v3.5",
            &Metering {
                queries: 3,
                ..Metering::default()
            },
        )
        .unwrap();
    assert_eq!(c.total(), usd("0.006"));
}

#[test]
fn an_unknown_model_is_an_error_not_a_zero() {
    let err = PriceTable::builtin()
        .cost("hosted_vllm/my-model", &Usage::new(10, 10))
        .unwrap_err();
    assert_eq!(
        err,
        CostError::UnknownModel {
            model: "hosted_vllm/my-model".into()
        }
    );
    assert!(err.to_string().contains("model=hosted_vllm/my-model"));
}

#[test]
fn a_million_additions_do_not_drift() {
    let t = PriceTable::builtin();
    let one = t.cost("gpt-4o-mini", &Usage::new(1, 1)).unwrap().total();
    assert_eq!(one, usd("0.00000075"));
    let mut sum = Usd::ZERO;
    for _ in 0..1_000_000 {
        sum += one;
    }
    assert_eq!(sum.to_string(), "0.75");
    assert_eq!(sum, one.checked_mul(1_000_000).unwrap());
}

#[test]
fn deployment_prices_override_the_table_field_by_field() {
    let t = PriceTable::builtin();
    let params = json!({"input_cost_per_token": 0.000001, "temperature": 0.2,
        "output_cost_per_reasoning_token": "0.00002"});
    let Value::Object(params) = params else {
        unreachable!()
    };
    let o = PriceOverrides::from_maps([&params]);
    let p = t.deployment_price("openai/gpt-4o", None, &o).unwrap();
    assert_eq!(p.input, Some(usd("0.000001")));
    assert_eq!(
        p.output,
        Some(usd("0.00001")),
        "unset fields keep the table's"
    );
    assert_eq!(p.reasoning, Some(usd("0.00002")));
    assert!(!p.fields().contains_key("temperature"));

    // Azure deployment with a custom name: priced through base_model.
    let u = Usage::new(1000, 1000);
    let p = t
        .deployment_price(
            "azure/prod-gpt4o",
            Some("azure/gpt-4o"),
            &PriceOverrides::default(),
        )
        .unwrap();
    assert_eq!(p.cost(&u).unwrap().total(), usd("0.0125"));
    assert_eq!(p.context_window(), Some(128_000));

    // A model the table lacks: its own prices are enough.
    let mut own = PriceOverrides::default();
    own.set("input_cost_per_token", 2e-7);
    own.set("output_cost_per_token", 4e-7);
    let p = t.deployment_price("hosted_vllm/llama", None, &own).unwrap();
    assert_eq!(p.cost(&u).unwrap().total(), usd("0.0006"));

    // model_info's context sizes ride along; litellm_params' max_tokens (a request default)
    // does not.
    let info = json!({"max_input_tokens": 4096, "base_model": "gpt-4o"});
    let lp = json!({"max_tokens": 100});
    let (Value::Object(info), Value::Object(lp)) = (info, lp) else {
        unreachable!()
    };
    let o = PriceOverrides::from_maps([&info, &lp]);
    let p = t.deployment_price("openai/gpt-4o", None, &o).unwrap();
    assert_eq!(p.context_window(), Some(4096));
    assert_eq!(p.max_tokens, Some(16_384));

    // Neither table nor deployment knows it.
    assert!(matches!(
        t.deployment_price("azure/mystery", None, &PriceOverrides::default()),
        Err(CostError::UnknownModel { .. })
    ));
    let bad = json!({"input_cost_per_token": "free"});
    let Value::Object(bad) = bad else {
        unreachable!()
    };
    assert!(matches!(
        t.deployment_price("openai/gpt-4o", None, &PriceOverrides::from_maps([&bad])),
        Err(CostError::InvalidOverride(_))
    ));
}

#[test]
fn per_second_deployments_are_priced_by_call_time() {
    let mut o = PriceOverrides::default();
    o.set("input_cost_per_second", 0.0002);
    let p = PriceTable::builtin()
        .deployment_price("sagemaker/my-endpoint", None, &o)
        .unwrap();
    let c = p
        .cost_metered(&Metering {
            duration: Some(Duration::from_millis(2500)),
            ..Metering::default()
        })
        .unwrap();
    assert_eq!(c.total(), usd("0.0005"));
}

fn temp_file(name: &str, body: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-pricing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn a_price_file_is_merged_over_the_builtin_table() {
    let path = temp_file(
        "prices.json",
        r#"{
          "sample_spec": {"max_tokens": "LEGACY", "input_cost_per_token": 0.0},
          "gpt-4o": {"input_cost_per_token": 2e-06},
          "my-org/custom-model": {"max_input_tokens": 32768, "input_cost_per_token": 1.5e-07,
              "output_cost_per_token": 6e-07, "litellm_provider": "hosted_vllm", "mode": "chat",
              "supports_function_calling": true}
        }"#,
    );
    let t = PriceTable::load(&path).unwrap();
    let g = t.get("gpt-4o").unwrap();
    assert_eq!(g.input, Some(usd("0.000002")));
    assert_eq!(
        g.output,
        Some(usd("0.00001")),
        "built-in fields the file lacks stay"
    );
    assert_eq!(g.cache_read, Some(usd("0.00000125")));
    assert!(
        t.get("hosted_vllm/my-org/custom-model").is_some(),
        "found under the provider prefix too"
    );
    let c = t.get("my-org/custom-model").unwrap();
    assert_eq!(c.context_window(), Some(32768));
    assert_eq!(c.fields()["supports_function_calling"], true);
    assert_eq!(
        c.cost(&Usage::new(1_000_000, 1_000_000)).unwrap().total(),
        usd("0.75")
    );
    assert!(
        t.get("claude-3-5-sonnet-20241022").is_some(),
        "built-ins kept"
    );
}

#[test]
fn a_bad_price_file_says_what_is_wrong_and_where() {
    let missing = std::env::temp_dir().join("tollgate-pricing-no-such-file.json");
    assert!(matches!(
        PriceTable::load(&missing),
        Err(PriceError::Read { .. })
    ));
    let path = temp_file("broken.json", "{\"gpt-4o\": ");
    assert!(matches!(
        PriceTable::load(&path),
        Err(PriceError::Parse { .. })
    ));
    let path = temp_file("list.json", "[1, 2]");
    assert!(matches!(
        PriceTable::load(&path),
        Err(PriceError::NotAnObject { .. })
    ));
    let path = temp_file("field.json", r#"{"m": {"output_cost_per_token": -1e-6}}"#);
    let err = PriceTable::load(&path).unwrap_err().to_string();
    assert!(err.contains("field.json"), "{err}");
    assert!(err.contains("output_cost_per_token"), "{err}");
}

#[test]
fn the_configured_price_file_is_loaded() {
    let path = temp_file(
        "configured.json",
        r#"{"acme/model": {"input_cost_per_token": 1e-6}}"#,
    );
    let env = tollgate_core::Env::with_overlay(Default::default());
    let t = PriceTable::from_settings(
        Some(path.file_name().unwrap().to_str().unwrap()),
        &env,
        path.parent().unwrap(),
    )
    .unwrap();
    assert!(t.get("acme/model").is_some());
    assert!(t.get("gpt-4o").is_some());
}

#[test]
fn audio_tokens_are_priced_at_the_audio_rates() {
    let u = usage(
        json!({"prompt_tokens": 1100, "completion_tokens": 600, "total_tokens": 1700,
        "prompt_tokens_details": {"audio_tokens": 1000, "cached_tokens": 0},
        "completion_tokens_details": {"audio_tokens": 500, "reasoning_tokens": 0}}),
    );
    let t = PriceTable::builtin();
    let c = t.cost("openai/gpt-4o-audio-preview", &u).unwrap();
    assert_eq!(c.input, usd("0.00025")); // 100 text × $2.50/M
    assert_eq!(c.output, usd("0.001")); // 100 text × $10/M
    assert_eq!(c.audio, usd("0.08")); // 1000 × $40/M + 500 × $80/M
    assert_eq!(c.total(), usd("0.08125"));
    // Without audio rates, audio tokens are plain input and output.
    assert_eq!(total(&t, "gpt-4o", &u), "0.00875");
}

/// openai_compat/openrouter/chat_usage.json: Grok 4 through OpenRouter, 682 of 687 prompt
/// tokens cached, reasoning inside completion_tokens.
#[test]
fn openrouter_first_party_models_are_priced_at_the_vendors_list_price() {
    let u = usage(
        json!({"completion_tokens": 240, "completion_tokens_details": {"reasoning_tokens": 165},
        "prompt_tokens": 687, "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 682},
        "total_tokens": 927}),
    );
    let t = PriceTable::builtin();
    // 5 × $3/M + 682 × $0.75/M + 240 × $15/M
    assert_eq!(total(&t, "openrouter/x-ai/grok-4", &u), "0.0041265");
    assert_eq!(
        t.lookup("openrouter/anthropic/claude-sonnet-4.5")
            .map(|(k, _)| k),
        Some("claude-sonnet-4-5")
    );
    assert_eq!(
        t.lookup("openrouter/google/gemini-2.5-flash")
            .map(|(k, _)| k),
        Some("gemini/gemini-2.5-flash")
    );
    assert_eq!(
        t.lookup("openrouter/openai/gpt-4o-mini").map(|(k, _)| k),
        Some("gpt-4o-mini")
    );
    assert!(t.lookup("openrouter/some-lab/some-model").is_none());
}
