//! The `enforcer` command line: `run`, `validate`, `admit`, `gc`, the node agent `daemon`
//! with its client commands `attach`, `detach`, `list`, `events`, `status`, and the OCI
//! runtime hook `oci-hook`.

use std::{ffi::OsString, net::IpAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand, ValueEnum};
use enforcer::{
    admission,
    agent::{
        cli as agent_cli,
        client::AgentClient,
        config::{parse_allowed_net, parse_upstream, AgentConfig},
        daemon::{self, DaemonOptions, DEFAULT_PIN_DIR, DEFAULT_STATE_DIR},
    },
    enforcement::AllowedNet,
    oci::{hook as oci_hook, HookStage},
    run::{self, RunOptions, DEFAULT_HTTP_PORTS},
    sandbox::{init, Identity},
    spec::{self, NetworkSpec, NetworkType, Resolved, ResolvedNetworkKind},
};

/// Exit code when the enforcer itself fails (the task did not run), as container runtimes do.
const EXIT_ENFORCER_FAILED: u8 = 125;
/// Exit code for a spec or flag that is not valid.
const EXIT_INVALID: u8 = 2;

#[derive(Parser)]
#[command(
    name = "enforcer",
    version,
    about = "Keeps a task's network promise in the kernel"
)]
struct Cli {
    /// Log format on stderr (denial events included).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run CMD in a new cgroup with its network enforced; exits with CMD's status.
    Run(RunArgs),
    /// Print what would be enforced for a job spec or flags, or why it is not valid.
    Validate(ValidateArgs),
    /// Say whether this node runs a job's network under its node policy, with reasons: exits
    /// 0 (accept), 1 (reject) or 2 (bad input). Reads Bacalhau's job-selection probe data too.
    Admit(AdmitArgs),
    /// Remove what dead `enforcer run` processes left behind (their tasks are killed).
    Gc,
    /// Run the node agent: enforce the cgroups its API is given, surviving its own restart.
    Daemon(DaemonArgs),
    /// OCI runtime hook (createRuntime, poststop): enforce an annotated container through
    /// the node agent before it starts, or refuse to let it start.
    OciHook(OciHookArgs),
    /// Ask the node agent to enforce a running task's cgroup.
    Attach(agent_cli::AttachArgs),
    /// Ask the node agent to release a task.
    Detach(agent_cli::DetachArgs),
    /// The node agent's tasks with their counters.
    List(agent_cli::ClientArgs),
    /// The node agent's denial events as they happen, until interrupted.
    Events(agent_cli::ClientArgs),
    /// The node agent's status.
    Status(agent_cli::ClientArgs),
    /// The task's PID 1, started by `enforcer run` inside the task's sandbox.
    #[command(hide = true)]
    TaskInit(TaskInitArgs),
}

#[derive(Args)]
struct DaemonArgs {
    /// The agent's config file (YAML; see deploy/agent.yaml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Where the API listens (overrides the config file).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Resolver to look allowed names up with, IP or IP:port (repeatable; overrides the
    /// config file; default: the node's).
    #[arg(long, value_name = "ADDR", value_parser = parse_upstream)]
    upstream: Vec<std::net::SocketAddr>,
    /// Where programs, maps and task links are pinned (on bpffs).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_PIN_DIR)]
    pin_dir: PathBuf,
    /// Where task records are kept (tmpfs: they go at reboot with the pins).
    #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[command(flatten)]
    node: NodeDefault,
}

#[derive(Args)]
struct OciHookArgs {
    /// The agent's config file: its `socket` and `default_network` are used.
    #[arg(long, value_name = "FILE", default_value = "/etc/enforcer/agent.yaml")]
    config: PathBuf,
    /// The runtime stage this hook runs at.
    #[arg(long, value_enum, default_value_t = HookStage::CreateRuntime)]
    stage: HookStage,
    /// The agent's socket (overrides the config file).
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
}

#[derive(Args)]
struct TaskInitArgs {
    #[arg(long, requires = "gid")]
    uid: Option<u32>,
    #[arg(long, requires = "uid")]
    gid: Option<u32>,
    #[arg(long)]
    restrict_network: bool,
    #[arg(long)]
    events_fd: i32,
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// What Type Default means on this node (`run`, `validate`, `admit`).
#[derive(Args)]
struct NodeDefault {
    /// What Type Default means on this node.
    #[arg(
        long,
        env = "ENFORCER_DEFAULT_NETWORK",
        default_value = "none",
        value_name = "none|full|http"
    )]
    default_network: ResolvedNetworkKind,
}

#[derive(Args)]
struct NetworkArgs {
    /// Network type: None, Full (= Host), Host, HTTP, Bridge (= Full for egress), Default.
    #[arg(long, value_name = "TYPE", conflicts_with = "spec")]
    network: Option<String>,
    /// Domain for HTTP mode (repeatable): name, .wildcard or *.wildcard, IP, or CIDR.
    #[arg(long = "domain", value_name = "DOMAIN", requires = "network")]
    domains: Vec<String>,
    /// Bacalhau job spec (JSON or YAML) whose Tasks[].Network to enforce.
    #[arg(long, value_name = "FILE")]
    spec: Option<PathBuf>,
    /// Which task of the job spec, when it has several.
    #[arg(long, value_name = "NAME")]
    task: Option<String>,
    #[command(flatten)]
    node: NodeDefault,
    /// TCP port allowed in HTTP mode (repeatable; default 80 and 443).
    #[arg(long = "http-port", value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    http_ports: Vec<u16>,
}

impl NetworkArgs {
    /// The resolved network from `--network`/`--domain`, or from a job spec (`--spec`, or
    /// the file given to `validate`) and `--task`.
    fn resolve(&self, spec_file: Option<&std::path::Path>) -> Result<Resolved, String> {
        Ok(self.spec(spec_file)?.resolve(self.node.default_network))
    }

    /// The network spec from `--network`/`--domain`, or from a job spec and `--task`.
    fn spec(&self, spec_file: Option<&std::path::Path>) -> Result<NetworkSpec, String> {
        let spec_file = spec_file.or(self.spec.as_deref());
        let spec = match (&self.network, spec_file) {
            (Some(network), None) => {
                if self.task.is_some() {
                    return Err("--task selects a task of a job spec; give --spec FILE".into());
                }
                let network_type = NetworkType::parse(network).map_err(|e| e.to_string())?;
                NetworkSpec::new(network_type, &self.domains).map_err(|e| e.to_string())?
            }
            (None, Some(path)) => {
                NetworkSpec::from_job_file(path, self.task.as_deref()).map_err(|e| e.to_string())?
            }
            (Some(_), Some(_)) => return Err("give --network or a job spec, not both".into()),
            (None, None) => {
                return Err("give --network TYPE (with --domain for HTTP) or --spec FILE".into())
            }
        };
        Ok(spec)
    }

    /// The HTTP ports, sorted and deduplicated; 80 and 443 when none were given. More than
    /// the kernel programs hold is an error, for `validate` as for `run`.
    fn http_ports(&self) -> Result<Vec<u16>, String> {
        if self.http_ports.is_empty() {
            return Ok(DEFAULT_HTTP_PORTS.to_vec());
        }
        spec::http_ports(&self.http_ports).map_err(|e| e.to_string())
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    network: NetworkArgs,
    /// Resolver the enforcer asks for an HTTP task's allowed names (repeatable; default: the
    /// node's /etc/resolv.conf). The task itself only ever talks to the enforcer's resolver.
    #[arg(long, value_name = "ADDR")]
    upstream: Vec<IpAddr>,
    /// Seconds a looked-up address stays allowed at least, whatever its TTL (HTTP mode).
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
        value_parser = clap::value_parser!(u32).range(1..=86_400))]
    dns_min_ttl: u32,
    /// Internal addresses (private, loopback, link-local, node) a name may still open when
    /// the task looks it up, as IP or CIDR (repeatable; default: none).
    #[arg(long = "allow-internal", value_name = "CIDR", value_parser = parse_allowed_net)]
    allow_internal: Vec<AllowedNet>,
    /// Network namespace the task joins (`/run/netns/NAME`, `/proc/PID/ns/net`); its loopback
    /// must be up. Default: the enforcer's.
    #[arg(long, value_name = "PATH")]
    netns: Option<PathBuf>,
    /// Parent cgroup of the task's cgroup (default: <cgroup2 mount>/enforcer).
    #[arg(long, value_name = "DIR")]
    cgroup_parent: Option<PathBuf>,
    /// Name of the task's cgroup and pins (default: task-<pid>).
    #[arg(long, value_name = "ID")]
    task_id: Option<String>,
    /// Run CMD as USER[:GROUP] (default: the sudo caller, else unchanged).
    #[arg(long, value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// Node policy (YAML or JSON): refuse a task it does not admit (see `enforcer admit`).
    #[arg(long, env = "ENFORCER_NODE_POLICY", value_name = "FILE")]
    node_policy: Option<PathBuf>,
    /// The task's command.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<OsString>,
}

#[derive(Args)]
struct AdmitArgs {
    /// Job spec or probe data (JSON or YAML); `-` reads stdin. Without it: the probe data in
    /// $BACALHAU_JOB_SELECTION_PROBE_DATA when set, else stdin.
    #[arg(long, value_name = "FILE|-")]
    spec: Option<PathBuf>,
    /// Judge only this task (default: every task of the job).
    #[arg(long, value_name = "NAME")]
    task: Option<String>,
    /// Node policy (YAML or JSON); without one, every valid network spec is admitted.
    #[arg(long, env = "ENFORCER_NODE_POLICY", value_name = "FILE")]
    node_policy: Option<PathBuf>,
    #[command(flatten)]
    node: NodeDefault,
    /// Print {"accept": bool, "reasons": [...]} instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ValidateArgs {
    /// Bacalhau job spec (JSON or YAML); the same as --spec.
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    #[command(flatten)]
    network: NetworkArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Run(args) => run_command(args),
        Command::Validate(args) => validate_command(args),
        Command::Admit(args) => admit_command(args),
        Command::Gc => gc_command(),
        Command::Daemon(args) => daemon_command(args),
        Command::OciHook(args) => oci_hook_command(args),
        Command::Attach(args) => agent_cli::attach(&args),
        Command::Detach(args) => agent_cli::detach(&args),
        Command::List(args) => agent_cli::list(&args),
        Command::Events(args) => agent_cli::events(&args),
        Command::Status(args) => agent_cli::status(&args),
        Command::TaskInit(args) => task_init_command(args),
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, not in files or the journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("enforcer: {message}");
    ExitCode::from(code)
}

/// The config file, if given, with the flags over it.
fn agent_config(
    file: Option<&std::path::Path>,
    socket: Option<PathBuf>,
    upstream: &[std::net::SocketAddr],
) -> Result<AgentConfig, String> {
    let mut config = match file {
        Some(path) => AgentConfig::load(path).map_err(|e| e.to_string())?,
        None => AgentConfig::default(),
    };
    config.override_with(socket, upstream);
    Ok(config)
}

fn daemon_command(args: DaemonArgs) -> ExitCode {
    let config = match agent_config(args.config.as_deref(), args.socket, &args.upstream) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_INVALID, e),
    };
    let options = DaemonOptions {
        config,
        pin_dir: args.pin_dir,
        state_dir: args.state_dir,
        default_network: args.node.default_network,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(EXIT_ENFORCER_FAILED, format!("starting the runtime: {e}")),
    };
    match runtime.block_on(daemon::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(EXIT_ENFORCER_FAILED, e),
    }
}

fn oci_hook_command(args: OciHookArgs) -> ExitCode {
    // A node without a config file runs the agent on its defaults; so does the hook.
    let file = args.config.exists().then_some(args.config.as_path());
    let config = match agent_config(file, args.socket, &[]) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_INVALID, e),
    };
    let agent = AgentClient::new(config.socket);
    match oci_hook::run(
        args.stage,
        config.default_network,
        &agent,
        std::io::stdin().lock(),
    ) {
        Ok(outcome) => {
            eprintln!("enforcer: {outcome}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}

fn run_command(args: RunArgs) -> ExitCode {
    let spec = match args.network.spec(None) {
        Ok(spec) => spec,
        Err(e) => return fail(EXIT_INVALID, e),
    };
    if let Some(policy) = &args.node_policy {
        if let Err(e) = admission::check_task(policy, &spec, args.network.node.default_network) {
            return fail(EXIT_INVALID, e);
        }
    }
    let resolved = spec.resolve(args.network.node.default_network);
    for note in &resolved.notes {
        tracing::info!("{note}");
    }
    let identity = match Identity::choose(args.user.as_deref()) {
        Ok(identity) => identity,
        Err(e) => return fail(EXIT_INVALID, e),
    };
    let options = RunOptions {
        network: resolved.network,
        http_ports: match args.network.http_ports() {
            Ok(ports) => ports,
            Err(e) => return fail(EXIT_INVALID, e),
        },
        upstream: args.upstream,
        dns_min_ttl: std::time::Duration::from_secs(args.dns_min_ttl.into()),
        allow_internal: args.allow_internal,
        netns: args.netns,
        cgroup_parent: args.cgroup_parent,
        task_id: args.task_id,
        identity,
        command: args.command,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(EXIT_ENFORCER_FAILED, e),
    };
    match runtime.block_on(run::run(options)) {
        Ok(status) => ExitCode::from(run::exit_code(status) as u8),
        Err(e @ enforcer::Error::Usage(_)) => {
            fail(EXIT_INVALID, format!("{e}; the task did not run"))
        }
        Err(e @ enforcer::Error::AfterTask { .. }) => fail(EXIT_ENFORCER_FAILED, e),
        Err(e) => fail(EXIT_ENFORCER_FAILED, format!("{e}; the task did not run")),
    }
}

fn validate_command(args: ValidateArgs) -> ExitCode {
    let resolved = match args.network.resolve(args.file.as_deref()) {
        Ok(resolved) => resolved,
        Err(e) => return fail(EXIT_INVALID, e),
    };
    let ports = match args.network.http_ports() {
        Ok(ports) => ports,
        Err(e) => return fail(EXIT_INVALID, e),
    };
    println!("{}", enforcer::policy::describe(&resolved.network, &ports));
    for note in &resolved.notes {
        println!("note: {note}");
    }
    ExitCode::SUCCESS
}

fn admit_command(args: AdmitArgs) -> ExitCode {
    let source = admission::Source::choose(
        args.spec.as_deref(),
        std::env::var_os(admission::PROBE_DATA_ENV),
    );
    match admission::admit_job(
        &source,
        args.task.as_deref(),
        args.node_policy.as_deref(),
        args.node.default_network,
    ) {
        Ok(verdict) if args.json => {
            print!("{}", verdict.to_json());
            ExitCode::from(u8::from(!verdict.accept))
        }
        Ok(verdict) => {
            print!("{}", verdict.to_text());
            ExitCode::from(u8::from(!verdict.accept))
        }
        Err(e) => fail(EXIT_INVALID, e),
    }
}

fn task_init_command(args: TaskInitArgs) -> ExitCode {
    let identity = args
        .uid
        .zip(args.gid)
        .map(|(uid, gid)| Identity { uid, gid });
    let status = init::main(init::InitOptions {
        identity,
        restrict_network: args.restrict_network,
        events_fd: args.events_fd,
        command: args.command,
    });
    ExitCode::from(status as u8)
}

fn gc_command() -> ExitCode {
    if !enforcer::node::is_root() {
        return fail(EXIT_ENFORCER_FAILED, enforcer::Error::NotRoot);
    }
    let ids = enforcer::gc::collect_dead_runs();
    let listed = if ids.is_empty() {
        String::new()
    } else {
        format!(": {}", ids.join(", "))
    };
    println!("removed {} dead run(s){listed}", ids.len());
    ExitCode::SUCCESS
}
