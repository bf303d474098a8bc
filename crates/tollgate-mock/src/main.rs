//! `tollgate-mock`: the mock provider as a process, for Python end-to-end tests and benchmarks.
//!
//! Prints `listening on http://HOST:PORT` on stdout once it accepts connections, so a script
//! started with `--port 0` can read the port it got.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio::net::TcpListener;
use tollgate_mock::{MockState, default_fixtures_dir, serve};
use tracing_subscriber::EnvFilter;

/// Scriptable mock OpenAI-compatible LLM provider.
#[derive(Parser)]
#[command(name = "tollgate-mock", version)]
struct Args {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Directory that `fixture` paths in scripts are relative to.
    #[arg(long)]
    fixtures_dir: Option<PathBuf>,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Quiet by default: per-request logs are debug, so benchmarks pay nothing for them.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(io::stderr)
        .init();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-mock: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> io::Result<()> {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if let Some(n) = args.workers {
        runtime.worker_threads(n.max(1));
    }
    runtime.build()?.block_on(async {
        let fixtures_dir = match args.fixtures_dir {
            Some(dir) if !dir.is_dir() => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("fixtures dir {} does not exist", dir.display()),
                ));
            }
            Some(dir) => Some(dir),
            None => default_fixtures_dir(),
        };
        let listener = TcpListener::bind((args.host.as_str(), args.port)).await?;
        let addr = listener.local_addr()?;
        let state = MockState::new(fixtures_dir);
        let stop = state.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.shutdown();
        });
        println!("listening on http://{addr}");
        io::stdout().flush()?;
        serve(listener, state).await
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
