//! Test databases: a fresh SQLite file always, a fresh PostgreSQL database when
//! `TOLLGATE_TEST_DATABASE_URL` is set (scripts/test.sh sets it), and a TCP relay that can cut
//! the connection to stand for a database outage.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A new SQLite database in a temporary directory (kept alive by the returned guard).
pub fn sqlite_url() -> (String, TempDir) {
    let dir = TempDir::new();
    (format!("sqlite://{}/t.db", dir.0.display()), dir)
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let p = std::env::temp_dir().join(format!("tollgate-store-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty PostgreSQL database on the test server, or `None` (with a message) when no
/// server is configured.
pub async fn pg_url() -> Option<String> {
    let Ok(base) = std::env::var("TOLLGATE_TEST_DATABASE_URL") else {
        eprintln!(
            "skipped: TOLLGATE_TEST_DATABASE_URL is not set (scripts/test.sh starts PostgreSQL)"
        );
        return None;
    };
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .unwrap();
    // A database name cannot be a bound parameter; this one is made of hex digits only.
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    Some(format!("{prefix}/{name}"))
}

/// A TCP relay in front of a server; `cut` drops every connection and refuses new ones until
/// `restore`.
pub struct Relay {
    pub port: u16,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Relay {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (d, c) = (down.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if d.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                c.lock().unwrap().push(task);
            }
        });
        Self {
            port,
            down,
            conns,
            _accept: accept,
        }
    }

    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// `postgres://user@host:port/db` with the port replaced, and the original `host:port`.
pub fn via_relay(url: &str) -> (String, String) {
    let (scheme_user, rest) = url.split_once('@').unwrap();
    let (hostport, db) = rest.split_once('/').unwrap();
    (
        format!("{scheme_user}@127.0.0.1:{{PORT}}/{db}"),
        hostport.to_owned(),
    )
}
