//! Replays every saved fuzz input (`fuzz/corpus/<target>/`, and `fuzz/artifacts/<target>/` when a
//! local fuzzing run left crashes there) through the same checks the fuzz targets run, on stable
//! and without libFuzzer, so every crash ever found stays a regression test.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    path::{Path, PathBuf},
};

use mignet::fuzzing::Target;

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

fn replay(target: Target) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    let mut count = 0;
    for sub in ["corpus", "artifacts"] {
        for file in inputs(&root.join(sub).join(target.name())) {
            let data = std::fs::read(&file).unwrap();
            count += 1;
            match catch_unwind(AssertUnwindSafe(|| target.run(&data))) {
                Ok(Ok(())) => {}
                Ok(Err(violation)) => failures.push(format!("{}: {violation}", file.display())),
                Err(_) => failures.push(format!("{}: panicked", file.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{} of {count} inputs fail:\n{}", failures.len(), failures.join("\n"));
    count
}

#[test]
fn cni_config_corpus() {
    assert!(replay(Target::CniConfig) >= 20, "the seed corpus is missing");
}

#[test]
fn admission_corpus() {
    assert!(replay(Target::Admission) >= 20, "the seed corpus is missing");
}

#[test]
fn input_reader_corpus() {
    assert!(replay(Target::InputReader) >= 20, "the seed corpus is missing");
}
