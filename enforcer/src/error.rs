//! The one error type of the library: each variant says what is missing or wrong.

use std::{io, path::PathBuf};

/// Why enforcement could not be set up or changed. When one of these is returned
/// before a task starts, the task does not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the enforcer must run as root (it loads eBPF programs and creates cgroups)")]
    NotRoot,
    #[error("no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo for cgroup2)")]
    NoCgroup2,
    #[error("cannot mount the BPF filesystem at {path}: {source}")]
    Bpffs { path: PathBuf, source: io::Error },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("loading the eBPF object failed (verifier or kernel support): {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("pinning {path}: {source}")]
    Pin {
        path: PathBuf,
        source: aya::pin::PinError,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("the eBPF object has no map or program named {0}")]
    Missing(&'static str),
    #[error("resolving {name}: {message}")]
    Resolve { name: String, message: String },
    #[error("{0}")]
    Invalid(String),
    /// The task's sandbox (namespaces, init) could not be set up; the task did not run.
    #[error("sandboxing the task: {0}")]
    Sandbox(String),
    /// A flag or argument that can't be used; nothing was created.
    #[error("{0}")]
    Usage(String),
    /// A program set holds as many tasks as it can; nothing of another was attached.
    #[error("{0}")]
    NoRoom(String),
    /// The task ran, but cleaning up after it failed; `enforcer gc` finishes the job.
    #[error("the task ran (exit code {code}) but cleaning up after it failed: {source}; `enforcer gc` will finish it")]
    AfterTask { code: i32, source: Box<Error> },
}

impl Error {
    /// An I/O error with what was being done and to which path.
    pub fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
