//! `enforcer-probe`: the network probe of the enforcer's tests.
//!
//! It runs as the lab's servers (`serve`) and as the client inside enforced
//! tasks. Client subcommands print exactly one JSON line and exit 0 when the
//! attempt succeeded, 1 when it did not.

mod probe;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};

use probe::outcome::{report, Outcome};
use probe::sockets::Family;

/// Network probe for the enforcer's tests.
///
/// Client subcommands print one JSON line
/// `{"ok":bool,"errno":int|null,"error":string|null,"elapsed_ms":u64,"reply":string|null}`
/// and exit 0 when ok, 1 when not. `errno` is the OS errno of the failing call
/// (1 = EPERM: refused at once); timeouts give errno 110 and error "timeout".
#[derive(Parser)]
#[command(name = "enforcer-probe", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Client(Client),
    /// TCP-connect to each target in turn until the duration ends, printing one
    /// JSON line per attempt: `{"target":"ip:port","ok":bool,"errno":int|null,"t_ms":u64}`
    /// (t_ms: when the attempt started, since the loop started).
    ConnectLoop(ConnectLoopArgs),
    /// Serve HTTP, UDP echo and DNS until killed, logging what arrives.
    Serve(ServeArgs),
}

/// The one-shot client probes.
#[derive(Subcommand)]
enum Client {
    /// Connect over TCP, send `GET / HTTP/1.0`; reply = the response body.
    Tcp {
        /// Destination address.
        addr: IpAddr,
        /// Destination port.
        port: u16,
        /// Use an AF_INET6 socket; an IPv4 ADDR becomes `::ffff:a.b.c.d`.
        #[arg(long)]
        v6_socket: bool,
        /// Once connected, print `connected` on stderr and wait for a line on stdin
        /// before sending (lets a test change the policy under an open connection).
        #[arg(long)]
        hold: bool,
        /// Give up after this many milliseconds (counted after the hold).
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Send the datagram "ping" and wait for its echo; reply = the echo.
    Udp {
        /// Destination address.
        addr: IpAddr,
        /// Destination port.
        port: u16,
        /// connect() then send() instead of sendto().
        #[arg(long)]
        connect: bool,
        /// Once connected, print `connected` on stderr and wait for a line on stdin
        /// before sending.
        #[arg(long, requires = "connect")]
        hold: bool,
        /// Use an AF_INET6 socket; an IPv4 ADDR becomes `::ffff:a.b.c.d`.
        #[arg(long)]
        v6_socket: bool,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Send one DNS query; ok when any response arrives.
    ///
    /// reply = the answers' data (`<data>/<ttl>` with --show-ttl) joined by ",",
    /// prefixed with `<RCODE>:` when the response code is not NoError (e.g.
    /// `NXDomain:`, `Refused:`) and before that with `TC:` when the response
    /// is truncated; --show-source appends ` from <ip>:<port>`. With --records:
    /// a line `<RCODE>[ TC][ from <ip>:<port>]`, then one line per record of
    /// every section, `<answer|authority|additional> <owner> <ttl> <TYPE> <data>`.
    Dns(probe::dns::DnsArgs),
    /// Look a name up, then GET `/` from its first address (see `fetch --help`).
    ///
    /// reply = `<addr> <body>`, then ` again=<ok|errno N|timeout>` with --reconnect.
    Fetch(probe::fetch::FetchArgs),
    /// Create a raw ICMP (4) or ICMPv6 (6) socket; ok when created.
    Raw {
        /// 4 or 6.
        family: Family,
    },
    /// Send an ICMP echo request from a ping socket and wait for the reply.
    Ping {
        /// Address to ping.
        addr: IpAddr,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Create an AF_PACKET raw socket for all protocols; ok when created.
    Packet,
    /// Move this process into cgroup DIR (writes "0" to DIR/cgroup.procs).
    JoinCgroup {
        /// The cgroup's directory in the cgroup2 filesystem.
        dir: PathBuf,
    },
    /// Join multicast GROUP on interface IFINDEX from a UDP socket; ok when joined.
    McastJoin {
        /// The group; its family picks the socket's.
        group: IpAddr,
        /// Index of the interface to join on.
        ifindex: u32,
        /// Use MCAST_JOIN_GROUP instead of IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP.
        #[arg(long)]
        mcast_api: bool,
    },
    /// Make COUNT TCP connects to ADDR:PORT back to back; ok when all are refused with
    /// EPERM; reply = how many.
    ConnectFlood {
        /// Destination address.
        addr: IpAddr,
        /// Destination port.
        port: u16,
        /// How many connects.
        #[arg(long)]
        count: u32,
    },
    /// Send COUNT A queries for NAME to SERVER:53 back to back; reply = how many were
    /// answered.
    DnsFlood {
        /// The DNS server.
        server: IpAddr,
        /// The name to ask for.
        name: String,
        /// How many queries.
        #[arg(long)]
        count: u16,
    },
    /// Call socket(FAMILY, TYPE, PROTOCOL) (numbers); ok when created.
    Socket {
        /// Address family, e.g. 40 (AF_VSOCK) or 16 (AF_NETLINK).
        family: i32,
        /// Socket type, e.g. 1 (SOCK_STREAM), 2 (SOCK_DGRAM), 3 (SOCK_RAW).
        #[arg(value_name = "TYPE")]
        kind: i32,
        /// Protocol, e.g. a netlink family.
        #[arg(default_value_t = 0)]
        protocol: i32,
        /// Pass the family with bit 32 set (the kernel ignores it) through the raw syscall.
        #[arg(long)]
        high_bits: bool,
    },
    /// Call io_uring_setup for an 8-entry ring; ok when it gives a descriptor.
    IoUringSetup,
    /// Connect over TCP with io_uring (IORING_OP_CONNECT), then send `GET / HTTP/1.0`;
    /// reply = the response body.
    IoUringConnect {
        /// Destination address.
        addr: IpAddr,
        /// Destination port.
        port: u16,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Send "ping" over UDP with io_uring's IORING_OP_SENDMSG (no connect) and wait for the
    /// echo; reply = the echo.
    IoUringSendmsg {
        /// Destination address.
        addr: IpAddr,
        /// Destination port.
        port: u16,
        /// Give up after this many milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Bind a UDP socket (TCP with --tcp) to ADDR:PORT; ok when bound.
    Bind {
        addr: IpAddr,
        port: u16,
        #[arg(long)]
        tcp: bool,
    },
    /// Set mark VALUE (SO_MARK) on a UDP socket; ok when set.
    Mark { value: u32 },
    /// Connect to a unix stream socket: `@NAME` (abstract) or a path; ok when connected.
    UnixConnect {
        /// `@name` or `/path`.
        target: String,
    },
    /// pidfd_open PID, then send it signal 0; ok when both succeed (errno 3 = ESRCH:
    /// not visible from here).
    PidfdSignal {
        /// The process, as this process's PID namespace numbers it.
        pid: i32,
    },
    /// ioctl TIOCSTI: push the byte CHAR into a terminal's input as if typed; ok when the
    /// terminal took it. TARGET: a descriptor number (0: stdin), `pty` (a new pseudo-terminal
    /// made this process's controlling terminal; reply = what its reader then reads), or a
    /// path (`/dev/tty`: the controlling terminal).
    Tiocsti {
        target: String,
        /// The byte pushed.
        #[arg(long, default_value = "X")]
        char: char,
        /// Pass the request with bit 32 set (the kernel ignores it) through the raw syscall.
        #[arg(long)]
        high_bits: bool,
        /// Make the call through the i386 ABI (`int 0x80`).
        #[arg(long)]
        i386: bool,
    },
    /// ioctl TIOCLINUX with SUBCODE on TARGET (as for tiocsti); ok when the console
    /// answered; reply = the answer.
    Tioclinux {
        target: String,
        /// The subcode; 12 (TIOCL_GETFGCONSOLE) only asks which console is in front.
        #[arg(long, default_value_t = 12)]
        subcode: u8,
        /// Pass the request with bit 32 set (the kernel ignores it) through the raw syscall.
        #[arg(long)]
        high_bits: bool,
        /// Make the call through the i386 ABI (`int 0x80`).
        #[arg(long)]
        i386: bool,
    },
    /// Read the "user" key DESCRIPTION, found in the session keyring (ENOKEY when it is not
    /// there); reply = its payload.
    KeyringRead {
        description: String,
        /// Find it by its serial in /proc/keys instead (ENOKEY when not listed).
        #[arg(long)]
        by_id: bool,
    },
    /// request_key(2) of the "user" key DESCRIPTION, no callout; reply = its serial.
    RequestKey { description: String },
    /// Create a SysV message queue under KEY (IPC_EXCL, mode 0666); reply = its id. It
    /// outlives the probe.
    MsgCreate { key: i32 },
    /// Look up the SysV message queue under KEY; reply = its id (errno 2 = ENOENT: none here).
    MsgFind { key: i32 },
    /// Ask for a new user namespace (CLONE_NEWUSER) with CALL; ok when made. A clone's child
    /// exits at once.
    Userns {
        call: probe::userns::Call,
        /// More clone flags to ask for at the same time (e.g. 131072 = CLONE_NEWNS).
        #[arg(long, default_value_t = 0)]
        extra_flags: u64,
        /// Set bit 32 of the flags (unshare and clone; the kernel refuses it with EINVAL).
        #[arg(long)]
        high_bits: bool,
        /// Make the call through the i386 ABI (`int 0x80`).
        #[arg(long)]
        i386: bool,
    },
}

#[derive(Args)]
struct ConnectLoopArgs {
    /// `ip:port` or `[ipv6]:port`; repeatable.
    #[arg(long = "target", required = true)]
    targets: Vec<SocketAddr>,
    /// Stop starting attempts after this many milliseconds.
    #[arg(long)]
    duration_ms: u64,
    /// Pause after each attempt.
    #[arg(long, default_value_t = 5)]
    interval_ms: u64,
    /// Give up on one connect after this many milliseconds.
    #[arg(long, default_value_t = 500)]
    timeout_ms: u64,
}

/// Every port is bound on every `--bind` address. Logged lines:
/// `tcp <local ip> <port> <peer ip>`, `udp <local ip> <port> <peer ip>`,
/// `dns <qname> <qtype> <peer ip> <udp|tcp>`.
#[derive(Args)]
struct ServeArgs {
    /// Append one line per connection, datagram or query here.
    #[arg(long)]
    log: PathBuf,
    /// Written (JSON list of bound sockets) once every socket is bound.
    #[arg(long)]
    ready: PathBuf,
    /// HTTP port; repeatable; 0 lets the kernel pick.
    #[arg(long = "tcp-port")]
    tcp_ports: Vec<u16>,
    /// UDP echo port; repeatable.
    #[arg(long = "udp-port")]
    udp_ports: Vec<u16>,
    /// DNS port, served over UDP and TCP.
    #[arg(long)]
    dns_port: Option<u16>,
    /// The DNS data: a JSON `ZoneSpec` file. Without it every name is NXDOMAIN.
    #[arg(long)]
    zone: Option<PathBuf>,
    /// Address to serve on; repeatable. Default: 0.0.0.0 and :: (IPv6 only).
    #[arg(long = "bind")]
    binds: Vec<IpAddr>,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Client(client) => run_client(client),
        Command::ConnectLoop(args) => exit_status(probe::connect_loop::run(&args)),
        Command::Serve(args) => exit_status(probe::serve::run(&args)),
    }
}

fn run_client(client: Client) -> ExitCode {
    let start = Instant::now();
    let outcome: Outcome = match client {
        Client::Tcp {
            addr,
            port,
            v6_socket,
            hold,
            timeout_ms,
        } => probe::tcp::http_get(
            probe::addr::destination(addr, port, v6_socket),
            timeout_ms,
            if hold {
                probe::tcp::Hold::StdinLine
            } else {
                probe::tcp::Hold::No
            },
        ),
        Client::Udp {
            addr,
            port,
            connect,
            hold,
            v6_socket,
            timeout_ms,
        } => probe::udp::echo(
            probe::addr::destination(addr, port, v6_socket),
            connect,
            hold,
            timeout_ms,
        ),
        Client::Dns(args) => probe::dns::query(&args),
        Client::Fetch(args) => probe::fetch::fetch(&args),
        Client::Raw { family } => probe::sockets::raw(family),
        Client::Ping { addr, timeout_ms } => probe::ping::ping(addr, timeout_ms),
        Client::Packet => probe::sockets::packet(),
        Client::JoinCgroup { dir } => probe::cgroup::join(&dir),
        Client::McastJoin {
            group,
            ifindex,
            mcast_api,
        } => probe::multicast::join(group, ifindex, mcast_api),
        Client::ConnectFlood { addr, port, count } => {
            probe::flood::connect_flood(SocketAddr::new(addr, port), count)
        }
        Client::DnsFlood {
            server,
            name,
            count,
        } => probe::flood::dns_flood(SocketAddr::new(server, 53), &name, count),
        Client::Socket {
            family,
            kind,
            protocol,
            high_bits,
        } => probe::socket_family::create(family, kind, protocol, high_bits),
        Client::IoUringSetup => probe::uring::setup(),
        Client::IoUringConnect {
            addr,
            port,
            timeout_ms,
        } => probe::uring::connect(SocketAddr::new(addr, port), timeout_ms),
        Client::IoUringSendmsg {
            addr,
            port,
            timeout_ms,
        } => probe::uring::sendmsg(SocketAddr::new(addr, port), timeout_ms),
        Client::Bind { addr, port, tcp } => probe::bind::bind(addr, port, tcp),
        Client::Mark { value } => probe::mark::set(value),
        Client::UnixConnect { target } => probe::unix::connect(&target),
        Client::PidfdSignal { pid } => probe::pidfd::signal(pid),
        Client::Tiocsti {
            target,
            char,
            high_bits,
            i386,
        } => probe::terminal::tiocsti(&target, char as u8, high_bits, i386),
        Client::Tioclinux {
            target,
            subcode,
            high_bits,
            i386,
        } => probe::terminal::tioclinux(&target, subcode, high_bits, i386),
        Client::KeyringRead { description, by_id } => probe::keyring::read(&description, by_id),
        Client::RequestKey { description } => probe::keyring::request(&description),
        Client::MsgCreate { key } => probe::sysv::create(key),
        Client::MsgFind { key } => probe::sysv::find(key),
        Client::Userns {
            call,
            extra_flags,
            high_bits,
            i386,
        } => probe::userns::create(call, extra_flags, high_bits, i386),
    };
    let result = report(outcome, start.elapsed());
    println!(
        "{}",
        serde_json::to_string(&result).expect("a probe result serializes")
    );
    if result.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Exit status of the non-client subcommands: 2 on error, which a client
/// never uses.
fn exit_status(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("enforcer-probe: {e:#}");
            ExitCode::from(2)
        }
    }
}
