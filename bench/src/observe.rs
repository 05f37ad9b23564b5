//! What the benchmark reads from the servers around a measured window: CPU time from
//! `/proc/PID/stat`, and Polis's Prometheus metrics.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// How long one scrape of a `/metrics` endpoint may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest metrics page read, in bytes: far above what a Polis node serves.
const METRICS_PAGE_LEN_MAX: u64 = 16 * 1024 * 1024;
/// Linux's clock tick when `getconf` cannot tell (it is 100 on every common configuration).
const CLOCK_TICKS_PER_SECOND_DEFAULT: f64 = 100.0;

/// Polis's histogram of Raft log entries per durable append: one append is one fsync
/// (runtime/raft/src/log_store.rs).
const APPEND_ENTRIES_SUM: &str = "polis_raft_append_entries_sum";
const APPEND_ENTRIES_COUNT: &str = "polis_raft_append_entries_count";
/// Polis's histogram of transactions per proposal: on the leader, transactions per Raft entry
/// (runtime/raft/src/proposer.rs, group commit).
const TXNS_PER_PROPOSAL_SUM: &str = "polis_txns_per_proposal_sum";
/// Peer connection handshakes, where the server exports them.
const PEER_HANDSHAKES: &str = "polis_peer_handshakes_total";
/// 1 on the node that leads, 0 on the others.
const IS_LEADER: &str = "polis_raft_is_leader";

fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(CLOCK_TICKS_PER_SECOND_DEFAULT)
    })
}

/// User plus system CPU seconds of every process (all its threads), so far.
pub fn cpu_seconds(pids: &[u32]) -> anyhow::Result<f64> {
    let mut ticks = 0u64;
    for pid in pids {
        let path = format!("/proc/{pid}/stat");
        let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // The command name (field 2) is in parentheses and may hold spaces: count fields after
        // its closing parenthesis, where field 3 (state) comes first and 14, 15 are utime, stime.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .with_context(|| format!("unexpected {path}"))?;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        for index in [14 - 3, 15 - 3] {
            ticks += fields
                .get(index)
                .and_then(|field| field.parse::<u64>().ok())
                .with_context(|| format!("no CPU time in {path}"))?;
        }
    }
    Ok(ticks as f64 / clock_ticks_per_second())
}

/// The figures read from a Polis node's `/metrics`, summed over every series of each name.
#[derive(Clone, Copy, Debug, Default)]
pub struct PolisMetrics {
    pub append_entries_sum: f64,
    pub append_entries_count: f64,
    /// Transactions proposed (on the leader: packed into its entries).
    pub txns_proposed: f64,
    /// `None` when the server does not export the counter.
    pub peer_handshakes: Option<f64>,
    pub is_leader: bool,
}

/// Scrapes `/metrics` over plain HTTP/1.0.
pub async fn scrape_polis(address: SocketAddr) -> anyhow::Result<PolisMetrics> {
    let page = tokio::time::timeout(SCRAPE_TIMEOUT, async {
        let mut stream = tokio::net::TcpStream::connect(address).await?;
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut page = String::new();
        stream
            .take(METRICS_PAGE_LEN_MAX)
            .read_to_string(&mut page)
            .await?;
        Ok::<_, std::io::Error>(page)
    })
    .await
    .with_context(|| format!("scraping {address} took over {SCRAPE_TIMEOUT:?}"))?
    .with_context(|| format!("scraping http://{address}/metrics"))?;
    Ok(parse_polis_metrics(&page))
}

fn parse_polis_metrics(page: &str) -> PolisMetrics {
    let mut metrics = PolisMetrics::default();
    for line in page.lines().filter(|line| !line.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        let Some(value) = line
            .rsplit(' ')
            .next()
            .and_then(|value| value.parse::<f64>().ok())
        else {
            continue;
        };
        match name {
            APPEND_ENTRIES_SUM => metrics.append_entries_sum += value,
            APPEND_ENTRIES_COUNT => metrics.append_entries_count += value,
            TXNS_PER_PROPOSAL_SUM => metrics.txns_proposed += value,
            PEER_HANDSHAKES => *metrics.peer_handshakes.get_or_insert(0.0) += value,
            IS_LEADER => metrics.is_leader |= value == 1.0,
            _ => {}
        }
    }
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_summed_over_series() {
        let page = "# TYPE polis_raft_append_entries summary\n\
                    polis_raft_append_entries{quantile=\"0.5\"} 1\n\
                    polis_raft_append_entries_sum 30\n\
                    polis_raft_append_entries_count 10\n\
                    polis_txns_per_proposal_sum 300\n\
                    polis_peer_handshakes_total{peer=\"2\"} 3\n\
                    polis_peer_handshakes_total{peer=\"3\"} 4\n\
                    polis_raft_is_leader 1\n";
        let metrics = parse_polis_metrics(page);
        assert_eq!(metrics.append_entries_sum, 30.0);
        assert_eq!(metrics.append_entries_count, 10.0);
        assert_eq!(metrics.txns_proposed, 300.0);
        assert_eq!(metrics.peer_handshakes, Some(7.0));
        assert!(metrics.is_leader);
        assert_eq!(parse_polis_metrics("").peer_handshakes, None);
    }

    #[test]
    fn this_process_has_used_cpu() {
        let seconds = cpu_seconds(&[std::process::id()]).unwrap();
        assert!(seconds >= 0.0);
    }
}
