//! `enforcer-bench`: what enforcement costs a task's networking.
//!
//! A client in a task cgroup talks to a server in a lab network namespace over a
//! 1500-MTU veth, under three conditions: `baseline` (a plain cgroup), `full` (Full mode
//! attached) and `http` (HTTP mode, 10,000 allowed addresses). It measures TCP bulk
//! throughput, connect() rate and 64-byte ping-pong rate, then prints medians, each
//! condition's ratio to the baseline of the same repetition (the VM's swings between
//! repetitions cancel), the programs' kernel time per connect and per packet (from the
//! kernel's BPF run-time statistics), and the project's goals. Then DNS: the latency of
//! queries straight to the lab's DNS server (`dns-direct`) and steered through the task's
//! enforcer resolver (`dns-enforced`, HTTP mode), how long the resolver takes to open an
//! answer's addresses in the kernel, and whether a connect right after a lookup ever
//! fails. Then the node agent: a real `enforcer daemon` enforcing tasks through its API,
//! with the latency of each attach at 1, 100 and 1,000 tasks enforced, its memory at
//! 1,000 tasks, a connect's kernel time with 1 task and with 1,050 enforced, and the rate
//! of denial events it delivers before some are lost. A report, not a test: it exits 0
//! whether the goals are met or not, and non-zero only when it could not measure. Needs
//! root; run one at a time (the lab's addresses are fixed).

mod bench;

use std::{
    net::{IpAddr, SocketAddr},
    process::ExitCode,
};

use clap::{Args, Parser, Subcommand};

use bench::{client::Kind, dns::client::Names, dns::measure::DnsSettings};

/// Measures what the enforcer costs a task's networking: TCP throughput, connect() rate
/// and ping-pong rate of a client in a task cgroup, without programs, in Full mode and in
/// HTTP mode; DNS latency through HTTP mode's task resolver; and the node agent's attach
/// latency, memory, connect cost with many tasks and event rate. Needs root.
#[derive(Parser)]
#[command(
    name = "enforcer-bench",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
    /// The roles the benchmark starts itself in; not for people.
    #[command(subcommand)]
    role: Option<Role>,
}

#[derive(Args)]
struct RunArgs {
    /// Repetitions; each measures every metric under every condition once.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    reps: u32,
    /// Length of one measurement, in milliseconds.
    #[arg(long, default_value_t = 700, value_parser = clap::value_parser!(u64).range(1..))]
    duration_ms: u64,
    /// The CPU that client and server share (default: the last one this process may use).
    #[arg(long)]
    cpu: Option<usize>,
    /// DNS queries per latency measurement (with --first-connects, at most 400: a task
    /// resolver's burst).
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..))]
    dns_queries: u32,
    /// Lookups per repetition each followed by a connect to the answer.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    first_connects: u32,
    /// Rounds of the node agent's connect cost, each with 1 task enforced then 1,050 (each
    /// round but the last releases the 1,049 again).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    agent_reps: u32,
}

#[derive(Subcommand)]
enum Role {
    /// The lab's server (run inside the lab's network namespace).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        addr: IpAddr,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        cpu: usize,
    },
    /// One measurement; prints one JSON line (run inside a condition's cgroup).
    #[command(hide = true)]
    Client {
        #[arg(long)]
        kind: Kind,
        #[arg(long)]
        addr: IpAddr,
        #[arg(long)]
        port: u16,
        #[arg(long)]
        duration_ms: u64,
        #[arg(long)]
        cpu: usize,
    },
    /// Sequential DNS queries; prints one JSON line (run inside a condition's cgroup).
    #[command(hide = true)]
    DnsClient {
        #[arg(long)]
        names: Names,
        #[arg(long)]
        server: SocketAddr,
        #[arg(long)]
        queries: u32,
        /// The first numbered name, for new names.
        #[arg(long)]
        first: u32,
        #[arg(long)]
        cpu: usize,
    },
    /// Lookups each followed by a connect to the answer; prints one JSON line.
    #[command(hide = true)]
    DnsConnect {
        #[arg(long)]
        server: SocketAddr,
        /// Where to connect on the answered address.
        #[arg(long)]
        port: u16,
        #[arg(long)]
        count: u32,
        #[arg(long)]
        first: u32,
        #[arg(long)]
        cpu: usize,
    },
    /// Refused connects at a rate; prints one JSON line (run inside a None task's cgroup).
    #[command(hide = true)]
    AgentHammer {
        #[arg(long)]
        addr: IpAddr,
        #[arg(long)]
        port: u16,
        /// Attempts a second; 0: as fast as it can.
        #[arg(long)]
        rate: u32,
        #[arg(long)]
        duration_ms: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.role {
        None => {
            let dns = DnsSettings {
                queries: cli.run.dns_queries,
                first_connects: cli.run.first_connects,
            };
            bench::run::run(
                cli.run.reps,
                cli.run.duration_ms,
                cli.run.cpu,
                dns,
                cli.run.agent_reps,
            )
        }
        Some(Role::Serve { addr, port, cpu }) => bench::server::serve((addr, port).into(), cpu),
        Some(Role::Client {
            kind,
            addr,
            port,
            duration_ms,
            cpu,
        }) => bench::client::run(kind, (addr, port).into(), duration_ms, cpu),
        Some(Role::DnsClient {
            names,
            server,
            queries,
            first,
            cpu,
        }) => bench::dns::client::run(names, server, queries, first, cpu),
        Some(Role::DnsConnect {
            server,
            port,
            count,
            first,
            cpu,
        }) => bench::dns::first_connect::run(server, port, count, first, cpu),
        Some(Role::AgentHammer {
            addr,
            port,
            rate,
            duration_ms,
        }) => bench::agent::hammer::run((addr, port).into(), rate, duration_ms),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("enforcer-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
