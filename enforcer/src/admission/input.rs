//! The job whose network is judged: a Bacalhau job spec, or the probe data Bacalhau hands a
//! compute node's job-selection probe.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde_json::{Map, Value};

use super::AdmitError;
use crate::spec::{self, NetworkSpec, NetworkType, SpecError, MAX_SPEC_BYTES};

/// The environment variable in which Bacalhau's job-selection probe command gets its JSON.
pub const PROBE_DATA_ENV: &str = "BACALHAU_JOB_SELECTION_PROBE_DATA";

/// One network of a job: a task's `Network`, or the older job model's `Spec.Network`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNetwork {
    /// The task's name (`(unnamed task N)` for a task without one); `None` for
    /// `Spec.Network`, and for a spec given on the command line.
    pub task: Option<String>,
    /// Its network, validated as `enforcer run` validates it.
    pub spec: NetworkSpec,
}

/// Where `enforcer admit` reads the job from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A job spec or probe data file (`--spec FILE`).
    File(std::path::PathBuf),
    /// Standard input (`--spec -`, or no `--spec` and no probe data in the environment).
    Stdin,
    /// The value of [`PROBE_DATA_ENV`] (no `--spec`).
    Env(OsString),
}

impl Source {
    /// The rule: `--spec FILE` reads the file and `--spec -` standard input, whatever the
    /// environment holds; without `--spec`, [`PROBE_DATA_ENV`] when it is set (even empty,
    /// which is then an error), else standard input (Bacalhau gives a probe command both).
    pub fn choose(spec: Option<&Path>, env: Option<OsString>) -> Source {
        match (spec, env) {
            (Some(path), _) if path.as_os_str() == "-" => Source::Stdin,
            (Some(path), _) => Source::File(path.to_owned()),
            (None, Some(value)) => Source::Env(value),
            (None, None) => Source::Stdin,
        }
    }

    /// How error messages name this input.
    pub fn origin(&self) -> String {
        match self {
            Source::File(path) => format!("job spec {}", path.display()),
            Source::Stdin => "job spec on stdin".to_owned(),
            Source::Env(_) => format!("probe data in {PROBE_DATA_ENV}"),
        }
    }

    /// Reads the text, at most [`MAX_SPEC_BYTES`] bytes (a larger input is refused after
    /// one byte more). Standard input that is a terminal is refused: nothing was piped in.
    pub fn read(&self) -> Result<String, AdmitError> {
        let origin = self.origin();
        match self {
            Source::File(path) => read_bounded_file(path, &origin),
            Source::Stdin => {
                use std::io::IsTerminal;
                let stdin = io::stdin();
                if stdin.is_terminal() {
                    return Err(AdmitError::NoInput);
                }
                read_bounded(stdin.lock(), &origin)
            }
            Source::Env(value) => value.clone().into_string().map_err(|_| AdmitError::Read {
                origin,
                error: io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8"),
            }),
        }
    }
}

/// Reads the file `path` as [`read_bounded`] does.
pub(super) fn read_bounded_file(path: &Path, origin: &str) -> Result<String, AdmitError> {
    let file = File::open(path).map_err(|error| AdmitError::Read {
        origin: origin.to_owned(),
        error,
    })?;
    read_bounded(file, origin)
}

/// Reads at most [`MAX_SPEC_BYTES`] bytes of UTF-8 text; more is [`SpecError::TooLarge`].
fn read_bounded(reader: impl Read, origin: &str) -> Result<String, AdmitError> {
    let read_error = |error| AdmitError::Read {
        origin: origin.to_owned(),
        error,
    };
    let mut bytes = Vec::new();
    reader
        .take(MAX_SPEC_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(AdmitError::Spec(SpecError::TooLarge {
            origin: origin.to_owned(),
            limit: MAX_SPEC_BYTES,
        }));
    }
    String::from_utf8(bytes).map_err(|e| read_error(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// Every network of the job in `text` (JSON if its first non-space character is `{`, YAML
/// otherwise), or only task `task`'s.
///
/// Accepted shapes, keys in any case (`Tasks`, `tasks`, `TASKS`):
/// - a job with `Tasks: [{Name, Network: {Type, Domains}}, ...]` (Bacalhau's job model);
/// - a job with `Spec: {Network: {Type, Domains}}` (Bacalhau's older job model, and the
///   `{NodeID, JobID, Spec}` probe data of older compute nodes);
/// - either one under `Job` (`{NodeID, Job: {...}}`, the probe data of current compute
///   nodes, or an API request), used only when the top level has neither `Tasks` nor `Spec`.
///
/// A key given twice in different cases, and a job with both `Tasks` and `Spec`, are errors
/// (which one would Bacalhau read?). A `null` value counts as absent; a task or spec without
/// `Network`, or with an empty `Type`, has Type Default. Other keys are ignored. The text is
/// bounded as job specs are ([`spec::check_text_bounds`]).
pub fn job_networks(
    text: &str,
    task: Option<&str>,
    origin: &str,
) -> Result<Vec<TaskNetwork>, AdmitError> {
    spec::check_text_bounds(text, origin)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let is_json = text.trim_start().starts_with('{');
    let format = if is_json { "JSON" } else { "YAML" };
    let shape = |message: String| {
        AdmitError::Spec(SpecError::Parse {
            origin: origin.to_owned(),
            format,
            message,
        })
    };
    if text.trim().is_empty() {
        return Err(shape("the text is empty".to_owned()));
    }
    let doc: Value = if is_json {
        serde_json::from_str(text).map_err(|e| shape(e.to_string()))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| shape(e.to_string()))?
    };
    let Value::Object(top) = &doc else {
        return Err(shape(
            "expected a mapping: a Bacalhau job with Tasks (or Spec), or probe data with Job"
                .to_owned(),
        ));
    };

    let mut job = top;
    let mut at = String::new();
    if field(top, "Tasks", "", &shape)?.is_none() && field(top, "Spec", "", &shape)?.is_none() {
        if let Some(inner) = field(top, "Job", "", &shape)? {
            job = object(inner, "Job", &shape)?;
            at = "Job.".to_owned();
        }
    }
    let tasks = field(job, "Tasks", &at, &shape)?;
    let legacy = field(job, "Spec", &at, &shape)?;

    match (tasks, legacy) {
        (Some(_), Some(_)) => Err(shape(format!(
            "it has both {at}Tasks and {at}Spec; give one job model"
        ))),
        (None, Some(legacy)) => {
            if let Some(wanted) = task {
                return Err(shape(format!(
                    "--task {wanted:?} picks one of Tasks, but the job has the older \
                     {at}Spec.Network instead"
                )));
            }
            let legacy = object(legacy, &format!("{at}Spec"), &shape)?;
            let where_ = format!("{at}Spec.Network");
            let network = field(legacy, "Network", &format!("{at}Spec."), &shape)?;
            let spec = network_spec(network, &where_, &shape).map_err(|error| match error {
                AdmitError::Spec(e @ SpecError::Parse { .. }) => AdmitError::Spec(e),
                AdmitError::Spec(error) => AdmitError::InSpec {
                    origin: origin.to_owned(),
                    at: where_.clone(),
                    error,
                },
                other => other,
            })?;
            Ok(vec![TaskNetwork { task: None, spec }])
        }
        (Some(tasks), None) => {
            let Value::Array(tasks) = tasks else {
                return Err(shape(format!("{at}Tasks must be a list of tasks")));
            };
            select_tasks(tasks, task, &at, origin, &shape)
        }
        (None, None) => Err(AdmitError::Spec(SpecError::NoTasks {
            origin: origin.to_owned(),
        })),
    }
}

/// The networks of `tasks`, or of the one named `wanted`.
fn select_tasks(
    tasks: &[Value],
    wanted: Option<&str>,
    at: &str,
    origin: &str,
    shape: &impl Fn(String) -> AdmitError,
) -> Result<Vec<TaskNetwork>, AdmitError> {
    if tasks.is_empty() {
        return Err(AdmitError::Spec(SpecError::NoTasks {
            origin: origin.to_owned(),
        }));
    }
    let mut parsed = Vec::with_capacity(tasks.len());
    for (i, task) in tasks.iter().enumerate() {
        let here = format!("{at}Tasks[{i}]");
        let task = object(task, &here, shape)?;
        let name = match field(task, "Name", &format!("{here}."), shape)? {
            None => None,
            Some(Value::String(name)) => Some(name.clone()).filter(|n| !n.is_empty()),
            Some(_) => return Err(shape(format!("{here}.Name must be a string"))),
        };
        let network = field(task, "Network", &format!("{here}."), shape)?;
        parsed.push((name, network, here));
    }
    let names: Vec<String> = parsed
        .iter()
        .enumerate()
        .map(|(i, (name, ..))| {
            name.clone()
                .unwrap_or_else(|| format!("(unnamed task {})", i + 1))
        })
        .collect();

    let chosen: Vec<usize> = match wanted {
        None => (0..parsed.len()).collect(),
        Some(wanted) => {
            let found: Vec<usize> = (0..parsed.len())
                .filter(|&i| parsed[i].0.as_deref() == Some(wanted))
                .collect();
            match found.len() {
                1 => found,
                0 => {
                    return Err(AdmitError::Spec(SpecError::TaskNotFound {
                        origin: origin.to_owned(),
                        wanted: wanted.to_owned(),
                        tasks: names,
                    }))
                }
                count => {
                    return Err(AdmitError::Spec(SpecError::DuplicateTask {
                        origin: origin.to_owned(),
                        wanted: wanted.to_owned(),
                        count,
                    }))
                }
            }
        }
    };

    chosen
        .into_iter()
        .map(|i| {
            let (_, network, here) = &parsed[i];
            let spec =
                network_spec(*network, &format!("{here}.Network"), shape).map_err(|error| {
                    match error {
                        AdmitError::Spec(e @ SpecError::Parse { .. }) => AdmitError::Spec(e),
                        AdmitError::Spec(error) => AdmitError::Spec(SpecError::InTask {
                            origin: origin.to_owned(),
                            task: names[i].clone(),
                            error: Box::new(error),
                        }),
                        other => other,
                    }
                })?;
            Ok(TaskNetwork {
                task: Some(names[i].clone()),
                spec,
            })
        })
        .collect()
}

/// The network spec of a `Network` value (`None` when absent: Type Default). `at` names it.
fn network_spec(
    network: Option<&Value>,
    at: &str,
    shape: &impl Fn(String) -> AdmitError,
) -> Result<NetworkSpec, AdmitError> {
    let Some(network) = network else {
        return Ok(NetworkSpec::default());
    };
    let network = object(network, at, shape)?;
    let network_type = match field(network, "Type", &format!("{at}."), shape)? {
        None => NetworkType::Default,
        Some(Value::String(name)) if name.trim().is_empty() => NetworkType::Default,
        Some(Value::String(name)) => NetworkType::parse(name)?,
        Some(_) => return Err(shape(format!("{at}.Type must be a string"))),
    };
    let domains: Vec<&str> = match field(network, "Domains", &format!("{at}."), shape)? {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries
            .iter()
            .map(|entry| {
                entry
                    .as_str()
                    .ok_or_else(|| shape(format!("{at}.Domains must be a list of strings")))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(shape(format!("{at}.Domains must be a list of strings"))),
    };
    Ok(NetworkSpec::new(network_type, &domains)?)
}

/// The value of key `key` of `map` in any case; `None` when absent or `null`. Two keys that
/// differ only in case are an error. `at` is the path of `map`, for messages.
fn field<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    at: &str,
    shape: &impl Fn(String) -> AdmitError,
) -> Result<Option<&'a Value>, AdmitError> {
    let mut found = map.iter().filter(|(k, _)| same_key(k, key));
    let first = found.next();
    if let (Some((a, _)), Some((b, _))) = (first, found.next()) {
        return Err(shape(format!(
            "it has both {at}{a} and {at}{b}; keys are read in any case, so give one"
        )));
    }
    Ok(first.map(|(_, v)| v).filter(|v| !v.is_null()))
}

/// Whether the key `given` is `key` (ASCII) in any case, folding as Go's `encoding/json`
/// (which Bacalhau reads jobs with) does: `ſ` (U+017F) is an `s` and the Kelvin sign `K`
/// (U+212A) a `k`, the only characters outside ASCII that fold to an ASCII letter.
fn same_key(given: &str, key: &str) -> bool {
    let fold = |c: char| match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    };
    given.chars().map(fold).eq(key.chars().map(fold))
}

/// `value` as a mapping; `at` names it.
fn object<'a>(
    value: &'a Value,
    at: &str,
    shape: &impl Fn(String) -> AdmitError,
) -> Result<&'a Map<String, Value>, AdmitError> {
    value
        .as_object()
        .ok_or_else(|| shape(format!("{at} must be a mapping")))
}
