//! What the kernel programs report to userspace: denial events and counters.

/// The hook that made a decision.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    Connect4 = 1,
    Connect6 = 2,
    Sendmsg4 = 3,
    Sendmsg6 = 4,
    SockCreate = 5,
    Egress = 6,
    Setsockopt = 7,
    Bind4 = 8,
    Bind6 = 9,
}

impl Hook {
    /// Decodes [`DenyEvent::hook`].
    pub fn from_raw(raw: u8) -> Option<Hook> {
        Some(match raw {
            1 => Hook::Connect4,
            2 => Hook::Connect6,
            3 => Hook::Sendmsg4,
            4 => Hook::Sendmsg6,
            5 => Hook::SockCreate,
            6 => Hook::Egress,
            7 => Hook::Setsockopt,
            8 => Hook::Bind4,
            9 => Hook::Bind6,
            _ => return None,
        })
    }

    /// The name users know the hook by.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Connect4 => "connect4",
            Hook::Connect6 => "connect6",
            Hook::Sendmsg4 => "sendmsg4",
            Hook::Sendmsg6 => "sendmsg6",
            Hook::SockCreate => "sock_create",
            Hook::Egress => "egress",
            Hook::Setsockopt => "setsockopt",
            Hook::Bind4 => "bind4",
            Hook::Bind6 => "bind6",
        }
    }

    /// Whether its events name a destination: hooks judging a socket rather than a flow
    /// report only the family.
    pub fn has_destination(self) -> bool {
        !matches!(self, Hook::SockCreate | Hook::Setsockopt)
    }
}

/// One refusal, sent through the shared ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenyEvent {
    /// Destination, network order; IPv4 in the first 4 bytes.
    pub addr: [u8; 16],
    /// Process id, 0 when unknown (packet-level drops of sockets not seen at creation).
    pub pid: u32,
    /// Destination port, host order; 0 when there is none.
    pub port: u16,
    /// A [`Hook`].
    pub hook: u8,
    /// A [`crate::Reason`].
    pub reason: u8,
    /// 4 or 6 (for a socket refused at creation: its family; for a refused socket option:
    /// the family of its level; the address is then zero).
    pub family: u8,
    /// IP protocol number ([`crate::proto`]).
    pub protocol: u8,
    pub _pad: [u8; 2],
    /// Command name, NUL padded; empty when unknown.
    pub comm: [u8; 16],
    /// The refusing task's number ([`crate::TaskConfig::task`]).
    pub task: u32,
}

/// Per-task counters, one slot each in the task's entry of the per-CPU counters array.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    ConnectAllowed = 0,
    ConnectDenied = 1,
    SendmsgAllowed = 2,
    SendmsgDenied = 3,
    PacketsAllowed = 4,
    PacketsDenied = 5,
    /// Sockets refused: raw or ping at creation, or bound to a resolver's port.
    SocketsDenied = 6,
    /// Denial events that found the ring buffer full.
    EventsLost = 7,
    /// Socket options refused (multicast membership).
    SockoptDenied = 8,
    /// DNS destinations steered to the task's resolver.
    DnsSteered = 9,
}

/// Number of [`Counter`] slots.
pub const COUNTER_SLOTS: u32 = 10;

impl Counter {
    /// Every counter, in slot order.
    pub const ALL: [Counter; COUNTER_SLOTS as usize] = [
        Counter::ConnectAllowed,
        Counter::ConnectDenied,
        Counter::SendmsgAllowed,
        Counter::SendmsgDenied,
        Counter::PacketsAllowed,
        Counter::PacketsDenied,
        Counter::SocketsDenied,
        Counter::EventsLost,
        Counter::SockoptDenied,
        Counter::DnsSteered,
    ];

    /// A stable snake_case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Counter::ConnectAllowed => "connect_allowed",
            Counter::ConnectDenied => "connect_denied",
            Counter::SendmsgAllowed => "sendmsg_allowed",
            Counter::SendmsgDenied => "sendmsg_denied",
            Counter::PacketsAllowed => "packets_allowed",
            Counter::PacketsDenied => "packets_denied",
            Counter::SocketsDenied => "sockets_denied",
            Counter::EventsLost => "events_lost",
            Counter::SockoptDenied => "sockopt_denied",
            Counter::DnsSteered => "dns_steered",
        }
    }
}
