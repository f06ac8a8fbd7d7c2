//! Reading a task's network out of a Bacalhau job spec (JSON or YAML).

use serde::{Deserialize, Serialize};

use super::{NetworkSpec, NetworkType, SpecError};

/// A Bacalhau `Network` object as written in a job spec: `{Type, Domains}`. Other keys
/// (`Ports`) are ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(expecting = "a Network mapping with Type and Domains")]
pub(super) struct RawNetwork {
    #[serde(
        rename = "Type",
        alias = "type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) network_type: Option<String>,
    #[serde(
        rename = "Domains",
        alias = "domains",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub(super) domains: Option<Vec<String>>,
}

impl TryFrom<RawNetwork> for NetworkSpec {
    type Error = SpecError;

    fn try_from(raw: RawNetwork) -> Result<Self, Self::Error> {
        let network_type = match raw.network_type.as_deref().map(str::trim) {
            None | Some("") => NetworkType::Default,
            Some(name) => NetworkType::parse(name)?,
        };
        NetworkSpec::new(network_type, &raw.domains.unwrap_or_default())
    }
}

impl From<NetworkSpec> for RawNetwork {
    fn from(spec: NetworkSpec) -> Self {
        RawNetwork {
            network_type: Some(spec.network_type.to_string()),
            domains: (!spec.domains.is_empty())
                .then(|| spec.domains.iter().map(ToString::to_string).collect()),
        }
    }
}

/// The parts of a Bacalhau job that matter here; other keys are ignored. A job wrapped as
/// `{Job: {...}}` (the shape of Bacalhau's API requests) is accepted as well.
#[derive(Debug, Deserialize)]
#[serde(expecting = "a Bacalhau job spec: a mapping with Tasks")]
struct JobDoc {
    #[serde(rename = "Tasks", alias = "tasks", default)]
    tasks: Option<Vec<TaskDoc>>,
    #[serde(rename = "Job", alias = "job", default)]
    job: Option<Box<JobDoc>>,
}

/// One task of a job.
#[derive(Debug, Deserialize)]
#[serde(expecting = "a task: a mapping with Name and Network")]
struct TaskDoc {
    #[serde(rename = "Name", alias = "name", default)]
    name: Option<String>,
    #[serde(rename = "Network", alias = "network", default)]
    network: Option<RawNetwork>,
}

/// Parses the job spec `text`, picks the task (`task`, or the only one) and returns its
/// network. `origin` (`job spec` or `job spec PATH`) names the input in error messages.
pub(super) fn network_of_task(
    text: &str,
    task: Option<&str>,
    origin: String,
) -> Result<NetworkSpec, SpecError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let is_json = text.trim_start().starts_with('{');
    let format = if is_json { "JSON" } else { "YAML" };
    let parse_error = |message: String| SpecError::Parse {
        origin: origin.clone(),
        format,
        message,
    };
    if text.trim().is_empty() {
        return Err(parse_error("the text is empty".to_owned()));
    }
    let doc: JobDoc = if is_json {
        serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| parse_error(e.to_string()))?
    };

    let tasks = match doc {
        JobDoc {
            tasks: Some(tasks), ..
        } => tasks,
        JobDoc {
            job: Some(job),
            tasks: None,
        } => job.tasks.unwrap_or_default(),
        JobDoc { .. } => Vec::new(),
    };
    if tasks.is_empty() {
        return Err(SpecError::NoTasks { origin });
    }
    let names: Vec<String> = tasks
        .iter()
        .enumerate()
        .map(|(i, t)| match t.name.as_deref() {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => format!("(unnamed task {})", i + 1),
        })
        .collect();

    let index = match task {
        None if tasks.len() == 1 => 0,
        None => {
            return Err(SpecError::TaskRequired {
                origin,
                tasks: names,
            })
        }
        Some(wanted) => {
            let found: Vec<usize> = (0..tasks.len())
                .filter(|&i| tasks[i].name.as_deref() == Some(wanted))
                .collect();
            match found[..] {
                [index] => index,
                [] => {
                    return Err(SpecError::TaskNotFound {
                        origin,
                        wanted: wanted.to_owned(),
                        tasks: names,
                    })
                }
                _ => {
                    return Err(SpecError::DuplicateTask {
                        origin,
                        wanted: wanted.to_owned(),
                        count: found.len(),
                    })
                }
            }
        }
    };

    let raw = tasks
        .into_iter()
        .nth(index)
        .and_then(|t| t.network)
        .unwrap_or_default();
    NetworkSpec::try_from(raw).map_err(|error| SpecError::InTask {
        origin,
        task: names[index].clone(),
        error: Box::new(error),
    })
}
