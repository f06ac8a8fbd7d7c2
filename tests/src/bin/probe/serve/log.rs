//! The log of everything the servers received, shared by their threads.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use enforcer_tests::Received;

/// Appends one [`Received`] line per event, each in a single unbuffered write
/// so readers see whole lines as soon as the event is handled.
#[derive(Clone)]
pub struct EventLog(Arc<Mutex<File>>);

impl EventLog {
    /// Opens (creating it if needed) the log for appending.
    pub fn open(path: &Path) -> Result<EventLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("open log {}", path.display()))?;
        Ok(EventLog(Arc::new(Mutex::new(file))))
    }

    /// Logs one event. A failed write is reported on stderr and does not stop
    /// the server.
    pub fn record(&self, event: &Received) {
        let line = format!("{event}\n");
        let mut file = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Err(e) = file.write_all(line.as_bytes()) {
            eprintln!("enforcer-probe: write log: {e}");
        }
    }
}
