//! Starts the real `tollgate` binary for a test, with a config written to a temp dir.

// Integration tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running gateway process; killed on drop.
pub struct Gateway {
    pub child: Child,
    pub base: String,
    pub dir: PathBuf,
}

impl Gateway {
    /// Writes `config` to a fresh directory and starts the gateway on an ephemeral port.
    pub fn start(config: &str) -> Gateway {
        let dir = temp_dir();
        let path = dir.join("config.yaml");
        std::fs::write(&path, config).unwrap();
        Self::start_with_args(&["--config", path.to_str().unwrap()], dir)
    }

    /// Starts with arbitrary arguments (plus `--host 127.0.0.1 --port 0`).
    pub fn start_with_args(args: &[&str], dir: PathBuf) -> Gateway {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .env_remove("LITELLM_MASTER_KEY")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("OPENAI_API_BASE")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn tollgate");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let Some(addr) = line
            .trim()
            .rsplit("http://")
            .next()
            .filter(|_| line.contains("listening on"))
        else {
            panic!("gateway did not start (its stderr is above): {line:?}");
        };
        Gateway {
            base: format!("http://{addr}"),
            child,
            dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A unique, empty temp directory.
pub fn temp_dir() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tollgate-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A reqwest client that never retries and times out quickly.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The standard test config: `gpt-test` and an embedding model on the mock, master key set.
pub fn config_for(mock_base: &str) -> String {
    format!(
        r#"
model_list:
  - model_name: gpt-test
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {mock_base}
      api_key: sk-upstream-secret
  - model_name: embed-test
    litellm_params:
      model: openai/text-embedding-3-small
      api_base: {mock_base}
      api_key: sk-upstream-secret
    model_info:
      mode: embedding
  - model_name: slow
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {mock_base}
      api_key: sk-upstream-secret
      timeout: 1
  - model_name: unreachable
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://127.0.0.1:9/v1
general_settings:
  master_key: sk-master
router_settings:
  model_group_alias:
    gpt-alias: gpt-test
"#
    )
}

/// Parses an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|ev| ev.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}
