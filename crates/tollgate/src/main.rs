//! The `tollgate` command: the LiteLLM-compatible proxy.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tollgate_config::Config;
use tollgate_proxy::AppState;

/// glibc's allocator was the largest user-space cost per request in the benchmark
/// (bench/README.md); mimalloc's thread-local free lists suit many small, short-lived buffers.
/// Built without transparent huge pages (`no_thp`): with them, the few arena pages touched at
/// start-up were backed by 2 MiB pages, 14 MB of the 29 MB idle RSS measured.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long in-flight requests may take to finish after SIGTERM before the process exits.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A fast, LiteLLM-compatible LLM gateway",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// LiteLLM config.yaml
    #[arg(short, long, env = "CONFIG_FILE_PATH")]
    config: Option<PathBuf>,
    /// Address to listen on
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    host: IpAddr,
    /// Port to listen on
    #[arg(long, env = "PORT", default_value_t = 4000)]
    port: u16,
    /// Quick start without a config: serve this one model string (e.g. openai/gpt-4o)
    #[arg(short, long)]
    model: Option<String>,
    /// Quick start: the name clients use for --model
    #[arg(long)]
    alias: Option<String>,
    /// Quick start: the upstream base URL for --model
    #[arg(long = "api_base", alias = "api-base")]
    api_base: Option<String>,
    /// Quick start: drop parameters the provider does not support
    #[arg(long = "drop_params", alias = "drop-params")]
    drop_params: bool,
    /// INFO-level logs for every request
    #[arg(long)]
    debug: bool,
    /// DEBUG-level logs
    #[arg(long = "detailed_debug", alias = "detailed-debug")]
    detailed_debug: bool,
    /// Structured (JSON) logs
    #[arg(long = "json-logs", alias = "json_logs")]
    json_logs: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate a config file and print what it defines
    CheckConfig {
        /// The config.yaml to check
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckConfig { path }) = &cli.command {
        return check_config(path);
    }
    let started = Instant::now();
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("tollgate: {message}");
            return ExitCode::from(2);
        }
    };
    let level = log_level(&cli);
    init_logging(&level, cli.json_logs || config.litellm_settings.json_logs);
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tollgate: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, config, level, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            eprintln!("tollgate: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, config: Config, level: String, started: Instant) -> Result<(), String> {
    let mut state = AppState::from_config(&config, &level).map_err(|e| e.to_string())?;
    let config_dir = cli
        .config
        .as_deref()
        .map(|p| p.parent().unwrap_or(Path::new(".")).to_path_buf());
    // A broken price file stops start-up: spend would otherwise be recorded at wrong prices.
    let prices = tollgate_pricing::PriceTable::from_settings(
        config.litellm_settings.model_cost_map_url.as_deref(),
        &config.env,
        config_dir.as_deref().unwrap_or(Path::new(".")),
    )
    .map_err(|e| format!("price file: {e}"))?;
    if let Some(url) = tollgate_proxy::accounting::database_url(&config, config_dir.as_deref()) {
        let journal = journal_path(
            std::env::var_os("TOLLGATE_SPEND_JOURNAL").map(PathBuf::from),
            &url,
            config_dir.as_deref(),
            cli.config.as_deref(),
        );
        let accounting = tollgate_proxy::accounting::Accounting::open(
            &config,
            &url,
            &journal,
            Arc::new(tollgate_store::SystemClock),
            Arc::new(tollgate_proxy::accounting::PriceTableCoster::new(Arc::new(
                prices,
            ))),
        )
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
        // Responses API conversations live in the same database, so any instance sharing it
        // can serve a follow-up.
        state.responses = Arc::new(tollgate_proxy::response_store::DatabaseResponseStore::new(
            accounting.store().clone(),
        ));
        state = state.with_accounting(accounting);
    }
    if state.auth.is_open() {
        tracing::warn!(
            "no master_key configured: every route is open to anyone who can reach this port"
        );
    }
    let addr = SocketAddr::new(cli.host, cli.port);
    let listener = tollgate_proxy::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(
        models = state.router.model_names().len(),
        startup_ms = started.elapsed().as_secs_f64() * 1000.0,
        "Tollgate {} listening on http://{local}",
        tollgate_core::VERSION
    );
    println!(
        "Tollgate {} listening on http://{local}",
        tollgate_core::VERSION
    );
    tollgate_proxy::serve(listener, Arc::new(state), shutdown_signal())
        .await
        .map_err(|e| e.to_string())
}

/// Resolves on SIGTERM or Ctrl-C; a second signal, or the grace period running out, exits.
async fn shutdown_signal() {
    wait_for_signal().await;
    tracing::info!(
        "shutting down: draining in-flight requests (up to {}s)",
        SHUTDOWN_GRACE.as_secs()
    );
    tokio::spawn(async {
        tokio::select! {
            () = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("grace period over, exiting"),
            () = wait_for_signal() => tracing::warn!("second signal, exiting now"),
        }
        std::process::exit(0);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    if let Some(path) = &cli.config {
        let mut config = Config::load(path).map_err(|e| e.to_string())?;
        if cli.drop_params {
            config.litellm_settings.drop_params = true;
        }
        return Ok(config);
    }
    // No config: one model from --model, or LiteLLM's catch-all (`model_name: "*"`), which
    // passes any `provider/model` string through with credentials from the environment.
    let mut config = Config::quick_start(cli.model.as_deref().unwrap_or("*"));
    if let Some(d) = config.model_list.first_mut() {
        if let Some(alias) = &cli.alias {
            d.model_name.clone_from(alias);
        }
        if cli.api_base.is_some() {
            d.litellm_params.api_base.clone_from(&cli.api_base);
        }
    }
    config.litellm_settings.drop_params = cli.drop_params;
    Ok(config)
}

/// The directory of a `sqlite://PATH` (or `sqlite:PATH`) database file.
/// Where the spend journal lives: `TOLLGATE_SPEND_JOURNAL` when set (for PostgreSQL with the
/// config on a read-only mount), else beside a SQLite database file (a writable place by
/// necessity), else beside the config (or in the working directory); named after the config so
/// gateways with different configs in one directory keep separate journals.
fn journal_path(
    configured: Option<PathBuf>,
    url: &str,
    config_dir: Option<&Path>,
    config: Option<&Path>,
) -> PathBuf {
    if let Some(path) = configured.filter(|p| !p.as_os_str().is_empty()) {
        return path;
    }
    let stem = config
        .and_then(Path::file_stem)
        .and_then(|s| s.to_str())
        .unwrap_or("tollgate");
    sqlite_dir(url)
        .or_else(|| config_dir.map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
        .join(format!("{stem}.spend-journal"))
}

fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    let dir = Path::new(path).parent()?;
    (!dir.as_os_str().is_empty()).then(|| dir.to_path_buf())
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
            let prices = match tollgate_pricing::PriceTable::from_settings(
                config.litellm_settings.model_cost_map_url.as_deref(),
                &config.env,
                path.parent().unwrap_or(std::path::Path::new(".")),
            ) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::from(2);
                }
            };
            match tollgate_router::Router::from_config(&config) {
                Err(e) => {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::from(2);
                }
                Ok(router) => {
                    let mut problems = 0;
                    for d in router.deployments() {
                        match &d.adapter {
                            Some(Err(e)) => {
                                problems += 1;
                                println!(
                                    "  {} ({}): NOT USABLE: {e}",
                                    d.model_name, d.litellm_model
                                );
                            }
                            _ => {
                                // A wildcard's price depends on the model each request names.
                                let unpriced =
                                    d.pattern.is_none() && d.price(&prices, None).is_err();
                                let note = if unpriced {
                                    " (no price: its spend is recorded as 0)"
                                } else {
                                    ""
                                };
                                println!(
                                    "  {} -> {} (id {}){note}",
                                    d.model_name, d.litellm_model, d.id
                                )
                            }
                        }
                    }
                    println!(
                        "{}: OK, {} deployment(s), {} warning(s), {problems} unusable",
                        path.display(),
                        config.model_list.len(),
                        config.warnings.len()
                    );
                }
            }
            ExitCode::SUCCESS
        }
    }
}

fn log_level(cli: &Cli) -> String {
    if cli.detailed_debug {
        return "DEBUG".into();
    }
    if cli.debug {
        return "INFO".into();
    }
    std::env::var("LITELLM_LOG")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "WARNING".into())
}

fn init_logging(level: &str, json: bool) {
    let directive = match level.to_ascii_uppercase().as_str() {
        "DEBUG" => "debug,hyper=info,h2=info,rustls=info,reqwest=info",
        "INFO" => "info",
        "ERROR" => "error",
        _ => "warn,tollgate=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(directive));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_goes_beside_a_sqlite_file() {
        assert_eq!(
            sqlite_dir("sqlite:///var/lib/tollgate/t.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/tollgate"))
        );
        assert_eq!(sqlite_dir("sqlite:data/t.db"), Some(PathBuf::from("data")));
        assert_eq!(sqlite_dir("sqlite:t.db"), None);
        assert_eq!(sqlite_dir("postgres://h/db"), None);
    }

    #[test]
    fn the_journal_path_can_be_set_for_a_read_only_config_mount() {
        let pg = "postgres://h/db";
        let cfg = Path::new("/etc/tollgate/prod.yaml");
        let dir = Some(Path::new("/etc/tollgate"));
        assert_eq!(
            journal_path(None, pg, dir, Some(cfg)),
            PathBuf::from("/etc/tollgate/prod.spend-journal")
        );
        assert_eq!(
            journal_path(Some("/var/lib/tg/spend.jsonl".into()), pg, dir, Some(cfg)),
            PathBuf::from("/var/lib/tg/spend.jsonl")
        );
        assert_eq!(
            journal_path(None, "sqlite:///data/t.db", dir, Some(cfg)),
            PathBuf::from("/data/prod.spend-journal")
        );
        assert_eq!(
            journal_path(Some(PathBuf::new()), pg, None, None),
            PathBuf::from("./tollgate.spend-journal")
        );
    }
}
