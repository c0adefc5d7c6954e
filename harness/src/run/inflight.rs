//! The case in flight, on disk: before each case the results files observer
//! writes `results.inflight` in the output directory (the case id, our pid,
//! the time), and removes it once the case's line is in `results.jsonl`.
//! A marker still there when a run resumes means the harness itself ended
//! during that case (killed by SIGKILL from the backend, ended by `exit()`
//! or its watchdog under `--isolation none`, or the machine went down).
//! When the harness recorded how ([`Marker::ended`]), `--resume` records
//! the case as `crash` (or `timeout`, when the watchdog said so) with that
//! message and goes on. When it did not (SIGKILL), the kill may have come
//! from outside (a user, the OOM killer, a CI runner), so the case is run
//! once more, its new marker counting the earlier death; a second death in
//! the same case is the case's doing, and the next resume records it as
//! `crash` and goes on, instead of running it again forever.
//!
//! The marker is written with plain `write(2)` calls and not synced: a
//! process that dies loses nothing it wrote, and a machine that goes down
//! loses the marker only with the unsynced lines of `results.jsonl` around
//! it (synced every few lines or seconds), so the resume then reruns that
//! case.
//!
//! When the harness knows it is ending in the middle of a case (the exit
//! guard and the watchdog, `guard.rs`), [`record_ending`] adds how to the
//! marker before the process goes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Status;
use super::results::{FileError, utc_now};

/// The marker's file name in the output directory.
pub const FILE: &str = "results.inflight";

/// What the marker holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// The id of the case in flight.
    pub case: String,
    /// The harness process that ran it.
    pub pid: u32,
    /// When the case started, UTC, RFC 3339.
    pub started_at: String,
    /// Earlier invocations in a row that died in this same case without
    /// recording how.
    #[serde(default)]
    pub earlier_deaths: u32,
    /// How the harness ended during the case, when it knew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ending>,
}

/// How the harness ended during a case, as it recorded before going.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ending {
    /// `crash` or `timeout`.
    pub status: Status,
    /// What happened, as the case's message will say.
    pub how: String,
}

/// Tests that go through [`begin`]/[`end`] (which set the process-wide
/// [`CURRENT`]) hold this, so they do not see each other's markers.
#[cfg(test)]
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

/// The marker of this process's case in flight, for [`record_ending`].
static CURRENT: Mutex<Option<(PathBuf, Marker)>> = Mutex::new(None);

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

fn write(path: &Path, marker: &Marker) -> Result<(), FileError> {
    let mut line =
        serde_json::to_vec(marker).map_err(|e| FileError::new("write", path, e.into()))?;
    line.push(b'\n');
    std::fs::File::create(path)
        .map_err(|e| FileError::new("create", path, e))?
        .write_all(&line)
        .map_err(|e| FileError::new("write", path, e))
}

/// Records that case `id` is starting (before any backend call of it);
/// `earlier_deaths` as [`Marker::earlier_deaths`].
pub fn begin(dir: &Path, id: &str, earlier_deaths: u32) -> Result<(), FileError> {
    let marker = Marker {
        case: id.to_string(),
        pid: std::process::id(),
        started_at: utc_now(),
        earlier_deaths,
        ended: None,
    };
    let path = path(dir);
    write(&path, &marker)?;
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some((path, marker));
    Ok(())
}

/// Records that no case is in flight (its result is recorded, or it was
/// abandoned by an interrupt).
pub fn end(dir: &Path) -> Result<(), FileError> {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = None;
    let path = path(dir);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(FileError::new("remove", &path, e))
        }
        _ => Ok(()),
    }
}

/// Adds how the harness is ending to the marker of the case in flight (and
/// syncs it: the process is about to go). Returns that case's id, or
/// `None` when no case is in flight. Never blocks for long: it runs in an
/// exit handler or the watchdog while the run's thread is stuck.
pub fn record_ending(status: Status, how: &str) -> Option<String> {
    let mut current = None;
    for _ in 0..100 {
        match CURRENT.try_lock() {
            Ok(g) => {
                current = g.clone();
                break;
            }
            Err(std::sync::TryLockError::Poisoned(g)) => {
                current = g.into_inner().clone();
                break;
            }
            Err(std::sync::TryLockError::WouldBlock) => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }
    let (path, mut marker) = current?;
    marker.ended = Some(Ending {
        status,
        how: how.to_string(),
    });
    if write(&path, &marker).is_ok()
        && let Ok(f) = std::fs::File::open(&path)
    {
        let _ = f.sync_all();
    }
    Some(marker.case)
}

/// The marker an earlier invocation left in `dir`, if any. One that cannot
/// be read or parsed (cut short by a crash of the machine) is no marker.
pub fn read(dir: &Path) -> Option<Marker> {
    let text = std::fs::read_to_string(path(dir)).ok()?;
    serde_json::from_str(text.trim_end()).ok()
}

impl Marker {
    /// The status and message the case gets when a resume finds this
    /// marker; `None` when the case deserves another run (the harness died
    /// in it once, without knowing why).
    pub fn verdict(&self) -> Option<(Status, String)> {
        match &self.ended {
            Some(e) => Some((
                e.status,
                format!(
                    "the harness itself (xpucert, pid {}) ended during this case: {}; \
                     `--resume` found its in-flight marker",
                    self.pid, e.how
                ),
            )),
            None if self.earlier_deaths == 0 => None,
            None => Some((
                Status::Crash,
                format!(
                    "the harness itself (xpucert, last pid {}) died during this case in {} \
                     invocations in a row and recorded no result: killed by a signal it \
                     cannot catch (SIGKILL, e.g. from the backend through kill(getppid()), \
                     or from the OOM killer or a user), or the machine went down; \
                     `--resume` found its in-flight marker",
                    self.pid,
                    self.earlier_deaths + 1
                ),
            )),
        }
    }

    /// The [`Marker::earlier_deaths`] of case `id` when it starts again in
    /// a run resumed after this marker.
    pub fn deaths_before(&self, id: &str) -> u32 {
        if self.case == id && self.ended.is_none() {
            self.earlier_deaths + 1
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_lives_from_begin_to_end_and_carries_its_ending() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        begin(dir.path(), "core.relu.f32.a", 0).unwrap();
        let m = read(dir.path()).unwrap();
        assert_eq!(m.case, "core.relu.f32.a");
        assert_eq!(m.pid, std::process::id());
        // A first unexplained death: run the case again, counting it.
        assert_eq!(m.verdict(), None);
        assert_eq!(m.deaths_before("core.relu.f32.a"), 1);
        assert_eq!(m.deaths_before("core.relu.f32.b"), 0);
        begin(dir.path(), "core.relu.f32.a", 1).unwrap();
        let (status, message) = read(dir.path()).unwrap().verdict().unwrap();
        assert_eq!(status, Status::Crash);
        assert!(
            message.contains("died during this case in 2 invocations"),
            "{message}"
        );

        assert_eq!(
            record_ending(Status::Timeout, "no answer from run_op after 1.0 s").as_deref(),
            Some("core.relu.f32.a")
        );
        let m = read(dir.path()).unwrap();
        assert_eq!(
            m.deaths_before("core.relu.f32.a"),
            0,
            "how it ended is known"
        );
        let (status, message) = m.verdict().unwrap();
        assert_eq!(status, Status::Timeout);
        assert!(
            message.contains("no answer from run_op after 1.0 s"),
            "{message}"
        );

        end(dir.path()).unwrap();
        assert!(read(dir.path()).is_none());
        assert!(!dir.path().join(FILE).exists());
        assert_eq!(record_ending(Status::Crash, "x"), None);
    }
}
