//! `run` and `list`.

use std::path::PathBuf;

use clap::ValueEnum;

use super::{ExitCode, Failure, IsolationArg, parse_option, parse_seconds};
use crate::report::live::{self, RunFormat};
use crate::run::plan::{self, DEFAULT_TIMEOUT};
use crate::run::shard::ShardRequest;
use crate::run::{RunConfig, RunOutcome, Runner};

#[derive(clap::Args, Debug)]
pub(super) struct RunArgs {
    #[arg(long, help = BACKEND_HELP, long_help = BACKEND_LONG_HELP)]
    backend: String,
    #[arg(long = "suite", default_value = "core", help = super::SUITE_HELP)]
    suites: Vec<PathBuf>,
    /// Only cases whose id matches this glob (`*`, `?`; repeatable: any matches).
    #[arg(long = "filter")]
    filters: Vec<String>,
    /// Directory for results.jsonl and results.json.
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Backend context option KEY=VALUE (repeatable).
    #[arg(long = "option", value_parser = parse_option)]
    options: Vec<(String, String)>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Where the backend runs: a worker process per backend, replaced after
    /// a crash or hang (`process`), or inside xpucert (`none`, for debugging:
    /// a crash ends the run, and exit() or a call over its limit ends it
    /// with exit code 4; `--resume` continues).
    #[arg(long, value_enum, default_value_t = IsolationArg::Process)]
    isolation: IsolationArg,
    /// Base time limit of one backend call in seconds, scaled up by the
    /// case's cost; a suite or case `timeout:` replaces the base.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT, value_parser = parse_seconds)]
    timeout: f64,
    /// Continue the run in `--out`: keep the cases results.jsonl already
    /// holds, run the others (the suites, backend, filters and options must
    /// be the same).
    #[arg(long)]
    resume: bool,
    /// Measure the throughput of every passing case (cases with a
    /// `throughput:` section in their suite are measured regardless).
    #[arg(long)]
    measure: bool,
    /// Results file (results.json) whose throughput figures `max_slowdown`
    /// requirements are judged against.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Run only shard K of N (`2/4`), split by expected cost; `auto` reads
    /// the index from CI variables (see docs/ci.md). `xpucert merge` joins
    /// the shards' results.json files.
    #[arg(long, value_parser = parse_shard)]
    shard: Option<ShardRequest>,
    /// Run the suites of certification profile NAME (core, deepseek: found
    /// as `--suite` names are, in suites/profiles/NAME.yaml), or of a
    /// profile file, instead of `--suite`.
    #[arg(long)]
    profile: Option<String>,
    /// Memory a case may use at its peak (estimated from its shapes before
    /// anything is allocated), e.g. `8G`, `512M`; default half the machine's
    /// memory (or its cgroup limit). A selected case over it refuses the
    /// run (exit 2), naming the case.
    #[arg(long, value_parser = parse_budget)]
    memory_budget: Option<u64>,
    /// Expected failures: a YAML file of case globs with the status each is
    /// known to have, a reason, a tracking link and an expiry date
    /// (docs/waivers.md). A matching failure is reported as `waived`; one
    /// whose waiver expired stays a failure.
    #[arg(long)]
    waivers: Option<PathBuf>,
}

/// `--backend` in `run -h`.
const BACKEND_HELP: &str = "Backend library path, or a bundled backend: `reference` or `mutants` \
(`--option mode=NAME`; `run --help` lists the modes)";

/// `--backend` in `run --help`: the bundled backends and every mutant mode
/// (checked against the mutants' own list by tests/it/hardening.rs).
pub(super) const BACKEND_LONG_HELP: &str = "Backend library path, or a bundled backend:
  reference  the reference CPU backend (found next to xpucert, in PREFIX/lib/xpucert, or $XPUCERT_REFERENCE_LIB)
  mutants    the reference with one deliberate behaviour, the harness's own test backend:
             --option mode=NAME, NAME one of: \
honest, reversed_sum, pairwise_sum, fma_matmul, blocked_matmul, f64_accumulate, \
online_softmax, fast_exp, tanh_expm1, div_reciprocal, declared_tf32, \
declared_bf16_inputs, flush_to_zero, flash_attention2, tf32_attention_declared, \
half_io_f32_accumulate, flush_inputs_declared, flush_both_declared, \
matmul_tail_unwritten, matmul_tail_short_k, softmax_no_max, logsoftmax_of_softmax, \
layernorm_unbiased, norm_eps_outside_sqrt, norm_reads_past_row, gelu_tanh_for_erf, \
rope_pairing_swapped, causal_mask_missing, causal_off_by_one, \
attention_scale_1_over_d, attention_softcap_ignored, gqa_head_modulo, broadcast_rows, \
attention_mask_before_softcap, causal_ignores_past, softmax_axis_by_size, \
broadcast_leading_one, half_running_accumulator, attention_bf16_scores_f32, \
strides_ignored, bf16_truncation, tf32_declared_bf16_inputs, bf16_accumulator, \
half_accumulator, tf32_undeclared, reducemax_drops_nan, reducemean_wrong_count, \
topk_ties_reversed, gemm_beta_ignored, cast_int_saturates, transpose_inverse_perm, \
concat_negative_axis, where_tiled_condition, exp_low_degree, tanh_cancellation, \
softplus_unguarded, sigmoid_f16_naive, variadic_sum_reversed, mod_sign_of_dividend, \
max_nan_dropped, less_or_equal_as_less, batchnorm_eps_outside_sqrt, \
argmax_last_on_ties, cumsum_exclusive_ignored, resize_half_pixel_as_asymmetric, \
resize_nearest_floor_for_round, slice_negative_step_off_by_one, pad_reflect_as_edge, \
scatternd_reduction_ignored, conv_pads_symmetric, maxpool_ceil_ignored, det_without_pivoting, \
depthtospace_crd_as_dcr, gathernd_batch_offset_dropped, norm_one_pass_variance, \
groupnorm_scale_per_group, convtranspose_output_padding_at_start, layernorm_invstddev_is_stddev, \
flush_outputs_undeclared, flush_inputs_undeclared, activation_f32_formulas, \
round_half_away, hardsigmoid_default_alpha_wrong, atanh_asymmetric, clip_nan_dropped, \
recurrent_fused_gates, lstm_gate_order_confused, nonzero_shape_not_reported, \
qlinear_zero_point_ignored, lppool_p_ignored, \
moe_groups_ignored, moe_bias_in_weights, attention_scale_ignored, \
gridsample_align_corners_ignored, roialign_half_pixel_ignored, \
mla_absorbed_reordered, mla_rope_before_rotation, \
fp8_promote_every_64, fp8_weights_bf16_declared, fp8_block_scale_per_tensor, \
fp8_accumulate_14bit, \
cache_outputs, segfault, abort, exit0, infinite_loop, sleep, write_past_output, \
write_input, unwritten_output, leak, unknown_status, no_nul_message, init_crash, \
async_stream, async_sync_fails, async_sync_hangs";

fn parse_budget(s: &str) -> Result<u64, String> {
    crate::run::plan::parse_size(s)
}

fn parse_shard(s: &str) -> Result<ShardRequest, String> {
    ShardRequest::parse(s).map_err(|e| e.to_string())
}

#[derive(clap::Args, Debug)]
pub(super) struct ListArgs {
    #[arg(long = "suite", default_value = "core", help = super::SUITE_HELP)]
    suites: Vec<PathBuf>,
    /// Only cases whose id matches this glob.
    #[arg(long = "filter")]
    filters: Vec<String>,
    /// `text`: one id per line; `json`: an array of objects with the id,
    /// kind (`op` or `model`), op, dtype, location and, for op cases, the
    /// memory estimate in bytes.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    format: ListFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum ListFormat {
    /// One case id per line.
    Text,
    /// A JSON array of case objects.
    Json,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Format {
    /// The op x dtype summary table, failures, and the verdict.
    Table,
    /// results.json on stdout.
    Json,
    /// JUnit XML on stdout (one testcase per case).
    Junit,
    /// Markdown on stdout, sized for a pull-request comment.
    Md,
    /// A self-contained HTML report on stdout.
    Html,
    /// For CI logs: one plain line per failed case, then the verdict.
    Lines,
}

impl From<Format> for RunFormat {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => RunFormat::Table,
            Format::Json => RunFormat::Json,
            Format::Junit => RunFormat::Junit,
            Format::Md => RunFormat::Md,
            Format::Html => RunFormat::Html,
            Format::Lines => RunFormat::Lines,
        }
    }
}

/// `run`: the plan from the arguments, the runner with the progress bar,
/// the results files and the report of `--format` watching.
pub(super) fn run(a: RunArgs) -> Result<ExitCode, Failure> {
    let (suites, profile) = match &a.profile {
        Some(name) => {
            let (suites, p) = crate::cert::profile_suites(name).map_err(Failure::usage)?;
            (suites, Some(p.reference()))
        }
        None => (super::suite_paths(&a.suites)?, None),
    };
    let config = RunConfig {
        backend: a.backend,
        suites,
        filters: a.filters,
        out: a.out,
        options: a.options,
        isolation: a.isolation.into(),
        timeout: a.timeout,
        resume: a.resume,
        measure: a.measure,
        baseline: a.baseline,
        shard: a.shard,
        command: std::env::args().collect(),
        memory_budget: a.memory_budget,
        profile,
        waivers: a.waivers,
    };
    let mut reporter = live::reporter(a.format.into());
    let outcome = Runner::run_recorded(config, Some(reporter.as_mut()))?;
    Ok(outcome_code(&outcome))
}

/// The exit code of a finished run; an interrupted one says how to go on.
pub(super) fn outcome_code(outcome: &RunOutcome) -> ExitCode {
    if outcome.interrupted {
        eprintln!("xpucert: {INTERRUPTED}");
        return ExitCode::Interrupted;
    }
    ExitCode::verdict(outcome.results.summary.conformant)
}

/// What an interrupted run says on stderr after its report.
pub(super) const INTERRUPTED: &str =
    "interrupted; `--resume` with the same arguments continues the run";

/// `list`: the ids of the selected op and model cases.
pub(super) fn list(a: ListArgs) -> Result<ExitCode, Failure> {
    let paths = super::suite_paths(&a.suites)?;
    let (suites, model_cases, _) = plan::load_all_suites(&paths, &a.filters)?;
    let ops = plan::selected(&suites, &a.filters);
    if a.format == ListFormat::Json {
        let mut rows: Vec<serde_json::Value> = ops
            .iter()
            .map(|c| {
                serde_json::json!({
                    "id": c.id, "kind": "op", "op": c.op.name, "opset": c.opset, "dtype": c.dtype.name(),
                    "location": c.location, "memory_bytes": c.memory,
                })
            })
            .collect();
        rows.extend(model_cases.iter().map(|c| {
            serde_json::json!({
                "id": c.id, "kind": "model", "model": c.suite.model, "dtype": c.dtype.name(),
            })
        }));
        let text = crate::text::to_json_pretty(&rows)
            .map_err(|e| Failure::usage(format!("cannot write the list: {e}")))?;
        println!("{text}");
        return Ok(ExitCode::Success);
    }
    for c in ops {
        println!("{}", c.id);
    }
    for c in &model_cases {
        println!("{}", c.id);
    }
    Ok(ExitCode::Success)
}
