//! The spend writer: rows are handed over without waiting and written to the database in
//! batches. A batch the database does not take at once (it fails, or has not committed within
//! [`JOURNAL_AFTER`]) is appended to an on-disk journal, which keeps it across restarts until
//! the database has it; then the journal is emptied. A healthy database never sees the journal
//! touched: one sync per batch (the database's own) instead of three. Replaying a row the
//! database already has is harmless: [`Store::write_spend`] skips known request ids together
//! with their totals, so every request is counted exactly once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::model::SpendRow;
use crate::{Store, StoreError};

/// Rows per database statement.
const CHUNK: usize = 500;
/// How long the writer waits for more rows before writing a batch.
const LINGER: Duration = Duration::from_millis(20);
/// How long a batch may wait for the database before it is also put in the journal.
const JOURNAL_AFTER: Duration = Duration::from_millis(500);
/// Longest wait between attempts while the database is down.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

enum Msg {
    Row(Box<SpendRow>),
    /// Answered `true` once every row sent before it is in the database.
    Flush(oneshot::Sender<bool>),
    /// The writer's own wake-up while rows wait for the database.
    Retry,
}

/// The handle routes use to record spend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SpendQueue {
    tx: mpsc::UnboundedSender<Msg>,
    health: Arc<Health>,
}

/// What the writer reports for monitoring.
#[derive(Debug, Default)]
struct Health {
    /// Rows recorded (or re-read from the journal) and not yet in the database.
    backlog: AtomicU64,
    /// The last database write failed.
    db_down: AtomicBool,
}

impl SpendQueue {
    /// Opens (or creates) the journal at `path`, re-queues the rows it still holds, and starts
    /// the writer task.
    pub async fn start(store: Store, path: PathBuf) -> Result<(Self, JoinHandle<()>), StoreError> {
        let pending = read_journal(&path).await?;
        if !pending.is_empty() {
            tracing::info!(rows = pending.len(), path = %path.display(), "re-sending spend rows kept while the database was unavailable");
        }
        let journal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .await?;
        let journal_dirty = journal.metadata().await?.len() > 0;
        let (tx, rx) = mpsc::unbounded_channel();
        let health = Arc::new(Health::default());
        health
            .backlog
            .store(pending.len() as u64, Ordering::Relaxed);
        let writer = Writer {
            health: Arc::clone(&health),
            store,
            path,
            journal,
            journaled: pending.len(),
            journal_dirty,
            pending,
            backoff: Duration::from_millis(100),
            down: false,
        };
        let task = tokio::spawn(writer.run(rx));
        Ok((Self { tx, health }, task))
    }

    /// Queues one row; never waits.
    pub fn record(&self, row: SpendRow) {
        // Counted before sending, so the writer's decrement can never run first.
        self.health.backlog.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(Msg::Row(Box::new(row))).is_err() {
            self.health.backlog.fetch_sub(1, Ordering::Relaxed);
            tracing::error!("spend writer has stopped; a spend row was not recorded");
        }
    }

    /// Rows recorded but not yet written to the database (queued, or kept in the journal
    /// while the database is down).
    pub fn backlog(&self) -> u64 {
        self.health.backlog.load(Ordering::Relaxed)
    }

    /// Whether the last write to the database succeeded (`true` before the first one).
    pub fn database_up(&self) -> bool {
        !self.health.db_down.load(Ordering::Relaxed)
    }

    /// Waits until every row recorded before this call is in the database (`true`), or one
    /// attempt to write them failed (`false`; they stay queued).
    pub async fn flush(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Flush(tx)).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

struct Writer {
    health: Arc<Health>,
    store: Store,
    path: PathBuf,
    journal: File,
    /// Rows waiting for the database, oldest first.
    pending: Vec<SpendRow>,
    /// How many of the first `pending` rows the journal holds.
    journaled: usize,
    /// Whether the journal file may hold anything (so it needs emptying once all is written).
    journal_dirty: bool,
    backoff: Duration,
    down: bool,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut closed = false;
        loop {
            let mut fresh = Vec::new();
            let mut flushes = Vec::new();
            let first = if self.pending.is_empty() {
                rx.recv().await
            } else {
                match tokio::time::timeout(self.backoff, rx.recv()).await {
                    Ok(m) => m,
                    // Time to try the database again.
                    Err(_) => Some(Msg::Retry),
                }
            };
            match first {
                None => closed = true,
                Some(Msg::Row(r)) => fresh.push(*r),
                Some(Msg::Flush(f)) => flushes.push(f),
                Some(Msg::Retry) => {}
            }
            // Rows arriving within LINGER join this batch: one journal sync and one transaction
            // for many requests instead of one each (measured: a sync and a commit per request
            // tripled the gateway's CPU per request under load). A flush does not wait.
            let deadline = tokio::time::Instant::now() + LINGER;
            while fresh.len() < CHUNK * 4 && flushes.is_empty() && !closed {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(Msg::Row(r))) => fresh.push(*r),
                    Ok(Some(Msg::Flush(f))) => flushes.push(f),
                    Ok(Some(Msg::Retry)) => {}
                    Ok(None) => closed = true,
                    Err(_) => break,
                }
            }
            // Whatever else is already waiting joins too.
            while fresh.len() < CHUNK * 4 && !closed {
                match rx.try_recv() {
                    Ok(Msg::Row(r)) => fresh.push(*r),
                    Ok(Msg::Flush(f)) => flushes.push(f),
                    Ok(Msg::Retry) => {}
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            self.pending.extend(fresh);
            let ok = self.write().await;
            for f in flushes {
                let _ = f.send(ok);
            }
            if closed {
                return;
            }
        }
    }

    /// Puts the pending rows the journal does not hold yet into it.
    async fn journal_pending(
        journal: &mut File,
        path: &Path,
        pending: &[SpendRow],
        journaled: &mut usize,
        dirty: &mut bool,
    ) {
        if *journaled >= pending.len() {
            return;
        }
        // Even a failed append may leave part of a line behind.
        *dirty = true;
        match append(journal, &pending[*journaled..]).await {
            Ok(()) => *journaled = pending.len(),
            Err(e) => {
                tracing::error!(path = %path.display(), "cannot write the spend journal: {e}");
            }
        }
    }

    /// Writes every pending row; `true` when none is left.
    async fn write(&mut self) -> bool {
        if self.down {
            // Rows must not wait in memory alone while the database is away.
            Self::journal_pending(
                &mut self.journal,
                &self.path,
                &self.pending,
                &mut self.journaled,
                &mut self.journal_dirty,
            )
            .await;
        }
        while !self.pending.is_empty() {
            let n = self.pending.len().min(CHUNK);
            let result = {
                let write = self.store.write_spend(&self.pending[..n]);
                tokio::pin!(write);
                tokio::select! {
                    r = &mut write => r,
                    () = tokio::time::sleep(JOURNAL_AFTER) => {
                        // A slow or hung database: keep the rows on disk while it decides.
                        Self::journal_pending(&mut self.journal, &self.path, &self.pending, &mut self.journaled, &mut self.journal_dirty).await;
                        write.await
                    }
                }
            };
            match result {
                Ok(_) => {
                    self.pending.drain(..n);
                    self.health.backlog.fetch_sub(n as u64, Ordering::Relaxed);
                    self.journaled = self.journaled.saturating_sub(n);
                }
                Err(e) => {
                    self.health.db_down.store(true, Ordering::Relaxed);
                    Self::journal_pending(
                        &mut self.journal,
                        &self.path,
                        &self.pending,
                        &mut self.journaled,
                        &mut self.journal_dirty,
                    )
                    .await;
                    if !self.down {
                        tracing::error!(rows = self.pending.len(), path = %self.path.display(), "database unavailable, spend rows kept on disk until it returns: {e}");
                        self.down = true;
                    }
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    return false;
                }
            }
        }
        self.health.db_down.store(false, Ordering::Relaxed);
        if self.down {
            tracing::info!("database reachable again, queued spend rows written");
            self.down = false;
        }
        self.backoff = Duration::from_millis(100);
        if self.journal_dirty {
            match self.journal.set_len(0).await {
                Ok(()) => self.journal_dirty = false,
                Err(e) => {
                    tracing::error!(path = %self.path.display(), "cannot empty the spend journal: {e}");
                }
            }
        }
        true
    }
}

/// Appends rows to the journal, one JSON line each, and syncs it.
async fn append(journal: &mut File, rows: &[SpendRow]) -> Result<(), StoreError> {
    let mut buf = Vec::new();
    for r in rows {
        serde_json::to_writer(&mut buf, r)?;
        buf.push(b'\n');
    }
    journal.write_all(&buf).await?;
    journal.sync_data().await?;
    Ok(())
}

async fn read_journal(path: &Path) -> Result<Vec<SpendRow>, StoreError> {
    let file = match File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut lines = BufReader::new(file).lines();
    let mut rows = Vec::new();
    while let Some(line) = lines.next_line().await? {
        // A line cut short by a crash mid-write is the only kind that fails to parse.
        match serde_json::from_str::<SpendRow>(&line) {
            Ok(r) => rows.push(r),
            Err(e) => tracing::warn!("skipping a damaged spend journal line: {e}"),
        }
    }
    Ok(rows)
}
