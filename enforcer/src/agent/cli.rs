//! The agent's client commands of the `enforcer` CLI: `attach`, `detach`, `list`, `events`,
//! `status`. `main.rs` only wires their arguments.
//!
//! Exit codes: 0 done; 1 refused (no such task, id or cgroup taken); 2 bad input (flags, or
//! the agent answered 400 or 422); 125 the agent is unreachable or failed (5xx).

#[cfg(test)]
mod tests;
mod text;

use std::{io::Write, ops::ControlFlow, path::PathBuf, process::ExitCode};

use clap::Args;

use super::{
    api::{check_id, CgroupRef, EnforceRequest, EventLine, JobRef, NetworkRequest, DEFAULT_SOCKET},
    client::{AgentClient, ClientError},
};
use crate::spec::{self, NetworkSpec, NetworkType};

const EXIT_REFUSED: u8 = 1;
const EXIT_INVALID: u8 = 2;
const EXIT_UNAVAILABLE: u8 = 125;

/// Where the agent is and how to print its answers (every client command).
#[derive(Args, Debug)]
pub struct ClientArgs {
    /// The agent's API socket.
    #[arg(long, env = "ENFORCER_SOCKET", default_value = DEFAULT_SOCKET, value_name = "PATH")]
    pub socket: PathBuf,
    /// Print the agent's JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `enforcer attach`.
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// The task's id: 1 to 128 of A-Z a-z 0-9 _ . - (not starting with .).
    #[arg(long)]
    pub id: String,
    #[command(flatten)]
    pub cgroup: CgroupArgs,
    #[command(flatten)]
    pub network: AttachNetworkArgs,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The task's cgroup: by path or by a process in it.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct CgroupArgs {
    /// The task's cgroup: an absolute path under the cgroup2 mount.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    /// A process of the task; its cgroup is enforced.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

/// The task's network: type and domains, or a Bacalhau job spec.
#[derive(Args, Debug)]
pub struct AttachNetworkArgs {
    /// Network type: None, Full (= Host), Host, HTTP, Bridge, Default.
    #[arg(
        long,
        value_name = "TYPE",
        conflicts_with = "spec",
        required_unless_present = "spec"
    )]
    pub network: Option<String>,
    /// Domain for HTTP mode (repeatable): name, .wildcard or *.wildcard, IP, or CIDR.
    #[arg(long = "domain", value_name = "DOMAIN", requires = "network")]
    pub domains: Vec<String>,
    /// Bacalhau job spec (JSON or YAML) whose Tasks[].Network to enforce.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Which task of the job spec, when it has several.
    #[arg(long, value_name = "NAME", requires = "spec")]
    pub task: Option<String>,
    /// TCP port allowed in HTTP mode (repeatable; default: the agent's).
    #[arg(long = "http-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub http_ports: Vec<u16>,
}

/// `enforcer detach`.
#[derive(Args, Debug)]
pub struct DetachArgs {
    /// The task's id.
    #[arg(long)]
    pub id: String,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// `enforcer attach`: asks the agent to enforce a task's cgroup.
pub fn attach(args: &AttachArgs) -> ExitCode {
    let request = match args.request() {
        Ok(request) => request,
        Err(e) => return fail(EXIT_INVALID, e),
    };
    match args.client.client().enforce(&request) {
        Ok(view) if args.client.json => print_json(&view),
        Ok(view) => println!("{}", text::task_summary(&view)),
        Err(e) => return refused(e),
    }
    ExitCode::SUCCESS
}

/// `enforcer detach`: asks the agent to release a task.
pub fn detach(args: &DetachArgs) -> ExitCode {
    if let Err(e) = check_id(&args.id) {
        return fail(EXIT_INVALID, e);
    }
    match args.client.client().release(&args.id) {
        Ok(()) if args.client.json => print_json(&serde_json::json!({ "released": args.id })),
        Ok(()) => println!("released task {}", args.id),
        Err(e) => return refused(e),
    }
    ExitCode::SUCCESS
}

/// `enforcer list`: the agent's tasks, one a line.
pub fn list(args: &ClientArgs) -> ExitCode {
    match args.client().list() {
        Ok(tasks) if args.json => print_json(&tasks),
        Ok(tasks) => print!("{}", text::task_table(&tasks)),
        Err(e) => return refused(e),
    }
    ExitCode::SUCCESS
}

/// `enforcer status`.
pub fn status(args: &ClientArgs) -> ExitCode {
    match args.client().status() {
        Ok(status) if args.json => print_json(&status),
        Ok(status) => println!("{}", text::status_line(&status)),
        Err(e) => return refused(e),
    }
    ExitCode::SUCCESS
}

/// `enforcer events`: denial events as they happen, until interrupted or stdout closes.
pub fn events(args: &ClientArgs) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    let mut stdout_closed = false;
    let streamed = args.client().events(|line| {
        let written = match (&line, args.json) {
            (_, true) => serde_json::to_string(&line)
                .map_err(std::io::Error::from)
                .and_then(|json| writeln!(stdout, "{json}")),
            (EventLine::Event(record), false) => writeln!(stdout, "{}", text::event_line(record)),
            (EventLine::Lagged { lagged }, false) => {
                eprintln!("enforcer: {lagged} event(s) dropped: this reader fell behind");
                Ok(())
            }
        };
        match written.and_then(|()| stdout.flush()) {
            Ok(()) => ControlFlow::Continue(()),
            Err(_) => {
                stdout_closed = true;
                ControlFlow::Break(())
            }
        }
    });
    match streamed {
        Ok(()) if stdout_closed => ExitCode::SUCCESS,
        Ok(()) => fail(
            EXIT_UNAVAILABLE,
            "the agent ended the event stream (it is stopping)",
        ),
        Err(e) => refused(e),
    }
}

impl ClientArgs {
    fn client(&self) -> AgentClient {
        AgentClient::new(&self.socket)
    }
}

impl AttachArgs {
    /// The request, checked here as far as the CLI can; the agent stays the judge.
    fn request(&self) -> Result<EnforceRequest, String> {
        check_id(&self.id).map_err(|e| e.to_string())?;
        let cgroup = match (&self.cgroup.cgroup, self.cgroup.pid) {
            (Some(path), None) => CgroupRef::Path(path.clone()),
            (None, Some(pid)) => CgroupRef::Pid(pid),
            _ => return Err("give --cgroup PATH or --pid PID".to_owned()),
        };
        Ok(EnforceRequest {
            id: self.id.clone(),
            cgroup,
            network: self.network.request()?,
        })
    }
}

impl AttachNetworkArgs {
    fn request(&self) -> Result<NetworkRequest, String> {
        let http_ports = spec::http_ports(&self.http_ports).map_err(|e| e.to_string())?;
        match (&self.network, &self.spec) {
            // clap lets these through: what they require conflicts with what is given.
            (Some(_), None) if self.task.is_some() => {
                Err("--task selects a task of a job spec; give --spec FILE".to_owned())
            }
            (None, Some(_)) if !self.domains.is_empty() => {
                Err("--domain goes with --network; a job spec lists its own Domains".to_owned())
            }
            (Some(network), None) => {
                let network_type = NetworkType::parse(network).map_err(|e| e.to_string())?;
                NetworkSpec::new(network_type, &self.domains).map_err(|e| e.to_string())?;
                let mut declared = serde_json::json!({ "Type": network });
                if !self.domains.is_empty() {
                    declared["Domains"] = serde_json::json!(self.domains);
                }
                Ok(NetworkRequest {
                    network: Some(declared),
                    job: None,
                    http_ports,
                })
            }
            (None, Some(path)) => {
                NetworkSpec::from_job_file(path, self.task.as_deref())
                    .map_err(|e| e.to_string())?;
                let spec = std::fs::read_to_string(path)
                    .map_err(|e| format!("could not read job spec {}: {e}", path.display()))?;
                Ok(NetworkRequest {
                    network: None,
                    job: Some(JobRef {
                        spec,
                        task: self.task.clone(),
                    }),
                    http_ports,
                })
            }
            _ => Err("give --network TYPE (with --domain for HTTP) or --spec FILE".to_owned()),
        }
    }
}

/// The exit code for a call that failed.
fn exit_code(error: &ClientError) -> u8 {
    match error {
        ClientError::Api {
            status: 400 | 422, ..
        } => EXIT_INVALID,
        ClientError::Api { status, .. } if *status < 500 => EXIT_REFUSED,
        _ => EXIT_UNAVAILABLE,
    }
}

fn refused(error: ClientError) -> ExitCode {
    fail(exit_code(&error), error)
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("enforcer: {message}");
    ExitCode::from(code)
}

fn print_json(value: &impl serde::Serialize) {
    let json = serde_json::to_string_pretty(value).expect("API values are plain JSON");
    println!("{json}");
}
