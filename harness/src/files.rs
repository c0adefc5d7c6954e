//! Reading the files a user names (suites and their includes, model suites,
//! profiles, results files, baselines): regular files only, and at most a
//! stated size, so that `--suite /dev/zero` or a FIFO is one clear error
//! instead of memory exhaustion or a read that blocks forever.

use std::io::Read;
use std::path::Path;

/// Why a file could not be read; `Display` names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Not a regular file: a directory, FIFO, socket or device.
    #[error("{path}: not a regular file ({kind}); give a file")]
    NotRegular {
        /// The file as named.
        path: String,
        /// What it is instead.
        kind: &'static str,
    },
    /// Larger than the limit.
    #[error("{path}: {size} bytes is more than the {limit} bytes allowed for {what}")]
    TooLarge {
        /// The file as named.
        path: String,
        /// Its size (or the bytes read before giving up).
        size: u64,
        /// The limit.
        limit: u64,
        /// What kind of file it was meant to be.
        what: &'static str,
    },
    /// Missing, unreadable, or a failed read.
    #[error("{path}: {source}")]
    Io {
        /// The file as named.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

impl ReadError {
    /// As an I/O error without the path (for callers whose own error
    /// names the file).
    pub fn into_io(self) -> std::io::Error {
        match self {
            ReadError::Io { source, .. } => source,
            ReadError::NotRegular { kind, .. } => std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("not a regular file ({kind})"),
            ),
            ReadError::TooLarge {
                size, limit, what, ..
            } => std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{size} bytes is more than the {limit} bytes allowed for {what}"),
            ),
        }
    }
}

/// Largest results file read (results.json, a baseline), in bytes.
pub const MAX_RESULTS_BYTES: u64 = 2 << 30;

/// Fails unless `path` is a regular file (after symlinks), without opening
/// it: opening a FIFO for reading would block. Returns its metadata.
pub fn check_regular(path: &Path) -> Result<std::fs::Metadata, ReadError> {
    let meta = std::fs::metadata(path).map_err(|source| ReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(ReadError::NotRegular {
            path: path.display().to_string(),
            kind: kind(&meta.file_type()),
        })
    }
}

/// Reads `path` whole if it is a regular file (after symlinks) of at most
/// `limit` bytes. The type is checked before the file is opened, as opening
/// a FIFO for reading blocks until a writer appears; the read stops at
/// `limit + 1` bytes in case the file grows meanwhile.
pub fn read_regular(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    let shown = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: shown(),
        source,
    };
    let meta = check_regular(path)?;
    let too_large = |size| ReadError::TooLarge {
        path: shown(),
        size,
        limit,
        what,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64, what: &'static str) -> Result<String, ReadError> {
    let bytes = read_regular(path, limit, what)?;
    String::from_utf8(bytes).map_err(|e| ReadError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8: {e}")),
    })
}

fn kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_large_files_are_refused() {
        let e = read_regular(Path::new("/dev/zero"), 1 << 20, "a suite").unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = read_regular(dir.path(), 1 << 20, "a suite").unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'#'; 2048]).unwrap();
        let e = read_regular(&big, 1024, "a suite").unwrap_err();
        assert!(
            e.to_string().contains("2048 bytes is more than the 1024"),
            "{e}"
        );
        assert_eq!(read_regular(&big, 2048, "a suite").unwrap().len(), 2048);
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let e = read_regular(&fifo, 1024, "a suite").unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
    }
}
