//! Helpers shared by the end-to-end tests: run the real binary, find the repo's files.
#![allow(dead_code)]

pub mod server;

use std::{
    io::{BufRead, BufReader, Write},
    path::PathBuf,
    process::{ChildStderr, Command, Output, Stdio},
    sync::mpsc,
};

use serde_json::Value;

/// Path of a file in the repository.
pub fn repo(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path).to_string_lossy().into_owned()
}

/// The built `mignet` binary.
pub fn mignet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mignet"))
}

/// Runs `mignet` with arguments and optional stdin; returns (exit code, stdout, stderr).
pub fn run(args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = mignet();
    cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn mignet");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).unwrap();
    }
    drop(pipe);
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap())
}

/// Reads a child's stderr line by line on a thread; JSON log lines arrive parsed, others as strings.
pub fn json_logs(stderr: ChildStderr) -> mpsc::Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if tx.send(value).is_err() {
                break;
            }
        }
    });
    rx
}
