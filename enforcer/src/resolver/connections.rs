//! Which remote addresses the task's network namespace still has TCP connections to: what a
//! retired address waits for before it leaves the kernel map.

use std::{
    collections::HashSet,
    fs::File,
    io::{self, BufReader, Seek},
    net::IpAddr,
};

use procfs_core::{
    net::{TcpNetEntries, TcpState},
    ExplicitSystemInfo, FromBufReadSI,
};

/// `/proc/.../net/tcp` and `tcp6`, opened in the task's namespace and reread on each call.
pub struct TcpTables(pub [File; 2]);

impl TcpTables {
    /// Remote addresses of connections that may still send: every state but listening,
    /// closed and time-wait.
    pub fn connected_peers(&mut self) -> io::Result<HashSet<IpAddr>> {
        let info = ExplicitSystemInfo {
            boot_time_secs: 0,
            ticks_per_second: 100,
            page_size: 4096,
            is_little_endian: cfg!(target_endian = "little"),
        };
        let mut peers = HashSet::new();
        for table in &mut self.0 {
            table.rewind()?;
            let entries = TcpNetEntries::from_buf_read(BufReader::new(&*table), &info)
                .map_err(|e| io::Error::other(format!("reading the TCP table: {e}")))?;
            let live = entries.0.into_iter().filter(|e| {
                !matches!(
                    e.state,
                    TcpState::Listen | TcpState::Close | TcpState::TimeWait
                )
            });
            peers.extend(live.map(|e| e.remote_address.ip().to_canonical()));
        }
        Ok(peers)
    }
}
