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
    let addr = SockAddr::from(dest);
    let connect = opcode::Connect::new(
        types::Fd(socket.as_raw_fd()),
        addr.as_ptr().cast(),
        addr.len(),
    )
    .build();
    // SAFETY: the socket and the address outlive the ring's use of them.
    unsafe { run_one(&connect, &deadline) }.during("io_uring connect")?;
    http_get(socket.into(), &deadline)
}

/// Sends the datagram "ping" to `dest` from an unconnected UDP socket with
/// IORING_OP_SENDMSG, then waits for the echo with plain system calls; the reply is the echo.
pub fn sendmsg(dest: SocketAddr, timeout_ms: u64) -> Outcome {
    let deadline = Deadline::after_ms(timeout_ms);
    let socket = Socket::new(Domain::for_address(dest), Type::DGRAM, Some(Protocol::UDP))
        .during("socket")?;
    let addr = SockAddr::from(dest);
    let mut payload = *b"ping";
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: an all-zero msghdr is valid; the fields set point at live locals.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_name = addr.as_ptr() as *mut libc::c_void;
    message.msg_namelen = addr.len();
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    let send = opcode::SendMsg::new(types::Fd(socket.as_raw_fd()), &message).build();
    // SAFETY: the socket, message, address and payload outlive the ring's use of them.
    unsafe { run_one(&send, &deadline) }.during("io_uring sendmsg")?;
    socket
        .set_read_timeout(Some(deadline.remaining()?))
        .during("setsockopt")?;
    let mut echo = [0u8; 64];
    let len = std::net::UdpSocket::from(socket)
        .recv(&mut echo)
        .during("recv")?;
    Ok(Some(String::from_utf8_lossy(&echo[..len]).into_owned()))
}

/// Submits one operation on a new ring and waits for its completion until `deadline`;
/// its result, or the error it completed with.
///
/// # Safety
/// Every buffer the operation points at must stay alive until this returns.
unsafe fn run_one(entry: &io_uring::squeue::Entry, deadline: &Deadline) -> io::Result<i32> {
    let mut ring = IoUring::new(8)?;
    // SAFETY: the caller keeps the operation's buffers alive; we wait for it below.
    unsafe { ring.submission().push(entry) }
        .map_err(|_| io::Error::other("io_uring submission queue full"))?;
    let remaining = deadline
        .remaining()
        .map_err(|_| io::Error::from_raw_os_error(libc::ETIMEDOUT))?;
    let timeout = types::Timespec::from(remaining);
    match ring
        .submitter()
        .submit_with_args(1, &types::SubmitArgs::new().timespec(&timeout))
    {
        // The wait ran out (ETIME): a timeout like any other.
        Err(e) if e.raw_os_error() == Some(libc::ETIME) => {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT))
        }
        submitted => submitted?,
    };
    let completion = ring
        .completion()
        .next()
        .ok_or_else(|| io::Error::other("no io_uring completion"))?;
    match completion.result() {
        result if result < 0 => Err(io::Error::from_raw_os_error(-result)),
        result => Ok(result),
    }
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
