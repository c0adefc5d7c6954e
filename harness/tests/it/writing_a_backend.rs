//! docs/writing-a-backend.md, executed: every ```sh block marked
//! `xpucert-test` runs in order (bash, -euo pipefail) in a fresh directory,
//! and every ```c block marked `file=PATH` is written to PATH first, exactly
//! as a vendor following the guide would. The one unmarked sh block (building
//! xpucert itself) is replaced by the build under test. At the end, the
//! MatMul and Softmax f32 cases of the core suite pass and every other case
//! is `unsupported`.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::{repo, results};

enum Block {
    Shell(String),
    File(String, String),
    Setup(String),
}

fn blocks(md: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = md.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let mut body = String::new();
        for l in lines.by_ref() {
            if l.starts_with("```") {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        let words: Vec<&str> = info.split_whitespace().collect();
        match words.as_slice() {
            ["sh", "xpucert-test"] => out.push(Block::Shell(body)),
            ["sh"] => out.push(Block::Setup(body)),
            [_, file] if file.starts_with("file=") => {
                out.push(Block::File(file["file=".len()..].to_string(), body))
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_guide_builds_a_backend_that_passes_matmul_and_softmax() {
    let md = std::fs::read_to_string(repo().join("docs/writing-a-backend.md")).unwrap();
    let blocks = blocks(&md);
    let setups: Vec<&String> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Setup(s) => Some(s),
            _ => None,
        })
        .collect();
    // Only the block that builds xpucert itself may go unexecuted.
    assert_eq!(setups.len(), 1, "unmarked sh blocks: {setups:?}");
    assert!(setups[0].contains("scripts/install.sh"));
    assert!(
        blocks
            .iter()
            .filter(|b| matches!(b, Block::Shell(_)))
            .count()
            >= 7
    );

    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_xpucert"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = tempfile::tempdir().unwrap();
    let mut transcript = String::new();
    for b in &blocks {
        match b {
            Block::File(rel, text) => {
                let p = work.path().join(rel);
                std::fs::create_dir_all(p.parent().unwrap()).unwrap();
                std::fs::write(&p, text).unwrap();
            }
            Block::Shell(script) => {
                let o = Command::new("bash")
                    .args(["-euo", "pipefail", "-c", script])
                    .current_dir(work.path())
                    .env("PATH", &path)
                    // Installed elsewhere: the suites are the binary's own.
                    .env_remove("XPUCERT_HOME")
                    .env("XDG_DATA_HOME", work.path().join(".data"))
                    .env_remove("XPUCERT_REFERENCE_LIB")
                    .output()
                    .expect("bash runs");
                let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
                transcript.push_str(&format!("$ {script}{stdout}\n"));
                assert!(
                    o.status.success(),
                    "this block of the guide failed:\n{script}\nstdout:\n{stdout}\nstderr:\n{}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
            Block::Setup(_) => {}
        }
    }
    println!("{transcript}");

    // The skeleton declined everything before MatMul and Softmax were added.
    let empty = results(&work.path().join("results-empty"));
    assert_eq!(
        empty["summary"]["by_status"]["unsupported"],
        empty["summary"]["total"]
    );
    // After: MatMul and Softmax f32 pass, everything else is unsupported.
    let r = results(&work.path().join("results"));
    let cases = r["cases"].as_array().unwrap();
    let mut passed = [0, 0];
    for c in cases {
        let (op, dtype) = (c["op"].as_str().unwrap(), c["dtype"].as_str().unwrap());
        let ours = ["MatMul", "Softmax"].iter().position(|o| *o == op);
        match ours {
            Some(i) if dtype == "f32" => {
                assert_eq!(c["status"], "pass", "{c}");
                passed[i] += 1;
            }
            _ => assert_eq!(c["status"], "unsupported", "{c}"),
        }
    }
    assert!(passed[0] >= 20 && passed[1] >= 8, "passed {passed:?}");
    assert_eq!(r["summary"]["conformant"], true);
    assert!(transcript.contains("figures match"), "{transcript}");
    assert!(
        common::capabilities_line_says(&transcript, 2),
        "{transcript}"
    );
}
