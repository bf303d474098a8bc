//! The one error type of config loading. Every message starts with the file it is about, because
//! a config can be spread over several files by `include`.

use std::fmt;

/// Why a config could not be loaded. `Display` names the file, the key path and the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The main config file could not be read.
    #[error("{file}: cannot read config file: {reason}")]
    Read {
        /// The path as given.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// A file named by `include` could not be read.
    #[error("{file}: cannot read included file: {reason}")]
    Include {
        /// The included path, joined to the main config's directory.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The text is not valid YAML.
    #[error("{file}: {}YAML syntax error: {message}", Position(*line, *column))]
    Syntax {
        /// The file with the bad YAML.
        file: String,
        /// 1-based line, when known.
        line: Option<u64>,
        /// 1-based column, when known.
        column: Option<u64>,
        /// The parser's description.
        message: String,
    },
    /// The YAML is fine but a value is missing, of the wrong type, or refers to nothing.
    #[error("{file}: {path}: {message}")]
    Invalid {
        /// The file the offending key was written in.
        file: String,
        /// Key path within that file, e.g. `model_list[0].litellm_params.rpm`.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// `line L column C: `, or nothing when the parser did not say where.
struct Position(Option<u64>, Option<u64>);

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0, self.1) {
            (Some(line), Some(column)) => write!(f, "line {line} column {column}: "),
            (Some(line), None) => write!(f, "line {line}: "),
            _ => Ok(()),
        }
    }
}

/// An I/O error's text without the trailing ` (os error N)`, which says nothing to a user.
pub(crate) fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_reason_drops_the_os_error_number() {
        let err = std::io::Error::from_raw_os_error(2);
        assert_eq!(io_reason(&err), "No such file or directory");
    }

    #[test]
    fn syntax_error_without_position_omits_it() {
        let err = ConfigError::Syntax {
            file: "c.yaml".into(),
            line: None,
            column: None,
            message: "bad".into(),
        };
        assert_eq!(err.to_string(), "c.yaml: YAML syntax error: bad");
    }
}
