//! `mignet check`: every rule, offline, on plain YAML/JSON files, for CI pipelines.

use std::{
    collections::HashSet,
    convert::Infallible,
    io::{self, Write},
    path::PathBuf,
    process::ExitCode,
};

use anyhow::Result;
use clap::ValueEnum;
use mignet::policy::view::View;
use mignet::policy::{
    Admission, DEFAULT_POLICY_YAML, Decision, Finding, Kind, Operation, Options, Policy, Rule, feed, object,
};
use mignet::text::printable;
use serde::Serialize;
use serde_json::{Value, json};

use mignet::input::Position;

use super::load::{self, Item, Read, Unreadable};
use mignet::server::admission;

/// Arguments of `mignet check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Policy file (YAML); the defaults apply without one.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Namespace for objects without one, as `kubectl apply -n`; an object in another namespace is an error.
    #[arg(short = 'n', long = "namespace", value_name = "NS")]
    namespace: Option<String>,
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
    /// One JSON document with every result, every input error and a summary.
    Json,
    /// GitHub Actions workflow commands (annotations on the changed files).
    Github,
    /// SARIF 2.1.0, for code-scanning tools (GitHub code scanning, GitLab, IDEs).
    Sarif,
    /// One self-contained HTML page: the files' address map, then every finding.
    Html,
}

/// The id SARIF and GitHub annotations give a file or document that could not be judged.
const INPUT_ERROR: &str = "input-error";

/// One judged object.
struct Judged<'a> {
    read: &'a Read,
    decision: Decision,
}

/// One entry of the report, in input order.
enum Entry<'a> {
    Judged(Judged<'a>),
    Error(&'a Unreadable),
}

/// Runs the check; exit 0 when nothing is denied, 1 when something is, 2 when an input could not be read.
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
    let input = load::read_for_check(&policy, &args.paths, &args.cluster_state, args.namespace.as_deref());
    let objects = || {
        input.items.iter().filter_map(|i| match i {
            Item::Object(read) => Some(read),
            Item::Error(_) => None,
        })
    };
    let all = || input.state.iter().map(|l| &l.object).chain(objects().map(|r| &r.located.object));
    let Ok((policy, view)) = load::settled(policy, |p| Ok::<_, Infallible>(feed::view_of(p, all())));
    let nads: HashSet<(&str, &str)> = objects()
        .filter(|r| Kind::of(&r.located.object) == Kind::Nad)
        .map(|r| (object::namespace(&r.located.object), object::name(&r.located.object)))
        .collect();
    let mut entries: Vec<Entry<'_>> = input.state_errors.iter().map(Entry::Error).collect();
    for item in &input.items {
        match item {
            Item::Error(e) => entries.push(Entry::Error(e)),
            Item::Object(read) => {
                if let Some(decision) = judge(&policy, read, &view, &nads, args.strict) {
                    entries.push(Entry::Judged(Judged { read, decision }));
                }
            }
        }
    }
    match args.output {
        Output::Text => text(&mut out, &entries)?,
        Output::Json => {
            serde_json::to_writer_pretty(&mut out, &report(&entries)).map(|_| writeln!(out))??
        }
        Output::Github => github(&mut out, &entries)?,
        Output::Sarif => {
            serde_json::to_writer_pretty(&mut out, &sarif(&entries)).map(|_| writeln!(out))??
        }
        Output::Html => {
            let objects = input.state.iter().chain(objects().map(|r| &r.located)).map(|l| &l.object);
            html(&mut out, &policy, &view, objects, &entries)?
        }
    }
    let s = summary(&entries);
    Ok(if s.errors > 0 {
        ExitCode::from(2)
    } else if s.denied > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The decision on one NAD or HyperConverged, with what reading it found; `None` for view-only kinds.
fn judge(
    policy: &Policy,
    read: &Read,
    view: &View,
    nads: &HashSet<(&str, &str)>,
    strict: bool,
) -> Option<Decision> {
    let obj = &read.located.object;
    let kind = Kind::of(obj);
    let network_judged_too = match kind {
        Kind::Nad | Kind::Nncp | Kind::MigrationPolicy | Kind::UserDefinedNetwork(_) => false,
        Kind::KubeVirt => feed::kubevirt_entry(obj)
            .network
            .is_some_and(|n| nads.contains(&(object::namespace(obj), n.as_str()))),
        Kind::HyperConverged(version) => feed::hc_entry(obj, version)
            .network
            .is_some_and(|n| nads.contains(&(object::namespace(obj), n.as_str()))),
        _ => return None,
    };
    let admission = Admission { operation: Operation::Create, kind, object: Some(obj), old_object: None };
    let options = Options { missing_network_warns: !strict, network_judged_too, now: admission::unix_now() };
    let mut decision = policy.decide(&admission, view, &options);
    let enabled = |f: &&Finding| !policy.disabled().contains(f.rule);
    let mut denials: Vec<Finding> = read.schema.iter().filter(enabled).cloned().collect();
    denials.append(&mut decision.denials);
    decision.denials = denials;
    let mut warnings: Vec<Finding> = read.placement.iter().filter(enabled).cloned().collect();
    warnings.append(&mut decision.warnings);
    decision.warnings = warnings;
    Some(decision)
}

fn kind_name(r: &Read) -> String {
    r.located.object.types.as_ref().map(|t| t.kind.clone()).unwrap_or_default()
}

/// `ns/name`, or just the name for cluster-scoped or namespace-less objects.
fn ident(r: &Read) -> String {
    let name = match object::name(&r.located.object) {
        "" => "<unnamed>",
        n => n,
    };
    match object::namespace(&r.located.object) {
        "" => name.to_owned(),
        ns => format!("{ns}/{name}"),
    }
}

fn who(r: &Read) -> String {
    format!("{} {}", kind_name(r), ident(r))
}

/// What the webhook would add, as notes.
fn notes(d: &Decision) -> impl Iterator<Item = String> + '_ {
    d.patch.0.iter().filter_map(|op| match op {
        json_patch::PatchOperation::Add(add) => {
            Some(format!("the webhook adds {} = {}", add.path, add.value))
        }
        _ => None,
    })
}

#[derive(Serialize)]
struct ReportSummary {
    objects: usize,
    denied: usize,
    warnings: usize,
    errors: usize,
}

fn summary(entries: &[Entry<'_>]) -> ReportSummary {
    let mut s = ReportSummary { objects: 0, denied: 0, warnings: 0, errors: 0 };
    for e in entries {
        match e {
            Entry::Judged(j) => {
                s.objects += 1;
                s.denied += usize::from(!j.decision.allowed());
                s.warnings += j.decision.warnings.len();
            }
            Entry::Error(_) => s.errors += 1,
        }
    }
    s
}

fn text(out: &mut impl Write, entries: &[Entry<'_>]) -> io::Result<()> {
    for entry in entries {
        let j = match entry {
            Entry::Judged(j) => j,
            Entry::Error(e) => {
                writeln!(out, "{}", printable(&format!("{}: error: {}", e.at, e.message)))?;
                continue;
            }
        };
        let who = who(j.read);
        let src = &j.read.located.source;
        for d in &j.decision.denials {
            writeln!(out, "{}", printable(&format!("{src}: error[{}]: {who}: {d}", d.rule)))?;
        }
        for w in &j.decision.warnings {
            writeln!(out, "{}", printable(&format!("{src}: warning[{}]: {who}: {w}", w.rule)))?;
        }
        for note in notes(&j.decision) {
            writeln!(out, "{}", printable(&format!("{src}: note[{}]: {who}: {note}", Rule::HcDefaults)))?;
        }
    }
    summary_line(out, entries)
}

fn summary_line(out: &mut impl Write, entries: &[Entry<'_>]) -> io::Result<()> {
    let s = summary(entries);
    let plural = |n: usize, word: &str| if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") };
    let errors = match s.errors {
        0 => String::new(),
        n => format!(", {}", plural(n, "error")),
    };
    writeln!(
        out,
        "checked {}: {} denied, {}{errors}",
        plural(s.objects, "object"),
        s.denied,
        plural(s.warnings, "warning")
    )
}

/// The `--output json` document; field order is part of the format.
#[derive(Serialize)]
struct Report<'a> {
    results: Vec<ReportResult<'a>>,
    errors: Vec<ReportError<'a>>,
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
struct ReportError<'a> {
    source: String,
    message: &'a str,
}

fn report<'a>(entries: &'a [Entry<'a>]) -> Report<'a> {
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for entry in entries {
        match entry {
            Entry::Judged(j) => {
                let o = &j.read.located.object;
                results.push(ReportResult {
                    source: &j.read.located.source,
                    api_version: object::api_version(o),
                    kind: kind_name(j.read),
                    namespace: object::namespace(o),
                    name: object::name(o),
                    allowed: j.decision.allowed(),
                    denials: &j.decision.denials,
                    warnings: j.decision.warnings.iter().map(ToString::to_string).collect(),
                    patch: &j.decision.patch,
                });
            }
            Entry::Error(e) => errors.push(ReportError { source: e.at.to_string(), message: &e.message }),
        }
    }
    Report { results, errors, summary: summary(entries) }
}

/// The address map of the view, then every finding and input error.
fn html<'a>(
    out: &mut impl Write,
    policy: &Policy,
    view: &View,
    objects: impl Iterator<Item = &'a kube::core::DynamicObject>,
    entries: &[Entry<'_>],
) -> io::Result<()> {
    use mignet::html::{CheckFinding, Level};
    let mut report = mignet::cluster::report::Report::build(policy, view, Vec::new());
    objects.for_each(|o| report.add_hc_settings(o));
    let mut findings = Vec::new();
    for entry in entries {
        let j = match entry {
            Entry::Judged(j) => j,
            Entry::Error(e) => {
                findings.push(CheckFinding {
                    level: Level::Error,
                    rule: INPUT_ERROR.to_owned(),
                    location: e.at.to_string(),
                    object: String::new(),
                    field: String::new(),
                    message: e.message.clone(),
                });
                continue;
            }
        };
        let found = |level, rule: Rule, field: &str, message: String| CheckFinding {
            level,
            rule: rule.id().to_owned(),
            location: j.read.located.source.clone(),
            object: who(j.read),
            field: field.to_owned(),
            message,
        };
        for f in &j.decision.denials {
            findings.push(found(Level::Error, f.rule, &f.field, f.message.clone()));
        }
        for f in &j.decision.warnings {
            findings.push(found(Level::Warning, f.rule, &f.field, f.message.clone()));
        }
        for note in notes(&j.decision) {
            findings.push(found(Level::Note, Rule::HcDefaults, "", note));
        }
    }
    out.write_all(mignet::html::check_page(&report, &findings).as_bytes())
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

/// Every finding of the run as (place, level, rule id, message), in order: what the GitHub and SARIF
/// outputs annotate.
fn findings<'a>(entries: &'a [Entry<'a>]) -> Vec<(&'a Position, &'static str, &'static str, String)> {
    let mut all = Vec::new();
    for entry in entries {
        match entry {
            Entry::Error(e) => all.push((&e.at, "error", INPUT_ERROR, e.message.clone())),
            Entry::Judged(j) => {
                let who = who(j.read);
                let at = &j.read.at;
                for d in &j.decision.denials {
                    all.push((at, "error", d.rule.id(), format!("{who}: {d}")));
                }
                for w in &j.decision.warnings {
                    all.push((at, "warning", w.rule.id(), format!("{who}: {w}")));
                }
                for note in notes(&j.decision) {
                    all.push((at, "note", Rule::HcDefaults.id(), format!("{who}: {note}")));
                }
            }
        }
    }
    all
}

fn github(out: &mut impl Write, entries: &[Entry<'_>]) -> io::Result<()> {
    for (at, level, rule, message) in findings(entries) {
        if level == "note" {
            continue; // annotations are for what needs a change
        }
        let mut props = format!("file={}", escape(&printable(&at.file), true));
        if let Some(line) = at.line {
            props.push_str(&format!(",line={line}"));
            if let Some(column) = at.column {
                props.push_str(&format!(",col={column}"));
            }
        }
        let title = escape(&format!("mignet {rule}"), true);
        writeln!(out, "::{level} {props},title={title}::{}", escape(&printable(&message), false))?;
    }
    summary_line(out, entries)
}

/// A SARIF artifact URI: a relative path as it is (with `/` separators), an absolute one as `file://`,
/// percent-encoded where RFC 3986 needs it.
fn artifact_uri(file: &str) -> String {
    let path = file.replace('\\', "/");
    let mut out = String::with_capacity(path.len() + 8);
    if path.starts_with('/') {
        out.push_str("file://");
    }
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The `--output sarif` document: one run, every rule in `tool.driver.rules`, one result per finding.
fn sarif(entries: &[Entry<'_>]) -> Value {
    let mut rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "shortDescription": {"text": r.summary()},
            })
        })
        .collect();
    rules.push(json!({
        "id": INPUT_ERROR,
        "shortDescription": {"text": "a file or document that could not be read or judged"},
    }));
    let index = |id: &str| Rule::ALL.iter().position(|r| r.id() == id).unwrap_or(Rule::ALL.len());
    let results: Vec<Value> = findings(entries)
        .into_iter()
        .map(|(at, level, rule, message)| {
            let mut region = json!({"startLine": at.line.unwrap_or(1).max(1)});
            if let Some(column) = at.column {
                region["startColumn"] = json!(column.max(1));
            }
            json!({
                "ruleId": rule,
                "ruleIndex": index(rule),
                "level": level,
                "message": {"text": message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": artifact_uri(&at.file)},
                        "region": region,
                    }
                }],
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mignet",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_uris_are_encoded() {
        assert_eq!(artifact_uri("manifests/nad.yaml"), "manifests/nad.yaml");
        assert_eq!(artifact_uri("/tmp/a b/nad.yaml"), "file:///tmp/a%20b/nad.yaml");
        assert_eq!(artifact_uri("<stdin>"), "%3Cstdin%3E");
    }
}
