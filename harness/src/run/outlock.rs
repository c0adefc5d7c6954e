//! One run per output directory: an exclusive lock (`flock(2)` through
//! `File::try_lock`) on `xpucert.lock` in `--out`, held for the whole run
//! (certify's runs included, since they go through the same `Runner`), with
//! the holder's pid written into the file so a second run can say whose it
//! is. Two runs writing one `results.jsonl` would interleave their lines
//! (and tear one), which `--resume` then rightly refuses.
//!
//! The lock goes with the process, however it ends (even SIGKILL), so a
//! stale lock file is harmless; it is left in place, since removing it
//! would race with a run that just opened it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;

use super::results::FileError;

/// The lock file's name in the output directory.
pub const FILE: &str = "xpucert.lock";

/// The lock on an output directory; released when dropped (or when the
/// process ends).
#[derive(Debug)]
pub struct OutLock {
    _file: File,
}

/// Why the output directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Creating the directory or the lock file failed.
    #[error(transparent)]
    Io(#[from] FileError),
    /// Another run holds it.
    #[error(
        "another xpucert run{} is writing into {dir} (it holds {dir}/{FILE}); \
         wait for it to finish, or give this run another --out",
        holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    Busy {
        /// The directory.
        dir: String,
        /// The pid the holder wrote, if it could be read.
        holder: Option<u32>,
    },
}

/// Creates `dir` if needed and takes its lock, or says who holds it.
pub fn acquire(dir: &Path) -> Result<OutLock, LockError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| FileError::new("create the output directory", dir, e))?;
    let path = dir.join(FILE);
    // Not truncated on open: until we hold the lock, the pid in it is the
    // holder's.
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| FileError::new("create", &path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Busy {
                dir: dir.display().to_string(),
                holder: text.trim().parse().ok(),
            });
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(FileError::new("lock", &path, e).into());
        }
    }
    file.set_len(0)
        .and_then(|()| file.rewind())
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(|e| FileError::new("write", &path, e))?;
    Ok(OutLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_first_holder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = acquire(&out).unwrap();
        let e = acquire(&out).unwrap_err().to_string();
        let pid = std::process::id();
        assert!(e.contains(&format!("(pid {pid})")), "{e}");
        assert!(e.contains(&out.display().to_string()), "{e}");
        drop(first);
        acquire(&out).unwrap();
    }

    #[test]
    fn an_output_path_that_is_a_file_says_what_was_being_done() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let e = acquire(&file).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "cannot create the output directory {}",
                file.display()
            )),
            "{e}"
        );
        assert!(!e.contains("resume"), "{e}");
    }
}
