//! `loadgen --url URL [--concurrency 1] [--duration 5 | --requests N] [--warmup 1] [--stream]
//! [--header "K: V"]... [--model bench-model] [--messages]`: a closed-loop load generator
//! (`--messages`: an Anthropic Messages request, for `/v1/messages`).
//!
//! Each of `concurrency` workers owns one keep-alive HTTP/1.1 connection (TCP_NODELAY) and
//! sends a fixed OpenAI chat request on it back to back, reading every response to the end.
//! Requests that start during the warm-up are not counted. When the warm-up ends it prints the
//! line `measuring` (so a caller can snapshot counters), and at the end one JSON object:
//! requests, errors, rps and latency percentiles in µs (`latency_us`; for streams also
//! `ttfb_us`, the time to the first body bytes), plus `cpu_ticks`, this process's own CPU time
//! over the measured window.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;
use tollgate_bench::{BoxError, Flags, cpu_ticks, percentile};

/// Everything the workers share, fixed before the first request.
struct Plan {
    /// `host:port` to connect to.
    addr: String,
    path: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    stream: bool,
    /// What the last bytes of a complete stream contain (`[DONE]`, or `message_stop` for
    /// `/v1/messages`).
    end_marker: &'static [u8],
    measure_start: Instant,
    /// End of the measured window in duration mode.
    deadline: Option<Instant>,
    /// Measured requests to send in request-count mode.
    requests: Option<u64>,
    /// Tickets taken in request-count mode.
    issued: AtomicU64,
}

/// One worker's measurements.
#[derive(Default)]
struct Tally {
    latency_ns: Vec<u64>,
    ttfb_ns: Vec<u64>,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
    last_done: Option<Instant>,
}

impl Tally {
    fn error(&mut self, message: String) {
        self.errors += 1;
        self.first_error.get_or_insert(message);
    }
}

/// What one successful request measured.
struct Timing {
    total: Duration,
    ttfb: Duration,
    bytes: u64,
}

fn main() -> Result<(), BoxError> {
    let flags = Flags::parse(std::env::args().skip(1), &["stream", "messages"]);
    let url: Uri = flags
        .value("url")
        .ok_or("--url http://HOST:PORT/v1/chat/completions is required")?
        .parse()?;
    if url.scheme_str() != Some("http") {
        return Err("only http:// URLs are supported".into());
    }
    let authority = url.authority().ok_or("--url needs a host")?;
    let addr = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let path: Uri = url.path_and_query().map_or("/", |p| p.as_str()).parse()?;
    let mut headers = vec![
        (header::HOST, HeaderValue::from_str(authority.as_str())?),
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ),
    ];
    for h in flags.values("header") {
        let (k, v) = h.split_once(':').ok_or("--header takes \"Name: value\"")?;
        headers.push((k.trim().parse()?, HeaderValue::from_str(v.trim())?));
    }
    let stream = flags.has("stream");
    let model = flags.value("model").unwrap_or("bench-model");
    let mut body = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence."}
        ],
        "max_tokens": 32,
        "temperature": 0
    });
    let messages = flags.has("messages");
    if messages {
        // The Anthropic Messages format (`/v1/messages`): system at the top level.
        body = json!({
            "model": model,
            "system": "You are a helpful assistant.",
            "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
            "max_tokens": 32,
            "temperature": 0
        });
        headers.push((
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static("2023-06-01"),
        ));
    }
    if stream {
        body["stream"] = json!(true);
        if !messages {
            body["stream_options"] = json!({"include_usage": true});
        }
    }
    let concurrency: usize = flags.parsed("concurrency", 1)?;
    let warmup: f64 = flags.parsed("warmup", 1.0)?;
    let requests: Option<u64> = match flags.value("requests") {
        Some(_) => Some(flags.parsed("requests", 0)?),
        None => None,
    };
    let duration: f64 = flags.parsed("duration", 5.0)?;
    if concurrency == 0 || !(warmup >= 0.0 && duration > 0.0) {
        return Err("--concurrency and --duration must be positive".into());
    }
    // Tokio's default: one worker thread per core this process may run on (taskset-aware).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let measure_start = Instant::now() + Duration::from_secs_f64(warmup);
        let plan = Arc::new(Plan {
            addr,
            path,
            headers,
            body: Bytes::from(serde_json::to_vec(&body)?),
            stream,
            end_marker: if messages { b"message_stop" } else { b"[DONE]" },
            measure_start,
            deadline: match requests {
                Some(_) => None,
                None => Some(measure_start + Duration::from_secs_f64(duration)),
            },
            requests,
            issued: AtomicU64::new(0),
        });
        let workers: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(worker(Arc::clone(&plan))))
            .collect();
        tokio::time::sleep_until(measure_start.into()).await;
        let cpu_before = cpu_ticks("self")?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "measuring")?;
        stdout.flush()?;
        let mut all = Tally::default();
        for w in workers {
            let t = w.await?;
            all.latency_ns.extend(t.latency_ns);
            all.ttfb_ns.extend(t.ttfb_ns);
            all.bytes += t.bytes;
            all.errors += t.errors;
            if all.first_error.is_none() {
                all.first_error = t.first_error;
            }
            all.last_done = all.last_done.max(t.last_done);
        }
        let mut report = report(&plan, concurrency, all);
        // Our own cost, so the caller can tell whether the load side was the bottleneck.
        report["cpu_ticks"] = json!(cpu_ticks("self")?.saturating_sub(cpu_before));
        writeln!(stdout, "{report}")?;
        stdout.flush()?;
        Ok(())
    })
}

async fn worker(plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::default();
    let mut conn: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let started = Instant::now();
        if plan.deadline.is_some_and(|d| started >= d) {
            break;
        }
        let measured = started >= plan.measure_start;
        if measured
            && let Some(n) = plan.requests
            && plan.issued.fetch_add(1, Ordering::Relaxed) >= n
        {
            break;
        }
        let sender = match conn.as_mut() {
            Some(s) => s,
            None => match connect(&plan.addr).await {
                Ok(s) => conn.insert(s),
                Err(e) => {
                    if measured {
                        tally.error(format!("connect: {e}"));
                    }
                    // Do not spin on a refused port.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        match send(sender, &plan, started).await {
            Ok(t) if measured => {
                tally.latency_ns.push(t.total.as_nanos() as u64);
                if plan.stream {
                    tally.ttfb_ns.push(t.ttfb.as_nanos() as u64);
                }
                tally.bytes += t.bytes;
                tally.last_done = Some(started + t.total);
            }
            Ok(_) => {}
            Err(e) => {
                if measured {
                    tally.error(e.to_string());
                }
                // The connection may be half-way through a response: start a fresh one.
                conn = None;
            }
        }
    }
    tally
}

async fn connect(addr: &str) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        // Errors surface on the next send_request; nothing more to do here.
        let _ = connection.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    plan: &Plan,
    started: Instant,
) -> Result<Timing, BoxError> {
    sender.ready().await?;
    let mut req = Request::new(Full::new(plan.body.clone()));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = plan.path.clone();
    let headers = req.headers_mut();
    for (k, v) in &plan.headers {
        headers.insert(k.clone(), v.clone());
    }
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut ttfb = None;
    let mut bytes = 0u64;
    // The last few bytes seen, to check that a stream really ended with `data: [DONE]`.
    let mut tail: Vec<u8> = Vec::with_capacity(64);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            if data.is_empty() {
                continue;
            }
            ttfb.get_or_insert_with(|| started.elapsed());
            bytes += data.len() as u64;
            if plan.stream || !status.is_success() {
                tail.extend_from_slice(&data[data.len().saturating_sub(64)..]);
                let excess = tail.len().saturating_sub(64);
                tail.drain(..excess);
            }
        }
    }
    let total = started.elapsed();
    if !status.is_success() {
        return Err(format!("HTTP {status}: …{}", String::from_utf8_lossy(&tail)).into());
    }
    let marker = plan.end_marker;
    if plan.stream && !tail.windows(marker.len()).any(|w| w == marker) {
        return Err(format!("stream ended without {}", String::from_utf8_lossy(marker)).into());
    }
    Ok(Timing {
        total,
        ttfb: ttfb.unwrap_or(total),
        bytes,
    })
}

fn report(plan: &Plan, concurrency: usize, mut all: Tally) -> serde_json::Value {
    all.latency_ns.sort_unstable();
    all.ttfb_ns.sort_unstable();
    let n = all.latency_ns.len() as u64;
    let wall = all.last_done.map_or(0.0, |t| {
        t.saturating_duration_since(plan.measure_start)
            .as_secs_f64()
    });
    let mut out = json!({
        "url": format!("http://{}{}", plan.addr, plan.path),
        "stream": plan.stream,
        "concurrency": concurrency,
        "requests": n,
        "errors": all.errors,
        "seconds": wall,
        "rps": if wall > 0.0 { n as f64 / wall } else { 0.0 },
        "bytes_per_response": all.bytes.checked_div(n).unwrap_or(0),
        "latency_us": summary(&all.latency_ns),
    });
    if plan.stream {
        out["ttfb_us"] = summary(&all.ttfb_ns);
    }
    if let Some(e) = all.first_error {
        out["first_error"] = json!(e);
    }
    out
}

fn summary(sorted_ns: &[u64]) -> serde_json::Value {
    let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
    let mean = if sorted_ns.is_empty() {
        0
    } else {
        sorted_ns.iter().sum::<u64>() / sorted_ns.len() as u64
    };
    json!({
        "p50": us(percentile(sorted_ns, 50.0)),
        "p90": us(percentile(sorted_ns, 90.0)),
        "p99": us(percentile(sorted_ns, 99.0)),
        "max": us(sorted_ns.last().copied().unwrap_or(0)),
        "mean": us(mean),
    })
}
