//! A call's cost from its usage: each kind of token at its own rate, exactly once.

use std::time::Duration;

use serde_json::Value;
use tollgate_core::Usage;

use crate::error::CostError;
use crate::money::Usd;
use crate::price::ModelPrice;

/// A call's cost, split the way LiteLLM's `cost_breakdown` and invoices split it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Prompt tokens neither read from nor written to a cache.
    pub input: Usd,
    /// Prompt tokens read from the provider's cache.
    pub cache_read: Usd,
    /// Prompt tokens written to the provider's cache (5-minute and 1-hour writes).
    pub cache_write: Usd,
    /// Visible completion tokens.
    pub output: Usd,
    /// Reasoning (thinking) tokens.
    pub reasoning: Usd,
    /// Audio prompt and completion tokens.
    pub audio: Usd,
    /// Charges by time, query, character and image.
    pub other: Usd,
}

impl Cost {
    /// Everything together.
    pub fn total(&self) -> Usd {
        self.input
            + self.cache_read
            + self.cache_write
            + self.output
            + self.reasoning
            + self.audio
            + self.other
    }
}

/// What a call used beyond its token counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metering<'a> {
    pub usage: Option<&'a Usage>,
    /// Call time or audio length, for per-second prices.
    pub duration: Option<Duration>,
    /// Searches (Cohere rerank's `search_units`), for per-query prices.
    pub queries: u64,
    /// Characters of input text (speech), for per-character prices.
    pub characters: u64,
    /// Images generated, for per-image and per-pixel prices.
    pub images: u64,
    /// Pixels of each generated image (width × height), for per-pixel prices.
    pub pixels_per_image: u64,
}

/// Token counts of one call, each token in exactly one bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenSplit {
    /// All prompt tokens (what selects a long-prompt tier).
    pub prompt: u64,
    pub plain_input: u64,
    pub cache_read: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub visible_output: u64,
    pub reasoning: u64,
    /// Audio prompt tokens (not in `plain_input`).
    pub audio_input: u64,
    /// Audio completion tokens (not in `visible_output`).
    pub audio_output: u64,
}

impl TokenSplit {
    /// Splits OpenAI-shaped usage as Tollgate's providers report it: `prompt_tokens` includes
    /// cache reads (`prompt_tokens_details.cached_tokens`, or DeepSeek's
    /// `prompt_cache_hit_tokens`) and cache writes (`cache_creation_input_tokens`, with
    /// Anthropic's `cache_creation.ephemeral_1h_input_tokens` share); `completion_tokens`
    /// includes reasoning tokens, except at providers (xAI) whose `total_tokens` shows them
    /// counted on top. Audio tokens, part of the prompt and completion counts, are split out.
    pub fn of(usage: &Usage) -> Self {
        let top = |k: &str| usage.extra.get(k).and_then(Value::as_u64).unwrap_or(0);
        let cache_read = match usage.cached_tokens() {
            0 => top("prompt_cache_hit_tokens"),
            n => n,
        };
        let cache_write = top("cache_creation_input_tokens");
        let write_1h = usage
            .extra
            .get("cache_creation")
            .and_then(|c| c.get("ephemeral_1h_input_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(cache_write);
        let prompt = usage.prompt_tokens;
        let audio_input = usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.audio_tokens)
            .unwrap_or(0);
        let audio_output = usage
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.audio_tokens)
            .unwrap_or(0);
        let plain_input = prompt
            .saturating_sub(cache_read)
            .saturating_sub(cache_write);
        let audio_input = audio_input.min(plain_input);
        let plain_input = plain_input - audio_input;
        let reasoning = usage.reasoning_tokens();
        let completion = usage.completion_tokens;
        let counted_on_top = reasoning > 0
            && usage.total_tokens == prompt.saturating_add(completion).saturating_add(reasoning);
        let visible_output = if counted_on_top {
            completion
        } else {
            completion.saturating_sub(reasoning)
        };
        let reasoning = if counted_on_top {
            reasoning
        } else {
            reasoning.min(completion)
        };
        let audio_output = audio_output.min(visible_output);
        let visible_output = visible_output - audio_output;
        TokenSplit {
            prompt,
            plain_input,
            cache_read,
            cache_write_5m: cache_write - write_1h,
            cache_write_1h: write_1h,
            visible_output,
            reasoning,
            audio_input,
            audio_output,
        }
    }
}

impl ModelPrice {
    /// The cost of a call that used `usage`.
    pub fn cost(&self, usage: &Usage) -> Result<Cost, CostError> {
        self.cost_metered(&Metering {
            usage: Some(usage),
            ..Metering::default()
        })
    }

    /// The cost of a call: tokens (long-prompt tier rates when the prompt is past a tier's
    /// threshold), seconds, queries, characters and images. A cache or reasoning rate the
    /// entry lacks falls back to the input or output rate, as the provider then bills them.
    /// Time is priced at `input_cost_per_second`, else `output_cost_per_second` (LiteLLM's
    /// cost map gives transcription models both, for one charge). Generated images are priced
    /// per image, else per pixel, and then their tokens are not charged again; an entry with
    /// neither (gpt-image-1) prices the tokens the provider reports.
    pub fn cost_metered(&self, m: &Metering<'_>) -> Result<Cost, CostError> {
        let times = |rate: Option<Usd>, n: u64| -> Result<Usd, CostError> {
            match rate {
                None => Ok(Usd::ZERO),
                Some(r) => r.checked_mul(n).ok_or(CostError::Overflow),
            }
        };
        let image_charge = match (m.images, self.per_image, self.per_pixel) {
            (0, _, _) => None,
            (n, Some(rate), _) => Some(times(Some(rate), n)?),
            (n, None, Some(rate)) if m.pixels_per_image > 0 => Some(times(
                Some(rate),
                n.checked_mul(m.pixels_per_image)
                    .ok_or(CostError::Overflow)?,
            )?),
            _ => None,
        };
        let split = match image_charge {
            Some(_) => TokenSplit::default(),
            None => m.usage.map(TokenSplit::of).unwrap_or_default(),
        };
        let tier = self
            .tiers
            .iter()
            .rev()
            .find(|t| split.prompt > t.above_tokens);
        let pick = |tiered: Option<Usd>, base: Option<Usd>| tiered.or(base);
        let input = pick(tier.and_then(|t| t.input), self.input);
        let output = pick(tier.and_then(|t| t.output), self.output);
        let cache_read = pick(tier.and_then(|t| t.cache_read), self.cache_read).or(input);
        let cache_write = pick(tier.and_then(|t| t.cache_write), self.cache_write).or(input);
        let cache_write_1h = self.cache_write_1h.or(cache_write);
        let reasoning = pick(tier.and_then(|t| t.reasoning), self.reasoning).or(output);
        let audio_input = self.audio_input.or(input);
        let audio_output = self.audio_output.or(output);

        let per_time = |rate: Option<Usd>| -> Result<Usd, CostError> {
            match (rate, m.duration) {
                (Some(r), Some(d)) => r.checked_mul_duration(d).ok_or(CostError::Overflow),
                _ => Ok(Usd::ZERO),
            }
        };
        let sum = |parts: &[Usd]| -> Result<Usd, CostError> {
            parts
                .iter()
                .try_fold(Usd::ZERO, |acc, p| acc.checked_add(*p))
                .ok_or(CostError::Overflow)
        };
        let cost = Cost {
            input: times(input, split.plain_input)?,
            cache_read: times(cache_read, split.cache_read)?,
            cache_write: sum(&[
                times(cache_write, split.cache_write_5m)?,
                times(cache_write_1h, split.cache_write_1h)?,
            ])?,
            output: times(output, split.visible_output)?,
            reasoning: times(reasoning, split.reasoning)?,
            audio: sum(&[
                times(audio_input, split.audio_input)?,
                times(audio_output, split.audio_output)?,
            ])?,
            other: sum(&[
                per_time(self.input_per_second.or(self.output_per_second))?,
                times(self.per_query, m.queries)?,
                times(self.input_per_character, m.characters)?,
                image_charge.unwrap_or(Usd::ZERO),
            ])?,
        };
        sum(&[
            cost.input,
            cost.cache_read,
            cost.cache_write,
            cost.output,
            cost.reasoning,
            cost.audio,
            cost.other,
        ])?;
        Ok(cost)
    }
}
