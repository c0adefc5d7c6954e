//! A certification profile's required operators, as a run records them, and
//! how much of them the run covered.
//!
//! `run --profile` and `certify` write the profile's name and its required
//! op x dtype pairs into the provenance ([`ProfileRef`]), so a results file
//! says what it was for without the profile file. A pair is covered when at
//! least one of its operator cases ran: any status but `unsupported` and
//! `skip`. Coverage is recomputed from the cases by every reader, like the
//! summary; results.json also carries it ([`RequiredCoverage`]) for people
//! and tools that read the file directly.

use serde::{Deserialize, Serialize};

use super::{CaseResult, Status};

/// One required op and its dtypes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredOp {
    /// ONNX op name.
    pub op: String,
    /// Case dtypes.
    pub dtypes: Vec<String>,
}

/// The profile a run was made for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRef {
    /// Profile name (`core`).
    pub name: String,
    /// Its required op x dtype pairs.
    pub required: Vec<RequiredOp>,
}

/// A required pair that no case covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingPair {
    /// ONNX op name.
    pub op: String,
    /// Dtype.
    pub dtype: String,
    /// Cases of the pair in the results (all unsupported or skipped when
    /// more than zero).
    pub cases: usize,
}

impl MissingPair {
    /// `Attention x f32 (4 cases, none ran)`, `Gemm x bf16 (no case)`.
    pub fn describe(&self) -> String {
        if self.cases == 0 {
            format!("{} x {} (no case)", self.op, self.dtype)
        } else {
            format!(
                "{} x {} ({} cases, none ran)",
                self.op, self.dtype, self.cases
            )
        }
    }
}

/// How much of a profile's required pairs a run covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequiredCoverage {
    /// Profile name.
    pub profile: String,
    /// Required op x dtype pairs.
    pub pairs: usize,
    /// Pairs with at least one case that ran.
    pub covered: usize,
    /// The others, in the profile's order.
    pub missing: Vec<MissingPair>,
}

/// How many missing pairs a line names before "and N more".
const NAMED: usize = 8;

impl RequiredCoverage {
    /// The coverage of `profile`'s pairs by the operator cases of `cases`.
    pub fn of(profile: &ProfileRef, cases: &[CaseResult]) -> Self {
        let mut pairs = 0;
        let mut missing = Vec::new();
        for r in &profile.required {
            for dtype in &r.dtypes {
                pairs += 1;
                let of_pair = cases
                    .iter()
                    .filter(|c| c.model.is_none() && c.op == r.op && &c.dtype == dtype);
                let (n, ran) = of_pair.fold((0, 0), |(n, ran), c| {
                    let runs = !matches!(c.status, Status::Unsupported | Status::Skip);
                    (n + 1, ran + usize::from(runs))
                });
                if ran == 0 {
                    missing.push(MissingPair {
                        op: r.op.clone(),
                        dtype: dtype.clone(),
                        cases: n,
                    });
                }
            }
        }
        RequiredCoverage {
            profile: profile.name.clone(),
            pairs,
            covered: pairs - missing.len(),
            missing,
        }
    }

    /// The missing pairs, the first few by name: `A x f32 (no case), ...
    /// and 3 more`.
    pub fn missing_list(&self) -> String {
        let mut s: Vec<String> = self
            .missing
            .iter()
            .take(NAMED)
            .map(MissingPair::describe)
            .collect();
        if self.missing.len() > NAMED {
            s.push(format!("and {} more", self.missing.len() - NAMED));
        }
        s.join(", ")
    }

    /// `required by profile core: 33 of 35 op x dtype pairs covered
    /// (missing: ...)`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "required by profile {}: {} of {} op x dtype pairs covered",
            self.profile, self.covered, self.pairs
        );
        if !self.missing.is_empty() {
            s.push_str(&format!(" (missing: {})", self.missing_list()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::DType;

    fn case(op: &str, dtype: DType, status: Status) -> CaseResult {
        let mut c = CaseResult::for_model("x", dtype, "s:1:1".into(), status, None);
        c.model = None;
        c.op = op.into();
        c
    }

    #[test]
    fn a_pair_is_covered_when_one_of_its_cases_ran() {
        let profile = ProfileRef {
            name: "p".into(),
            required: vec![
                RequiredOp {
                    op: "Add".into(),
                    dtypes: vec!["f32".into(), "bf16".into()],
                },
                RequiredOp {
                    op: "Gemm".into(),
                    dtypes: vec!["f32".into()],
                },
            ],
        };
        let cases = [
            case("Add", DType::F32, Status::Unsupported),
            case("Add", DType::F32, Status::Fail),
            case("Add", DType::BF16, Status::Unsupported),
            case("Add", DType::BF16, Status::Skip),
        ];
        let c = RequiredCoverage::of(&profile, &cases);
        assert_eq!((c.pairs, c.covered), (3, 1));
        assert_eq!(
            c.describe(),
            "required by profile p: 1 of 3 op x dtype pairs covered \
             (missing: Add x bf16 (2 cases, none ran), Gemm x f32 (no case))"
        );
    }
}
