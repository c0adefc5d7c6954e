use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use super::*;
use crate::numerics::DType;

/// Every pair of levels that some possible combination holds, found by
/// brute force (independently of `pairwise`'s bookkeeping).
fn possible_pairs(space: &CaseSpace, op: Op) -> (HashSet<(usize, usize, usize, usize)>, usize) {
    let radix: Vec<usize> = space.factors.iter().map(|f| f.levels.len()).collect();
    let total: usize = radix.iter().product();
    let mut out = HashSet::new();
    let mut possible = 0;
    for n in 0..total {
        let mut levels = vec![0; radix.len()];
        let mut rest = n;
        for k in (0..radix.len()).rev() {
            levels[k] = rest % radix[k];
            rest /= radix[k];
        }
        let pick = Pick {
            factors: &space.factors,
            levels: &levels,
        };
        let Some(case) = (space.build)(&pick) else {
            continue;
        };
        // The constraint is sound: a call `build` makes is valid for the
        // op's shape rule.
        let typed: Vec<Option<crate::ops::TypedShape>> = case
            .inputs
            .iter()
            .map(|i| i.as_ref().map(|t| (t.dtype, t.shape.clone())))
            .collect();
        let mut values = |i: usize| match case.inputs.get(i).and_then(Option::as_ref) {
            Some(GenInput {
                fill: Fill::Values(v),
                ..
            }) => v.clone(),
            _ => Vec::new(),
        };
        if let Err(e) = op.output_shapes(&case.attributes, &typed, &mut values) {
            panic!("{op}: {levels:?} builds an invalid call: {e}");
        }
        possible += 1;
        for i in 0..radix.len() {
            for j in i + 1..radix.len() {
                out.insert((i, levels[i], j, levels[j]));
            }
        }
    }
    (out, possible)
}

/// Pairs the picked cases hold.
fn held_pairs(c: &Covering) -> HashSet<(usize, usize, usize, usize)> {
    let mut out = HashSet::new();
    for p in &c.picks {
        for i in 0..p.len() {
            for j in i + 1..p.len() {
                out.insert((i, p[i], j, p[j]));
            }
        }
    }
    out
}

/// A small space: a dtype, an axis that needs rank >= 2 for `mid`, and a
/// size whose `big` level costs far more.
fn toy() -> CaseSpace {
    CaseSpace {
        factors: vec![
            Factor::dtypes(&[DType::F32, DType::F16]),
            Factor::new("rank", &["r1", "r2", "r3"]),
            Factor::new("axis", &["first", "last", "mid"]),
            Factor::new("size", &["small", "big"]),
            layout_factor(),
        ],
        build: Box::new(|p: &Pick| {
            let rank = rank_of(p.get("rank"));
            let axis = axis_of(p.get("axis"), rank)?;
            let size = if p.is("size", "big") { 1000 } else { 3 };
            let x = GenInput::new(p.dtype(), dims(rank, size, false))
                .stored(Storage::from_level(p.get("layout")));
            Some(GenCase::new(vec![x.some()]).int("axis", axis))
        }),
    }
}

#[test]
fn pairwise_covers_every_possible_pair_and_only_possible_cases() {
    let space = toy();
    let c = pairwise(Op::Softmax, &space, &|_, _| true);
    let (possible, n) = possible_pairs(&space, Op::Softmax);
    assert_eq!(c.possible, n);
    assert_eq!(c.combinations, 2 * 3 * 3 * 2 * 4);
    assert_eq!(c.coverable, possible.len());
    assert_eq!(c.covered, c.coverable);
    assert_eq!(held_pairs(&c), possible);
    // (rank r1, axis mid) and (rank r2, axis mid) are impossible: never
    // picked, never counted.
    let (rank, axis) = (1, 2);
    assert!(!possible.contains(&(rank, 0, axis, 2)));
    assert!(!possible.contains(&(rank, 1, axis, 2)));
    for p in &c.picks {
        assert!(
            !(p[rank] < 2 && p[axis] == 2),
            "impossible case picked: {p:?}"
        );
    }
    // Far fewer than the 76 possible combinations: the largest two factors
    // (layout 4 x axis or rank 3) bound it from below by 12.
    assert!(
        c.cases.len() >= 12 && c.cases.len() <= 20,
        "{}",
        c.cases.len()
    );
}

#[test]
fn pairwise_is_deterministic_and_names_cases_by_their_levels() {
    let space = toy();
    let a = pairwise(Op::Softmax, &space, &|_, _| true);
    let b = pairwise(Op::Softmax, &space, &|_, _| true);
    let names = |c: &Covering| -> Vec<String> {
        c.cases.iter().map(|(n, d, _)| format!("{d}.{n}")).collect()
    };
    assert_eq!(names(&a), names(&b));
    assert_eq!(a.picks, b.picks);
    let unique: BTreeSet<String> = names(&a).into_iter().collect();
    assert_eq!(unique.len(), a.cases.len());
    let (name, dtype, case) = &a.cases[0];
    let p = &a.picks[0];
    let f = &space.factors;
    let want: Vec<&str> = (1..f.len()).map(|k| f[k].levels[p[k]]).collect();
    assert_eq!(*name, want.join("_"));
    assert_eq!(dtype.name(), f[0].levels[p[0]]);
    assert_eq!(case.inputs.len(), 1);
}

#[test]
fn pairwise_prefers_the_cheaper_case_when_pairs_tie() {
    let space = toy();
    let c = pairwise(Op::Softmax, &space, &|_, _| true);
    // `big` needs pairing with 2 dtypes, 3 ranks, 3 axes and 4 layouts:
    // at least 4 cases, and no more than a cost-blind greedy is forced to.
    let size = 3;
    let bigs = c.picks.iter().filter(|p| p[size] == 1).count();
    assert!((4..=5).contains(&bigs), "{bigs} big cases");
    // The first pick covers the most pairs; among those it is the cheapest.
    assert_eq!(c.picks[0][size], 0, "the first case should be small");
}

#[test]
fn keep_narrows_the_space_and_what_is_coverable() {
    let space = toy();
    let all = pairwise(Op::Softmax, &space, &|_, _| true);
    let f16 = pairwise(Op::Softmax, &space, &|f, l| f != DTYPE || l == "f16");
    assert!(f16.cases.iter().all(|(_, d, _)| *d == DType::F16));
    assert!(f16.coverable < all.coverable);
    assert_eq!(f16.covered, f16.coverable);
}

#[test]
fn every_op_declares_a_space_that_pairwise_covers_whole() {
    for &op in Op::ALL {
        let space = space(op).unwrap_or_else(|| panic!("{op} declares no case space"));
        let mut seen = BTreeSet::new();
        assert!(
            space.factors.iter().filter(|f| f.name == DTYPE).count() == 1,
            "{op}: one dtype factor"
        );
        for f in &space.factors {
            // An op with a single dtype (ConstantOfShape, whose value
            // attribute the suite format cannot type) has one dtype level.
            assert!(
                f.levels.len() >= 2 || f.name == DTYPE,
                "{op}: factor {} has one level",
                f.name
            );
            for l in &f.levels {
                assert!(
                    l.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                    "{op}: level `{l}` is not [a-z0-9]+"
                );
                if f.name != DTYPE {
                    assert!(seen.insert(*l), "{op}: level `{l}` appears twice");
                }
            }
        }
        let c = pairwise(op, &space, &|_, _| true);
        let (possible, _) = possible_pairs(&space, op);
        assert_eq!(held_pairs(&c), possible, "{op}");
        assert_eq!(c.covered, c.coverable, "{op}");
        // Every level of every factor occurs in some case.
        for (k, f) in space.factors.iter().enumerate() {
            for l in 0..f.levels.len() {
                assert!(
                    c.picks.iter().any(|p| p[k] == l),
                    "{op}: level {} of {} is never possible",
                    f.levels[l],
                    f.name
                );
            }
        }
    }
}

/// The holes the generator was written to close, asked of the spaces
/// directly, so a later edit that drops one fails here.
#[test]
fn the_known_holes_are_covered() {
    let cases = |op: Op| pairwise(op, &space(op).unwrap(), &|_, _| true).cases;
    // Softmax and LogSoftmax: an axis other than the last with dim(axis) ==
    // dim(0), and one where they differ.
    for op in [Op::Softmax, Op::LogSoftmax] {
        let axis_of = |c: &GenCase| match c.attributes.get("axis") {
            Some(AttrValue::Int(a)) => *a,
            _ => unreachable!(),
        };
        let shape = |c: &GenCase| c.inputs[0].as_ref().unwrap().shape.clone();
        let found = |eq: bool| {
            cases(op).iter().any(|(_, _, c)| {
                let s = shape(c);
                let a = resolve(axis_of(c), s.len());
                a != 0 && a + 1 != s.len() && (s[a] == s[0]) == eq && s[a] > 1
            })
        };
        assert!(found(true) && found(false), "{op}");
    }
    // Lower-rank operands with a leading 1: [a, b, c] + [1, c], [a, 1, c] + [1, c].
    for op in [Op::Add, Op::Sub, Op::Mul, Op::Div] {
        let names: Vec<String> = cases(op).into_iter().map(|c| c.0).collect();
        for pattern in ["lowrank1", "mid1"] {
            assert!(names.iter().any(|n| n.contains(pattern)), "{op} {pattern}");
        }
    }
    // Attention with a KV cache, causal; small softcap with causal and with a mask.
    let att = cases(Op::Attention);
    let has = |n: &str, parts: &[&str]| parts.iter().all(|p| n.split('_').any(|level| level == *p));
    assert!(att.iter().any(|(n, _, c)| has(n, &["causal", "kvcache"])
        && c.inputs.len() == 6
        && c.inputs[4].is_some()));
    assert!(att.iter().any(|(n, _, _)| has(n, &["cap2", "causal"])));
    assert!(att.iter().any(|(n, _, _)| has(n, &["cap2", "boolmask"])));
    assert!(att.iter().any(|(n, _, _)| has(n, &["cap2", "floatmask"])));
    // f16 and bf16 ReduceSum and ReduceMean, with 1024 and 4096 long rows.
    for op in [Op::ReduceSum, Op::ReduceMean] {
        for dt in [DType::F16, DType::BF16] {
            for w in ["w1024", "w4096"] {
                assert!(
                    cases(op).iter().any(|(n, d, _)| *d == dt && has(n, &[w])),
                    "{op} {dt} {w}"
                );
            }
        }
    }
}

const BEGIN: &str = "<!-- coverage:begin (generated by harness/src/ops/cases/tests.rs) -->";
const END: &str = "<!-- coverage:end -->";

/// The generated part of docs/coverage.md.
fn coverage_tables() -> String {
    let mut s = String::new();
    let mut rows = String::new();
    let mut details = String::new();
    let (mut total_cases, mut total_pairs) = (0, 0);
    for &op in Op::ALL {
        let space = space(op).expect("every op declares a space");
        let c = pairwise(op, &space, &|_, _| true);
        total_cases += c.cases.len();
        total_pairs += c.coverable;
        let dtypes = space
            .factors
            .iter()
            .find(|f| f.name == DTYPE)
            .map(|f| f.levels.join(", "))
            .unwrap_or_default();
        writeln!(
            rows,
            "| {op} | {} | {} | {} | {} | {} / {} | {:.0}% | {} | {:.3} M |",
            op.opsets()
                .map(|o| o.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            space.factors.len(),
            c.combinations,
            c.possible,
            c.covered,
            c.coverable,
            100.0 * c.covered as f64 / c.coverable.max(1) as f64,
            c.cases.len(),
            c.cost / 1e6,
        )
        .unwrap();
        writeln!(details, "### {op}\n").unwrap();
        writeln!(details, "| factor | classes |\n|---|---|").unwrap();
        writeln!(details, "| dtype | {dtypes} |").unwrap();
        for f in space.factors.iter().filter(|f| f.name != DTYPE) {
            writeln!(details, "| {} | {} |", f.name, f.levels.join(", ")).unwrap();
        }
        details.push('\n');
    }
    writeln!(
        s,
        "{} ops ({} versions), {total_cases} generated cases, {total_pairs} coverable pairs, all covered.\n",
        Op::ALL.len(),
        Op::ALL.iter().map(|op| op.versions().len()).sum::<usize>()
    )
    .unwrap();
    s.push_str(
        "| op | opsets | factors | combinations | possible | pairs covered | coverage | cases | cost |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|---|\n");
    s.push_str(&rows);
    s.push_str("\n## Factors and classes\n\n");
    s.push_str(&details);
    s
}

/// `docs/coverage.md` is generated: this fails when it is stale, and
/// `XPUCERT_WRITE_COVERAGE=1 cargo test -p xpucert --lib coverage_page`
/// rewrites its generated part.
#[test]
fn coverage_page_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/coverage.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = format!("{BEGIN}\n{}{END}", coverage_tables());
    let fresh = match (doc.find(BEGIN), doc.find(END)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{generated}{}", &doc[..b], &doc[e + END.len()..])
        }
        _ => format!("{doc}\n{generated}\n"),
    };
    if std::env::var("XPUCERT_WRITE_COVERAGE").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    assert!(
        doc == fresh,
        "docs/coverage.md is stale: run XPUCERT_WRITE_COVERAGE=1 cargo test -p xpucert --lib coverage_page"
    );
}
