//! The per-task DNS resolver's policy: what an HTTP-mode task may ask, what it is told, and
//! which addresses an answer opens in the kernel.
//!
//! An HTTP-mode task has the enforcer as its only resolver. A query goes through three steps:
//! - [`screen_query`] judges the task's raw query before anything leaves the node: one
//!   question, class IN, type A, AAAA, CNAME, HTTPS or SVCB, and a name the task's `Domains`
//!   allow ([`NameMatcher`]).
//! - [`Upstream::ask`] asks the node's resolvers a fresh question of our own (random ID and
//!   source port), so nothing of the task's message but its name (lowercased by the caller)
//!   and type ever leaves.
//! - [`filter_answer`] rebuilds the answer from scratch: it follows the CNAME chain, which must
//!   stay inside the allowed names, keeps only the addresses owned by the chain's end, and
//!   drops those a rebinding attack would use ([`Rebinding`]): internal ones and the node's
//!   own. What is kept becomes [`Grant`]s for the kernel allowlist.
//!
//! A policy refusal is answered REFUSED, never NXDOMAIN: REFUSED says "this server won't
//! answer", while NXDOMAIN claims the name does not exist, a false negative that the task's
//! caches (and anyone they share it with) would keep for the name's negative TTL. An upstream
//! that refuses us is answered SERVFAIL, so REFUSED always means our policy.
//!
//! Every message is decoded and encoded with `hickory_proto`; nothing is parsed by hand.

pub mod answer;
pub mod internal;
pub mod names;
pub mod refusal;
pub mod screen;
pub mod upstream;

#[cfg(test)]
mod testing;

pub use answer::{
    effective_ttl, encode, encode_for_udp, error_response, filter_answer, Filtered, Grant,
};
pub use internal::{is_internal, RebindReason, Rebinding};
pub use names::NameMatcher;
pub use refusal::{DnsReason, DnsRefusal};
pub use screen::{screen_query, Question, Screened};
pub use upstream::{Upstream, UpstreamError};
