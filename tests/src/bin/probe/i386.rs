//! System calls through the i386 ABI (`int 0x80`) from this 64-bit process, as a 32-bit
//! program makes them: a seccomp filter sees another architecture, with its own numbers.

use std::io;

/// i386 system call numbers.
pub const IOCTL: u32 = 54;
pub const CLONE: u32 = 120;
pub const UNSHARE: u32 = 310;
pub const CLONE3: u32 = 435;

/// Makes i386 system call `nr` with these arguments (ebx, ecx, edx, esi, edi); returns the
/// result, negative errno on failure.
///
/// # Safety
/// As for the system call itself: pointer arguments must point below 4 GiB.
#[cfg(target_arch = "x86_64")]
pub unsafe fn syscall(nr: u32, args: [u32; 5]) -> i32 {
    let ret: i32;
    // rbx can't be named as an operand (LLVM keeps it), so it is swapped in and out.
    core::arch::asm!(
        "xchg {a0:r}, rbx",
        "int 0x80",
        "xchg {a0:r}, rbx",
        a0 = inout(reg) u64::from(args[0]) => _,
        inlateout("eax") nr as i32 => ret,
        in("ecx") args[1],
        in("edx") args[2],
        in("esi") args[3],
        in("edi") args[4],
        out("r8") _,
        out("r9") _,
        out("r10") _,
        out("r11") _,
    );
    ret
}

/// No i386 ABI on this architecture.
///
/// # Safety
/// None needed: nothing is called.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn syscall(_nr: u32, _args: [u32; 5]) -> i32 {
    -libc::ENOSYS
}

/// The result of an i386 call as a libc-style one: the value, or the errno as an error.
pub fn result(ret: i32) -> io::Result<i32> {
    if (-4095..0).contains(&ret) {
        Err(io::Error::from_raw_os_error(-ret))
    } else {
        Ok(ret)
    }
}

#[cfg(target_arch = "x86_64")]
const MAP_32BIT: libc::c_int = libc::MAP_32BIT;
#[cfg(not(target_arch = "x86_64"))]
const MAP_32BIT: libc::c_int = 0;

/// A page of memory below 2 GiB, where i386 pointer arguments can point; unmapped on drop.
pub struct LowPage {
    addr: *mut u8,
}

impl LowPage {
    pub fn new() -> io::Result<LowPage> {
        // SAFETY: a fresh anonymous mapping, owned by the returned value.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | MAP_32BIT,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(LowPage { addr: addr.cast() })
    }

    /// Copies `bytes` to the start of the page and returns its 32-bit address.
    pub fn put(&mut self, bytes: &[u8]) -> u32 {
        assert!(bytes.len() <= 4096);
        // SAFETY: the page is ours, writable and large enough.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.addr, bytes.len()) };
        u32::try_from(self.addr as usize).unwrap_or(0)
    }
}

impl Drop for LowPage {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping.
        unsafe { libc::munmap(self.addr.cast(), 4096) };
    }
}
