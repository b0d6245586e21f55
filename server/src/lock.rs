//! The data directory's lock: one `sqlited` serves a data directory at a time, and
//! `sqlited restore` never replaces a file under a running server (which would go on serving
//! the unlinked file and lose every write it acknowledged after that at the next restart).
//!
//! An exclusive `flock` on `<data-dir>/.sqlited.lock`, held for the owner's whole life and
//! released by the kernel however it ends (`kill -9` included). The file holds the owner's
//! pid, so a refusal can say who holds it.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The lock file's name inside the data directory.
pub const FILE: &str = ".sqlited.lock";

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDirLock {
    /// Takes the lock of `data_dir` for `what` (e.g. "serve it"), or says which process
    /// holds it.
    ///
    /// # Errors
    /// A message naming the directory, the holder's pid and what to do.
    pub fn acquire(data_dir: &Path, what: &str) -> Result<Self, String> {
        let path = data_dir.join(FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|err| format!("cannot open the lock file {}: {err}", path.display()))?;
        // SAFETY: flock on a descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(format!("cannot lock {}: {err}", path.display()));
            }
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "another process".to_string(),
                pid => format!("process {pid}"),
            };
            return Err(format!(
                "the data directory {} is in use by a running sqlited ({holder} holds {}): cannot \
                 {what} while it runs; stop that server first, or use another --data-dir",
                data_dir.display(),
                path.display()
            ));
        }
        let written = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        if let Err(err) = written {
            return Err(format!("cannot write {}: {err}", path.display()));
        }
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_ones_pid() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataDirLock::acquire(dir.path(), "serve it").unwrap();
        let err = DataDirLock::acquire(dir.path(), "restore into it").unwrap_err();
        assert!(
            err.contains(&format!("process {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("restore into it"), "{err}");
        drop(first);
        DataDirLock::acquire(dir.path(), "serve it").unwrap();
    }
}
