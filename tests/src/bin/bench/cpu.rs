//! Client and server share one CPU. On a VM, waking a thread on another CPU costs an
//! inter-processor interrupt whose price varies so much that it drowns what enforcement
//! costs; on one CPU the runs are steadier, and every cycle the programs add (they run
//! on the sender's CPU, as does the veth's receive path) shows up in the rates.

use std::{io, mem};

/// The highest-numbered CPU this process may run on: CPU 0 tends to take more of the
/// node's housekeeping.
pub fn default_cpu() -> io::Result<usize> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = mem::zeroed();
        if libc::sched_getaffinity(0, mem::size_of_val(&set), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        set
    };
    (0..libc::CPU_SETSIZE as usize)
        .rev()
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .find(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .ok_or_else(|| io::Error::other("no CPU in this process's affinity mask"))
}

/// Keeps this process, and the threads it starts from now on, on `cpu`.
pub fn pin(cpu: usize) -> io::Result<()> {
    // SAFETY: as above; CPU_SET checks the bound itself.
    unsafe {
        let mut set: libc::cpu_set_t = mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, mem::size_of_val(&set), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
