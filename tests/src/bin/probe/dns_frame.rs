//! DNS over TCP framing: each message is preceded by its length, a big-endian
//! u16 (RFC 1035, 4.2.2).

use std::io::{self, Read, Write};

/// Writes one framed message, in a single write so it leaves as one segment.
pub fn write_frame(out: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let len = u16::try_from(message.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "DNS message over 64 KiB"))?;
    let mut frame = Vec::with_capacity(2 + message.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(message);
    out.write_all(&frame)
}

/// Reads one framed message.
pub fn read_frame(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    input.read_exact(&mut len)?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    input.read_exact(&mut message)?;
    Ok(message)
}
