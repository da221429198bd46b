//! The live view at scale: `mignet serve --cluster auto` against the test suite's fake API server holding
//! `NADS` tenant NADs (100000) and 50 virt-handler nodes. Prints the time from spawn to ready, the
//! server's memory once loaded, and again after `EVENTS` (10000) NADs were modified through watch events.
//! Reports figures; asserts nothing but that the view saw the events.
//!
//! `cargo bench --bench live_view` (`NADS=… EVENTS=… cargo bench --bench live_view` to change the sizes).
//! Under `cargo test` (no `--bench` argument) it runs once with 1,000 NADs and 100 events, as a check
//! that the harness still works.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Serve, fake_apiserver::FakeApiServer};

/// The `i`-th /27 after `base` (an IPv4 address as an integer).
fn range(base: u32, i: usize) -> String {
    let offset = u32::try_from(i).expect("fewer than 2^27 NADs") * 32;
    format!("{}/27", std::net::Ipv4Addr::from(base + offset))
}

const TENANTS: u32 = 0x0A40_0000; // 10.64.0.0: 10.64.0.0/10 holds 131,072 distinct /27s
const MOVED: u32 = 0x0AC8_0000; // 10.200.0.0: where modified NADs move to

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// (VmRSS, VmHWM) in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server process status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time the process has used, summed over its threads (`/proc/PID/task/*/schedstat`), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return 0.0 };
    let nanos: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanos as f64 / 1e9
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let nads = size("NADS", if bench { 100_000 } else { 1_000 }).max(1);
    let events = size("EVENTS", if bench { 10_000 } else { 100 }).clamp(1, nads);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    // memory is read after it settles; a test run only checks that the harness works
    let settle = Duration::from_secs(if bench { 2 } else { 0 });
    runtime.block_on(run(nads, events, settle));
}

async fn run(nads: usize, events: usize, settle: Duration) {
    let fake = FakeApiServer::start(support::fake_apiserver::plain_kubernetes()).await;
    for i in 0..nads {
        fake.apply(support::nad(&format!("tenant-{}", i % 500), &format!("net-{i}"), &range(TENANTS, i)));
    }
    for i in 0..50 {
        fake.apply(support::node(&format!("worker-{i}"), true));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let kubeconfig = fake.write_kubeconfig(dir.path());

    let spawned = Instant::now();
    let serve = Serve::start(&kubeconfig, &[]).await;
    serve.wait_ready().await;
    let ready = spawned.elapsed();
    let cpu = cpu_seconds(serve.pid());
    tokio::time::sleep(settle).await;
    let (rss, hwm) = memory(serve.pid());
    println!("live view, {nads} NADs and 50 nodes in a fake API server (LIST pages of 500, then WATCH)");
    println!(
        "ready in:      {:.0} ms; the server used {cpu:.2} s of CPU (the fake, in this process, the rest)",
        ready.as_secs_f64() * 1000.0
    );
    println!("loaded:        VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB");

    let started = Instant::now();
    for i in 0..events {
        fake.apply(support::nad(&format!("tenant-{}", i % 500), &format!("net-{i}"), &range(MOVED, i)));
    }
    // the view has caught up when the last NAD moved is found where it moved to
    let last = events - 1;
    let probe = support::nad("openshift-cnv", "migration-probe", &range(MOVED, last));
    let review = support::review("probe", "CREATE", &probe, &Value::Null);
    let owner = format!("tenant-{}/net-{last}", last % 500);
    support::eventually("the view to see the last modified NAD", || async {
        serve.validate(&review).await.to_string().contains(&owner).then_some(())
    })
    .await;
    let applied = started.elapsed();
    tokio::time::sleep(settle).await;
    let (rss, hwm) = memory(serve.pid());
    println!(
        "{events} MODIFIED events applied in {:.0} ms (including the writes to the fake)",
        applied.as_secs_f64() * 1000.0
    );
    println!("after events:  VmRSS {rss:.1} MiB, VmHWM {hwm:.1} MiB");
}
