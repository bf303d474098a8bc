//! Errors of loading prices and of pricing a call.

use std::path::PathBuf;

/// A price table or a deployment's own prices could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("price entry `{model}`: field `{field}` is not a valid non-negative number")]
    InvalidField { model: String, field: String },
    #[error("price file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("price file {path}: not LiteLLM's cost-map JSON: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("price file {path}: the top level must be a JSON object of model entries")]
    NotAnObject { path: PathBuf },
    #[error("price file {path}: {source}")]
    Entry {
        path: PathBuf,
        #[source]
        source: Box<PriceError>,
    },
    #[error(
        "model_cost_map_url `{url}`: Tollgate reads the cost map from a local file (a path or file:// URL), not over the network"
    )]
    RemoteUrl { url: String },
}

/// A call could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    /// Neither the price table nor the deployment's own prices know the model.
    #[error(
        "This model isn't mapped yet. model={model}. Add it to the price file or set input_cost_per_token/output_cost_per_token on the deployment."
    )]
    UnknownModel { model: String },
    /// The deployment's own prices are malformed.
    #[error("{0}")]
    InvalidOverride(String),
    /// Beyond 3.4 × 10²⁰ USD: only a corrupt price or count gets here.
    #[error("cost overflows")]
    Overflow,
}
