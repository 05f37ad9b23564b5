//! Hand-written histories of one or two registers, linearizable and not.

mod common;

use common::*;
use polis_history_checker::{CheckOptions, History, Status, Verdict};

/// The register `/k` created with "init" (version 0) in [0, 10].
fn created() -> Vec<polis_history_checker::Operation> {
    vec![create_ok(0, (0, 10), "init")]
}

#[test]
fn a_sequential_history_of_every_kind_is_linearizable() {
    let mut ops = vec![read_no_node(1, (0, 5)), create_ok(1, (6, 10), "init")];
    ops.push(create_exists(2, (11, 12), "again"));
    ops.push(read_ok(1, (20, 30), "init", 0));
    ops.push(write_ok(2, (40, 50), "a", 1));
    ops.push(cas_ok(1, (60, 70), 1, "b", 2));
    ops.push(cas_bad_version(2, (80, 90), 1, "c"));
    ops.push(read_ok(2, (100, 110), "b", 2));
    let report = check(ops);
    assert_eq!(report.status(), Status::Clean, "{report}");
    assert_eq!(report.keys_checked, 1);
}

#[test]
fn a_stale_read_after_an_acknowledged_write_is_a_violation() {
    let mut ops = created();
    ops.push(write_ok(1, (20, 30), "a", 1));
    ops.push(read_ok(2, (40, 50), "init", 0));
    let report = check(ops);
    assert_eq!(report.status(), Status::Anomalies, "{report}");
    assert_eq!(report.violations(), 1);
    assert_eq!(report.keys[0].key, KEY);
}

#[test]
fn a_lost_acknowledged_write_is_a_violation() {
    // The second write's version says it was applied on top of the creation, not of the first.
    let mut ops = created();
    ops.push(write_ok(1, (20, 30), "a", 1));
    ops.push(write_ok(2, (40, 50), "b", 1));
    assert_eq!(check(ops).violations(), 1);
}

#[test]
fn a_cas_success_with_a_wrong_version_is_a_violation() {
    let mut ops = created();
    ops.push(write_ok(1, (20, 30), "a", 1));
    ops.push(cas_ok(2, (40, 50), 0, "b", 1));
    assert_eq!(check(ops).violations(), 1);
}

#[test]
fn a_bad_version_while_the_version_matched_is_a_violation() {
    let mut ops = created();
    ops.push(cas_bad_version(1, (20, 30), 0, "a"));
    assert_eq!(check(ops).violations(), 1);
}

#[test]
fn a_bad_version_concurrent_with_the_write_that_moved_the_version_is_linearizable() {
    let mut ops = created();
    ops.push(write_ok(1, (20, 40), "a", 1));
    ops.push(cas_bad_version(2, (30, 50), 0, "b"));
    assert_eq!(check(ops).status(), Status::Clean);
}

#[test]
fn concurrent_writes_may_take_effect_in_either_order() {
    // Both writes overlap; the later reads say "b" was second, although "b" was called first.
    let mut ops = created();
    ops.push(write_ok(1, (30, 60), "a", 1));
    ops.push(write_ok(2, (20, 70), "b", 2));
    ops.push(read_ok(3, (80, 90), "b", 2));
    assert_eq!(check(ops.clone()).status(), Status::Clean);
    let mut other = created();
    other.push(write_ok(1, (30, 60), "a", 2));
    other.push(write_ok(2, (20, 70), "b", 1));
    other.push(read_ok(3, (80, 90), "a", 2));
    assert_eq!(check(other).status(), Status::Clean);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for (value, version) in [("init", 0), ("a", 1)] {
        let mut ops = created();
        ops.push(write_ok(1, (20, 40), "a", 1));
        ops.push(read_ok(2, (30, 50), value, version));
        assert_eq!(check(ops).status(), Status::Clean, "{value}");
    }
}

#[test]
fn reads_cannot_go_back_in_time_between_two_concurrent_reads() {
    // One read saw the new value and returned before the other read was called, which then saw
    // the old one: the write cannot be both before and after.
    let mut ops = created();
    ops.push(write_ok(1, (20, 100), "a", 1));
    ops.push(read_ok(2, (30, 40), "a", 1));
    ops.push(read_ok(3, (50, 60), "init", 0));
    assert_eq!(check(ops).violations(), 1);
}

#[test]
fn operations_that_touch_in_time_count_as_concurrent() {
    let mut ops = created();
    ops.push(write_ok(1, (20, 40), "a", 1));
    ops.push(read_ok(2, (40, 50), "init", 0));
    assert_eq!(check(ops).status(), Status::Clean);
}

#[test]
fn an_indeterminate_write_that_took_effect_explains_a_later_read() {
    let mut ops = created();
    ops.push(write_info(1, (20, 30), "a"));
    ops.push(read_ok(2, (1_000, 1_010), "a", 1));
    assert_eq!(check(ops).status(), Status::Clean);
}

#[test]
fn an_indeterminate_write_that_never_took_effect_is_linearizable() {
    let mut ops = created();
    ops.push(write_info(1, (20, 30), "a"));
    ops.push(read_ok(2, (1_000, 1_010), "init", 0));
    ops.push(write_ok(2, (1_020, 1_030), "b", 1));
    assert_eq!(check(ops).status(), Status::Clean);
}

#[test]
fn an_indeterminate_write_may_take_effect_long_after_its_client_gave_up() {
    let mut ops = created();
    ops.push(write_info(1, (20, 30), "a"));
    ops.push(read_ok(2, (100, 110), "init", 0));
    ops.push(read_ok(2, (200, 210), "a", 1));
    assert_eq!(check(ops).status(), Status::Clean);
}

#[test]
fn an_indeterminate_write_cannot_take_effect_before_it_is_called() {
    let mut ops = created();
    ops.push(read_ok(2, (20, 30), "a", 1));
    ops.push(write_info(1, (40, 50), "a"));
    assert_eq!(check(ops).violations(), 1);
}

#[test]
fn an_indeterminate_write_takes_effect_at_most_once() {
    let mut ops = created();
    ops.push(write_info(1, (20, 30), "a"));
    ops.push(read_ok(2, (100, 110), "a", 1));
    ops.push(write_ok(3, (120, 130), "b", 2));
    ops.push(read_ok(2, (200, 210), "a", 3));
    assert_eq!(check(ops).violations(), 1);
}

#[test]
fn unread_indeterminate_writes_account_for_version_bumps_but_no_more() {
    let ops = |version| {
        let mut ops = created();
        ops.push(write_info(1, (20, 30), "x"));
        ops.push(write_info(2, (25, 35), "y"));
        ops.push(cas_info(3, (26, 36), 0, "z"));
        ops.push(write_ok(4, (100, 110), "w", version));
        ops
    };
    for version in 1..=4 {
        assert_eq!(
            check(ops(version)).status(),
            Status::Clean,
            "version {version}"
        );
    }
    assert_eq!(check(ops(5)).violations(), 1);
}

#[test]
fn an_indeterminate_cas_takes_effect_only_at_its_expected_version() {
    let mut ops = created();
    ops.push(write_ok(1, (10, 20), "a", 1));
    ops.push(cas_info(2, (30, 40), 0, "b"));
    ops.push(read_ok(3, (100, 110), "b", 2));
    assert_eq!(check(ops).violations(), 1);
}

#[test]
fn a_missing_node_after_an_acknowledged_create_is_a_violation() {
    let ops = vec![
        create_ok(1, (0, 10), "x"),
        finally(read_no_node(2, (100, 110))),
    ];
    let report = check(ops);
    assert_eq!(report.violations(), 1);
    assert_eq!(report.sets.unique_lost, vec![KEY.to_string()]);
    assert_eq!(report.sets.lost_creates(), 1);
}

#[test]
fn an_indeterminate_create_may_or_may_not_have_taken_effect() {
    for last in [read_ok(2, (100, 110), "x", 0), read_no_node(2, (100, 110))] {
        let report = check(vec![create_info(1, (0, 10), "x"), finally(last)]);
        assert_eq!(report.status(), Status::Clean, "{report}");
        let sets = &report.sets;
        assert_eq!(
            sets.unique_indeterminate_present + sets.unique_indeterminate_absent,
            1
        );
    }
}

#[test]
fn keys_are_checked_independently() {
    let mut ops = created();
    ops.push(write_ok(1, (20, 30), "a", 1));
    ops.push(on("/other", create_ok(1, (0, 10), "o")));
    ops.push(on("/other", write_ok(2, (20, 30), "p", 1)));
    ops.push(on("/other", read_ok(2, (40, 50), "o", 0)));
    let report = check(ops);
    assert_eq!(report.keys_checked, 2);
    assert_eq!(report.violations(), 1);
    assert_eq!(report.keys[0].key, "/other");
}

#[test]
fn a_search_that_reaches_its_limit_answers_unknown() {
    // Twenty overlapping writes admit many orders; a limit of ten states cannot decide.
    let mut ops = created();
    for p in 0..20 {
        ops.push(write_ok(
            p,
            (20 + p, 100 + p),
            &format!("v{p}"),
            1 + p as i64,
        ));
    }
    let options = CheckOptions {
        states_max: 10,
        ..CheckOptions::default()
    };
    let report = check_with(ops, options);
    assert_eq!(report.status(), Status::Unknown, "{report}");
    assert!(matches!(report.keys[0].verdict, Verdict::Unknown { .. }));
}

#[test]
fn the_witness_of_a_violation_is_a_short_prefix_that_fails_again() {
    // A long clean history, one stale read in its middle, and more clean history after it.
    let mut ops = created();
    let mut t = 20;
    for version in 1..=50 {
        ops.push(write_ok(1, (t, t + 5), &format!("v{version}"), version));
        ops.push(read_ok(2, (t + 6, t + 9), &format!("v{version}"), version));
        if version == 20 {
            ops.push(read_ok(3, (t + 10, t + 12), "v19", 19));
        }
        t += 20;
    }
    let history = History::from_ops(ops).expect("well-formed");
    let report = polis_history_checker::Report::check(&history, CheckOptions::default());
    assert_eq!(report.violations(), 1, "{report}");
    let witness = &report.keys[0].witness_sources;
    assert!(
        witness.len() < 50,
        "witness of {} operations",
        witness.len()
    );
    let again: Vec<_> = witness.iter().map(|&i| history.ops[i].clone()).collect();
    assert_eq!(check(again).violations(), 1);
    let text = report.to_string();
    assert!(text.contains("NOT LINEARIZABLE /k"), "{text}");
    assert!(text.contains("\"v19\""), "{text}");
}

#[test]
fn a_definite_failure_must_name_a_precondition() {
    let mut op = cas_bad_version(1, (0, 10), 0, "a");
    op.error = Some("ConnectionLoss".to_string());
    let error = History::from_ops(vec![op]).expect_err("rejected");
    assert!(error.to_string().contains("info"), "{error}");
}

#[test]
fn a_history_reads_from_json_lines() {
    let text = r#"{"process":0,"kind":"create","key":"/k","value":"init","invoke_ns":1,"complete_ns":2,"outcome":"ok"}
{"process":1,"kind":"read","key":"/k","invoke_ns":3,"complete_ns":4,"outcome":"ok","result":{"value":"init","version":0}}
{"process":1,"kind":"write","key":"/k","value":"a","invoke_ns":5,"outcome":"info","error":"ConnectionLoss"}
{"process":2,"kind":"read","key":"/k","invoke_ns":6,"complete_ns":7,"outcome":"fail","error":"NoNode","final":true}
"#;
    let history = History::from_reader(text.as_bytes()).expect("parses");
    assert_eq!(history.ops.len(), 4);
    assert!(history.ops[3].is_final);
    let report = polis_history_checker::Report::check(&history, CheckOptions::default());
    assert_eq!(report.violations(), 1, "{report}");
}
