//! Reading a kernel ring buffer as it fills, until told to stop.

use std::{io, os::fd::AsRawFd};

use tokio::{io::unix::AsyncFd, sync::watch};

/// Calls `drain` whenever `source` becomes readable, and once more after `stop` turns
/// true, so nothing written before the stop is lost.
pub async fn drain_until_stopped<T: AsRawFd>(
    source: T,
    mut stop: watch::Receiver<bool>,
    mut drain: impl FnMut(&mut T),
) -> io::Result<()> {
    // SAFETY: `source` owns its descriptor for as long as the AsyncFd holds it.
    let mut source = unsafe { AsyncFd::register(source) }.map_err(io::Error::from)?;
    loop {
        tokio::select! {
            ready = source.readable_mut() => {
                let mut guard = ready?;
                drain(guard.get_inner_mut());
                guard.clear_ready();
            }
            _ = stop.changed() => break,
        }
    }
    drain(source.get_mut());
    Ok(())
}
