//! Tollgate's benchmark harness: a bare reverse proxy (the floor), a load generator and an
//! orchestrator that compares them with the gateway. See `bench/README.md`.
//!
//! This library holds the few helpers the three binaries share; it is not a public API.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

/// The error type of the benchmark binaries: any error, with a message for the user.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// `--name value` / `--switch` command-line flags, parsed by hand to keep the tree lean.
#[derive(Debug, Default)]
pub struct Flags {
    pairs: Vec<(String, Option<String>)>,
    positional: Vec<String>,
}

impl Flags {
    /// Parses `args` (without the program name); `switches` are the flags that take no value.
    pub fn parse(args: impl IntoIterator<Item = String>, switches: &[&str]) -> Flags {
        let mut flags = Flags::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            if let Some(name) = arg.strip_prefix("--") {
                if let Some((k, v)) = name.split_once('=') {
                    flags.pairs.push((k.to_owned(), Some(v.to_owned())));
                } else if switches.contains(&name) {
                    flags.pairs.push((name.to_owned(), None));
                } else {
                    flags.pairs.push((name.to_owned(), args.next()));
                }
            } else {
                flags.positional.push(arg);
            }
        }
        flags
    }

    /// Whether `--name` was given.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The last value of `--name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }

    /// Every value of a repeatable `--name`.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .filter_map(|(_, v)| v.as_deref())
            .collect()
    }

    /// `--name` parsed as `T`, or `default` when absent.
    pub fn parsed<T: FromStr>(&self, name: &str, default: T) -> Result<T, BoxError>
    where
        T::Err: fmt::Display,
    {
        match self.value(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("--{name} {v:?}: {e}").into()),
        }
    }

    /// Arguments that are not flags, in order.
    pub fn positional(&self) -> &[String] {
        &self.positional
    }
}

/// User plus system CPU time of process `pid` (`"self"` for this one), all threads included,
/// in clock ticks (`getconf CLK_TCK`, 100 on Linux): fields 14 and 15 of `/proc/PID/stat`.
pub fn cpu_ticks(pid: &str) -> std::io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may contain spaces and parentheses; fields resume after the
    // last `)`, starting with field 3 (state), so utime and stime are at offsets 11 and 12.
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "unexpected /proc stat");
    let rest = stat.rsplit_once(')').ok_or_else(bad)?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let mut next =
        || -> std::io::Result<u64> { fields.next().and_then(|f| f.parse().ok()).ok_or_else(bad) };
    Ok(next()? + next()?)
}

/// The nearest-rank `p`-th percentile (0..=100) of ascending `sorted`; 0 when empty.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 1.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn reads_own_cpu_time() {
        assert!(cpu_ticks("self").is_ok());
    }

    #[test]
    fn flags_parse_values_switches_and_positionals() {
        let f = Flags::parse(
            [
                "up",
                "--port",
                "0",
                "--stream",
                "--header=a: b",
                "--header",
                "c: d",
            ]
            .map(String::from),
            &["stream"],
        );
        assert_eq!(f.positional(), ["up"]);
        assert_eq!(f.value("port"), Some("0"));
        assert!(f.has("stream"));
        assert_eq!(f.values("header"), ["a: b", "c: d"]);
        assert_eq!(f.parsed("port", 9u16).ok(), Some(0));
        assert_eq!(f.parsed("missing", 9u16).ok(), Some(9));
    }
}
