use std::net::IpAddr;

use super::DnsReason;

#[test]
fn reasons_have_stable_names_and_addresses_where_they_are_about_one() {
    let addr: IpAddr = "127.0.0.1".parse().unwrap();
    let cases = [
        (DnsReason::NameNotAllowed, "name-not-allowed", None),
        (DnsReason::TypeNotAllowed, "type-not-allowed", None),
        (
            DnsReason::CnameOutside {
                target: "evil.net".to_owned(),
            },
            "cname-outside",
            None,
        ),
        (DnsReason::Internal { addr }, "internal-address", Some(addr)),
        (DnsReason::NodeAddress { addr }, "node-address", Some(addr)),
    ];
    for (reason, name, reason_addr) in cases {
        assert_eq!(reason.as_str(), name);
        assert_eq!(reason.addr(), reason_addr);
    }
}
