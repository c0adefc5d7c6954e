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
