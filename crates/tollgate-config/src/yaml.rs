//! YAML text to `serde_json::Value`, read the way PyYAML (what LiteLLM uses) reads it where the
//! two differ in ways configs actually hit.

use serde_json::Value;

use crate::error::ConfigError;

/// Parses one YAML document. An empty document is `null`.
pub(crate) fn parse(text: &str, file: &str) -> Result<Value, ConfigError> {
    let options = serde_saphyr::options! {
        // PyYAML keeps the last of repeated keys instead of failing.
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::LastWins,
        // PyYAML follows YAML 1.1, where `0755` is octal.
        legacy_octal_numbers: true,
        // serde_json cannot hold NaN or infinity; keep `.inf` as text rather than reject it.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::AsString,
        emit_comments: false,
    };
    serde_saphyr::from_str_with_options::<Value>(text, options).map_err(|err| syntax(&err, file))
}

fn syntax(err: &serde_saphyr::Error, file: &str) -> ConfigError {
    let location = err.location();
    let line = location.map(|l| l.line()).filter(|l| *l > 0);
    let column = location.map(|l| l.column()).filter(|c| *c > 0);
    let mut message = err.without_snippet().to_string();
    // The parser appends the position to its message; ours leads with it instead.
    if let (Some(l), Some(c)) = (line, column) {
        let suffix = format!(" at line {l}, column {c}");
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    ConfigError::Syntax {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_file_line_and_column() {
        let err = parse("a: 1\n  b: 2\n", "config.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config.yaml: line 2 column 4: YAML syntax error: \
             mapping values are not allowed in this context"
        );
    }

    #[test]
    fn yaml_1_1_scalars_read_like_pyyaml() {
        let v = parse(
            "a: yes\nb: 0755\nc: 1.0\nd: 1\ne: ~\nf: 1\nf: 2\n",
            "c.yaml",
        )
        .unwrap();
        assert_eq!(v["a"], true);
        assert_eq!(v["b"], 493);
        assert!(v["c"].is_f64());
        assert!(v["d"].is_u64());
        assert!(v["e"].is_null());
        assert_eq!(v["f"], 2);
    }

    #[test]
    fn empty_document_is_null() {
        assert!(parse("", "c.yaml").unwrap().is_null());
        assert!(parse("# only a comment\n", "c.yaml").unwrap().is_null());
    }
}
