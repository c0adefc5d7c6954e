//! `xpucert new-backend`: writes a backend skeleton that builds on its own,
//! loads, and answers every operator as unsupported, ready to fill in.
//!
//! Three languages, one shape: C (C99, a Makefile and a CMakeLists.txt, the
//! ABI plumbing in `backend.c` and an op table in `ops.c`), C++ (C++17, CMake,
//! every entry point inside a catch-all guard so no exception crosses the
//! ABI) and Rust (a cdylib on the `xpucert-abi` crate's `Backend` trait). The
//! templates are files under `harness/templates/`, embedded at build time;
//! the C and C++ skeletons carry a copy of `xpucert_backend.h`, so the
//! generated directory needs nothing from this repository to build.

use std::path::{Path, PathBuf};

/// The language of a skeleton.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// C99 with a Makefile and a CMakeLists.txt.
    C,
    /// C++17 with CMake.
    Cpp,
    /// Rust, a cdylib using `xpucert-abi`.
    Rust,
}

/// Why a skeleton could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name cannot become a library and identifier name.
    #[error(
        "backend name `{0}` must start with a lowercase letter and contain only a-z, 0-9, `-` and `_`"
    )]
    BadName(String),
    /// The target directory exists and is not empty.
    #[error("{0} already exists and is not empty; choose another --dir")]
    NotEmpty(PathBuf),
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// the file
        path: PathBuf,
        /// the cause
        source: std::io::Error,
    },
}

const HEADER: &str = include_str!("../../backends/include/xpucert_backend.h");

/// (path in the skeleton, template text) for each language.
fn templates(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::C => &[
            ("src/backend.c", include_str!("../templates/c/backend.c")),
            ("src/ops.h", include_str!("../templates/c/ops.h")),
            ("src/ops.c", include_str!("../templates/c/ops.c")),
            ("Makefile", include_str!("../templates/c/Makefile")),
            (
                "CMakeLists.txt",
                include_str!("../templates/c/CMakeLists.txt"),
            ),
            ("README.md", include_str!("../templates/c/README.md")),
            ("include/xpucert_backend.h", HEADER),
        ],
        Lang::Cpp => &[
            (
                "src/backend.cpp",
                include_str!("../templates/cpp/backend.cpp"),
            ),
            (
                "CMakeLists.txt",
                include_str!("../templates/cpp/CMakeLists.txt"),
            ),
            ("README.md", include_str!("../templates/cpp/README.md")),
            ("include/xpucert_backend.h", HEADER),
        ],
        Lang::Rust => &[
            (
                "Cargo.toml",
                include_str!("../templates/rust/Cargo.toml.tmpl"),
            ),
            ("src/lib.rs", include_str!("../templates/rust/lib.rs")),
            ("README.md", include_str!("../templates/rust/README.md")),
        ],
    }
}

/// The directory of the vendored `xpucert-abi` copy in a Rust skeleton.
pub const VENDORED_ABI: &str = "vendor/xpucert-abi";

/// The `xpucert-abi` crate this binary was built with, as a Rust skeleton
/// vendors it (path in the crate, text): its sources, its README, and a
/// standalone manifest (the crate's own inherits from the workspace).
fn abi_crate_files() -> [(&'static str, &'static str); 6] {
    [
        (
            "Cargo.toml",
            include_str!("../templates/rust/abi-Cargo.toml.tmpl"),
        ),
        ("README.md", include_str!("../../backends/abi/README.md")),
        ("src/lib.rs", include_str!("../../backends/abi/src/lib.rs")),
        ("src/ffi.rs", include_str!("../../backends/abi/src/ffi.rs")),
        (
            "src/tensor.rs",
            include_str!("../../backends/abi/src/tensor.rs"),
        ),
        (
            "src/export.rs",
            include_str!("../../backends/abi/src/export.rs"),
        ),
    ]
}

/// The library file a skeleton builds, relative to its directory.
pub fn library_path(lang: Lang, name: &str) -> PathBuf {
    let ident = ident(name);
    let file = libloading::library_filename(format!("xpucert_{ident}"));
    match lang {
        Lang::C | Lang::Cpp => Path::new("build").join(file),
        Lang::Rust => Path::new("target/release").join(file),
    }
}

fn ident(name: &str) -> String {
    name.replace('-', "_")
}

fn type_name(name: &str) -> String {
    let mut s = String::new();
    for part in name.split(['-', '_']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            s.push(first.to_ascii_uppercase());
            s.extend(chars);
        }
    }
    s.push_str("Backend");
    s
}

/// Writes the skeleton of backend `name` in `lang` into `dir` (created; it
/// must not exist or be empty). For a Rust skeleton, `abi_crate` is the path
/// of an `xpucert-abi` crate to depend on; None vendors this binary's copy
/// into [`VENDORED_ABI`], so the skeleton builds anywhere, offline. Returns
/// the files written.
pub fn generate(
    name: &str,
    lang: Lang,
    dir: &Path,
    abi_crate: Option<&Path>,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid || name.len() > 64 {
        return Err(ScaffoldError::BadName(name.to_string()));
    }
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(ScaffoldError::NotEmpty(dir.to_path_buf()));
    }
    let abi_version = env!("CARGO_PKG_VERSION");
    let abi_dependency = match abi_crate {
        Some(p) => format!(
            "xpucert-abi = {{ path = {:?}, version = \"{abi_version}\" }}",
            p.display().to_string()
        ),
        None => format!(
            "# The copy of the crate this xpucert speaks (see {VENDORED_ABI}/README.md\n\
             # for a checkout, git or crates.io instead).\n\
             xpucert-abi = {{ path = \"{VENDORED_ABI}\", version = \"{abi_version}\" }}"
        ),
    };
    let abi = format!(
        "{}.{}",
        xpucert_abi::ffi::XPU_ABI_MAJOR,
        xpucert_abi::ffi::XPU_ABI_MINOR
    );
    let substitutions = [
        ("{{name}}", name.to_string()),
        ("{{ident}}", ident(name)),
        ("{{type_name}}", type_name(name)),
        ("{{abi}}", abi),
        ("{{abi_dependency}}", abi_dependency),
        ("{{abi_version}}", abi_version.to_string()),
        (
            "{{xpucert}}",
            format!("xpucert {}", env!("CARGO_PKG_VERSION")),
        ),
    ];
    let mut files: Vec<(String, &str)> = templates(lang)
        .iter()
        .map(|(rel, text)| (rel.to_string(), *text))
        .collect();
    if lang == Lang::Rust && abi_crate.is_none() {
        files.extend(
            abi_crate_files()
                .into_iter()
                .map(|(rel, text)| (format!("{VENDORED_ABI}/{rel}"), text)),
        );
    }
    let mut written = Vec::new();
    for (rel, text) in &files {
        let rel = rel.as_str();
        let mut out = text.to_string();
        // Placeholders are in the templates only: not in the header or the
        // vendored crate's sources (its manifest is a template).
        let verbatim = rel == "include/xpucert_backend.h"
            || (rel.starts_with(VENDORED_ABI) && !rel.ends_with("Cargo.toml"));
        if !verbatim {
            for (key, value) in &substitutions {
                out = out.replace(key, value);
            }
        }
        let path = dir.join(rel);
        let io = |source| ScaffoldError::Io {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&path, out).map_err(io)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(type_name("acme-npu"), "AcmeNpuBackend");
        assert_eq!(ident("acme-npu"), "acme_npu");
        let tmp = std::env::temp_dir().join(format!("xpucert-scaffold-{}", std::process::id()));
        assert!(matches!(
            generate("Acme", Lang::C, &tmp, None),
            Err(ScaffoldError::BadName(_))
        ));
        assert!(matches!(
            generate("a/b", Lang::C, &tmp, None),
            Err(ScaffoldError::BadName(_))
        ));
    }

    #[test]
    fn every_placeholder_is_filled() {
        let tmp = std::env::temp_dir().join(format!("xpucert-scaffold-ph-{}", std::process::id()));
        for (i, lang) in [Lang::C, Lang::Cpp, Lang::Rust].into_iter().enumerate() {
            let dir = tmp.join(i.to_string());
            let files = generate("acme-npu", lang, &dir, Some(Path::new("/x/abi"))).unwrap();
            for f in files {
                let text = std::fs::read_to_string(&f).unwrap();
                assert!(!text.contains("{{"), "{} keeps a placeholder", f.display());
            }
            assert!(matches!(
                generate("acme-npu", lang, &dir, None),
                Err(ScaffoldError::NotEmpty(_))
            ));
        }
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
