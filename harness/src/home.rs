//! Where xpucert's own data is found: the bundled suites and profiles, the
//! CI templates, and the script that fetches the model checkpoints.
//!
//! A harness must work from a vendor's directory, not only from its
//! checkout. A path, or a name such as `--suite core` (`suites/ops/core.yaml`)
//! or `--profile deepseek` (`suites/profiles/deepseek.yaml`), is looked for
//! first where the command runs (so in a checkout, its own edited suites),
//! then in these roots, in order, each laid out like the repository
//! (`suites/`, `ci/`, `fixtures/`):
//!
//! 1. `$XPUCERT_HOME`, when set (a checkout, or any copy of the data);
//! 2. `share/xpucert` beside the binary's directory (`PREFIX/bin/xpucert`
//!    finds `PREFIX/share/xpucert`: what `scripts/install.sh`, a release
//!    archive and the Docker image lay out);
//! 3. the copy embedded in the binary at build time, written out on first
//!    use under `$XDG_DATA_HOME/xpucert/VERSION-HASH` (default
//!    `~/.local/share`), so a `cargo install`ed binary needs nothing else.
//!
//! The loaders read files (suites include others, bundles copy them, model
//! suites find their weights beside them), so the embedded copy is written
//! out rather than read from memory; its directory name carries the
//! content's hash, and every use rewrites a file whose bytes differ.
//!
//! A path found in a root is recorded in results by its path inside the
//! root ([`portable`]: `suites/ops/core.yaml`), so results, reruns and
//! certificates name the same suite on every machine; [`find`] turns it
//! back into a file.

use std::path::{Path, PathBuf};

/// The embedded data: (path inside a root, bytes), sorted by path.
static EMBEDDED: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Where named suites live inside a root, in lookup order; a name found in
/// two of them is ambiguous.
const SUITE_DIRS: [&str; 3] = ["suites/ops", "suites/models", "suites/perf"];

/// The directory of profiles inside a root.
const PROFILE_DIR: &str = "suites/profiles";

/// Which root a path came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    /// `$XPUCERT_HOME`.
    Env(PathBuf),
    /// `share/xpucert` beside the binary's directory.
    Installed(PathBuf),
    /// The embedded copy, written out here.
    Embedded(PathBuf),
}

impl Root {
    /// The root directory.
    pub fn dir(&self) -> &Path {
        match self {
            Root::Env(p) | Root::Installed(p) | Root::Embedded(p) => p,
        }
    }

    fn describe(&self) -> String {
        match self {
            Root::Env(p) => format!("XPUCERT_HOME={}", p.display()),
            Root::Installed(p) => format!("the installed data in {}", p.display()),
            Root::Embedded(_) => "the suites built into xpucert".into(),
        }
    }
}

/// The roots on disk, in lookup order (the built-in copy is not among them
/// until [`first_in_roots`] writes it out).
fn disk_roots() -> Vec<Root> {
    let mut roots = Vec::new();
    if let Some(h) = std::env::var_os("XPUCERT_HOME").filter(|h| !h.is_empty()) {
        roots.push(Root::Env(PathBuf::from(h)));
    }
    if let Some(share) = installed_share() {
        roots.push(Root::Installed(share));
    }
    roots
}

/// The first answer of `look` over the roots in order: those on disk, then
/// the built-in copy, written out only when none of them answered. Also
/// returns the roots looked in, for messages.
fn first_in_roots<T>(mut look: impl FnMut(&Root) -> Option<T>) -> (Option<T>, Vec<Root>) {
    let mut roots = disk_roots();
    if let Some(t) = roots.iter().find_map(&mut look) {
        return (Some(t), roots);
    }
    match write_embedded() {
        Ok(dir) => {
            let root = Root::Embedded(dir);
            let found = look(&root);
            roots.push(root);
            (found, roots)
        }
        Err(e) => {
            eprintln!(
                "xpucert: warning: cannot write the built-in suites out: {}",
                crate::text::escape(&e)
            );
            (None, roots)
        }
    }
}

/// `PREFIX/share/xpucert` for a binary in `PREFIX/bin`, if it exists.
fn installed_share() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let share = exe.parent()?.parent()?.join("share/xpucert");
    share.join("suites").is_dir().then_some(share)
}

/// The data root of the embedded copy (not yet written out), computed once
/// per process.
fn embedded_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(compute_embedded_dir).clone()
}

fn compute_embedded_dir() -> PathBuf {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (path, bytes) in EMBEDDED {
        h.update(path.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let hash = crate::digest::hex(&h.finalize()[..6]);
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })
        .unwrap_or_else(|| std::env::temp_dir().join("xpucert-data"));
    base.join("xpucert")
        .join(format!("{}-{hash}", env!("CARGO_PKG_VERSION")))
}

/// Writes the embedded data out (each file whose bytes differ, atomically
/// by rename, so concurrent runs never see half a file) and returns its
/// root; once per process, however many lookups reach it.
fn write_embedded() -> Result<PathBuf, String> {
    static WRITTEN: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    WRITTEN.get_or_init(write_embedded_now).clone()
}

fn write_embedded_now() -> Result<PathBuf, String> {
    let root = embedded_dir();
    for (rel, bytes) in EMBEDDED {
        let path = root.join(rel);
        if std::fs::read(&path).is_ok_and(|have| have == *bytes) {
            continue;
        }
        let parent = path.parent().unwrap_or(&root);
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        let tmp = parent.join(format!(
            ".{}.{}.tmp",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
        if rel.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755));
        }
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(root)
}

/// A path as given if it exists; else, if it is relative, the first root
/// that has it.
pub fn find(path: &Path) -> Option<PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    if path.is_absolute() {
        return None;
    }
    first_in_roots(|r| Some(r.dir().join(path)).filter(|p| p.exists())).0
}

/// A bare name (`core`), as opposed to a path (`suites/ops/core.yaml`,
/// `./core`, `x.yaml`).
fn is_name(arg: &Path) -> bool {
    let s = arg.to_string_lossy();
    !s.is_empty()
        && !s.contains('/')
        && !s.ends_with(".yaml")
        && !s.ends_with(".yml")
        && s != "."
        && s != ".."
}

/// The names [`suite`] knows, from the embedded data: `core`, `edge`, ...
/// and the directories `ops`, `models`, `perf`.
pub fn suite_names() -> Vec<String> {
    let mut names: Vec<String> = SUITE_DIRS
        .iter()
        .flat_map(|d| {
            EMBEDDED.iter().filter_map(move |(p, _)| {
                p.strip_prefix(d)?
                    .strip_prefix('/')?
                    .strip_suffix(".yaml")
                    .filter(|n| !n.contains('/'))
            })
        })
        .map(str::to_string)
        .collect();
    names.extend(
        SUITE_DIRS
            .iter()
            .map(|d| d.trim_start_matches("suites/").to_string()),
    );
    names
}

/// The profile names of the embedded data.
pub fn profile_names() -> Vec<String> {
    EMBEDDED
        .iter()
        .filter_map(|(p, _)| {
            p.strip_prefix(PROFILE_DIR)?
                .strip_prefix('/')?
                .strip_suffix(".yaml")
        })
        .map(str::to_string)
        .collect()
}

/// Where to look, in messages: "here, XPUCERT_HOME=..., the suites built
/// into xpucert".
fn searched(roots: &[Root]) -> String {
    let mut s = vec!["the current directory".to_string()];
    s.extend(roots.iter().map(Root::describe));
    s.join(", ")
}

/// `--suite ARG`: an existing file or directory, a relative path found in a
/// root, or a name (`core`: `suites/ops/core.yaml`; `models`: the
/// directory `suites/models`). The error says where it looked and which
/// names exist.
pub fn suite(arg: &Path) -> Result<PathBuf, String> {
    // An absolute path is the user's own: the loader says what is wrong.
    if arg.exists() || arg.is_absolute() {
        return Ok(arg.to_path_buf());
    }
    let candidates: Vec<PathBuf> = if is_name(arg) {
        let name = arg.to_string_lossy();
        SUITE_DIRS
            .iter()
            .map(|d| Path::new(d).join(format!("{name}.yaml")))
            .chain(std::iter::once(Path::new("suites").join(&*name)))
            .collect()
    } else {
        vec![arg.to_path_buf()]
    };
    // A name means the checkout's suite when run in one: its edits count.
    if let Some(here) = candidates.iter().find(|c| c.exists()) {
        return Ok(here.clone());
    }
    let (found, roots) = first_in_roots(|root| {
        let found: Vec<PathBuf> = candidates
            .iter()
            .map(|c| root.dir().join(c))
            .filter(|p| p.exists())
            .collect();
        match found.as_slice() {
            [] => None,
            [one] => Some(Ok(one.clone())),
            many => Some(Err(format!(
                "suite name `{}` is ambiguous in {}: {}; give the path",
                arg.display(),
                root.describe(),
                many.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    });
    if let Some(found) = found {
        return found;
    }
    Err(format!(
        "cannot find suite `{}` (looked in {}); bundled suite names: {}; or give a path",
        arg.display(),
        searched(&roots),
        suite_names().join(", ")
    ))
}

/// `--profile ARG`: a profile file, a relative path found in a root, or a
/// name (`core`: `suites/profiles/core.yaml`).
pub fn profile(arg: &str) -> Result<PathBuf, String> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    let rel = if is_name(path) {
        Path::new(PROFILE_DIR).join(format!("{arg}.yaml"))
    } else {
        path.to_path_buf()
    };
    if rel.is_file() {
        return Ok(rel);
    }
    let (found, roots) = first_in_roots(|r| Some(r.dir().join(&rel)).filter(|p| p.is_file()));
    found.ok_or_else(|| {
        format!(
            "cannot find profile `{arg}` (looked in {}); bundled profiles: {}; or give a path",
            searched(&roots),
            profile_names().join(", ")
        )
    })
}

/// How results name `path`: its path inside the root it was found in
/// (`suites/ops/core.yaml`), or the path as it was given. [`find`] turns
/// either back into a file.
pub fn portable(path: &Path) -> String {
    if path.is_relative() && !path.starts_with("..") {
        return path.display().to_string();
    }
    let Ok(canon) = path.canonicalize() else {
        return path.display().to_string();
    };
    for root in disk_roots()
        .into_iter()
        .map(|r| r.dir().to_path_buf())
        .chain([embedded_dir()])
    {
        if let Some(rel) = root
            .canonicalize()
            .ok()
            .and_then(|r| canon.strip_prefix(r).ok().map(Path::to_path_buf))
        {
            return rel.display().to_string();
        }
    }
    path.display().to_string()
}

/// The data root a suite file at `path` belongs to (the directory holding
/// its `suites/`), when it is laid out that way: model suites find their
/// weights and the fetch script there.
pub fn root_of(path: &Path) -> Option<PathBuf> {
    let mut dir = path.parent()?;
    loop {
        if dir.file_name().is_some_and(|n| n == "suites") {
            return Some(dir.parent().unwrap_or(Path::new("")).to_path_buf());
        }
        dir = dir.parent()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_data_holds_the_bundled_suites_profiles_and_templates() {
        let paths: Vec<&str> = EMBEDDED.iter().map(|(p, _)| *p).collect();
        for want in [
            "suites/ops/core.yaml",
            "suites/profiles/core.yaml",
            "suites/models/smollm2.yaml",
            "ci/github/xpucert.yml",
            "fixtures/fetch-models.sh",
            "fixtures/models.lock",
            "fixtures/fetch-onnx-tests.sh",
            "fixtures/onnx-tests.lock",
        ] {
            assert!(paths.contains(&want), "{want} not embedded: {paths:?}");
        }
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (p, bytes) in EMBEDDED {
            assert_eq!(
                std::fs::read(repo.join(p)).unwrap(),
                *bytes,
                "{p} differs from the checkout"
            );
        }
    }

    #[test]
    fn names_and_paths() {
        assert!(is_name(Path::new("core")));
        assert!(is_name(Path::new("deepseek-tiny")));
        assert!(!is_name(Path::new("core.yaml")));
        assert!(!is_name(Path::new("suites/ops")));
        assert!(!is_name(Path::new("..")));
        let names = suite_names();
        for n in ["core", "edge", "smollm2", "bench", "ops", "models"] {
            assert!(names.contains(&n.to_string()), "{n}: {names:?}");
        }
        assert_eq!(profile_names(), ["core", "deepseek"]);
        assert_eq!(
            root_of(Path::new("/x/y/suites/ops/core.yaml")),
            Some(PathBuf::from("/x/y"))
        );
        assert_eq!(root_of(Path::new("/x/y/core.yaml")), None);
    }
}
