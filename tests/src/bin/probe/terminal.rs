//! `tiocsti` and `tioclinux`: may this process type into a terminal (push input as if typed,
//! which the terminal's reader, say the operator's shell, then runs), or drive the console?

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::i386;
use super::outcome::{During, Failure, Outcome};

/// Set in the request argument by `--high-bits`: the kernel reads an unsigned int and
/// ignores it, so a filter that compared all 64 bits of the argument would be fooled.
const HIGH_BIT: u64 = 1 << 32;

/// The terminal a request goes to.
enum Terminal {
    /// A descriptor this process was given (stdin: 0).
    Given(RawFd),
    /// A file opened here (`/dev/tty`: the controlling terminal, `/dev/null`: no terminal).
    Opened(OwnedFd),
    /// A new pseudo-terminal pair whose slave became this process's controlling terminal.
    OwnPty { _master: OwnedFd, slave: OwnedFd },
}

impl Terminal {
    /// `TARGET`: a descriptor number, `pty`, or a path.
    fn open(target: &str) -> Result<Terminal, Failure> {
        if let Ok(fd) = target.parse() {
            return Ok(Terminal::Given(fd));
        }
        if target == "pty" {
            return own_pty();
        }
        let path = std::ffi::CString::new(target).map_err(|_| Failure::other("NUL in path"))?;
        // SAFETY: open(2) of a NUL-terminated path. O_NOCTTY: opening must not change
        // which terminal is this process's.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
        if fd < 0 {
            return Err(io::Error::last_os_error()).during("open");
        }
        // SAFETY: just opened, owned by nothing else.
        Ok(Terminal::Opened(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn fd(&self) -> RawFd {
        match self {
            Terminal::Given(fd) => *fd,
            Terminal::Opened(fd) => fd.as_raw_fd(),
            Terminal::OwnPty { slave, .. } => slave.as_raw_fd(),
        }
    }
}

/// A pseudo-terminal of this process's own, in raw mode, made its controlling terminal
/// (in a new session when this process is not already a session leader).
fn own_pty() -> Result<Terminal, Failure> {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty fills two descriptors that we then own; no name, default settings.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error()).during("openpty");
    }
    // SAFETY: both were just opened and are owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    // SAFETY: termios calls on our own descriptor.
    unsafe {
        let mut termios: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(slave.as_raw_fd(), &mut termios) < 0 {
            return Err(io::Error::last_os_error()).during("tcgetattr");
        }
        libc::cfmakeraw(&mut termios);
        if libc::tcsetattr(slave.as_raw_fd(), libc::TCSANOW, &termios) < 0 {
            return Err(io::Error::last_os_error()).during("tcsetattr");
        }
        // Closing the master at the end hangs the terminal up: the probe must live to report.
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        // Fails (EPERM) when this process already leads a session: then it is used as is.
        libc::setsid();
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) < 0 {
            return Err(io::Error::last_os_error()).during("TIOCSCTTY");
        }
    }
    Ok(Terminal::OwnPty {
        _master: master,
        slave,
    })
}

/// ioctl(fd, request, pointer to `arg`), through the raw system call: with bit 32 of the
/// request set (`high_bits`), or through the i386 ABI (`i386`).
fn ioctl(fd: RawFd, request: u64, arg: &mut [u8], high_bits: bool, i386: bool) -> io::Result<i32> {
    if i386 {
        let mut page = i386::LowPage::new()?;
        let pointer = page.put(arg);
        // SAFETY: ioctl with a pointer to our own page below 4 GiB.
        let ret = unsafe { i386::syscall(i386::IOCTL, [fd as u32, request as u32, pointer, 0, 0]) };
        return i386::result(ret);
    }
    let request = request | if high_bits { HIGH_BIT } else { 0 };
    // SAFETY: ioctl with a pointer to `arg`, large enough for what the requests used here
    // read or write.
    let ret = unsafe { libc::syscall(libc::SYS_ioctl, i64::from(fd), request, arg.as_mut_ptr()) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as i32)
    }
}

/// TIOCSTI of `byte` into `target`; ok when the terminal took it. For `pty`, reply = what
/// its reader then reads.
pub fn tiocsti(target: &str, byte: u8, high_bits: bool, i386: bool) -> Outcome {
    let terminal = Terminal::open(target)?;
    ioctl(terminal.fd(), libc::TIOCSTI, &mut [byte], high_bits, i386).during("TIOCSTI")?;
    let Terminal::OwnPty { slave, .. } = &terminal else {
        return Ok(None);
    };
    let mut buf = [0u8; 64];
    // SAFETY: reading into our buffer from our own descriptor, without waiting.
    let n = unsafe {
        libc::fcntl(slave.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK);
        libc::read(slave.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len())
    };
    let read = usize::try_from(n).unwrap_or(0);
    Ok(Some(String::from_utf8_lossy(&buf[..read]).into_owned()))
}

/// TIOCLINUX with `subcode` on `target`; ok when the console answered; reply = its answer.
pub fn tioclinux(target: &str, subcode: u8, high_bits: bool, i386: bool) -> Outcome {
    let terminal = Terminal::open(target)?;
    // Some subcodes read more than the subcode byte.
    let mut arg = [0u8; 8];
    arg[0] = subcode;
    let answer =
        ioctl(terminal.fd(), libc::TIOCLINUX, &mut arg, high_bits, i386).during("TIOCLINUX")?;
    Ok(Some(answer.to_string()))
}
