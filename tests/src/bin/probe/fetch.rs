//! `fetch`: what an HTTP client does with a name: look it up, connect to the first address
//! of the answer, GET `/`. Optionally waits between connect and request (so the address
//! can expire under an open connection), then tries a second connection to the same address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use hickory_proto::rr::RecordType;

use super::deadline::Deadline;
use super::dns::{lookup, parse_qtype};
use super::outcome::{Failure, Outcome};
use super::tcp::{self, Hold};

#[derive(Args)]
pub struct FetchArgs {
    /// The DNS server to ask (any address: an HTTP task's DNS goes to its resolver).
    server: IpAddr,
    /// The name to fetch from.
    name: String,
    /// A or AAAA.
    #[arg(long, default_value = "A", value_parser = parse_qtype)]
    qtype: RecordType,
    /// HTTP port.
    #[arg(long, default_value_t = 80)]
    port: u16,
    /// Milliseconds between connect and request.
    #[arg(long, default_value_t = 0)]
    pause_ms: u64,
    /// After the download, connect to the same address again and report how that went.
    #[arg(long)]
    reconnect: bool,
    /// Give up on each step after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
}

/// reply = `<addr> <body>`, then ` again=<ok|errno N|timeout>` with `--reconnect`.
pub fn fetch(args: &FetchArgs) -> Outcome {
    let deadline = Deadline::after_ms(args.timeout_ms);
    let server = SocketAddr::new(args.server, 53);
    let addresses =
        lookup(server, &args.name, args.qtype, &deadline).map_err(|f| f.during("lookup"))?;
    let addr = *addresses
        .first()
        .ok_or_else(|| Failure::other(format!("lookup: no address for {}", args.name)))?;
    let dest = SocketAddr::new(addr, args.port);
    let pause = Hold::For(Duration::from_millis(args.pause_ms));
    let body = tcp::http_get(dest, args.timeout_ms, pause)?.unwrap_or_default();
    let mut reply = format!("{addr} {}", body.trim_end());
    if args.reconnect {
        let again = match tcp::connect(dest, Duration::from_millis(args.timeout_ms)) {
            Ok(_) => "ok".to_string(),
            Err(e) => match Failure::from(e).errno() {
                Some(libc::ETIMEDOUT) => "timeout".into(),
                Some(errno) => format!("errno {errno}"),
                None => "error".into(),
            },
        };
        reply.push_str(&format!(" again={again}"));
    }
    Ok(Some(reply))
}
