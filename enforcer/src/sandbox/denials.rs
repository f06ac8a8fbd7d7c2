//! Sandbox denials (seccomp refusals answered by the task's init), read from the init's pipe
//! and logged like the kernel programs' denials.

use std::os::fd::OwnedFd;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::seccomp::SandboxDenial;
use crate::events::{Denial, DenialHook, DenialLog, DenialReason};

/// Logs the denials the init reports for `task`, at a bounded rate, until the init's end
/// closes the pipe.
pub async fn log_sandbox_denials(pipe: OwnedFd, task: String) -> std::io::Result<()> {
    let receiver = tokio::net::unix::pipe::Receiver::from_owned_fd(pipe)?;
    let mut lines = BufReader::new(receiver).lines();
    let mut log = DenialLog::new(&task, None);
    let read = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(denial) = decode(&line) {
                log.record(&denial);
            }
        }
        Ok(())
    }
    .await;
    log.finish();
    read
}

/// One reported line as a [`Denial`]; `None` for anything the init would not write.
fn decode(line: &str) -> Option<Denial> {
    let reported: SandboxDenial = serde_json::from_str(line).ok()?;
    Some(Denial {
        hook: DenialHook::Seccomp,
        reason: DenialReason::Sandbox(reported.reason),
        protocol: reported.what,
        addr: None,
        port: None,
        pid: Some(reported.pid),
        comm: (!reported.comm.is_empty()).then_some(reported.comm),
        name: None,
        qtype: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_the_init_writes() {
        let line = r#"{"pid":7,"comm":"probe","reason":"socket-family","what":"af-vsock"}"#;
        let denial = decode(line).unwrap();
        assert_eq!(denial.hook, DenialHook::Seccomp);
        assert_eq!(denial.reason.as_str(), "socket-family");
        assert_eq!(denial.protocol, "af-vsock");
        assert_eq!(denial.destination(), "-");
        assert_eq!(denial.pid, Some(7));
        assert_eq!(
            decode(r#"{"pid":7,"comm":"","reason":"other","what":"x"}"#),
            None
        );
        assert_eq!(decode("garbage"), None);
    }
}
