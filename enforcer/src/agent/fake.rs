//! A [`TaskService`] for tests of the HTTP layer and its client: it keeps tasks in memory,
//! records every call, and refuses on demand.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    thread::{self, ThreadId},
};

use tokio::sync::broadcast;

use super::api::{
    AgentStatus, CgroupRef, EnforceRequest, EventRecord, NetworkRequest, Refusal, TaskService,
    TaskView,
};

pub(crate) struct FakeService {
    calls: Mutex<Vec<String>>,
    kernel_threads: Mutex<Vec<ThreadId>>,
    tasks: Mutex<BTreeMap<String, TaskView>>,
    next_refusal: Mutex<Option<Refusal>>,
    events: broadcast::Sender<EventRecord>,
}

impl FakeService {
    pub(crate) fn new(event_capacity: usize) -> Arc<FakeService> {
        Arc::new(FakeService {
            calls: Mutex::default(),
            kernel_threads: Mutex::default(),
            tasks: Mutex::default(),
            next_refusal: Mutex::default(),
            events: broadcast::channel(event_capacity).0,
        })
    }

    /// Every call so far, as `"method"` or `"method id"`.
    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// The threads `enforce`, `change` and `release` ran on.
    pub(crate) fn kernel_threads(&self) -> Vec<ThreadId> {
        self.kernel_threads.lock().unwrap().clone()
    }

    /// Makes the next `enforce`, `change`, `release` or `task` fail with `refusal`.
    pub(crate) fn refuse_next(&self, refusal: Refusal) {
        *self.next_refusal.lock().unwrap() = Some(refusal);
    }

    pub(crate) fn events(&self) -> &broadcast::Sender<EventRecord> {
        &self.events
    }

    fn record(&self, call: String) {
        self.calls.lock().unwrap().push(call);
    }

    fn record_kernel_call(&self, call: String) -> Result<(), Refusal> {
        self.kernel_threads
            .lock()
            .unwrap()
            .push(thread::current().id());
        self.record(call);
        self.take_refusal()
    }

    fn take_refusal(&self) -> Result<(), Refusal> {
        match self.next_refusal.lock().unwrap().take() {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }
}

/// A view as the fake makes it: mode from the network's `Type`, two counters.
fn view_of(id: &str, cgroup: PathBuf, network: &NetworkRequest) -> TaskView {
    let mode = network
        .network
        .as_ref()
        .and_then(|network| network["Type"].as_str())
        .unwrap_or("none")
        .to_lowercase();
    TaskView {
        id: id.to_owned(),
        cgroup,
        mode,
        domains: Vec::new(),
        http_ports: network.http_ports.clone(),
        counters: BTreeMap::from([
            ("connect_allowed".to_owned(), 3),
            ("connect_denied".to_owned(), 1),
        ]),
        since: 1_700_000_000,
    }
}

impl TaskService for FakeService {
    fn enforce(&self, request: EnforceRequest) -> Result<TaskView, Refusal> {
        self.record_kernel_call(format!("enforce {}", request.id))?;
        let cgroup = match request.cgroup {
            CgroupRef::Path(path) => path,
            CgroupRef::Pid(pid) => PathBuf::from(format!("/fake/pid-{pid}")),
        };
        let view = view_of(&request.id, cgroup, &request.network);
        let mut tasks = self.tasks.lock().unwrap();
        if tasks.contains_key(&request.id) {
            return Err(Refusal::DuplicateId(request.id));
        }
        tasks.insert(request.id, view.clone());
        Ok(view)
    }

    fn change(&self, id: &str, network: NetworkRequest) -> Result<TaskView, Refusal> {
        self.record_kernel_call(format!("change {id}"))?;
        let mut tasks = self.tasks.lock().unwrap();
        let task = tasks
            .get_mut(id)
            .ok_or_else(|| Refusal::NotFound(id.to_owned()))?;
        *task = view_of(id, task.cgroup.clone(), &network);
        Ok(task.clone())
    }

    fn release(&self, id: &str) -> Result<(), Refusal> {
        self.record_kernel_call(format!("release {id}"))?;
        match self.tasks.lock().unwrap().remove(id) {
            Some(_) => Ok(()),
            None => Err(Refusal::NotFound(id.to_owned())),
        }
    }

    fn release_if_stopped(&self, id: &str) -> Result<(), Refusal> {
        self.release(id)
    }

    fn task(&self, id: &str) -> Result<TaskView, Refusal> {
        self.record(format!("task {id}"));
        self.take_refusal()?;
        self.tasks
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .ok_or_else(|| Refusal::NotFound(id.to_owned()))
    }

    fn list(&self) -> Vec<TaskView> {
        self.record("list".to_owned());
        self.tasks.lock().unwrap().values().cloned().collect()
    }

    fn status(&self) -> AgentStatus {
        self.record("status".to_owned());
        AgentStatus {
            version: "test".to_owned(),
            tasks: self.tasks.lock().unwrap().len(),
            uptime_s: 5,
            adopted: 0,
            events_lost: 2,
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<EventRecord> {
        self.record("subscribe".to_owned());
        self.events.subscribe()
    }
}

/// An event of task `task` with a distinct time.
pub(crate) fn event(task: &str, time_ms: u64) -> EventRecord {
    EventRecord {
        task: task.to_owned(),
        time_ms,
        denial: super::api::DenialRecord {
            hook: "connect4".to_owned(),
            reason: "address-not-allowed".to_owned(),
            protocol: "tcp".to_owned(),
            destination: Some("192.0.2.1:80".to_owned()),
            pid: Some(42),
            comm: Some("curl".to_owned()),
            name: None,
            qtype: None,
        },
    }
}
