//! The vendor's path from an empty directory to a certified backend:
//! `new-backend` skeletons ([`scaffold`]), the capability table of `info`
//! ([`capabilities`]), `repro --dump` ([`repro`]) and the progress bar of
//! long runs ([`progress`]). The CLI glue of those commands lives here too,
//! so `cli.rs` only names them.

pub mod capabilities;
pub mod progress;
pub mod repro;
pub mod scaffold;

use std::path::PathBuf;

use clap::ValueEnum;

use crate::cli::Failure;

/// The language of `new-backend`.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LangArg {
    /// C99, Makefile and CMakeLists.txt.
    C,
    /// C++17, CMake, exception-safe entry points.
    Cpp,
    /// Rust, on the xpucert-abi crate.
    Rust,
}

/// `xpucert new-backend NAME --lang c|cpp|rust [--dir DIR]`.
#[derive(clap::Args, Debug)]
pub struct NewBackendArgs {
    /// Backend name: lowercase letters, digits, `-` and `_` (e.g. `acme-npu`).
    pub name: String,
    /// Language of the skeleton.
    #[arg(long, value_enum)]
    pub lang: LangArg,
    /// Directory to create (default: ./NAME); must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// For `--lang rust`: path of the `xpucert-abi` crate (default: the
    /// `backends/abi` of the checkout xpucert was built from).
    #[arg(long)]
    pub abi_crate: Option<PathBuf>,
}

/// Runs `new-backend`.
pub(crate) fn cmd_new_backend(a: NewBackendArgs) -> Result<u8, Failure> {
    let lang = match a.lang {
        LangArg::C => scaffold::Lang::C,
        LangArg::Cpp => scaffold::Lang::Cpp,
        LangArg::Rust => scaffold::Lang::Rust,
    };
    let dir = a.dir.unwrap_or_else(|| PathBuf::from(&a.name));
    let abi = a.abi_crate.or_else(scaffold::bundled_abi_crate);
    if lang == scaffold::Lang::Rust && abi.is_none() {
        eprintln!(
            "xpucert: warning: the xpucert-abi crate was not found; edit the path in {}",
            dir.join("Cargo.toml").display()
        );
    }
    let files = scaffold::generate(&a.name, lang, &dir, abi.as_deref())
        .map_err(|e| Failure::config(e.to_string()))?;
    for f in &files {
        println!("wrote {}", f.display());
    }
    let build = match lang {
        scaffold::Lang::C => format!("make -C {}", dir.display()),
        scaffold::Lang::Cpp => format!(
            "cmake -S {d} -B {d}/build && cmake --build {d}/build",
            d = dir.display()
        ),
        scaffold::Lang::Rust => format!(
            "cargo build --release --manifest-path {}/Cargo.toml",
            dir.display()
        ),
    };
    let lib = dir.join(scaffold::library_path(lang, &a.name));
    println!("next: {build}");
    println!("then: xpucert info --backend {}", lib.display());
    println!(
        "      xpucert run --backend {} --suite suites/ops/core.yaml",
        lib.display()
    );
    Ok(0)
}

/// `xpucert repro CASE --backend X --dump DIR`.
#[derive(clap::Args, Debug)]
pub struct ReproArgs {
    /// The case id, as in results.json or `xpucert list`.
    pub case: String,
    /// Backend library path, or a bundled backend name.
    #[arg(long)]
    pub backend: String,
    /// Directory to write the arrays, case.json and check.py into.
    #[arg(long)]
    pub dump: PathBuf,
    /// Suite file or directory holding the case (repeatable).
    #[arg(long = "suite", default_value = "suites/ops/core.yaml")]
    pub suites: Vec<PathBuf>,
    /// Backend context option KEY=VALUE (repeatable).
    #[arg(long = "option", value_parser = crate::cli::parse_option)]
    pub options: Vec<(String, String)>,
    /// Where the backend runs (see `run --isolation`).
    #[arg(long, value_enum, default_value_t = crate::cli::Isolation::Process)]
    pub isolation: crate::cli::Isolation,
    /// Base time limit of one call in seconds.
    #[arg(long, default_value = "30")]
    pub timeout: f64,
}

/// The `repro` command line that reruns `id` and dumps it.
pub fn repro_command(
    id: &str,
    backend: &str,
    suites: &[PathBuf],
    options: &[(String, String)],
    dump: &str,
) -> String {
    let mut s = format!("xpucert repro {id} --backend {backend}");
    for p in suites {
        s.push_str(&format!(" --suite {}", p.display()));
    }
    for (k, v) in options {
        s.push_str(&format!(" --option {k}={v}"));
    }
    s.push_str(&format!(" --dump {dump}"));
    s
}

/// Runs `repro`: exit 0 if the case passes (or is unsupported), 1 if it
/// fails, like `run`.
pub(crate) fn cmd_repro(a: ReproArgs) -> Result<u8, Failure> {
    let suites = crate::cli::load_suites(&a.suites)?;
    let Some(case) = suites
        .iter()
        .flat_map(|s| &s.cases)
        .find(|c| c.id == a.case)
    else {
        return Err(Failure::config(format!(
            "no case `{}` in {} suite(s); `xpucert list` shows the ids",
            a.case,
            suites.len()
        )));
    };
    let mut b = crate::cli::open_backend(&a.backend, &a.options, a.isolation, a.timeout.max(60.0))?;
    let limit = crate::run::time_limit(case, std::time::Duration::from_secs_f64(a.timeout));
    let command = repro_command(
        &case.id,
        &a.backend,
        &a.suites,
        &a.options,
        &a.dump.display().to_string(),
    );
    let r = repro::repro(b.as_mut(), case, limit, &a.dump, &command)
        .map_err(|e| Failure::config(e.to_string()))?;
    for line in crate::report::teach::case_lines(&r.result) {
        println!("{line}");
    }
    if let Some(u) = &r.unstable {
        println!("warning: {u}");
    }
    println!(
        "wrote {} files to {}; `python3 {}` recomputes the figures with numpy",
        r.files.len(),
        a.dump.display(),
        a.dump.join("check.py").display()
    );
    Ok(if r.result.status.is_failure() { 1 } else { 0 })
}

/// A relative suite path that does not exist here is looked up in
/// `$XPUCERT_HOME` and then in the checkout xpucert was built from, so
/// `info` works from a vendor's own directory.
pub fn find_suite(path: &std::path::Path) -> PathBuf {
    if path.exists() || path.is_absolute() {
        return path.to_path_buf();
    }
    let homes = [
        std::env::var_os("XPUCERT_HOME").map(PathBuf::from),
        Some(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")),
    ];
    homes
        .into_iter()
        .flatten()
        .map(|h| h.join(path))
        .find(|p| p.exists())
        .unwrap_or_else(|| path.to_path_buf())
}
