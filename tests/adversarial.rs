//! Hostile inputs through the real interfaces, the `mignet check` binary and the HTTPS server: each
//! gets a clear verdict or a 4xx / exit-2 error naming what is wrong, within a deadline and an
//! address-space limit, and never a panic. Small cases live in `tests/adversarial/`; the big ones
//! (deep nesting, 3 MiB configs, 10,000 documents) are generated here.

mod common;

use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{
    mignet, repo,
    server::{Server, client, example_state, post, review},
};
use serde_json::{Value, json};

/// Longest a hostile input may take, in a debug build on a busy machine; a hang hits it.
const DEADLINE: Duration = Duration::from_secs(120);
/// Address space `mignet check` may use (`ulimit -v`, KiB): an alias bomb or a quadratic blow-up
/// aborts on allocation failure instead of swapping the machine.
const CHECK_ADDRESS_SPACE_KIB: u64 = 2 * 1024 * 1024;
/// Peak resident memory the server may reach over every case here.
const SERVER_PEAK_RSS_KIB: u64 = 1024 * 1024;
/// Largest answer to any case: findings are capped, so output never scales with a hostile input.
const MAX_OUTPUT_BYTES: usize = 256 * 1024;

/// What `mignet check` printed.
struct Checked {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Checked {
    /// Rule ids of the findings printed as text.
    fn rules(&self) -> Vec<&str> {
        let mut rules: Vec<&str> = self
            .stdout
            .lines()
            .filter_map(|l| l.split_once(": error[")?.1.split_once(']').map(|(r, _)| r))
            .collect();
        rules.sort();
        rules.dedup();
        rules
    }
}

/// Runs `mignet check` under the address-space limit, killing it at the deadline.
fn check(args: &[&str]) -> Checked {
    let limit = format!("ulimit -v {CHECK_ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(limit)
        .arg(mignet().get_program())
        .arg("check")
        .args(["--cluster-state", &repo("examples/migration-nad.yaml")])
        .args(["--cluster-state", &repo("examples/cluster")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = Vec::new();
        stdout.read_to_end(&mut s).map(|_| s)
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        stderr.read_to_end(&mut s).map(|_| s)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mignet check {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = |h: std::thread::JoinHandle<std::io::Result<Vec<u8>>>| {
        String::from_utf8_lossy(&h.join().unwrap().unwrap()).into_owned()
    };
    let checked = Checked { code: status.code().unwrap_or(-1), stdout: text(out), stderr: text(err) };
    assert!(
        !checked.stderr.contains("panicked") && status.code().is_some(),
        "{args:?} crashed ({status}): {}",
        checked.stderr
    );
    assert!(checked.stdout.len() + checked.stderr.len() <= MAX_OUTPUT_BYTES, "{args:?}: output not bounded");
    checked
}

fn case(name: &str) -> String {
    repo(&format!("tests/adversarial/{name}"))
}

fn nad(name: &str, config: &str) -> Value {
    json!({"apiVersion": "k8s.cni.cncf.io/v1", "kind": "NetworkAttachmentDefinition",
           "metadata": {"name": name, "namespace": "openshift-cnv"}, "spec": {"config": config}})
}

fn macvlan(ipam: Value) -> String {
    json!({"cniVersion": "0.3.1", "type": "macvlan", "master": "bond2", "ipam": ipam}).to_string()
}

/// Writes a generated case to a temp dir kept alive by the caller.
fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

/// Expected outcome of a check case: exit code, rule ids denied, and a text every output contains.
fn expect(file: &str, code: i32, rules: &[&str], says: &str) {
    let out = check(&[file]);
    assert_eq!(out.code, code, "{file}: {}{}", out.stdout, out.stderr);
    assert_eq!(out.rules(), rules, "{file}: {}", out.stdout);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains(says), "{file}: expected {says:?} in {all}");
    if code == 2 {
        // input errors are results naming the file, with a line when the parser knows it
        let name = Path::new(file).file_name().unwrap().to_string_lossy();
        assert!(out.stdout.contains(&format!("{name}:")), "{file}: {}", out.stdout);
        assert!(out.stdout.ends_with(" error\n"), "{file}: {}", out.stdout);
    }
}

#[test]
fn committed_cases_get_clear_verdicts_or_errors() {
    let cases: &[(&str, i32, &[&str], &str)] = &[
        ("check/bom-crlf-broken.yaml", 1, &["nad-overlap-reserved"], "bom-crlf-broken.yaml:2: error"),
        ("check/alias-bomb.yaml", 2, &[], "alias bomb"),
        ("check/duplicate-keys.json", 2, &[], "duplicate mapping key `name`"),
        (
            "check/duplicate-keys.yaml",
            2,
            &[],
            "duplicate-keys.yaml:6:3: error: invalid YAML: duplicate mapping key",
        ),
        // inside spec.config the last key wins, as in the CNI plugins' Go decoding
        ("check/duplicate-keys-in-config.json", 1, &["nad-overlap-reserved"], "\"10.129.64.0/24\""),
        (
            "check/numbers-beyond-64-bits.json",
            1,
            &["hc-parallel", "hc-timeout"],
            "1.8446744073709552e+19: must be an integer",
        ),
        ("check/floats-for-integers.json", 1, &["hc-timeout"], "Invalid value: 150.0: must be an integer"),
        ("check/number-out-of-range.json", 2, &[], "invalid JSON: number out of range"),
        ("check/non-finite.yaml", 2, &[], "non-finite float"),
        // a metadata field of the wrong type is a field error, and the rest is still judged
        (
            "check/float-generation.json",
            1,
            &["nad-config-invalid", "object-schema"],
            "metadata.generation: Invalid value: 1e+30: must be an integer",
        ),
        (
            "check/mtu-beyond-u64.json",
            1,
            &["nad-mtu"],
            "spec.config.mtu: Invalid value: 1.8446744073709552e+19",
        ),
        ("check/mtu-out-of-range.json", 1, &["nad-config-invalid"], "number out of range"),
        (
            "check/whole-address-space-and-reversed.json",
            1,
            // range_end before range_start is denied; whereabouts ignores such an end and still hands
            // out .200 to .254, so it is no capacity problem
            &[
                "nad-overlap-nad",
                "nad-overlap-reserved",
                "nad-range",
                "nad-range-bounds",
                "nad-range-unroutable",
            ],
            "start fd00::ff is after end fd00::1",
        ),
        (
            "check/unicode-names.json",
            1,
            &["hc-network-name", "nad-overlap-reserved"],
            "Invalid value: \"网络\"",
        ),
    ];
    for (file, code, rules, says) in cases {
        expect(&case(file), *code, rules, says);
    }
}

#[test]
fn unicode_names_are_judged_like_any_other() {
    let out = check(&["--output", "json", &case("check/unicode-names.json")]);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    let names: Vec<(&str, bool)> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["allowed"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        names,
        [
            ("migration-网络", true),
            ("mïgration-ǅ", true),
            ("migration-\u{202e}evil", false),
            ("kubevirt-hyperconverged", false)
        ]
    );
}

#[test]
fn control_characters_in_names_cannot_forge_output_lines() {
    let out = check(&[&case("check/control-characters-in-name.json")]);
    assert_eq!(out.code, 1);
    // one finding and the summary: the newline and escape in the name are shown escaped
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    assert!(!out.stdout.lines().any(|l| l.starts_with("forged.yaml")), "{}", out.stdout);
}

#[test]
fn deep_nesting_is_refused_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let depth = 10_000;
    let json = format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
    let flow = format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let block: String = (0..3000).map(|i| format!("{}a:\n", "  ".repeat(i))).collect();
    for (name, text, says) in [
        ("deep.json", json, "deep.json:1:105: error: invalid JSON: nesting is deeper than 100 levels"),
        ("deep-flow.yaml", flow, "deep-flow.yaml:1:105: error: invalid YAML"),
        ("deep-block.yaml", block, "deep-block.yaml:101:201: error: invalid YAML"),
    ] {
        let path = write(dir.path(), name, text.as_bytes());
        expect(path.to_str().unwrap(), 2, &[], says);
    }
    // inside spec.config the CNI config parser refuses it as a config problem, not a crash
    let arrays = nad("migration-deep", &"[".repeat(100_000));
    let objects = nad(
        "migration-deep-object",
        &format!("{{\"type\":\"macvlan\",\"ipam\":{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_001)),
    );
    for (name, object) in [("deep-config.json", arrays), ("deep-config-object.json", objects)] {
        let path = write(dir.path(), name, object.to_string().as_bytes());
        expect(path.to_str().unwrap(), 1, &["nad-config-invalid"], "recursion limit exceeded");
    }
}

/// Three 3 MiB configs: valid with a huge name, garbage, and a huge master.
fn three_mib_configs() -> [(Value, i32, &'static [&'static str]); 3] {
    let big = "x".repeat(3 * 1024 * 1024);
    let valid = json!({"cniVersion": "0.3.1", "name": big, "type": "macvlan", "master": "bond2",
                       "ipam": {"type": "whereabouts", "range": "192.168.90.0/24"}});
    let master = json!({"cniVersion": "0.3.1", "type": "macvlan", "master": big,
                        "ipam": {"type": "whereabouts", "range": "192.168.90.0/24"}});
    [
        (nad("migration-big-valid", &valid.to_string()), 0, &[]),
        (nad("migration-big-garbage", &big), 1, &["nad-config-invalid"]),
        (nad("migration-big-master", &master.to_string()), 1, &["nad-master"]),
    ]
}

/// Configs whose number of entries would make judging quadratic or the answer huge.
fn many_entries() -> [(Value, &'static [&'static str]); 3] {
    let same: Vec<Value> = (0..20_000).map(|_| json!({"range": "192.168.90.0/24"})).collect();
    let distinct: Vec<Value> =
        (0..60_000u32).map(|i| json!({"range": format!("10.{}.{}.0/24", i / 256, i % 256)})).collect();
    let excludes = vec![json!(1); 700_000];
    [
        (
            nad("migration-same-ranges", &macvlan(json!({"type": "whereabouts", "ipRanges": same}))),
            &["nad-range"],
        ),
        (
            nad("migration-distinct-ranges", &macvlan(json!({"type": "whereabouts", "ipRanges": distinct}))),
            &["nad-range"],
        ),
        (
            nad(
                "migration-many-excludes",
                &macvlan(json!({"type": "whereabouts", "range": "192.168.90.0/24", "exclude": excludes})),
            ),
            &["nad-exclude"],
        ),
    ]
}

#[test]
fn three_mib_configs_are_judged_and_quoted_short() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (object, code, rules)) in three_mib_configs().into_iter().enumerate() {
        let path = write(dir.path(), &format!("big-{i}.json"), object.to_string().as_bytes());
        let out = check(&[path.to_str().unwrap()]);
        assert_eq!((out.code, out.rules().as_slice()), (code, rules), "{}", out.stdout);
        // values are quoted cut: a 3 MiB value never becomes a 3 MiB message
        assert!(out.stdout.lines().all(|l| l.len() < 1024), "{}", &out.stdout[..1024.min(out.stdout.len())]);
    }
}

#[test]
fn many_ranges_and_excludes_stay_linear_and_short() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (object, rules)) in many_entries().into_iter().enumerate() {
        let path = write(dir.path(), &format!("many-{i}.json"), object.to_string().as_bytes());
        let out = check(&[path.to_str().unwrap()]);
        assert_eq!((out.code, out.rules().as_slice()), (1, rules), "{}", &out.stdout);
    }
}

#[test]
fn ten_thousand_documents_in_one_stream() {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = String::new();
    for i in 0..10_000u32 {
        let config = json!({"cniVersion": "0.3.1", "type": "bridge",
            "ipam": {"type": "host-local", "subnet": format!("172.16.{}.{}/30", i / 64, (i % 64) * 4)}});
        stream.push_str(&format!(
            "---\napiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: tenant-{i}\n  \
             namespace: vms\nspec:\n  config: '{config}'\n"
        ));
    }
    // the last one lands on the migration network
    stream.push_str(
        "---\napiVersion: k8s.cni.cncf.io/v1\nkind: NetworkAttachmentDefinition\nmetadata:\n  name: intruder\n  \
         namespace: vms\nspec:\n  config: '{\"type\":\"bridge\",\"ipam\":{\"type\":\"host-local\",\"subnet\":\"192.168.99.128/25\"}}'\n",
    );
    let path = write(dir.path(), "stream.yaml", stream.as_bytes());
    let out = check(&[path.to_str().unwrap()]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.rules(), ["nad-overlap-migration"]);
    assert!(out.stdout.contains("stream.yaml:80002: error[nad-overlap-migration]"), "{}", out.stdout);
    assert!(out.stdout.ends_with("checked 10001 objects: 1 denied, 0 warnings\n"), "{}", out.stdout);
}

/// `mignet review` and the server answer the committed AdmissionReviews the same way.
fn review_file(file: &str) -> (i32, String, String) {
    let state = example_state();
    let mut args: Vec<&str> = vec!["review"];
    args.extend(state.iter().map(String::as_str));
    args.push(file);
    common::run(&args, None)
}

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_server_answers_every_hostile_body_and_keeps_serving() {
    let server = Server::start(&example_state());
    let c = client(&server.ca(), false);
    let url = server.url("/validate");
    let raw = |body: Vec<u8>| {
        let c = c.clone();
        let url = url.clone();
        async move {
            let r = c.post(url).header("content-type", "application/json").body(body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };

    // malformed reviews: 400 with the reason, and `mignet review` exits 2 with the same reason
    for (file, says) in [
        ("review/missing-uid.json", "missing field `uid`"),
        ("review/missing-request.json", "the AdmissionReview has no request"),
        ("review/request-null.json", "the AdmissionReview has no request"),
        ("review/duplicate-uid.json", "duplicate field `uid`"),
        ("review/float-generation.json", "invalid type: floating point"),
    ] {
        let body = std::fs::read(case(file)).unwrap();
        let (status, text) = raw(body).await;
        assert_eq!(status, 400, "{file}: {text}");
        assert!(text.contains(says), "{file}: {text}");
        let (code, _, err) = review_file(&case(file));
        assert_eq!(code, 2, "{file}");
        assert!(err.contains(says), "{file}: {err}");
    }
    let body = std::fs::read(case("review/unicode-name.json")).unwrap();
    let (status, text) = raw(body).await;
    assert_eq!(status, 200, "{text}");
    let out: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(out["response"]["uid"], "uid-ü-网络");

    // nesting deeper than the JSON parser's limit, in the body and inside spec.config
    let deep = format!(
        "{{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{{\"object\":{{\"a\":{}{}}}}}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let (status, text) = raw(deep.into_bytes()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("recursion limit exceeded"), "{text}");
    let config = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    let (status, out, _) =
        post(&c, &url, &review("u-deep", "CREATE", &nad("migration-deep", &config), &Value::Null, false))
            .await;
    assert_eq!(
        (status, &out["response"]["auditAnnotations"]["denied-rules"]),
        (200, &json!("nad-config-invalid"))
    );

    // 3 MiB configs and configs with a hundred thousand entries: a verdict, and a short one
    let big = three_mib_configs().into_iter().map(|(o, code, rules)| (o, code == 0, rules.to_vec()));
    let many = many_entries().into_iter().map(|(o, rules)| (o, false, rules.to_vec()));
    for (object, allowed, rules) in big.chain(many) {
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        let body = serde_json::to_vec(&review("u-big", "CREATE", &object, &Value::Null, false)).unwrap();
        let (status, text) = raw(body).await;
        assert_eq!(status, 200, "{name}: {}", &text[..text.len().min(300)]);
        assert!(text.len() <= MAX_OUTPUT_BYTES, "{name}: a {} byte answer", text.len());
        let out: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(out["response"]["allowed"], allowed, "{name}");
        let audit = out["response"]["auditAnnotations"]["denied-rules"].as_str().unwrap_or_default();
        let mut audit: Vec<&str> = audit.split(',').filter(|r| !r.is_empty()).collect();
        audit.sort();
        audit.dedup();
        assert_eq!(audit, rules, "{name}");
    }

    // still serving, nothing panicked, memory bounded
    let (status, out, _) = post(
        &c,
        &url,
        &review(
            "u-after",
            "CREATE",
            &nad("migration-after", &macvlan(json!({"type": "whereabouts", "range": "192.168.98.0/24"}))),
            &Value::Null,
            false,
        ),
    )
    .await;
    assert_eq!((status, &out["response"]["allowed"]), (200, &json!(true)), "{out}");
    let peak = peak_rss_kib(server.child.id());
    assert!(peak < SERVER_PEAK_RSS_KIB, "server peak RSS {peak} KiB");
    let logs: Vec<Value> = server.logs.try_iter().collect();
    assert!(!logs.iter().any(|l| l.to_string().contains("panicked")), "a handler panicked");
}
