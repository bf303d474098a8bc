//! `GET /v1/models`.

use serde::{Deserialize, Serialize};

/// The `created` LiteLLM reports for every model; clients have come to expect it.
pub const LITELLM_MODEL_CREATED: i64 = 1_677_610_602;

/// `{"object":"list","data":[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    pub data: Vec<ModelObject>,
    pub object: String,
}

impl ModelList {
    /// A list of model names as LiteLLM renders them.
    pub fn from_names<I: IntoIterator<Item = String>>(names: I) -> Self {
        Self {
            data: names
                .into_iter()
                .map(|id| ModelObject {
                    id,
                    object: "model".to_owned(),
                    created: LITELLM_MODEL_CREATED,
                    owned_by: "openai".to_owned(),
                })
                .collect(),
            object: "list".to_owned(),
        }
    }
}

/// One entry of the model list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelObject {
    pub id: String,
    pub object: String,
    pub created: i64,
    pub owned_by: String,
}
