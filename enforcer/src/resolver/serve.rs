//! Answering one task's queries: screened, forwarded, filtered, and what the answer grants
//! opened in the kernel before the answer goes out.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::Instant,
};

use hickory_proto::op::ResponseCode;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, UdpSocket},
    sync::{mpsc, Semaphore},
    task::JoinSet,
};

use super::{
    latency::LatencyHistogram,
    ledger::Ledger,
    limits::{self, TokenBucket},
};
use crate::{
    dns::{self, DnsRefusal, NameMatcher, Question, Rebinding, Screened, Upstream},
    events::{Denial, DenialHook, DenialReason},
};

/// Longest TTL handed to the task, and longest time an address is held.
pub const MAX_TTL_SECS: u32 = 24 * 3600;

/// The transport a query came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        }
    }
}

/// What the resolver has done for a task so far.
#[derive(Debug, Default)]
pub struct Stats {
    pub answered: AtomicU64,
    pub refused: AtomicU64,
    pub rate_limited: AtomicU64,
    pub upstream_failures: AtomicU64,
    /// Denial events dropped because the log could not keep up.
    pub events_lost: AtomicU64,
    /// From the upstream's answer to its addresses being enforced in the kernel.
    pub enforce_latency: LatencyHistogram,
}

/// Everything the serving tasks of one task's resolver share.
pub struct Shared {
    pub names: NameMatcher,
    pub rebinding: Rebinding,
    pub upstream: Upstream,
    pub ledger: Mutex<Ledger>,
    pub limiter: Mutex<TokenBucket>,
    pub in_flight: Arc<Semaphore>,
    pub events: mpsc::Sender<Denial>,
    pub stats: Stats,
    /// Told how long each forwarded query took.
    pub answer_latency: Option<Arc<super::LatencyFn>>,
}

impl Shared {
    /// The ledger. A panic while it was held leaves it as it was: holds may be off by that
    /// one answer, which beats never expiring anything again.
    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the task is within its query rate; a query over it is dropped and counted.
    fn admit(&self) -> bool {
        let admitted = self
            .limiter
            .lock()
            .is_ok_and(|mut bucket| bucket.admit(Instant::now()));
        if !admitted {
            self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        admitted
    }

    /// The response to `query`, or `None` when it is dropped unanswered.
    pub async fn answer(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        match dns::screen_query(query, &self.names) {
            Screened::Drop => None,
            Screened::Answer { response, refusal } => {
                if let Some(refusal) = refusal {
                    self.stats.refused.fetch_add(1, Ordering::Relaxed);
                    self.report(refusal, transport);
                }
                Some(response)
            }
            Screened::Forward(question) => {
                let started = Instant::now();
                let response = self.resolve(&question, transport).await;
                if let Some(observe) = &self.answer_latency {
                    observe(started.elapsed());
                }
                Some(response)
            }
        }
    }

    async fn resolve(&self, question: &Question, transport: Transport) -> Vec<u8> {
        // Lowercase, so the letters' case carries nothing out; the task's answer keeps its
        // own spelling.
        let name = question.name.to_lowercase();
        let reply = match self.upstream.ask(&name, question.qtype).await {
            Ok(reply) => reply,
            Err(e) => {
                self.stats.upstream_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(name = %question.name, error = %e, "upstream resolver failed");
                return dns::error_response(question, ResponseCode::ServFail);
            }
        };
        let answered_at = Instant::now();
        let mut filtered =
            dns::filter_answer(question, &reply, &self.names, &self.rebinding, MAX_TTL_SECS);
        filtered.keep_first_addresses(super::MAX_ADDRESSES_PER_NAME);
        for refusal in filtered.refusals {
            self.report(refusal, transport);
        }
        let opened = self.ledger().grant(&filtered.grants, Instant::now());
        self.stats.enforce_latency.record(answered_at.elapsed());
        if let Err(e) = opened {
            // Not released: the task would be handed an address the kernel refuses.
            tracing::error!(name = %question.name, error = %e, "could not open an answer's addresses");
            return dns::error_response(question, ResponseCode::ServFail);
        }
        // A chain that left the allowed names is a refusal too, though it was asked upstream.
        let counter = if filtered.response.metadata.response_code == ResponseCode::Refused {
            &self.stats.refused
        } else {
            &self.stats.answered
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match transport {
            Transport::Udp => dns::encode_for_udp(&filtered.response, question.udp_limit),
            Transport::Tcp => dns::encode(&filtered.response),
        }
    }

    /// Hands a refusal to the task's denial log; never waits for it.
    fn report(&self, refusal: DnsRefusal, transport: Transport) {
        let denial = Denial {
            hook: DenialHook::Dns,
            addr: refusal.reason.addr(),
            reason: DenialReason::Dns(refusal.reason),
            protocol: transport.as_str().into(),
            port: None,
            pid: None,
            comm: None,
            name: Some(refusal.name),
            qtype: Some(refusal.qtype),
        };
        if self.events.try_send(denial).is_err() {
            self.stats.events_lost.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Answers datagrams on `socket` until the task is aborted. Queries being answered are
/// tasks of this one's: aborting it ends them too, so a stopped resolver answers (and opens)
/// nothing more.
pub async fn serve_udp(shared: Arc<Shared>, socket: UdpSocket) {
    let socket = Arc::new(socket);
    let mut buf = vec![0u8; limits::MAX_QUERY_BYTES + 1];
    let mut queries = JoinSet::new();
    loop {
        while queries.try_join_next().is_some() {}
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if len > limits::MAX_QUERY_BYTES || !shared.admit() {
            continue;
        }
        let Ok(permit) = shared.in_flight.clone().try_acquire_owned() else {
            shared.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let query = buf[..len].to_vec();
        let (shared, socket) = (shared.clone(), socket.clone());
        queries.spawn(async move {
            if let Some(response) = shared.answer(&query, Transport::Udp).await {
                let _ = socket.send_to(&response, peer).await;
            }
            drop(permit);
        });
    }
}

/// Accepts DNS-over-TCP connections on `listener` until the task is aborted, at most
/// [`limits::MAX_TCP_CONNECTIONS`] at a time. The connections are tasks of this one's:
/// aborting it closes them, however long their clients would keep them.
pub async fn serve_tcp(shared: Arc<Shared>, listener: TcpListener) {
    let connections = Arc::new(Semaphore::new(limits::MAX_TCP_CONNECTIONS));
    let mut open = JoinSet::new();
    loop {
        while open.try_join_next().is_some() {}
        let Ok(permit) = connections.clone().acquire_owned().await else {
            return;
        };
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let shared = shared.clone();
        open.spawn(async move {
            serve_connection(&shared, stream).await;
            drop(permit);
        });
    }
}

/// Answers length-prefixed queries until the client hangs up, idles, or misbehaves.
async fn serve_connection(shared: &Shared, mut stream: TcpStream) {
    loop {
        let mut len = [0u8; 2];
        let read = tokio::time::timeout(limits::TCP_IDLE, stream.read_exact(&mut len)).await;
        if !matches!(read, Ok(Ok(_))) {
            return;
        }
        let len = usize::from(u16::from_be_bytes(len));
        if len > limits::MAX_QUERY_BYTES {
            return;
        }
        let mut query = vec![0u8; len];
        let read = tokio::time::timeout(limits::TCP_IDLE, stream.read_exact(&mut query)).await;
        if !matches!(read, Ok(Ok(_))) || !shared.admit() {
            return;
        }
        let Some(response) = shared.answer(&query, Transport::Tcp).await else {
            return;
        };
        let Ok(len) = u16::try_from(response.len()) else {
            return;
        };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&response);
        let written = tokio::time::timeout(limits::TCP_IDLE, stream.write_all(&framed)).await;
        if !matches!(written, Ok(Ok(()))) {
            return;
        }
    }
}
