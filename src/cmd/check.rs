//! `mignet check`: every rule, offline, on plain YAML/JSON files, for CI pipelines.

use std::{
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::Result;
use clap::ValueEnum;
use mignet::policy::{
    Admission, DEFAULT_POLICY_YAML, Decision, Finding, Kind, Operation, Options, Rule, object,
};
use mignet::text::printable;
use serde::Serialize;

use super::load::{self, Located};

/// Arguments of `mignet check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy file (YAML); the defaults apply without one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Deny a HyperConverged whose network NAD is not among the inputs (otherwise a warning).
    #[arg(long)]
    strict: bool,
    /// Files or directories describing the cluster (NADs, Nodes, Network config) to judge against.
    #[arg(long = "cluster-state", value_name = "PATH")]
    cluster_state: Vec<PathBuf>,
    /// Print the default policy as a commented file and exit.
    #[arg(long, exclusive = true)]
    print_default_policy: bool,
    /// List every rule id with what it protects against, and exit.
    #[arg(long, exclusive = true)]
    list_rules: bool,
    /// Files or directories (*.yaml, *.yml, *.json, recursively), or - for stdin.
    #[arg(value_name = "PATH", required_unless_present_any = ["print_default_policy", "list_rules"])]
    paths: Vec<PathBuf>,
}

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Compiler-style lines: `path:line: error[rule]: Kind ns/name: field: message`.
    Text,
    /// One JSON document with every result and a summary.
    Json,
    /// GitHub Actions workflow commands (annotations on the changed files).
    Github,
}

/// One judged object.
struct Judged<'a> {
    located: &'a Located,
    decision: Decision,
}

/// Runs the check; exit 0 when nothing is denied, 1 when something is.
pub fn run(args: Args) -> Result<ExitCode> {
    let mut out = io::stdout().lock();
    if args.print_default_policy {
        out.write_all(DEFAULT_POLICY_YAML.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.list_rules {
        for rule in Rule::ALL {
            writeln!(out, "{:<26} {}", rule.id(), rule.summary())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let policy = load::policy(args.policy.as_deref())?;
    let inputs = load::objects(&args.paths)?;
    let state = load::objects(&args.cluster_state)?;
    let all: Vec<Located> = state.into_iter().chain(inputs.iter().map(clone_located)).collect();
    let view = load::view(&policy, &all);
    let options = Options { missing_network_warns: !args.strict };
    let judged: Vec<Judged<'_>> = inputs
        .iter()
        .filter(|l| matches!(Kind::of(&l.object), Kind::Nad | Kind::HyperConverged(_) | Kind::Nncp))
        .map(|located| {
            let admission = Admission {
                operation: Operation::Create,
                kind: Kind::of(&located.object),
                object: Some(&located.object),
                old_object: None,
            };
            Judged { located, decision: policy.decide(&admission, &view, &options) }
        })
        .collect();
    match args.output {
        Output::Text => text(&mut out, &judged)?,
        Output::Json => serde_json::to_writer_pretty(&mut out, &report(&judged)).map(|_| writeln!(out))??,
        Output::Github => github(&mut out, &judged)?,
    }
    let denied = judged.iter().any(|j| !j.decision.allowed());
    Ok(if denied { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn clone_located(l: &Located) -> Located {
    Located { source: l.source.clone(), object: l.object.clone() }
}

fn kind_name(l: &Located) -> String {
    l.object.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default()
}

/// `ns/name`, or just the name for cluster-scoped or namespace-less objects.
fn ident(l: &Located) -> String {
    let name = match object::name(&l.object) {
        "" => "<unnamed>",
        n => n,
    };
    match object::namespace(&l.object) {
        "" => name.to_owned(),
        ns => format!("{ns}/{name}"),
    }
}

fn summary(judged: &[Judged<'_>]) -> (usize, usize, usize) {
    let denied = judged.iter().filter(|j| !j.decision.allowed()).count();
    let warnings = judged.iter().map(|j| j.decision.warnings.len()).sum();
    (judged.len(), denied, warnings)
}

fn text(out: &mut impl Write, judged: &[Judged<'_>]) -> io::Result<()> {
    for j in judged {
        let who = format!("{} {}", kind_name(j.located), ident(j.located));
        let src = &j.located.source;
        for d in &j.decision.denials {
            writeln!(out, "{}", printable(&format!("{src}: error[{}]: {who}: {d}", d.rule)))?;
        }
        for w in &j.decision.warnings {
            writeln!(out, "{}", printable(&format!("{src}: warning[{}]: {who}: {w}", w.rule)))?;
        }
        for op in &j.decision.patch.0 {
            if let json_patch::PatchOperation::Add(add) = op {
                let note = format!(
                    "{src}: note[{}]: {who}: the webhook adds {} = {}",
                    Rule::HcDefaults,
                    add.path,
                    add.value
                );
                writeln!(out, "{}", printable(&note))?;
            }
        }
    }
    summary_line(out, judged)
}

fn summary_line(out: &mut impl Write, judged: &[Judged<'_>]) -> io::Result<()> {
    let (objects, denied, warnings) = summary(judged);
    let plural = |n: usize, word: &str| if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") };
    writeln!(out, "checked {}: {denied} denied, {}", plural(objects, "object"), plural(warnings, "warning"))
}

/// The `--output json` document; field order is part of the format.
#[derive(Serialize)]
struct Report<'a> {
    results: Vec<ReportResult<'a>>,
    summary: ReportSummary,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReportResult<'a> {
    source: &'a str,
    api_version: &'a str,
    kind: String,
    namespace: &'a str,
    name: &'a str,
    allowed: bool,
    denials: &'a [Finding],
    warnings: Vec<String>,
    patch: &'a json_patch::Patch,
}

#[derive(Serialize)]
struct ReportSummary {
    objects: usize,
    denied: usize,
    warnings: usize,
}

fn report<'a>(judged: &'a [Judged<'a>]) -> Report<'a> {
    let results = judged
        .iter()
        .map(|j| {
            let o = &j.located.object;
            ReportResult {
                source: &j.located.source,
                api_version: object::api_version(o),
                kind: kind_name(j.located),
                namespace: object::namespace(o),
                name: object::name(o),
                allowed: j.decision.allowed(),
                denials: &j.decision.denials,
                warnings: j.decision.warnings.iter().map(ToString::to_string).collect(),
                patch: &j.decision.patch,
            }
        })
        .collect();
    let (objects, denied, warnings) = summary(judged);
    Report { results, summary: ReportSummary { objects, denied, warnings } }
}

/// Escapes a workflow command's message (`%`, CR, LF) and, for properties, also `:` and `,`.
fn escape(s: &str, property: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            ':' if property => out.push_str("%3A"),
            ',' if property => out.push_str("%2C"),
            c => out.push(c),
        }
    }
    out
}

fn github(out: &mut impl Write, judged: &[Judged<'_>]) -> io::Result<()> {
    for j in judged {
        let (file, line) = j.located.source.rsplit_once(':').unwrap_or((&j.located.source, "1"));
        let who = format!("{} {}", kind_name(j.located), ident(j.located));
        let findings = j
            .decision
            .denials
            .iter()
            .map(|f| ("error", f))
            .chain(j.decision.warnings.iter().map(|f| ("warning", f)));
        for (level, f) in findings {
            writeln!(
                out,
                "::{level} file={},line={line},title={}::{}",
                escape(&printable(file), true),
                escape(&format!("mignet {}", f.rule), true),
                escape(&printable(&format!("{who}: {f}")), false)
            )?;
        }
    }
    summary_line(out, judged)
}
