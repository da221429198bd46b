//! `mignet verify --from` with NodeNetworkStates beside the healthy dump: the `host-master` check
//! passes when bond2 is up on every virt-handler node and fails, naming the node, when one lost it.

mod common;

use common::{repo, run};

fn verify(extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["verify".to_owned(), "--from".into(), repo("tests/verify/healthy")];
    for f in extra {
        args.extend(["--from".to_owned(), repo(&format!("tests/verify/hosts/{f}"))]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, None)
}

#[test]
fn host_master_passes_when_bond2_is_up_everywhere() {
    let (code, out, err) = verify(&["nodenetworkstates.yaml", "worker-2.yaml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "PASS host-master: bond2 is present and up on all 3 virt-handler nodes\n  ok: worker-0: bond2 up, MTU \
             9000\n  ok: worker-1: bond2 up, MTU 9000\n  ok: worker-2: bond2 up, MTU 9000\n"
        ),
        "{out}"
    );
    assert!(
        out.ends_with(
            "verified live-migration network openshift-cnv/migration-bridge: 6 passed, 0 failed, 0 skipped\n"
        ),
        "{out}"
    );
}

#[test]
fn host_master_fails_on_the_node_that_lost_bond2_or_has_no_state() {
    let (code, out, err) = verify(&["nodenetworkstates.yaml", "worker-2-without-bond2.yaml"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("FAIL host-master: bond2 is missing on 1 of 3 virt-handler nodes\n"), "{out}");
    assert!(
        out.contains("  fail: worker-2: no bond2: virt-handler cannot attach migration0 there\n"),
        "{out}"
    );
    let (code, out, _) = verify(&["nodenetworkstates.yaml"]);
    assert_eq!(code, 1);
    assert!(out.contains("FAIL host-master: bond2 is unknown on 1 of 3 virt-handler nodes\n"), "{out}");
    let json = {
        let mut args: Vec<String> = vec![
            "verify".into(),
            "--output".into(),
            "json".into(),
            "--from".into(),
            repo("tests/verify/healthy"),
        ];
        args.extend(["--from".into(), repo("tests/verify/hosts/nodenetworkstates.yaml")]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, None).1
    };
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let check = v["checks"].as_array().unwrap().iter().find(|c| c["id"] == "host-master").unwrap();
    assert_eq!(check["status"], "fail");
}
