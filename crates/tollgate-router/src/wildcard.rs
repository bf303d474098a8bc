//! Wildcard model names (`openai/*`, `anthropic/claude-*`, `*`), matched as LiteLLM matches
//! them: each `*` captures greedily, the pattern is anchored at the start only, and captures
//! replace the `*`s of the deployment's `litellm_params.model` left to right.

/// A compiled wildcard `model_name`.
#[derive(Debug, Clone)]
pub struct WildcardPattern {
    /// Literal pieces between the stars; `pieces.len() == stars + 1`.
    pieces: Vec<String>,
    source: String,
}

impl WildcardPattern {
    /// Compiles `pattern`, or `None` when it has no `*`.
    pub fn new(pattern: &str) -> Option<Self> {
        if !pattern.contains('*') {
            return None;
        }
        Some(Self {
            pieces: pattern.split('*').map(str::to_owned).collect(),
            source: pattern.to_owned(),
        })
    }

    /// LiteLLM tries patterns most specific first: longer patterns, then more metacharacters.
    pub fn specificity(&self) -> (usize, usize) {
        (self.source.len(), self.pieces.len() - 1)
    }

    /// The captures when `name` matches.
    pub fn captures(&self, name: &str) -> Option<Vec<String>> {
        let first = &self.pieces[0];
        let rest = name.strip_prefix(first.as_str())?;
        let mut caps = Vec::with_capacity(self.pieces.len() - 1);
        if match_from(&self.pieces[1..], rest, &mut caps) {
            Some(caps)
        } else {
            None
        }
    }

    /// The upstream model for `name`: the deployment model's `*`s replaced by the captures;
    /// a deployment model without `*` is used as is.
    pub fn substitute(deployment_model: &str, captures: &[String]) -> String {
        if !deployment_model.contains('*') {
            return deployment_model.to_owned();
        }
        let mut out = String::with_capacity(deployment_model.len() + 16);
        let mut caps = captures.iter();
        for (i, piece) in deployment_model.split('*').enumerate() {
            if i > 0 {
                out.push_str(caps.next().map(String::as_str).unwrap_or(""));
            }
            out.push_str(piece);
        }
        out
    }
}

/// Matches the pieces after a star against `s`, greedy first, like a regex `(.*)`.
fn match_from(pieces: &[String], s: &str, caps: &mut Vec<String>) -> bool {
    let Some((piece, rest_pieces)) = pieces.split_first() else {
        return true;
    };
    let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
    for &cut in boundaries.iter().rev() {
        let (captured, after) = s.split_at(cut);
        let Some(after) = after.strip_prefix(piece.as_str()) else {
            continue;
        };
        caps.push(captured.to_owned());
        if match_from(rest_pieces, after, caps) {
            return true;
        }
        caps.pop();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_substitution() {
        let p = WildcardPattern::new("llmengine/*").unwrap();
        let caps = p.captures("llmengine/foo").unwrap();
        assert_eq!(WildcardPattern::substitute("openai/*", &caps), "openai/foo");
        assert!(p.captures("other/foo").is_none());
        let any = WildcardPattern::new("*").unwrap();
        assert_eq!(
            WildcardPattern::substitute("*", &any.captures("groq/llama3").unwrap()),
            "groq/llama3"
        );
        let two = WildcardPattern::new("fo::*::static::*").unwrap();
        assert_eq!(
            two.captures("fo::hi::static::hi").unwrap(),
            vec!["hi", "hi"]
        );
        let claude = WildcardPattern::new("anthropic/claude-*").unwrap();
        assert!(claude.captures("anthropic/claude-3-opus").is_some());
        assert!(claude.captures("anthropic/gpt").is_none());
        assert_eq!(
            WildcardPattern::substitute("openai/fixed", &[]),
            "openai/fixed"
        );
    }

    #[test]
    fn prefix_anchoring_allows_trailing_text_after_a_literal_end() {
        let p = WildcardPattern::new("a*b").unwrap();
        assert!(p.captures("axxbyy").is_some());
        assert!(
            WildcardPattern::new("x/*").unwrap().specificity()
                > WildcardPattern::new("*").unwrap().specificity()
        );
    }
}
