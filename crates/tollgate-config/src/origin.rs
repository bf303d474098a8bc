//! Key paths, and which file each part of the merged config came from.
//!
//! `include` merges several files into one tree before anything is validated. A message about
//! `model_list[7]` would be useless if entry 7 is entry 0 of an included file, so the merge
//! records where every list element and every map key came from, and messages are rewritten to
//! the file and the index the user actually wrote.

use std::collections::HashMap;
use std::fmt;

use crate::error::ConfigError;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the config, printed as `model_list[0].litellm_params.rpm`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Seg>);

impl KeyPath {
    pub(crate) fn key(key: &str) -> Self {
        Self(vec![Seg::Key(key.to_owned())])
    }

    pub(crate) fn child(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    pub(crate) fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }

    /// This path followed by what serde_path_to_error recorded below it.
    pub(crate) fn join_serde(&self, below: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment;
        let mut segs = self.0.clone();
        for seg in below {
            segs.push(match seg {
                Segment::Seq { index } => Seg::Index(*index),
                Segment::Map { key } | Segment::Enum { variant: key } => Seg::Key(key.clone()),
                Segment::Unknown => Seg::Key("?".to_owned()),
            });
        }
        Self(segs)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("top level");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Where the pieces of the merged tree came from. Anything not recorded is from the main file.
#[derive(Debug, Default)]
pub(crate) struct Origins {
    main: String,
    /// Top-level key → file, for sections that only an included file has.
    sections: HashMap<String, String>,
    /// List section → (file, index in that file) per element of the merged list.
    elements: HashMap<String, Vec<(String, usize)>>,
    /// Map section → key → file, for keys an included file added.
    keys: HashMap<String, HashMap<String, String>>,
}

impl Origins {
    pub(crate) fn new(main: String) -> Self {
        Self {
            main,
            ..Self::default()
        }
    }

    pub(crate) fn record_section(&mut self, section: &str, file: &str) {
        self.sections.insert(section.to_owned(), file.to_owned());
    }

    /// Records that `count` elements of `file`'s `section` were appended to a list that
    /// already held `existing` elements (whose origins are recorded, or are the main file).
    pub(crate) fn record_elements(
        &mut self,
        section: &str,
        existing: usize,
        file: &str,
        count: usize,
    ) {
        let main = self.main.clone();
        let owner = self.sections.get(section).cloned();
        let list = self.elements.entry(section.to_owned()).or_default();
        while list.len() < existing {
            let i = list.len();
            list.push((owner.clone().unwrap_or_else(|| main.clone()), i));
        }
        list.extend((0..count).map(|i| (file.to_owned(), i)));
    }

    pub(crate) fn record_key(&mut self, section: &str, key: &str, file: &str) {
        self.keys
            .entry(section.to_owned())
            .or_default()
            .insert(key.to_owned(), file.to_owned());
    }

    /// The file a path points into, and the path as written in that file.
    pub(crate) fn place(&self, path: &KeyPath) -> (String, KeyPath) {
        let mut segs = path.0.clone();
        let Some(Seg::Key(section)) = segs.first().cloned() else {
            return (self.main.clone(), path.clone());
        };
        match segs.get(1).cloned() {
            Some(Seg::Index(i)) => {
                if let Some((file, local)) = self.elements.get(&section).and_then(|l| l.get(i)) {
                    segs[1] = Seg::Index(*local);
                    return (file.clone(), KeyPath(segs));
                }
            }
            Some(Seg::Key(key)) => {
                if let Some(file) = self.keys.get(&section).and_then(|m| m.get(&key)) {
                    return (file.clone(), path.clone());
                }
            }
            None => {}
        }
        let file = self.sections.get(&section).unwrap_or(&self.main);
        (file.clone(), path.clone())
    }

    /// An [`ConfigError::Invalid`] about `path`, naming the file it was written in.
    pub(crate) fn error(&self, path: &KeyPath, message: impl Into<String>) -> ConfigError {
        let (file, path) = self.place(path);
        ConfigError::Invalid {
            file,
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// A warning line about `path`, in the same `file: path: message` shape as errors.
    pub(crate) fn warning(&self, path: &KeyPath, message: &str) -> String {
        let (file, path) = self.place(path);
        format!("{file}: {path}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_serde_path_to_error() {
        let p = KeyPath::key("model_list").index(3).child("litellm_params");
        assert_eq!(
            p.child("rpm").to_string(),
            "model_list[3].litellm_params.rpm"
        );
        assert_eq!(KeyPath::default().to_string(), "top level");
    }

    #[test]
    fn included_elements_are_reported_in_their_own_file() {
        let mut o = Origins::new("config.yaml".into());
        o.record_elements("model_list", 2, "/x/other.yaml", 2);
        let (file, path) = o.place(&KeyPath::key("model_list").index(3).child("model_name"));
        assert_eq!(file, "/x/other.yaml");
        assert_eq!(path.to_string(), "model_list[1].model_name");
        let (file, path) = o.place(&KeyPath::key("model_list").index(1));
        assert_eq!(
            (file.as_str(), path.to_string()),
            ("config.yaml", "model_list[1]".into())
        );
    }
}
