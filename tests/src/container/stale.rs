//! Container ids that name their test process, and the sweep of what dead ones left.

use std::{path::Path, sync::Once};

use super::runc;

/// Every test container id starts with this.
const ID_PREFIX: &str = "enftest-";

/// `enftest-<name>-<pid of this process>`.
pub(super) fn id_for(name: &str) -> String {
    format!("{ID_PREFIX}{name}-{}", std::process::id())
}

/// Once per process: deletes test containers, and removes bundle directories, of test
/// processes that are gone (killed before their drops ran).
pub(super) fn sweep_once() {
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| {
        for id in runc::list_ids().into_iter().filter(|id| owner_is_gone(id)) {
            runc::force_delete(&id);
        }
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name
                .strip_prefix("enforcer-container-")
                .is_some_and(owner_is_gone)
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
}

/// Whether `id` is a test container id whose process no longer exists.
fn owner_is_gone(id: &str) -> bool {
    id.strip_prefix(ID_PREFIX)
        .and_then(|rest| rest.rsplit_once('-'))
        .and_then(|(_, pid)| pid.parse::<u32>().ok())
        .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
}
