//! Signed certificates (issue 16): keygen, `certify --sign`, `--no-library`,
//! `verify --pubkey` and `verify --rerun`, and the tampering each of them
//! must reject with its reason. A four-case suite keeps every bundle a
//! fraction of a second.

use crate::common;

use std::path::{Path, PathBuf};

use common::{Output, build_reference, run, xpucert};
use serde_json::{Value, json};

use crate::certificates::copy_dir;
use crate::reports::tmp;

const TINY_SUITE: &str = "\
suite: tiny
description: A few cases for the signed-certificate tests.
seed: 7
dtypes: [f32]
cases:
  - name: same_shape
    op: Add
    sweep:
      s: [[3], [2, 3]]
    inputs:
      - {shape: s}
      - {shape: s}
  - name: rows
    op: Softmax
    attributes: {axis: -1}
    inputs:
      - {shape: [2, 5]}
  - name: gelu
    op: Gelu
    inputs:
      - {shape: [4, 8]}
";

/// A temporary directory with the tiny suite, its profile and a key pair.
struct Fixture {
    t: tempfile::TempDir,
    profile: PathBuf,
    key: PathBuf,
    pubkey: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        build_reference();
        let t = tmp();
        let suite = t.path().join("tiny.yaml");
        std::fs::write(&suite, TINY_SUITE).unwrap();
        let profile = t.path().join("tiny-profile.yaml");
        std::fs::write(
            &profile,
            format!(
                "profile: tiny\nsuites: [{}]\nrequired:\n  - {{op: Add, dtypes: [f32]}}\n  - {{op: Gelu, dtypes: [f32]}}\nthroughput: {{min_iterations: 10}}\n",
                suite.display()
            ),
        )
        .unwrap();
        let key = t.path().join("key");
        let o = run(xpucert().args(["keygen", "--out"]).arg(&key));
        assert_eq!(o.code, 0, "{}", o.stderr);
        let pubkey = t.path().join("key.pub");
        Fixture {
            t,
            profile,
            key,
            pubkey,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.t.path().join(name)
    }

    /// `certify` of the tiny profile into `name` with extra arguments.
    fn certify(&self, name: &str, extra: &[&str]) -> PathBuf {
        let out = self.path(name);
        let o = run(xpucert()
            .arg("certify")
            .arg("--profile")
            .arg(&self.profile)
            .arg("--out")
            .arg(&out)
            .args(extra));
        assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
        out
    }

    /// A bundle of the reference backend signed with the fixture's key.
    fn signed(&self, name: &str) -> PathBuf {
        let key = self.key.display().to_string();
        self.certify(name, &["--backend", "reference", "--sign", &key])
    }

    fn verify(&self, bundle: &Path, extra: &[&str]) -> Output {
        run(xpucert()
            .arg("verify")
            .arg(bundle)
            .arg("--pubkey")
            .arg(&self.pubkey)
            .args(extra))
    }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn key_id(pubkey: &Path) -> String {
    xpucert::cert::sign::read_public(pubkey).unwrap().id()
}

/// The bundle path of the file with `role`.
fn file_of(bundle: &Path, role: &str) -> String {
    read_json(&bundle.join("certificate.json"))["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["role"] == role)
        .unwrap_or_else(|| panic!("no {role} file"))["path"]
        .as_str()
        .unwrap()
        .to_string()
}

fn flip_byte(p: &Path, offset: usize) {
    let mut bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    bytes[offset] ^= 0x01;
    std::fs::write(p, bytes).unwrap();
}

fn assert_rejected(o: &Output, what: &str, reasons: &[&str]) {
    assert_eq!(o.code, 1, "{what}: {}\n{}", o.stdout, o.stderr);
    assert!(o.stderr.contains("REJECTED"), "{what}: {}", o.stderr);
    for r in reasons {
        assert!(o.stderr.contains(r), "{what}: no `{r}` in: {}", o.stderr);
    }
}

#[test]
fn a_signed_bundle_verifies_with_its_key_and_says_when_it_was_not_checked() {
    let f = Fixture::new();
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&f.key).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode, 0o600);
    let id = key_id(&f.pubkey);
    let bundle = f.signed("b");
    let sig = read_json(&bundle.join("certificate.sig"));
    assert_eq!(sig["key_id"], json!(id));
    assert_eq!(sig["algorithm"], "ed25519");

    let o = f.verify(&bundle, &[]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout.contains(&format!("signature: verified, key {id}")),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("level L2"), "{}", o.stdout);

    // without --pubkey: verified hashes, and plainly no signature check
    let o = run(xpucert().arg("verify").arg(&bundle));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains(&format!("signature: NOT checked (signed by key {id};")),
        "{}",
        o.stdout
    );
    let unsigned = f.certify("u", &["--backend", "reference"]);
    let o = run(xpucert().arg("verify").arg(&unsigned));
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("signature: NOT checked: the bundle is unsigned"),
        "{}",
        o.stdout
    );
    // ... and an unsigned bundle is rejected when a signature is required
    let o = f.verify(&unsigned, &[]);
    assert_rejected(&o, "unsigned", &["the bundle is unsigned", &id]);

    // keygen never overwrites; a malformed key is a usage error naming the file
    let o = run(xpucert().args(["keygen", "--out"]).arg(&f.key));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("already exists"), "{}", o.stderr);
    let bad = f.path("bad.pub");
    std::fs::write(&bad, "not a key\n").unwrap();
    let o = run(xpucert()
        .arg("verify")
        .arg(&bundle)
        .arg("--pubkey")
        .arg(&bad));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.starts_with("xpucert: error: key file") && o.stderr.contains("bad.pub"),
        "{}",
        o.stderr
    );
    let o = run(xpucert()
        .arg("certify")
        .arg("--profile")
        .arg(&f.profile)
        .args(["--backend", "reference", "--out"])
        .arg(f.path("never"))
        .arg("--sign")
        .arg(&f.pubkey));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("is a public key"), "{}", o.stderr);
    assert!(!f.path("never").exists(), "no run before the key is read");
}

/// Every tampering the issue lists, each rejected by `verify --pubkey`
/// with its reason.
#[test]
fn tampered_signed_bundles_are_rejected_with_the_reason() {
    let f = Fixture::new();
    let bundle = f.signed("b");
    let id = key_id(&f.pubkey);
    let lib = file_of(&bundle, "library");
    let suite = file_of(&bundle, "suite");
    let copy = |name: &str| {
        let c = f.path(name);
        copy_dir(&bundle, &c);
        c
    };

    // (a) a byte of the results, (b) of a suite, (c) of the library: the
    // signature holds (certificate.json is intact), the hash does not
    for (what, rel, offset) in [
        ("results", "results.json", 200usize),
        ("suite", suite.as_str(), 10),
        ("library", lib.as_str(), 4096),
    ] {
        let c = copy(&format!("tampered-{what}"));
        flip_byte(&c.join(rel), offset);
        let o = f.verify(&c, &[]);
        let role = format!("({what}) has sha256");
        assert_rejected(&o, what, &[rel, &role]);
    }

    // (d) the forged certificate: another library, and every hash that
    // names it recomputed. It passes the hash checks; only the signature
    // stops it.
    let c = copy("forged");
    let mutants = xpucert::backend::resolve("mutants").unwrap();
    std::fs::copy(&mutants, c.join(&lib)).unwrap();
    let new_sha = xpucert::digest::sha256_file(&c.join(&lib)).unwrap();
    let mut results = read_json(&c.join("results.json"));
    results["provenance"]["backend_sha256"] = json!(new_sha);
    let text = serde_json::to_string_pretty(&results).unwrap();
    std::fs::write(c.join("results.json"), &text).unwrap();
    let mut cert = read_json(&c.join("certificate.json"));
    cert["backend_sha256"] = json!(new_sha);
    cert["library"]["sha256"] = json!(new_sha);
    cert["library"]["size"] = json!(std::fs::metadata(&mutants).unwrap().len());
    for file in cert["files"].as_array_mut().unwrap() {
        match file["role"].as_str() {
            Some("library") => file["sha256"] = json!(new_sha),
            Some("results") => file["sha256"] = json!(xpucert::digest::sha256_hex(text.as_bytes())),
            _ => {}
        }
    }
    std::fs::write(
        c.join("certificate.json"),
        serde_json::to_string_pretty(&cert).unwrap(),
    )
    .unwrap();
    let o = run(xpucert().arg("verify").arg(&c));
    assert_eq!(o.code, 0, "the forgery is consistent: {}", o.stderr);
    assert!(o.stdout.contains("signature: NOT checked"), "{}", o.stdout);
    let o = f.verify(&c, &[]);
    assert_rejected(
        &o,
        "forged",
        &[
            "does not match certificate.json",
            "changed after signing",
            &id,
        ],
    );

    // (e) a listed file deleted
    let c = copy("dropped");
    std::fs::remove_file(c.join("profile.yaml")).unwrap();
    let o = f.verify(&c, &[]);
    assert_rejected(&o, "dropped", &["profile.yaml", "No such file"]);

    // (f) signed with another key: both key ids named
    let c = copy("other-key");
    let other = f.path("other");
    let o = run(xpucert().args(["keygen", "--out"]).arg(&other));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let other_key = xpucert::cert::sign::read_secret(&other).unwrap();
    xpucert::cert::sign::sign_bundle(&c, &other_key).unwrap();
    let other_id = other_key.public().id();
    let o = f.verify(&c, &[]);
    let says = format!("signed by key {other_id}, not by the expected key {id}");
    assert_rejected(&o, "other key", &[&says]);

    // (g) certificate.json edited (level raised) and not re-signed
    let c = copy("raised");
    let mut cert = read_json(&c.join("certificate.json"));
    cert["level"]["level"] = json!(3);
    std::fs::write(
        c.join("certificate.json"),
        serde_json::to_string_pretty(&cert).unwrap(),
    )
    .unwrap();
    let o = f.verify(&c, &[]);
    assert_rejected(&o, "raised", &["changed after signing"]);

    // the signature file itself altered: not a signature of the certificate
    let c = copy("bad-signature");
    let mut sig = read_json(&c.join("certificate.sig"));
    let mut s = sig["signature"].as_str().unwrap().to_string();
    let last = if s.ends_with('0') { "1" } else { "0" };
    s.replace_range(127.., last);
    sig["signature"] = json!(s);
    std::fs::write(c.join("certificate.sig"), sig.to_string()).unwrap();
    let o = f.verify(&c, &[]);
    assert_rejected(&o, "bad signature", &["is not a valid signature"]);
}

/// `--no-library`: the bundle holds the library's name, size and hash, and
/// verify says its bytes were not checked; `--rerun` with the library
/// checks it, and another library is refused on its hash.
#[test]
fn a_bundle_without_its_library_verifies_and_reruns_on_the_certified_library() {
    let f = Fixture::new();
    let key = f.key.display().to_string();
    let bundle = f.certify(
        "nolib",
        &["--backend", "reference", "--no-library", "--sign", &key],
    );
    assert!(!bundle.join("backend").exists());
    let cert = read_json(&bundle.join("certificate.json"));
    let reference = xpucert::backend::resolve("reference").unwrap();
    let sha = xpucert::digest::sha256_file(&reference).unwrap();
    assert_eq!(
        cert["library"],
        json!({
            "file": reference.file_name().unwrap().to_str().unwrap(),
            "size": std::fs::metadata(&reference).unwrap().len(),
            "sha256": sha,
            "included": false,
        })
    );
    assert!(
        cert["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["role"] != "library")
    );
    let o = f.verify(&bundle, &[]);
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains(&format!("its bytes were NOT checked against sha256 {sha}")),
        "{}",
        o.stdout
    );

    let out = f.path("rerun");
    let out_arg = out.display().to_string();
    let o = f.verify(
        &bundle,
        &["--rerun", "--backend", "reference", "--out", &out_arg],
    );
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stdout
            .contains(&format!("rerun: reference has the certified sha256 {sha}"))
            && o.stdout
                .contains("rerun: 4 cases, 4 with the certified status")
            && o.stdout.contains("statuses match the certificate"),
        "{}",
        o.stdout
    );
    // the rerun ran the bundle's suite, not the installed one
    let rerun = read_json(&out.join("results.json"));
    let ran = rerun["provenance"]["suites"][0]["path"].as_str().unwrap();
    assert!(ran.starts_with(&bundle.display().to_string()), "{ran}");

    let mutants = xpucert::backend::resolve("mutants").unwrap();
    let other = xpucert::digest::sha256_file(&mutants).unwrap();
    let o = f.verify(&bundle, &["--rerun", "--backend", "mutants"]);
    let says = format!("has sha256 {other}, the certificate certifies {sha}");
    assert_rejected(&o, "another library", &["rerun:", &says]);
}

/// A rerun whose statuses differ from the certificate's lists the cases:
/// a certificate of the mutants backend with Gelu broken, rerun on the same
/// library with the honest mode.
#[test]
fn a_rerun_with_other_statuses_is_rejected_and_lists_the_cases() {
    let f = Fixture::new();
    let key = f.key.display().to_string();
    let bundle = f.certify(
        "broken",
        &[
            "--backend",
            "mutants",
            "--option",
            "mode=gelu_tanh_for_erf",
            "--sign",
            &key,
        ],
    );
    let rerun = |mode: &str| {
        let option = format!("mode={mode}");
        // --out: a rerun that differs keeps its results, here in the test's
        // own directory
        let out = f.path(mode).display().to_string();
        f.verify(
            &bundle,
            &[
                "--rerun",
                "--backend",
                "mutants",
                "--option",
                &option,
                "--out",
                &out,
            ],
        )
    };
    let o = rerun("gelu_tanh_for_erf");
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("level L1"), "{}", o.stdout);

    let o = rerun("honest");
    assert_rejected(
        &o,
        "honest rerun",
        &["rerun: 1 of 4 cases have another status than the certificate's"],
    );
    assert!(
        o.stdout
            .contains("  tiny.gelu.f32.gelu: certified fail, rerun pass"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("rerun results kept in "), "{}", o.stdout);
}
