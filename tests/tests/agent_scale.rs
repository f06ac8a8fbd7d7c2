//! A thousand tasks at once under one agent: each with its own policy and a process in its
//! cgroup, all kept through a `kill -9` of the agent, all released after.

use std::{net::IpAddr, process::Child};

use enforcer::agent::api::{CgroupRef, EnforceRequest, NetworkRequest};
use enforcer_tests::{
    agent::{TestAgent, TestCgroup},
    lab_or_skip, Lab,
};
use serde_json::json;

const TASKS: usize = 1_000;

/// Task `i`'s network: None, Full and HTTP to one lab host, in turn.
fn network(i: usize, lab: &Lab) -> serde_json::Value {
    match i % 3 {
        0 => json!({"Type": "None"}),
        1 => json!({"Type": "Full"}),
        _ => json!({"Type": "HTTP", "Domains": [lab.host(0).to_string()]}),
    }
}

/// Checks tasks `i` of each mode still hold their policy.
fn assert_policies(cgroups: &[TestCgroup], lab: &Lab, when: &str) {
    let (h0, h1) = (IpAddr::V4(lab.host(0)), IpAddr::V4(lab.host(1)));
    for i in [0, 1, 2, TASKS - 3, TASKS - 2, TASKS - 1] {
        let cgroup = &cgroups[i];
        let to_h0 = cgroup.probe(&["tcp", &h0.to_string(), "80"]);
        let to_h1 = cgroup.probe(&["tcp", &h1.to_string(), "80"]);
        match i % 3 {
            0 => assert!(
                to_h0.is_eperm() && to_h1.is_eperm(),
                "{when}: task {i} is None"
            ),
            1 => assert!(to_h0.ok && to_h1.ok, "{when}: task {i} is Full"),
            _ => assert!(
                to_h0.ok && to_h1.is_eperm(),
                "{when}: task {i} is HTTP to h0"
            ),
        }
    }
}

#[test]
fn a_thousand_tasks_hold_their_own_policies_through_an_agent_crash() {
    let Some(lab) = lab_or_skip() else {
        return;
    };
    let mut agent = TestAgent::start("scale", &lab).unwrap();
    let parent = TestCgroup::create("scale").unwrap();
    let cgroups: Vec<TestCgroup> = (0..TASKS)
        .map(|i| parent.child(&format!("task-{i}")).unwrap())
        .collect();
    let mut sleepers: Vec<Child> = cgroups.iter().map(TestCgroup::spawn_idle).collect();
    let client = agent.client();
    for (i, cgroup) in cgroups.iter().enumerate() {
        let request = EnforceRequest {
            id: format!("task-{i}"),
            cgroup: CgroupRef::Path(cgroup.path().to_path_buf()),
            network: NetworkRequest {
                network: Some(network(i, &lab)),
                ..Default::default()
            },
        };
        client
            .enforce(&request)
            .unwrap_or_else(|e| panic!("task {i}: {e}\n{}", agent.log()));
    }
    assert_eq!(client.status().unwrap().tasks, TASKS);
    assert_policies(&cgroups, &lab, "enforced");

    agent.kill9();
    assert_policies(&cgroups, &lab, "agent killed");
    agent.restart().unwrap();
    let status = agent.client().status().unwrap();
    assert_eq!(
        (status.tasks, status.adopted),
        (TASKS, TASKS),
        "{}",
        agent.log()
    );
    assert_policies(&cgroups, &lab, "agent restarted");

    for i in 0..TASKS {
        agent.client().release(&format!("task-{i}")).unwrap();
    }
    assert!(agent.client().list().unwrap().is_empty());
    let h1 = lab.host(1).to_string();
    assert!(
        cgroups[0].probe(&["tcp", &h1, "80"]).ok,
        "released: open again"
    );
    for sleeper in &mut sleepers {
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
    drop(cgroups);
}
