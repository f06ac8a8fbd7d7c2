//! Where file systems of a given type are mounted, from `/proc/self/mountinfo`.

use std::{fs, path::PathBuf};

use crate::error::{Error, Result};

/// Mount points of every mount of `fs_type` ("cgroup2", "bpf"), in mountinfo order.
pub fn mount_points(fs_type: &str) -> Result<Vec<PathBuf>> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(Error::io("reading", "/proc/self/mountinfo"))?;
    Ok(mountinfo
        .lines()
        .filter_map(|line| {
            let (mount, types) = line.split_once(" - ")?;
            let mount_point = mount.split(' ').nth(4)?;
            (types.split(' ').next()? == fs_type).then(|| PathBuf::from(unescape(mount_point)))
        })
        .collect())
}

/// mountinfo writes space, tab, newline and backslash in paths as octal escapes.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

#[cfg(test)]
mod tests {
    use super::unescape;

    #[test]
    fn octal_escapes_are_undone() {
        assert_eq!(unescape("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape("/sys/fs/cgroup/unified"), "/sys/fs/cgroup/unified");
    }
}
