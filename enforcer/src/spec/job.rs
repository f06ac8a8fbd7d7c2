//! Reading a task's network out of a Bacalhau job spec (JSON or YAML).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{NetworkSpec, NetworkType, SpecError, MAX_SPEC_BYTES, MAX_SPEC_NESTING};

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
    check_bounds(text, &origin)?;
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

/// Reads the job spec file `path`, stopping one byte past [`MAX_SPEC_BYTES`] so that a huge
/// file is refused without being read. `origin` names it in error messages.
pub(super) fn read_job_file(path: &Path, origin: &str) -> Result<String, SpecError> {
    let read_error = |error| SpecError::Read {
        path: path.to_owned(),
        error,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|file| file.take(MAX_SPEC_BYTES as u64 + 1).read_to_end(&mut bytes))
        .map_err(read_error)?;
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(too_large(origin));
    }
    String::from_utf8(bytes).map_err(|e| read_error(io::Error::new(io::ErrorKind::InvalidData, e)))
}

/// [`SpecError::TooLarge`] for the job spec `origin`.
fn too_large(origin: &str) -> SpecError {
    SpecError::TooLarge {
        origin: origin.to_owned(),
        limit: MAX_SPEC_BYTES,
    }
}

/// Refuses a text that is too large or too deeply nested to hand to a parser.
pub(super) fn check_bounds(text: &str, origin: &str) -> Result<(), SpecError> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(too_large(origin));
    }
    if let Some(at) = too_deep_at(text.as_bytes(), MAX_SPEC_NESTING) {
        return Err(SpecError::TooDeep {
            origin: origin.to_owned(),
            line: line_of(text, at),
            limit: MAX_SPEC_NESTING,
        });
    }
    Ok(())
}

/// The line, counted from 1, of the byte at `offset`.
fn line_of(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The offset of the first `[` or `{` nested more than `limit` deep in a JSON or YAML text.
///
/// A cheap scan, not a parser: it skips YAML comments and the quoted strings (`"..."` with
/// backslash escapes, `'...'` with `''`) that start where a token may, and counts every other
/// bracket. Exact for JSON; close for YAML, where brackets in plain scalars count too and a
/// quote after a space inside a plain scalar is taken for the start of a string.
fn too_deep_at(text: &[u8], limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        let after_space = i == 0 || text[i - 1].is_ascii_whitespace();
        let token_start = after_space || matches!(text[i - 1], b'[' | b'{' | b',' | b':');
        match text[i] {
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'"' | b'\'' if token_start => i = closing_quote(text, i),
            b'#' if after_space => i = end_of_line(text, i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offset of the quote closing the string opened at `open`, or the text's length.
fn closing_quote(text: &[u8], open: usize) -> usize {
    let quote = text[open];
    let mut i = open + 1;
    while i < text.len() {
        match text[i] {
            b'\\' if quote == b'"' => i += 1,
            b'\'' if quote == b'\'' && text.get(i + 1) == Some(&b'\'') => i += 1,
            b if b == quote => return i,
            _ => {}
        }
        i += 1;
    }
    text.len()
}

/// The offset of the newline ending the line that `from` is on, or the text's length.
fn end_of_line(text: &[u8], from: usize) -> usize {
    text[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |n| from + n)
}
