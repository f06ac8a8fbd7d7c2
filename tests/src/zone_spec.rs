//! The lab DNS server's data: written as JSON by the lab, read by
//! `enforcer-probe serve --zone FILE`.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// Every name the server knows; any other name is NXDOMAIN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneSpec {
    /// The names, each at most once.
    pub names: Vec<NameSpec>,
}

/// One name and what a query for it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameSpec {
    /// Lowercase, without the trailing dot. `*.rest` stands for every name
    /// below `rest`, at any depth, answered with the queried name as owner.
    pub name: String,
    /// TTL of every record of this name.
    pub ttl: u32,
    /// Its records. A CNAME is followed within the same response (as a
    /// recursive resolver does) for every query type but CNAME.
    pub records: Vec<RecordSpec>,
    /// Answer with one record of the queried type at a time, the next one at
    /// each query of that type (counted per name and type).
    #[serde(default)]
    pub rotate: bool,
    /// Address records of other owners, added to the answer section after
    /// this name's own records of the queried type.
    #[serde(default)]
    pub foreign_answers: Vec<ForeignRecord>,
    /// Address records of other owners for the additional section.
    #[serde(default)]
    pub foreign_additionals: Vec<ForeignRecord>,
}

impl NameSpec {
    /// `name` with `records`, all with `ttl`: no rotation, no foreign records.
    pub fn new(name: &str, ttl: u32, records: Vec<RecordSpec>) -> NameSpec {
        NameSpec {
            name: name.to_owned(),
            ttl,
            records,
            rotate: false,
            foreign_answers: Vec::new(),
            foreign_additionals: Vec::new(),
        }
    }
}

/// A record's data; its owner is the [`NameSpec`]'s name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordSpec {
    /// A or AAAA, by the address's family.
    Address(IpAddr),
    /// An alias for this name (without the trailing dot).
    Cname(String),
    /// One TXT string.
    Txt(String),
    /// An HTTPS record (RFC 9460).
    Https(HttpsSpec),
}

/// An HTTPS record in ServiceMode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpsSpec {
    /// SvcPriority (1 or more: ServiceMode).
    pub priority: u16,
    /// TargetName; `.` means the owner itself.
    pub target: String,
    /// `alpn` protocol ids.
    pub alpn: Vec<String>,
    /// `port`.
    pub port: u16,
    /// `ipv4hint` addresses.
    pub ipv4hint: Vec<Ipv4Addr>,
    /// `ech`: the ECHConfigList bytes.
    pub ech: Vec<u8>,
}

/// An A or AAAA record (by the address's family) of another owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignRecord {
    /// Its owner, lowercase, without the trailing dot.
    pub owner: String,
    /// Its address.
    pub address: IpAddr,
}
