//! `failover`: what a fallback costs. Starts `tollgate-mock` and two gateways in front of it,
//! makes one upstream model fail with 500 on every call, and measures with `loadgen` (c=1):
//!
//! * **direct success**: the healthy group, answered by its deployment;
//! * **outage, cooled**: a group whose only deployment fails and which falls back to the healthy
//!   group; its deployment is cooled down, so each request goes straight to the fallback (the
//!   outage rule);
//! * **failing attempt + fallback**: the same with `disable_cooldowns: true`, so every request
//!   first calls the failing deployment, then the fallback (what LiteLLM does for a lone
//!   deployment whose errors do not trigger a cooldown, minus its retries and their backoff).
//!
//! `failover [--duration S] [--warmup S] [--bin-dir DIR]`; prints a Markdown table.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use tollgate_bench::Flags;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A child process, killed on drop.
struct Proc {
    child: Child,
    url: String,
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Proc {
    fn start(cmd: &mut Command) -> Result<Proc, BoxError> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err("no stdout".into());
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.kill();
                return Err(format!("{cmd:?} exited before listening").into());
            }
            if let Some(at) = line.find("http://") {
                let url = line[at..].trim().to_owned();
                return Ok(Proc {
                    child,
                    url,
                    _stdout: stdout,
                });
            }
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(mock_v1: &str, disable_cooldowns: bool) -> String {
    format!(
        r#"model_list:
  - model_name: healthy
    litellm_params: {{model: openai/gpt-4o-mini, api_base: "{mock_v1}", api_key: dummy}}
  - model_name: primary
    litellm_params: {{model: openai/always-down, api_base: "{mock_v1}", api_key: dummy}}
router_settings:
  fallbacks: [{{primary: [healthy]}}]
  num_retries: 0
  cooldown_time: 3600
  disable_cooldowns: {disable_cooldowns}
"#
    )
}

/// Runs loadgen and returns its JSON line.
fn load(bin: &Path, url: &str, model: &str, duration: f64, warmup: f64) -> Result<Value, BoxError> {
    let out = Command::new(bin.join("loadgen"))
        .args(["--url", &format!("{url}/v1/chat/completions")])
        .args(["--concurrency", "1", "--model", model])
        .args(["--duration", &duration.to_string()])
        .args(["--warmup", &warmup.to_string()])
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or("loadgen printed no result")?;
    Ok(serde_json::from_str(line)?)
}

/// Queues a script on the mock that fails every call to `always-down` (plain HTTP/1.1).
fn script_mock(mock: &str) -> Result<(), BoxError> {
    use std::io::{Read, Write};
    let addr = mock.trim_start_matches("http://");
    let body = r#"{"match_model": "always-down", "status": 500, "times": 0}"#;
    let mut conn = std::net::TcpStream::connect(addr)?;
    write!(
        conn,
        "POST /__mock/script HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    conn.read_to_string(&mut answer)?;
    if !answer.starts_with("HTTP/1.1 2") {
        return Err(format!("the mock refused the script: {answer}").into());
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let flags = Flags::parse(std::env::args().skip(1), &[]);
    let duration: f64 = flags.parsed("duration", 5.0)?;
    let warmup: f64 = flags.parsed("warmup", 1.0)?;
    let bin = match flags.value("bin-dir") {
        Some(d) => PathBuf::from(d),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no binary directory")?
            .to_path_buf(),
    };
    let dir = std::env::temp_dir().join(format!("tollgate-failover-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mock = Proc::start(Command::new(bin.join("tollgate-mock")).args([
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]))?;
    script_mock(&mock.url)?;
    let mock_v1 = format!("{}/v1", mock.url);
    let gateway = |name: &str, disable: bool| -> Result<Proc, BoxError> {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, config(&mock_v1, disable))?;
        Proc::start(
            Command::new(bin.join("tollgate"))
                .arg("--config")
                .arg(&path)
                .args(["--host", "127.0.0.1", "--port", "0"]),
        )
    };
    let cooled = gateway("cooled", false)?;
    let uncooled = gateway("uncooled", true)?;
    let rows = [
        ("direct success", &cooled, "healthy"),
        ("outage, cooled (straight to fallback)", &cooled, "primary"),
        ("failing attempt + fallback", &uncooled, "primary"),
    ];
    println!("| scenario | req/s | p50 µs | p99 µs | +p50 µs vs direct | errors |");
    println!("|---|---|---|---|---|---|");
    let mut direct_p50 = None;
    for (name, gw, model) in rows {
        let v = load(&bin, &gw.url, model, duration, warmup)?;
        let p50 = v["latency_us"]["p50"].as_f64().unwrap_or(f64::NAN);
        let p99 = v["latency_us"]["p99"].as_f64().unwrap_or(f64::NAN);
        let base = *direct_p50.get_or_insert(p50);
        let added = if name == "direct success" {
            "–".to_owned()
        } else {
            format!("{:.1}", p50 - base)
        };
        println!(
            "| {name} | {:.0} | {p50:.1} | {p99:.1} | {added} | {} |",
            v["rps"].as_f64().unwrap_or(f64::NAN),
            v["errors"]
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
