//! `bench`: the orchestrator. Starts the mock provider, the bare proxy and the gateway (all
//! release binaries next to this one), measures start-up, idle memory, then throughput,
//! latency, CPU per request and peak memory for every target × mode × concurrency, and prints
//! Markdown tables plus a verdict on each performance target. Settings come from `BENCH_*`
//! environment variables (see `bench/README.md`); it builds nothing itself.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate_bench::{BoxError, cpu_ticks};

/// The key the authenticated gateway requires; every target gets it, so requests are equal.
const MASTER_KEY: &str = "sk-bench-master-key";

/// The request body the start-up probe sends (the load generator builds its own, equivalent).
const PROBE_CHAT: &str =
    r#"{"model":"bench-model","messages":[{"role":"user","content":"Say hello."}]}"#;

/// Gives up on a process that is not serving after this long.
const START_TIMEOUT: Duration = Duration::from_secs(10);

fn main() -> Result<(), BoxError> {
    let s = Settings::from_env()?;
    let clk_tck = clock_ticks_per_second();
    eprintln!(
        "bench: {} core(s) online; placement {}; {}s runs after {}s warm-up; concurrency {:?}; \
         work dir {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        s.placement_label(),
        s.duration,
        s.warmup,
        s.concurrency,
        s.work_dir.display()
    );
    let mock = Proc::start(
        "mock",
        s.pinned(s.load_core, &s.bin("tollgate-mock"))
            .args(["--host", "127.0.0.1", "--port", "0"]),
        &s.work_dir,
    )?;
    let mock_v1 = format!("{}/v1", mock.url);
    let open_config = s.work_dir.join("tollgate.yaml");
    let auth_config = s.work_dir.join("tollgate-auth.yaml");
    std::fs::write(&open_config, gateway_config(&mock_v1, None))?;
    std::fs::write(&auth_config, gateway_config(&mock_v1, Some(MASTER_KEY)))?;

    let startup = measure_startup(&s, clk_tck, &mock.url, &open_config)?;

    // Everything under test runs at once, idle until its turn, so every row of one
    // (mode, concurrency) is measured back to back under the same conditions.
    let bare = Proc::start(
        "bare",
        s.pinned(s.proxy_core, &s.bin("bare_proxy"))
            .arg(&mock.url)
            .args(["--host", "127.0.0.1", "--port", "0"]),
        &s.work_dir,
    )?;
    let gateway = |name: &'static str, config: &Path| {
        Proc::start(
            name,
            s.pinned(s.proxy_core, &s.bin("tollgate"))
                .arg("--config")
                .arg(config)
                .args(["--host", "127.0.0.1", "--port", "0"]),
            &s.work_dir,
        )
    };
    let tollgate = gateway("tollgate", &open_config)?;
    let tollgate_auth = if s.auth {
        Some(gateway("tollgate+auth", &auth_config)?)
    } else {
        None
    };
    sleep(Duration::from_millis(300));
    let mut targets: Vec<Target> = vec![Target {
        name: "direct",
        url: format!("{mock_v1}/chat/completions"),
        proc: None,
        idle_rss_kb: 0,
        messages_model: None,
    }];
    for p in [Some(&bare), Some(&tollgate), tollgate_auth.as_ref()]
        .into_iter()
        .flatten()
    {
        targets.push(Target {
            name: p.name,
            url: format!("{}/v1/chat/completions", p.url),
            proc: Some(p),
            idle_rss_kb: status_kb(p.pid, "VmRSS")?,
            messages_model: None,
        });
    }
    // `/v1/messages` streams (Anthropic SDK format in): natively to an Anthropic deployment,
    // and through the chat bridge to the OpenAI one. Stream mode only.
    if s.modes.contains(&true) {
        script_anthropic_stream(&mock.url)?;
        for (name, model) in [
            ("messages→anthropic", CLAUDE_MODEL),
            ("messages→openai", "bench-model"),
        ] {
            targets.push(Target {
                name,
                url: format!("{}/v1/messages", tollgate.url),
                proc: Some(&tollgate),
                idle_rss_kb: 0,
                messages_model: Some(model),
            });
        }
    }

    let mut rows = Vec::new();
    for &stream in &s.modes {
        for &c in &s.concurrency {
            for t in targets
                .iter()
                .filter(|t| stream || t.messages_model.is_none())
            {
                let row = run_quiet(&s, clk_tck, t, mock.pid, stream, c)?;
                eprintln!(
                    "bench: {:<13} {:<10} c={:<3} {:>8.0} req/s  p50 {:>8.1} µs  p99 {:>8.1} µs  \
                     errors {}  other load {:.0}%",
                    t.name,
                    mode(stream),
                    c,
                    row.rps,
                    row.p50,
                    row.p99,
                    row.errors,
                    row.foreign * 100.0
                );
                rows.push(row);
            }
        }
    }
    // On a VM an idle core sleeps in the hypervisor, so each cross-core wake-up costs tens
    // of µs and the split placement's c=1 latency is mostly that. Moving the proxies onto the
    // load core for one more c=1 pass shows the latency a proxy adds by its own work.
    let mut one_core = Vec::new();
    if let (Some(load), Some(proxy)) = (s.load_core, s.proxy_core)
        && load != proxy
        && s.concurrency.contains(&1)
    {
        let procs: Vec<&Proc> = targets
            .iter()
            .filter(|t| t.messages_model.is_none())
            .filter_map(|t| t.proc)
            .collect();
        for p in &procs {
            set_affinity(p.pid, load)?;
        }
        for &stream in &s.modes {
            for t in targets
                .iter()
                .filter(|t| stream || t.messages_model.is_none())
            {
                let row = run_quiet(&s, clk_tck, t, mock.pid, stream, 1)?;
                eprintln!(
                    "bench: {:<13} {:<10} c=1 on one core: p50 {:>8.1} µs",
                    t.name,
                    mode(stream),
                    row.p50
                );
                one_core.push(row);
            }
        }
        for p in &procs {
            set_affinity(p.pid, proxy)?;
        }
    }
    let report = render(&s, &targets, &rows, &one_core, &startup);
    println!("{report}");
    let raw = json!({
        "settings": {
            "duration_s": s.duration, "warmup_s": s.warmup, "concurrency": s.concurrency,
            "placement": s.placement_label(),
        },
        "idle_rss_kb": targets.iter().filter(|t| t.proc.is_some())
            .map(|t| (t.name.to_owned(), json!(t.idle_rss_kb))).collect::<serde_json::Map<_, _>>(),
        "startup_ms": startup.to_json(),
        "runs": rows.iter().map(|r| r.raw.clone()).collect::<Vec<_>>(),
        "one_core_runs": one_core.iter().map(|r| r.raw.clone()).collect::<Vec<_>>(),
    });
    let out = s.work_dir.join("results.json");
    std::fs::write(&out, serde_json::to_vec_pretty(&raw)?)?;
    std::fs::write(s.work_dir.join("results.md"), &report)?;
    eprintln!("bench: raw results in {}", out.display());
    Ok(())
}

/// The run's settings, from `BENCH_*` environment variables.
struct Settings {
    duration: f64,
    warmup: f64,
    concurrency: Vec<usize>,
    /// `false` is plain JSON, `true` is SSE.
    modes: Vec<bool>,
    /// `None`: no pinning at all.
    load_core: Option<usize>,
    proxy_core: Option<usize>,
    starts: usize,
    auth: bool,
    /// Cores' worth of other load above which a run does not count.
    max_other: f64,
    retries: u32,
    quiet_wait: Duration,
    bin_dir: PathBuf,
    work_dir: PathBuf,
}

impl Settings {
    fn from_env() -> Result<Settings, BoxError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let num = |name: &str, default: f64| -> Result<f64, BoxError> {
            var(name).map_or(Ok(default), |v| {
                v.parse().map_err(|e| format!("{name}={v:?}: {e}").into())
            })
        };
        let concurrency = var("BENCH_CONCURRENCY")
            .unwrap_or_else(|| "1,16,64,256".into())
            .split(',')
            .map(|c| c.trim().parse::<usize>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("BENCH_CONCURRENCY: {e}"))?;
        let modes = match var("BENCH_MODES").as_deref() {
            None | Some("both") => vec![false, true],
            Some("nonstream") => vec![false],
            Some("stream") => vec![true],
            Some(other) => {
                return Err(format!("BENCH_MODES={other:?}: both|nonstream|stream").into());
            }
        };
        let (load_core, proxy_core) = match var("BENCH_PLACEMENT").as_deref() {
            None | Some("split") => (
                Some(num("BENCH_LOAD_CORE", 0.0)? as usize),
                Some(num("BENCH_PROXY_CORE", 1.0)? as usize),
            ),
            Some("none") => (None, None),
            Some(other) => return Err(format!("BENCH_PLACEMENT={other:?}: split|none").into()),
        };
        let bin_dir = match var("BENCH_BIN_DIR") {
            Some(d) => PathBuf::from(d),
            None => std::env::current_exe()?
                .parent()
                .ok_or("cannot tell where this binary lives; set BENCH_BIN_DIR")?
                .to_path_buf(),
        };
        for name in ["tollgate", "tollgate-mock", "bare_proxy", "loadgen"] {
            if !bin_dir.join(name).is_file() {
                return Err(format!(
                    "{} is missing: cargo build --release -p tollgate -p tollgate-mock \
                     -p tollgate-bench",
                    bin_dir.join(name).display()
                )
                .into());
            }
        }
        let work_dir = std::env::temp_dir().join(format!("tollgate-bench-{}", std::process::id()));
        std::fs::create_dir_all(&work_dir)?;
        Ok(Settings {
            duration: num("BENCH_DURATION", 5.0)?,
            warmup: num("BENCH_WARMUP", 1.0)?,
            concurrency,
            modes,
            load_core,
            proxy_core,
            starts: num("BENCH_STARTS", 5.0)? as usize,
            auth: var("BENCH_AUTH").is_none_or(|v| v != "0"),
            max_other: num("BENCH_MAX_OTHER", 0.1)?,
            retries: num("BENCH_RETRIES", 5.0)?.max(1.0) as u32,
            quiet_wait: Duration::from_secs_f64(num("BENCH_QUIET_WAIT", 600.0)?),
            bin_dir,
            work_dir,
        })
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    /// `program`, under `taskset -c CORE` when placement pins it.
    fn pinned(&self, core: Option<usize>, program: &Path) -> Command {
        match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn placement_label(&self) -> String {
        match (self.load_core, self.proxy_core) {
            (Some(l), Some(p)) => format!("split (mock+loadgen on core {l}, proxies on core {p})"),
            _ => "none (unpinned, all processes share all cores)".into(),
        }
    }
}

/// A child process that serves HTTP; killed when dropped.
struct Proc {
    name: &'static str,
    pid: u32,
    /// `http://HOST:PORT`, from the line it printed when ready.
    url: String,
    child: Child,
    /// Kept open so a late write to stdout does not fail in the child.
    _stdout: BufReader<ChildStdout>,
}

impl Proc {
    /// Spawns `cmd` (stderr to a log in `dir`) and waits for its `… http://HOST:PORT` line.
    fn start(name: &'static str, cmd: &mut Command, dir: &Path) -> Result<Proc, BoxError> {
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{name}: cannot spawn {cmd:?}: {e}"))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(format!("{name}: no stdout").into());
        };
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let url = loop {
            line.clear();
            if stdout.read_line(&mut line)? == 0 {
                let _ = child.kill();
                let _ = child.wait();
                return Err(
                    format!("{name} exited before listening; see {}", dir.display()).into(),
                );
            }
            if let Some(at) = line.find("http://") {
                break line[at..].trim().to_owned();
            }
        };
        // `taskset` execs the program, so this pid is the server's own.
        let pid = child.id();
        Ok(Proc {
            name,
            pid,
            url,
            child,
            _stdout: stdout,
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One thing to send load to.
struct Target<'a> {
    name: &'static str,
    url: String,
    /// The proxy process; `None` for the mock itself.
    proc: Option<&'a Proc>,
    idle_rss_kb: u64,
    /// `/v1/messages` requests for this model instead of chat completions.
    messages_model: Option<&'static str>,
}

/// One measured run, flattened for the tables.
struct Row {
    target: &'static str,
    stream: bool,
    concurrency: usize,
    rps: f64,
    p50: f64,
    p99: f64,
    ttfb_p50: Option<f64>,
    errors: u64,
    /// Proxy CPU µs per request; `None` for direct.
    cpu_us: Option<f64>,
    /// Share of one core the proxy used over the window.
    proxy_busy: Option<f64>,
    /// Share of one core the mock and the load generator used together.
    load_busy: f64,
    /// Cores' worth of CPU used by anything else on the machine during the run.
    foreign: f64,
    peak_rss_kb: Option<u64>,
    raw: Value,
}

fn mode(stream: bool) -> &'static str {
    if stream { "stream" } else { "non-stream" }
}

/// [`run_one`], after waiting for the machine to be quiet, and again (up to `s.retries`
/// times) while something else on the box took more than `s.max_other` cores during the run:
/// on a shared 2-core machine one compile job would otherwise halve a row.
fn run_quiet(
    s: &Settings,
    clk_tck: f64,
    target: &Target,
    mock_pid: u32,
    stream: bool,
    concurrency: usize,
) -> Result<Row, BoxError> {
    let mut attempt = 1;
    loop {
        wait_for_quiet(s, clk_tck)?;
        let row = run_one(s, clk_tck, target, mock_pid, stream, concurrency)?;
        if row.foreign <= s.max_other || attempt >= s.retries {
            return Ok(row);
        }
        eprintln!(
            "bench: {} {} c={concurrency}: other load {:.0}% during the run, measuring again",
            target.name,
            mode(stream),
            row.foreign * 100.0
        );
        attempt += 1;
    }
}

/// Waits (up to `s.quiet_wait`) until the machine, our idle processes included, uses at most
/// `s.max_other` cores over half a second.
fn wait_for_quiet(s: &Settings, clk_tck: f64) -> Result<(), BoxError> {
    let started = Instant::now();
    loop {
        let before = machine_busy_ticks()?;
        sleep(Duration::from_millis(500));
        let busy = machine_busy_ticks()?.saturating_sub(before) as f64 / clk_tck / 0.5;
        if busy <= s.max_other {
            return Ok(());
        }
        if started.elapsed() > s.quiet_wait {
            eprintln!(
                "bench: machine still {:.0}% busy after {:?}; measuring anyway",
                busy * 100.0,
                s.quiet_wait
            );
            return Ok(());
        }
        sleep(Duration::from_secs(1));
    }
}

fn run_one(
    s: &Settings,
    clk_tck: f64,
    target: &Target,
    mock_pid: u32,
    stream: bool,
    concurrency: usize,
) -> Result<Row, BoxError> {
    let proxy_pid = target.proc.map(|p| p.pid);
    if let Some(pid) = proxy_pid {
        // Writing 5 resets VmHWM, so each row's peak is its own, not the running maximum.
        std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;
    }
    let mut cmd = s.pinned(s.load_core, &s.bin("loadgen"));
    cmd.args(["--url", &target.url])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--duration", &s.duration.to_string()])
        .args(["--warmup", &s.warmup.to_string()])
        .args(["--header", &format!("Authorization: Bearer {MASTER_KEY}")]);
    if stream {
        cmd.arg("--stream");
    }
    if let Some(model) = target.messages_model {
        cmd.args(["--messages", "--model", model]);
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().ok_or("loadgen: no stdout")?;
    let ticks = |pid: Option<u32>| pid.map(|p| cpu_ticks(&p.to_string())).transpose();
    let mut before = None;
    let mut result = None;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if line == "measuring" {
            before = Some((
                ticks(proxy_pid)?,
                cpu_ticks(&mock_pid.to_string())?,
                machine_busy_ticks()?,
            ));
        } else if line.starts_with('{') {
            result = Some(serde_json::from_str::<Value>(&line)?);
        }
    }
    let after = (
        ticks(proxy_pid)?,
        cpu_ticks(&mock_pid.to_string())?,
        machine_busy_ticks()?,
    );
    let status = child.wait()?;
    let (Some(before), Some(mut raw), true) = (before, result, status.success()) else {
        return Err(format!("loadgen against {} failed ({status})", target.name).into());
    };
    let f = |v: &Value| v.as_f64().unwrap_or(0.0);
    let requests = f(&raw["requests"]).max(1.0);
    let seconds = f(&raw["seconds"]).max(1e-9);
    let proxy_s = match (before.0, after.0) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b) as f64 / clk_tck),
        _ => None,
    };
    let mock_s = after.1.saturating_sub(before.1) as f64 / clk_tck;
    let loadgen_s = f(&raw["cpu_ticks"]) / clk_tck;
    // CPU the machine spent on anything but the three processes of this run (other jobs,
    // interrupts): a noisy neighbour on a 2-core box would skew the row, so it is shown.
    let machine_s = after.2.saturating_sub(before.2) as f64 / clk_tck;
    let foreign = (machine_s - proxy_s.unwrap_or(0.0) - mock_s - loadgen_s).max(0.0) / seconds;
    let peak_rss_kb = proxy_pid.map(|p| status_kb(p, "VmHWM")).transpose()?;
    let cpu_us = proxy_s.map(|cpu| cpu * 1e6 / requests);
    raw["target"] = json!(target.name);
    raw["proxy_cpu_us_per_request"] = json!(cpu_us);
    raw["mock_cpu_us_per_request"] = json!(mock_s * 1e6 / requests);
    raw["loadgen_cpu_us_per_request"] = json!(loadgen_s * 1e6 / requests);
    raw["peak_rss_kb"] = json!(peak_rss_kb);
    raw["foreign_cpu_cores"] = json!(foreign);
    Ok(Row {
        target: target.name,
        stream,
        concurrency,
        rps: f(&raw["rps"]),
        p50: f(&raw["latency_us"]["p50"]),
        p99: f(&raw["latency_us"]["p99"]),
        ttfb_p50: stream.then(|| f(&raw["ttfb_us"]["p50"])),
        errors: raw["errors"].as_u64().unwrap_or(0),
        cpu_us,
        proxy_busy: proxy_s.map(|cpu| cpu / seconds),
        load_busy: (mock_s + loadgen_s) / seconds,
        foreign,
        peak_rss_kb,
        raw,
    })
}

/// Start-up times in ms, one entry per start.
struct Startup {
    bare_chat: Vec<f64>,
    tollgate_live: Vec<f64>,
    tollgate_chat: Vec<f64>,
}

impl Startup {
    fn to_json(&self) -> Value {
        json!({
            "bare_first_chat": self.bare_chat,
            "tollgate_liveliness": self.tollgate_live,
            "tollgate_first_chat": self.tollgate_chat,
        })
    }
}

/// Spawn → first 200, `s.starts` times each. Unpinned: `taskset` would add its own exec.
fn measure_startup(
    s: &Settings,
    clk_tck: f64,
    mock: &str,
    config: &Path,
) -> Result<Startup, BoxError> {
    let mut out = Startup {
        bare_chat: vec![],
        tollgate_live: vec![],
        tollgate_chat: vec![],
    };
    for _ in 0..s.starts {
        wait_for_quiet(s, clk_tck)?;
        let port = free_port()?;
        let mut cmd = Command::new(s.bin("tollgate"));
        cmd.arg("--config")
            .arg(config)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        let times = time_to_serve(&mut cmd, port, &[liveliness_request(), chat_request()])?;
        out.tollgate_live.push(times[0]);
        out.tollgate_chat.push(times[1]);

        let port = free_port()?;
        let mut cmd = Command::new(s.bin("bare_proxy"));
        cmd.arg(mock)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()]);
        out.bare_chat
            .push(time_to_serve(&mut cmd, port, &[chat_request()])?[0]);
    }
    Ok(out)
}

/// Spawns `cmd` and polls `port` with each probe in turn until it answers 200; returns the
/// ms from spawn to each probe's first success.
fn time_to_serve(cmd: &mut Command, port: u16, probes: &[String]) -> Result<Vec<f64>, BoxError> {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut times = Vec::new();
    let mut outcome = Ok(());
    'probes: for probe in probes {
        loop {
            if probe_ok(port, probe) {
                times.push(started.elapsed().as_secs_f64() * 1e3);
                continue 'probes;
            }
            if started.elapsed() > START_TIMEOUT {
                outcome = Err(format!("{cmd:?} did not serve within {START_TIMEOUT:?}"));
                break 'probes;
            }
            sleep(Duration::from_micros(200));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    outcome?;
    Ok(times)
}

fn liveliness_request() -> String {
    "GET /health/liveliness HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".into()
}

fn chat_request() -> String {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{PROBE_CHAT}",
        PROBE_CHAT.len()
    )
}

/// One request on a fresh connection; true on a 200.
fn probe_ok(port: u16, request: &str) -> bool {
    let Ok(mut tcp) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(2)));
    let mut response = Vec::new();
    tcp.write_all(request.as_bytes()).is_ok()
        && tcp.read_to_end(&mut response).is_ok()
        && response.starts_with(b"HTTP/1.1 200")
}

/// A port that was free a moment ago (the start-up probe must know it before the spawn).
fn free_port() -> Result<u16, BoxError> {
    Ok(TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The Anthropic deployment of the `/v1/messages` pass-through rows.
const CLAUDE_MODEL: &str = "bench-claude";

/// What the mock streams for the Anthropic deployment: a short Messages stream as Anthropic
/// sends it (9 events, like the OpenAI stream the mock writes for chat).
const ANTHROPIC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-bench\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: ping\ndata: {\"type\":\"ping\"}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there,\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" friend!\"}}\n\n\
event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":4}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/// Queues, for good, [`ANTHROPIC_STREAM`] as the answer to every request for the Anthropic
/// deployment's upstream model.
fn script_anthropic_stream(mock_url: &str) -> Result<(), BoxError> {
    let script = json!({"match_model": "claude-bench", "times": 0, "body": ANTHROPIC_STREAM,
                        "content_type": "text/event-stream"})
    .to_string();
    let port: u16 = mock_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("mock URL without a port")?;
    let request = format!(
        "POST /__mock/script HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{script}",
        script.len()
    );
    if !probe_ok(port, &request) {
        return Err("the mock refused the Anthropic stream script".into());
    }
    Ok(())
}

fn gateway_config(api_base: &str, master_key: Option<&str>) -> String {
    let root = api_base.trim_end_matches("/v1");
    let mut yaml = format!(
        "model_list:\n  - model_name: bench-model\n    litellm_params:\n      \
         model: openai/gpt-4o-mini\n      api_base: {api_base}\n      api_key: dummy\n  \
         - model_name: {CLAUDE_MODEL}\n    litellm_params:\n      \
         model: anthropic/claude-bench\n      api_base: {root}\n      api_key: dummy\n"
    );
    if let Some(key) = master_key {
        let _ = write!(yaml, "general_settings:\n  master_key: {key}\n");
    }
    yaml
}

/// Busy time of the whole machine (all CPUs, everything but idle and iowait) in clock ticks,
/// from the first line of `/proc/stat`.
fn machine_busy_ticks() -> Result<u64, BoxError> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let cpu = stat.lines().next().ok_or("empty /proc/stat")?;
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user].
    let busy = fields
        .iter()
        .take(8)
        .enumerate()
        .filter(|&(i, _)| i != 3 && i != 4)
        .map(|(_, v)| v)
        .sum();
    Ok(busy)
}

/// Moves every thread of running process `pid` onto `core`.
fn set_affinity(pid: u32, core: usize) -> Result<(), BoxError> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("taskset -a -p -c {core} {pid}: {status}").into());
    }
    Ok(())
}

/// A `VmRSS:`-style line of `/proc/PID/status`, in kB.
fn status_kb(pid: u32, field: &str) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status").into())
}

/// `getconf CLK_TCK`; Linux exports 100 to user space everywhere, so that is the fallback.
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn render(
    s: &Settings,
    targets: &[Target],
    rows: &[Row],
    one_core: &[Row],
    startup: &Startup,
) -> String {
    let find = |target: &str, stream: bool, c: usize| {
        rows.iter()
            .find(|r| r.target == target && r.stream == stream && r.concurrency == c)
    };
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".into(), |v| format!("{v:.digits$}"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Placement: {}. {} s per run after {} s warm-up.\n",
        s.placement_label(),
        s.duration,
        s.warmup
    );
    out += &table(rows);
    if !one_core.is_empty() {
        let _ = writeln!(
            out,
            "\nc=1 again with the proxies moved onto core {} beside the mock and the load \
             generator (no cross-core wake-ups):\n",
            s.load_core.unwrap_or(0)
        );
        out += &table(one_core);
    }
    let _ = writeln!(
        out,
        "\n| process | idle RSS MB | start → first 200 (median of {}) |",
        s.starts
    );
    let _ = writeln!(out, "|---|---|---|");
    for t in targets
        .iter()
        .filter(|t| t.proc.is_some() && t.messages_model.is_none())
    {
        let start = match t.name {
            "bare" => format!("chat {:.1} ms", median(&startup.bare_chat)),
            "tollgate" => format!(
                "liveliness {:.1} ms, chat {:.1} ms",
                median(&startup.tollgate_live),
                median(&startup.tollgate_chat)
            ),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} | {start} |",
            t.name,
            t.idle_rss_kb as f64 / 1024.0
        );
    }

    // The targets, each with every measurement that bears on it.
    let verdict = |ok: bool| if ok { "met" } else { "**NOT met**" };
    let _ = writeln!(out, "\n| target | measured | verdict |\n|---|---|---|");
    for &stream in &s.modes {
        let ratios: Vec<(usize, Option<f64>)> = s
            .concurrency
            .iter()
            .map(|&c| {
                let r = find("tollgate", stream, c)
                    .zip(find("bare", stream, c))
                    .map(|(t, b)| t.rps / b.rps.max(1e-9));
                (c, r)
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} throughput ≥ 85% of bare proxy | {} | {} |",
            mode(stream),
            ratios
                .iter()
                .map(|(c, r)| format!("c={c}: {}", opt(r.map(|r| r * 100.0), 0) + "%"))
                .collect::<Vec<_>>()
                .join(", "),
            verdict(ratios.iter().all(|(_, r)| r.is_some_and(|r| r >= 0.85)))
        );
    }
    if s.modes.contains(&false) {
        let ratios: Vec<(usize, Option<f64>, Option<f64>)> = s
            .concurrency
            .iter()
            .map(|&c| {
                let t = find("tollgate", false, c).and_then(|r| r.cpu_us);
                let b = find("bare", false, c).and_then(|r| r.cpu_us);
                (c, t, b)
            })
            .collect();
        let _ = writeln!(
            out,
            "| CPU per non-stream request ≤ 2× bare proxy | {} | {} |",
            ratios
                .iter()
                .map(|(c, t, b)| format!(
                    "c={c}: {} vs {} µs ({}×)",
                    opt(*t, 1),
                    opt(*b, 1),
                    opt(t.zip(*b).map(|(t, b)| t / b.max(1e-9)), 2)
                ))
                .collect::<Vec<_>>()
                .join(", "),
            verdict(
                ratios
                    .iter()
                    .all(|(_, t, b)| t.zip(*b).is_some_and(|(t, b)| t <= 2.0 * b))
            )
        );
    }
    for (set, label) in [(rows, "split cores"), (one_core, "one core")] {
        for &stream in &s.modes {
            let at_c1 = |name: &str| {
                set.iter()
                    .find(|r| r.target == name && r.stream == stream && r.concurrency == 1)
            };
            let added = |name: &str| at_c1(name).zip(at_c1("direct")).map(|(t, d)| t.p50 - d.p50);
            let Some(t) = added("tollgate") else {
                continue;
            };
            let _ = writeln!(
                out,
                "| added p50 at c=1 < 0.1 ms ({}, {label}) | tollgate +{t:.1} µs (bare proxy +{} µs) \
                 | {} |",
                mode(stream),
                opt(added("bare"), 1),
                verdict(t < 100.0)
            );
        }
    }
    if let Some(t) = targets.iter().find(|t| t.name == "tollgate") {
        let mb = t.idle_rss_kb as f64 / 1024.0;
        let _ = writeln!(
            out,
            "| idle memory < 20 MB | {mb:.1} MB VmRSS | {} |",
            verdict(mb < 20.0)
        );
    }
    if startup.tollgate_chat.is_empty() {
        let _ = writeln!(
            out,
            "| start < 100 ms | not measured (BENCH_STARTS=0) | – |"
        );
    } else {
        let start = median(&startup.tollgate_chat);
        let _ = writeln!(
            out,
            "| start < 100 ms | first chat {start:.1} ms, liveliness {:.1} ms (median of {}) \
             | {} |",
            median(&startup.tollgate_live),
            s.starts,
            verdict(start < 100.0)
        );
    }
    out
}

/// The per-run table; `+p50`/`+p99` are against the direct row of the same mode and
/// concurrency in `rows`.
fn table(rows: &[Row]) -> String {
    let find = |target: &str, stream: bool, c: usize| {
        rows.iter()
            .find(|r| r.target == target && r.stream == stream && r.concurrency == c)
    };
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".into(), |v| format!("{v:.digits$}"));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| target | mode | conc | req/s | p50 µs | p99 µs | +p50 µs | +p99 µs | TTFB p50 µs \
         | proxy CPU µs/req | proxy core busy | load core busy | other load | peak RSS MB | errors |"
    );
    let _ = writeln!(out, "|{}", "---|".repeat(15));
    for r in rows {
        let direct = find("direct", r.stream, r.concurrency).filter(|_| r.target != "direct");
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {} | {:.0}% | {:.0}% | {} | {} |",
            r.target,
            mode(r.stream),
            r.concurrency,
            r.rps,
            r.p50,
            r.p99,
            opt(direct.map(|d| r.p50 - d.p50), 1),
            opt(direct.map(|d| r.p99 - d.p99), 1),
            opt(r.ttfb_p50, 1),
            opt(r.cpu_us, 1),
            r.proxy_busy
                .map_or("–".into(), |b| format!("{:.0}%", b * 100.0)),
            r.load_busy * 100.0,
            r.foreign * 100.0,
            opt(r.peak_rss_kb.map(|kb| kb as f64 / 1024.0), 1),
            r.errors
        );
    }
    out
}
