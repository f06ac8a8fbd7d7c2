//! OCI bundles: a busybox root filesystem and a `config.json` written from a
//! [`ContainerConfig`].

use std::{
    collections::BTreeMap,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::{stale, BUSYBOX, CGROUP_PARENT};

/// The busybox applets a bundle's root filesystem links to in `/bin`.
const APPLETS: [&str; 19] = [
    "sh", "cat", "echo", "sleep", "true", "false", "touch", "ls", "mkdir", "id", "wget", "nc",
    "nslookup", "ip", "ping", "timeout", "kill", "sed", "grep",
];

/// Hooks run with this environment only (as under containerd), not the test's.
const HOOK_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Seconds runc waits for a hook before failing the container: a hung hook would hang it.
const HOOK_TIMEOUT_S: u32 = 10;

/// The network namespace of a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkNamespace {
    /// A new one, with only `lo` (which runc brings up).
    New,
    /// An existing one (`/run/netns/NAME`, `/proc/PID/ns/net`), as it is: its `lo` stays
    /// down unless it was up.
    Join(PathBuf),
}

/// One OCI hook: `path` run with `args` (`args[0]` is its name, as in `execve`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    /// Seconds; `None` lets it run forever.
    pub timeout_s: Option<u32>,
}

impl Hook {
    /// Runs `path` with `args` after its name, a minimal `PATH` and a 10 s timeout.
    pub fn new(path: impl Into<PathBuf>, args: &[&str]) -> Hook {
        let path = path.into();
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |name| name.to_string_lossy().into_owned(),
        );
        Hook {
            args: std::iter::once(name)
                .chain(args.iter().map(ToString::to_string))
                .collect(),
            path,
            env: vec![HOOK_PATH.to_owned()],
            timeout_s: Some(HOOK_TIMEOUT_S),
        }
    }

    fn to_json(&self) -> Value {
        let mut hook = json!({
            "path": self.path,
            "args": self.args,
            "env": self.env,
        });
        if let Some(timeout) = self.timeout_s {
            hook["timeout"] = json!(timeout);
        }
        hook
    }
}

/// What a bundle's `config.json` says, in the parts tests change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The container's program and arguments (`["true"]` unless set).
    pub args: Vec<String>,
    pub hostname: String,
    pub annotations: BTreeMap<String, String>,
    pub create_runtime: Vec<Hook>,
    pub poststop: Vec<Hook>,
    pub network: NetworkNamespace,
    /// `linux.cgroupsPath`: `/enforcer-test/<bundle id>`.
    pub cgroups_path: String,
}

impl ContainerConfig {
    fn new(id: &str) -> ContainerConfig {
        ContainerConfig {
            args: vec!["true".to_owned()],
            hostname: id.to_owned(),
            annotations: BTreeMap::new(),
            create_runtime: Vec::new(),
            poststop: Vec::new(),
            network: NetworkNamespace::New,
            cgroups_path: format!("{CGROUP_PARENT}/{id}"),
        }
    }

    /// The `config.json`: what `runc spec` 1.1.5 prints, with no terminal, a writable root,
    /// and this config's parts.
    fn to_json(&self) -> Value {
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        let network = match &self.network {
            NetworkNamespace::New => json!({"type": "network"}),
            NetworkNamespace::Join(path) => json!({"type": "network", "path": path}),
        };
        let hooks = |hooks: &[Hook]| hooks.iter().map(Hook::to_json).collect::<Vec<_>>();
        json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": self.args,
                "env": ["PATH=/bin"],
                "cwd": "/",
                "capabilities": {
                    "bounding": caps, "effective": caps, "permitted": caps, "ambient": caps,
                },
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true,
            },
            "root": {"path": "rootfs", "readonly": false},
            "hostname": self.hostname,
            "annotations": self.annotations,
            "hooks": {
                "createRuntime": hooks(&self.create_runtime),
                "poststop": hooks(&self.poststop),
            },
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]},
            ],
            "linux": {
                "cgroupsPath": self.cgroups_path,
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [
                    {"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
                    network,
                ],
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                  "/proc/sysrq-trigger"],
            },
        })
    }
}

/// A bundle directory `<temp>/enforcer-container-<id>` (`rootfs/` and `config.json`), removed
/// on drop. Its id, `enftest-<name>-<pid>`, is unique to this process and suits as container
/// id.
#[derive(Debug)]
pub struct Bundle {
    id: String,
    dir: PathBuf,
    config: ContainerConfig,
}

impl Bundle {
    /// A bundle whose container runs `true` in new namespaces, in cgroup
    /// `/enforcer-test/<id>`. The first bundle of a process deletes the containers and
    /// bundles that test processes now dead left behind.
    pub fn create(name: &str) -> Result<Bundle> {
        stale::sweep_once();
        let id = stale::id_for(name);
        let dir = std::env::temp_dir().join(format!("enforcer-container-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        let bundle = Bundle {
            config: ContainerConfig::new(&id),
            id,
            dir,
        };
        bundle.build_rootfs()?;
        std::fs::create_dir(bundle.hooks_dir())
            .with_context(|| format!("create {}", bundle.hooks_dir().display()))?;
        bundle.write_config()?;
        Ok(bundle)
    }

    /// The id to run this bundle's container under.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The container's `/`, as the host sees it.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config(&self) -> &ContainerConfig {
        &self.config
    }

    /// Changes the config and writes `config.json` anew.
    pub fn configure(&mut self, change: impl FnOnce(&mut ContainerConfig)) -> Result<()> {
        change(&mut self.config);
        self.write_config()
    }

    /// A hook running a `/bin/sh` script of the host with this body, kept in the bundle
    /// (outside the root filesystem); it gets the container state on stdin.
    pub fn script_hook(&self, name: &str, body: &str) -> Result<Hook> {
        let path = self.hooks_dir().join(name);
        std::fs::write(&path, format!("#!/bin/sh\nset -eu\n{body}\n"))
            .with_context(|| format!("write {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod {}", path.display()))?;
        Ok(Hook::new(path, &[]))
    }

    /// A hook that saves the state it gets and the `/proc/<pid>/cgroup` of the container's
    /// process, both read back with [`HookRecording`].
    pub fn recording_hook(&self, name: &str) -> Result<(Hook, HookRecording)> {
        let recording = HookRecording {
            state: self.hooks_dir().join(format!("{name}.state")),
            cgroup: self.hooks_dir().join(format!("{name}.cgroup")),
        };
        let body = format!(
            "state=$(cat)\n\
             printf '%s' \"$state\" > '{state}'\n\
             pid=$(printf '%s' \"$state\" | sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p')\n\
             [ -z \"$pid\" ] || cat \"/proc/$pid/cgroup\" > '{cgroup}'",
            state = recording.state.display(),
            cgroup = recording.cgroup.display(),
        );
        Ok((self.script_hook(name, &body)?, recording))
    }

    fn hooks_dir(&self) -> PathBuf {
        self.dir.join("hooks")
    }

    /// Copies the host's `enforcer-probe` into the root filesystem as `/bin/enforcer-probe`.
    pub fn install_probe(&self) -> Result<()> {
        self.install_binary(&crate::probe_bin(), "enforcer-probe")
    }

    /// Copies a host binary into the root filesystem as `/bin/<name>`, with the shared
    /// libraries and loader `ldd` lists for it at the same paths, so that it runs in the
    /// container as on the host.
    pub fn install_binary(&self, binary: &Path, name: &str) -> Result<()> {
        for library in shared_libraries(binary)? {
            let inside = self
                .rootfs()
                .join(library.strip_prefix("/").unwrap_or(&library));
            if let Some(dir) = inside.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("create {}", dir.display()))?;
            }
            // `copy` follows the host's symlinks: the container gets the files themselves.
            std::fs::copy(&library, &inside)
                .with_context(|| format!("copy {} into the bundle", library.display()))?;
        }
        let target = self.rootfs().join("bin").join(name);
        std::fs::copy(binary, &target)
            .with_context(|| format!("copy {} into the bundle", binary.display()))?;
        Ok(())
    }

    fn build_rootfs(&self) -> Result<()> {
        let bin = self.rootfs().join("bin");
        std::fs::create_dir_all(&bin).with_context(|| format!("create {}", bin.display()))?;
        std::fs::copy(BUSYBOX, bin.join("busybox"))
            .with_context(|| format!("copy {BUSYBOX} (package busybox-static)"))?;
        for applet in APPLETS {
            symlink("busybox", bin.join(applet))
                .with_context(|| format!("link {applet} in {}", bin.display()))?;
        }
        Ok(())
    }

    fn write_config(&self) -> Result<()> {
        let path = self.dir.join("config.json");
        let text = serde_json::to_vec_pretty(&self.config.to_json())?;
        std::fs::write(&path, text).with_context(|| format!("write {}", path.display()))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The absolute paths of the shared libraries (and the loader) `ldd` lists for `binary`;
/// none for a static one.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = std::process::Command::new("ldd")
        .arg(binary)
        .output()
        .context("run ldd (package libc-bin)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        if format!("{text}{stderr}").contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        anyhow::bail!("ldd {}: {}", binary.display(), stderr.trim());
    }
    let mut libraries = Vec::new();
    for line in text.lines() {
        // `libc.so.6 => /lib/.../libc.so.6 (0x...)`, `/lib64/ld-linux-x86-64.so.2 (0x...)`,
        // `linux-vdso.so.1 (0x...)` (in the kernel: nothing to copy).
        let path = match line.split_once("=>") {
            Some((name, found)) => {
                if found.trim_start().starts_with("not found") {
                    anyhow::bail!("ldd {}: {} not found", binary.display(), name.trim());
                }
                found.split_whitespace().next().unwrap_or_default()
            }
            None => line.split_whitespace().next().unwrap_or_default(),
        };
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        }
    }
    Ok(libraries)
}

/// What a [`Bundle::recording_hook`] saw, once it has run.
#[derive(Debug)]
pub struct HookRecording {
    state: PathBuf,
    cgroup: PathBuf,
}

impl HookRecording {
    /// The state JSON the hook got on stdin.
    pub fn state(&self) -> Result<String> {
        std::fs::read_to_string(&self.state)
            .with_context(|| format!("the hook left no state at {}", self.state.display()))
    }

    /// `/proc/<pid>/cgroup` of the container's process, as the hook read it.
    pub fn proc_cgroup(&self) -> Result<String> {
        std::fs::read_to_string(&self.cgroup)
            .with_context(|| format!("the hook left no cgroups at {}", self.cgroup.display()))
    }
}
