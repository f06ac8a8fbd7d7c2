//! What the agent process costs in memory: its resident set (`VmRSS`), and the kernel
//! memory of the maps and programs it holds as the kernel accounts it in each
//! descriptor's fdinfo (`memlock:`, each map or program once). `memlock` does not cover
//! the bpf_links, nor each cgroup's storage (charged to the memory cgroup).

use anyhow::Context;

use super::fdinfo::{self, BpfKind};

#[derive(Clone, Copy, Debug)]
pub struct Memory {
    pub rss_bytes: u64,
    pub maps_bytes: u64,
    pub programs_bytes: u64,
    pub maps: usize,
    pub programs: usize,
}

impl Memory {
    /// Now, of process `pid`.
    pub fn of(pid: u32) -> anyhow::Result<Memory> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        let rss_kb = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .with_context(|| format!("no VmRSS in /proc/{pid}/status"))?;
        let mut memory = Memory {
            rss_bytes: rss_kb * 1024,
            maps_bytes: 0,
            programs_bytes: 0,
            maps: 0,
            programs: 0,
        };
        let objects = fdinfo::bpf_objects(pid)
            .with_context(|| format!("listing the eBPF objects of process {pid}"))?;
        for object in objects {
            let text = fdinfo::read(&object.fdinfo)
                .with_context(|| format!("reading {}", object.fdinfo.display()))?;
            let bytes = fdinfo::field(&text, "memlock")
                .with_context(|| format!("no memlock in {}", object.fdinfo.display()))?;
            match object.kind {
                BpfKind::Map => {
                    memory.maps_bytes += bytes;
                    memory.maps += 1;
                }
                BpfKind::Program => {
                    memory.programs_bytes += bytes;
                    memory.programs += 1;
                }
            }
        }
        Ok(memory)
    }
}
