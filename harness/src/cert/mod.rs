//! Certification profiles, levels, and verifiable certificate bundles.
//!
//! A profile (`suites/profiles/NAME.yaml`) names the operator suites to run,
//! the op x dtype pairs a deployment needs, the model suites it must pass and
//! the measurement rule for throughput. Levels are cumulative:
//!
//! * **L1** loads and reports capabilities: the run has results and the
//!   library returned a JSON manifest.
//! * **L2** operator-conformant: every required op x dtype pair has at least
//!   one case, and every such case passed (or warned); the run was not
//!   interrupted.
//! * **L3** model-conformant: every model the profile names has a model case
//!   that passed. A profile that names no model cannot give L3.
//!
//! Waived cases (`run/waivers.rs`: a failure an in-date entry of the run's
//! `--waivers` file expects) do not block L2 or L3: the waiver file is the
//! vendor's signed-off list of known failures, as in the Vulkan/OpenCL
//! CTS. The level is then stated with them (`L2 with 3 waived cases`,
//! [`LevelReport::waived`]), the certificate lists the waivers that applied,
//! and the bundle holds the waiver file, which `verify` checks every waived
//! case against.
//! * **L4** throughput reported under the measurement rules: every case of
//!   the required pairs carries a throughput record with at least
//!   `throughput.min_iterations` timed iterations and its samples, and every
//!   model case reports prefill and decode tokens per second.
//!
//! A bundle is a directory: `certificate.json` (the claim: profile, level,
//! provenance, and the sha256 of every other file), `results.json`, the
//! backend library under `backend/`, the profile, the suite files and the
//! fixtures the profile lists (with `--no-library`, the library's name,
//! size and sha256 only). `certify --sign KEY` signs `certificate.json`
//! ([`sign`]); `xpucert verify --pubkey KEY.pub` checks that signature
//! first. `xpucert verify` re-hashes every file,
//! checks that the results name the bundled library and suites, recomputes
//! the level from the bundled results and profile, and refuses any
//! difference.

//!
//! Layout: [`profile`] (profiles and levels), [`bundle`] (writing and
//! verifying bundles), [`certify`] (running a profile in process and
//! bundling the result, and `verify --rerun`), [`sign`] (keys and
//! signatures). Above `run` (certify drives the runner) and below
//! the command line.

pub mod bundle;
pub mod certify;
pub mod profile;
pub mod sign;

use std::path::Path;

use thiserror::Error;

pub use bundle::{
    BundleFile, BundleOptions, CERT_SCHEMA, Certificate, LibraryRecord, Verified, verify,
    verify_with, write_bundle, write_bundle_with,
};
pub use profile::{
    LevelReport, ModelReq, Profile, Required, ThroughputRule, level, load_profile, parse_profile,
    profile_path, profile_suites,
};

/// Errors of profiles, bundles and verification.
#[derive(Debug, Error)]
pub enum CertError {
    /// File system.
    #[error("{path}: {source}")]
    Io {
        /// Path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// A profile file is wrong.
    #[error("profile {path}: {msg}")]
    Profile {
        /// Path.
        path: String,
        /// What.
        msg: String,
    },
    /// A bundle does not verify.
    #[error("bundle {bundle} does not verify: {msg}")]
    Rejected {
        /// Bundle path.
        bundle: String,
        /// What is wrong.
        msg: String,
    },
    /// A key file is missing or malformed (its content is never shown).
    #[error("key file {path}: {msg}")]
    Key {
        /// Path.
        path: String,
        /// What.
        msg: String,
    },
    /// Anything else that prevents making a bundle.
    #[error("{0}")]
    Other(String),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CertError + '_ {
    move |source| CertError::Io {
        path: path.display().to_string(),
        source,
    }
}
