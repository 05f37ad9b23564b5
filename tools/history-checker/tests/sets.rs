//! Hand-written histories of sequential creates, checked for losses, duplicates and order.

mod common;

use common::*;
use polis_history_checker::Status;

const PARENT: &str = "/seq/q0";

#[test]
fn sequential_creates_numbered_in_real_time_order_pass() {
    let ops = vec![
        create_seq_ok(1, (0, 10), PARENT, "a", 1),
        // Concurrent with each other: either may have the smaller number.
        create_seq_ok(2, (20, 40), PARENT, "c", 3),
        create_seq_ok(3, (25, 35), PARENT, "b", 2),
        create_seq_info(1, (50, 60), PARENT, "d"),
        list_final(
            9,
            (100, 110),
            PARENT,
            &[(1, "a"), (2, "b"), (3, "c"), (4, "d")],
        ),
    ];
    let report = check(ops);
    assert_eq!(report.status(), Status::Clean, "{report}");
    assert_eq!(report.sets.seq_acked, 3);
    assert_eq!(report.sets.seq_indeterminate_present, 1);
}

#[test]
fn a_later_sequential_create_with_a_smaller_number_is_out_of_order() {
    let ops = vec![
        create_seq_ok(1, (0, 10), PARENT, "a", 5),
        create_seq_ok(2, (20, 30), PARENT, "b", 4),
    ];
    let report = check(ops);
    assert_eq!(report.sets.seq_order_violations.len(), 1, "{report}");
    assert_eq!(report.status(), Status::Anomalies);
}

#[test]
fn one_path_returned_to_two_creates_is_a_duplicate() {
    let ops = vec![
        create_seq_ok(1, (0, 10), PARENT, "a", 1),
        create_seq_ok(2, (5, 15), PARENT, "b", 1),
    ];
    assert_eq!(check(ops).sets.seq_duplicate_paths.len(), 1);
}

#[test]
fn an_acknowledged_sequential_create_missing_at_the_end_is_lost() {
    let ops = vec![
        create_seq_ok(1, (0, 10), PARENT, "a", 1),
        create_seq_ok(1, (20, 30), PARENT, "b", 2),
        list_final(9, (100, 110), PARENT, &[(1, "a")]),
    ];
    let report = check(ops);
    assert_eq!(report.sets.seq_lost, vec![format!("{PARENT}/s-0000000002")]);
    assert_eq!(report.sets.lost_creates(), 1);
}

#[test]
fn one_create_found_under_two_children_was_applied_twice() {
    let ops = vec![
        create_seq_info(1, (0, 10), PARENT, "a"),
        list_final(9, (100, 110), PARENT, &[(1, "a"), (2, "a")]),
    ];
    assert_eq!(check(ops).sets.seq_duplicate_values.len(), 1);
}

#[test]
fn a_child_nobody_created_is_unexpected() {
    let ops = vec![
        create_seq_ok(1, (0, 10), PARENT, "a", 1),
        list_final(9, (100, 110), PARENT, &[(1, "a"), (2, "stranger")]),
    ];
    assert_eq!(check(ops).sets.seq_unexpected.len(), 1);
}

#[test]
fn a_parent_without_a_final_listing_is_named_unchecked() {
    let report = check(vec![create_seq_ok(1, (0, 10), PARENT, "a", 1)]);
    assert_eq!(report.sets.parents_unlisted, vec![PARENT.to_string()]);
    assert_eq!(report.status(), Status::Clean);
}
