//! `io-uring-setup` and `io-uring-connect`: io_uring, which can make and connect sockets
//! without the socket(2) and connect(2) system calls.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use io_uring::{opcode, types, IoUring};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::deadline::Deadline;
use super::outcome::{During, Failure, Outcome};

/// `struct io_uring_params` is 120 bytes; all zero asks for the defaults.
const PARAMS_WORDS: usize = 30;

const REQUEST: &[u8] = b"GET / HTTP/1.0\r\nHost: probe\r\n\r\n";

/// io_uring_setup(2) of an 8-entry ring, as the raw system call.
pub fn setup() -> Outcome {
    let mut params = [0u32; PARAMS_WORDS];
    // SAFETY: io_uring_setup with a zeroed io_uring_params of the kernel's size.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 8, params.as_mut_ptr()) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).during("io_uring_setup");
    }
    // SAFETY: the descriptor was just made and is owned by nothing else.
    drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    Ok(None)
}

/// Connects a TCP socket to `dest` with IORING_OP_CONNECT, then GETs `/` over it with
/// plain system calls (so the server has logged the connection before the probe ends);
/// the reply is the response body.
pub fn connect(dest: SocketAddr, timeout_ms: u64) -> Outcome {
    let deadline = Deadline::after_ms(timeout_ms);
    let socket = Socket::new(Domain::for_address(dest), Type::STREAM, Some(Protocol::TCP))
        .during("socket")?;
    let mut ring = IoUring::new(8).during("io_uring_setup")?;
    let addr = SockAddr::from(dest);
    let connect = opcode::Connect::new(
        types::Fd(socket.as_raw_fd()),
        addr.as_ptr().cast(),
        addr.len(),
    )
    .build();
    // SAFETY: the socket and the address outlive the ring's use of them (we wait below).
    unsafe { ring.submission().push(&connect) }
        .map_err(|_| Failure::other("io_uring submission queue full"))?;
    let timeout = types::Timespec::from(deadline.remaining()?);
    match ring
        .submitter()
        .submit_with_args(1, &types::SubmitArgs::new().timespec(&timeout))
    {
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => return Err(Failure::timeout()),
        submitted => submitted.during("io_uring_enter")?,
    };
    let completion = ring
        .completion()
        .next()
        .ok_or_else(|| Failure::other("no io_uring completion"))?;
    if completion.result() < 0 {
        return Err(io::Error::from_raw_os_error(-completion.result())).during("io_uring connect");
    }
    http_get(socket.into(), &deadline)
}

fn http_get(mut stream: TcpStream, deadline: &Deadline) -> Outcome {
    stream
        .set_write_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    stream.write_all(REQUEST).during("send")?;
    stream
        .set_read_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    let mut response = String::new();
    stream.read_to_string(&mut response).during("recv")?;
    match response.split_once("\r\n\r\n") {
        Some((_head, body)) => Ok(Some(body.to_owned())),
        None => Err(Failure::other(format!(
            "not an HTTP response: {response:?}"
        ))),
    }
}
