//! The enforcer's container annotations, validated into the network part of a request.

use std::collections::BTreeMap;

use super::{ANNOTATION_DOMAINS, ANNOTATION_HTTP_PORTS, ANNOTATION_PREFIX, ANNOTATION_TYPE};
use crate::agent::api::NetworkRequest;
use crate::spec::{self, NetworkSpec, NetworkType};

/// Every annotation key under [`ANNOTATION_PREFIX`] that means something.
const KNOWN: [&str; 3] = [ANNOTATION_TYPE, ANNOTATION_DOMAINS, ANNOTATION_HTTP_PORTS];

/// The network the annotations ask for; `None` when none of them is the enforcer's.
/// Errors are messages naming the annotation and what is wrong with it.
pub(super) fn network_of(
    annotations: &BTreeMap<String, String>,
) -> Result<Option<NetworkRequest>, String> {
    let ours: BTreeMap<&str, &str> = annotations
        .iter()
        .filter(|(key, _)| key.starts_with(ANNOTATION_PREFIX))
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect();
    if ours.is_empty() {
        return Ok(None);
    }
    if let Some(unknown) = ours.keys().find(|key| !KNOWN.contains(key)) {
        return Err(format!(
            "unknown annotation {unknown}; the enforcer reads {}",
            KNOWN.join(", ")
        ));
    }
    let Some(type_name) = ours.get(ANNOTATION_TYPE) else {
        let given: Vec<&str> = ours.keys().copied().collect();
        return Err(format!(
            "{} without {ANNOTATION_TYPE}: say which network the container gets",
            given.join(" and ")
        ));
    };
    let network_type =
        NetworkType::parse(type_name).map_err(|e| format!("annotation {ANNOTATION_TYPE}: {e}"))?;
    let domains = ours
        .get(ANNOTATION_DOMAINS)
        .map_or(Vec::new(), |v| items(v));
    let named = if ours.contains_key(ANNOTATION_DOMAINS) {
        format!("annotations {ANNOTATION_TYPE} and {ANNOTATION_DOMAINS}")
    } else {
        format!("annotation {ANNOTATION_TYPE}")
    };
    let spec = NetworkSpec::new(network_type, &domains).map_err(|e| format!("{named}: {e}"))?;
    let http_ports = match ours.get(ANNOTATION_HTTP_PORTS) {
        Some(value) => http_ports(value, network_type)?,
        None => Vec::new(),
    };
    Ok(Some(NetworkRequest {
        network: Some(spec_json(&spec)),
        job: None,
        http_ports,
    }))
}

/// Type None, for an unannotated container on a node whose setting is `none`.
pub(super) fn unannotated_none() -> NetworkRequest {
    let none = NetworkSpec {
        network_type: NetworkType::None,
        domains: Default::default(),
    };
    NetworkRequest {
        network: Some(spec_json(&none)),
        job: None,
        http_ports: Vec::new(),
    }
}

/// Bacalhau's `{"Type": ..., "Domains": [...]}`, as the agent's API reads it.
fn spec_json(spec: &NetworkSpec) -> serde_json::Value {
    serde_json::to_value(spec).expect("a network spec is plain strings")
}

/// The non-empty items of a list separated by commas and/or whitespace.
fn items(value: &str) -> Vec<&str> {
    value
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|item| !item.is_empty())
        .collect()
}

/// The ports of the http-ports annotation: numbers 1 to 65535, deduplicated, at most
/// [`MAX_HTTP_PORTS`](enforcer_common::MAX_HTTP_PORTS), for a type that may mean HTTP.
fn http_ports(value: &str, network_type: NetworkType) -> Result<Vec<u16>, String> {
    if !matches!(network_type, NetworkType::Http | NetworkType::Default) {
        return Err(format!(
            "annotation {ANNOTATION_HTTP_PORTS} is only for type HTTP (or Default), but \
             {ANNOTATION_TYPE} is {network_type}"
        ));
    }
    let ports = items(value)
        .into_iter()
        .map(|item| match item.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => Err(format!(
                "annotation {ANNOTATION_HTTP_PORTS}: {item:?} is not a TCP port (1 to 65535)"
            )),
        })
        .collect::<Result<Vec<u16>, String>>()?;
    if ports.is_empty() {
        return Err(format!(
            "annotation {ANNOTATION_HTTP_PORTS} is empty; leave it out for the node's default \
             ports"
        ));
    }
    spec::http_ports(&ports).map_err(|e| format!("annotation {ANNOTATION_HTTP_PORTS}: {e}"))
}
