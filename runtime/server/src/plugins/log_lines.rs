//! How much of a plugin's log the runner keeps in its `logs` node.

use polis_plugin_layout::StoredLogLine;

/// How many log lines the `logs` node keeps.
pub const LOG_LINES_KEPT: usize = 100;
/// The most bytes of log text the `logs` node keeps.
pub const LOG_BYTES_KEPT: usize = 64 * 1024;

/// Keeps the newest lines within [`LOG_LINES_KEPT`] and [`LOG_BYTES_KEPT`].
pub fn trim_logs(lines: &mut Vec<StoredLogLine>) {
    if lines.len() > LOG_LINES_KEPT {
        lines.drain(..lines.len() - LOG_LINES_KEPT);
    }
    let mut bytes: usize = lines.iter().map(|line| line.message.len() + 32).sum();
    let mut drop = 0;
    while bytes > LOG_BYTES_KEPT && drop < lines.len() {
        bytes -= lines[drop].message.len() + 32;
        drop += 1;
    }
    lines.drain(..drop);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_trimming_keeps_the_newest_lines_within_both_bounds() {
        let line = |index: usize, len: usize| StoredLogLine {
            zxid: index as i64,
            level: "info".to_string(),
            message: "x".repeat(len),
        };
        let mut lines: Vec<StoredLogLine> = (0..LOG_LINES_KEPT + 5).map(|i| line(i, 10)).collect();
        trim_logs(&mut lines);
        assert_eq!(lines.len(), LOG_LINES_KEPT);
        assert_eq!(lines[0].zxid, 5);

        let mut big: Vec<StoredLogLine> = (0..10).map(|i| line(i, LOG_BYTES_KEPT / 4)).collect();
        trim_logs(&mut big);
        assert!(big.len() < 4);
        assert_eq!(big.last().map(|l| l.zxid), Some(9));
    }
}
