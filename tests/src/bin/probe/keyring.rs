//! `keyring-read`: can this process read a key of the process that started it (a "user" key
//! linked into the session keyring it inherited)?

use std::ffi::CString;
use std::io;

use super::outcome::{During, Failure, Outcome};

const KEYCTL_SEARCH: libc::c_long = 10;
const KEYCTL_READ: libc::c_long = 11;
const KEY_SPEC_SESSION_KEYRING: libc::c_long = -3;

/// Finds the "user" key `description` and reads it; reply = its payload. Found by searching
/// the session keyring (ENOKEY when it is not there), or with `by_id` by its serial number
/// in /proc/keys, which lists the keys this process may view (ENOKEY when none is listed;
/// keys no longer linked anywhere stay listed until the kernel collects them, so every one
/// listed under that description is tried).
pub fn read(description: &str, by_id: bool) -> Outcome {
    if !by_id {
        return read_key(search(description)?);
    }
    let mut last = None;
    for id in listed_ids(description)? {
        match read_key(id) {
            Ok(payload) => return Ok(payload),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Failure::from(io::Error::from_raw_os_error(libc::ENOKEY)).during("not in /proc/keys")
    }))
}

fn read_key(id: libc::c_long) -> Outcome {
    let mut buf = vec![0u8; 4096];
    // SAFETY: keyctl(KEYCTL_READ) into our buffer of this length.
    let n = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_READ,
            id,
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error()).during("keyctl read");
    }
    buf.truncate(usize::try_from(n).unwrap_or(0).min(4096));
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

fn search(description: &str) -> Result<libc::c_long, Failure> {
    let description = CString::new(description).map_err(|_| Failure::other("NUL"))?;
    // SAFETY: keyctl(KEYCTL_SEARCH) with NUL-terminated strings and no keyring to link to.
    let id = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SEARCH,
            KEY_SPEC_SESSION_KEYRING,
            c"user".as_ptr(),
            description.as_ptr(),
            0,
        )
    };
    if id < 0 {
        return Err(io::Error::last_os_error()).during("keyctl search");
    }
    Ok(id)
}

/// The serials of the "user" keys `description` as /proc/keys lists them: `<hex serial>
/// <flags> <usage> <timeout> <perm> <uid> <gid> <type> <description>: <summary>`.
fn listed_ids(description: &str) -> Result<Vec<libc::c_long>, Failure> {
    let keys = std::fs::read_to_string("/proc/keys").during("read /proc/keys")?;
    let wanted = format!("{description}:");
    Ok(keys
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|fields| fields.len() > 8 && fields[7] == "user" && fields[8] == wanted)
        .filter_map(|fields| libc::c_long::from_str_radix(fields[0], 16).ok())
        .collect())
}

/// `request-key`: asks the kernel for the "user" key `description` without a callout (so no
/// helper runs); reply = the key's serial. Outside a task: ENOKEY; inside: refused.
pub fn request(description: &str) -> Outcome {
    let description = CString::new(description).map_err(|_| Failure::other("NUL"))?;
    // SAFETY: request_key(2) with NUL-terminated strings and no callout information.
    let id = unsafe {
        libc::syscall(
            libc::SYS_request_key,
            c"user".as_ptr(),
            description.as_ptr(),
            std::ptr::null::<libc::c_char>(),
            KEY_SPEC_SESSION_KEYRING,
        )
    };
    if id < 0 {
        return Err(io::Error::last_os_error()).during("request_key");
    }
    Ok(Some(id.to_string()))
}
