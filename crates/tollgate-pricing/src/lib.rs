//! Tollgate's price table: what each model costs per token (input, cached read, cache write,
//! output, reasoning, long-prompt tiers) and its context window, in LiteLLM's
//! `model_prices_and_context_window.json` format, with exact integer cost arithmetic.
//!
//! ```
//! use tollgate_pricing::PriceTable;
//! use tollgate_core::Usage;
//!
//! let table = PriceTable::builtin();
//! let cost = table.cost("openai/gpt-4o-mini", &Usage::new(1_000_000, 1_000_000)).unwrap();
//! assert_eq!(cost.total().to_string(), "0.75");
//! ```

mod cost;
mod error;
mod money;
mod price;
mod table;

pub use cost::{Cost, Metering, TokenSplit};
pub use error::{CostError, PriceError};
pub use money::Usd;
pub use price::{ModelPrice, Tier};
pub use table::{PriceOverrides, PriceTable, cost_map_path, image_dimensions, is_price_key};
