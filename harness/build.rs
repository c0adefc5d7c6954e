//! Records the git commit xpucert is built from, for results provenance.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .map(|o| !o.stdout.is_empty())
        .unwrap_or(false);
    let value = if commit.is_empty() {
        String::new()
    } else if dirty {
        format!("{commit}-dirty")
    } else {
        commit
    };
    println!("cargo:rustc-env=XPUCERT_GIT_COMMIT={value}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/index");
    bench_baseline();
    embed_data();
}

/// The data a harness installed anywhere needs, embedded in the binary
/// (`home.rs` writes it out on first use): the suites and profiles, the
/// published model configs they derive from (`configs/`), the CI
/// templates, and the script and pins that fetch the model checkpoints.
/// Written as `$OUT_DIR/embedded.rs`, one `(path, bytes)` per file, sorted.
fn embed_data() {
    use std::path::{Path, PathBuf};
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.is_file() {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["suites", "ci", "configs"] {
        println!("cargo:rerun-if-changed=../{dir}");
        walk(&root.join(dir), &mut files);
    }
    for f in [
        "fixtures/fetch-models.sh",
        "fixtures/models.lock",
        "fixtures/fetch-onnx-tests.sh",
        "fixtures/onnx-tests.lock",
        "fixtures/README.md",
    ] {
        println!("cargo:rerun-if-changed=../{f}");
        files.push(root.join(f));
    }
    let mut entries: Vec<(String, PathBuf)> = files
        .into_iter()
        .filter(|f| f.is_file())
        .map(|f| {
            let rel = f.strip_prefix(&root).expect("under the root");
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            (rel, f.canonicalize().expect("an existing file"))
        })
        .collect();
    entries.sort();
    let mut code = String::from("&[\n");
    for (rel, abs) in &entries {
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            abs.display().to_string()
        ));
    }
    code.push(']');
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("embedded.rs"), code).expect("OUT_DIR is writable");
}

/// The plain C function benches/dispatch.rs calls directly, linked into the
/// benches only (never into the library or the binary).
fn bench_baseline() {
    println!("cargo:rerun-if-changed=benches/tiny.c");
    let Some(out) = std::env::var_os("OUT_DIR") else {
        return;
    };
    cc::Build::new()
        .file("benches/tiny.c")
        .opt_level(2)
        .cargo_metadata(false)
        .compile("xpucert_bench_tiny");
    let lib = std::path::Path::new(&out).join("libxpucert_bench_tiny.a");
    println!("cargo:rustc-link-arg-benches={}", lib.display());
}
