//! `polis-check-history HISTORY`: checks a fault run's history and prints what it found.
//!
//! Exit status: 0 when every check passed, 1 when any found an anomaly, 3 when none did but some
//! key's search reached its limit, 2 when the history could not be read.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use polis_history_checker::{CheckOptions, History, Report, SEARCH_STATES_MAX, Status};

#[derive(Debug, Parser)]
#[command(about = "Checks a recorded client history: per-key linearizability and create sets")]
struct Args {
    /// The history: JSON lines, one operation each (bench/faults/history.py writes them).
    history: PathBuf,
    /// The most (linearized set, state) pairs one key's search remembers before it answers
    /// "unknown" (about 48 bytes each).
    #[arg(long, default_value_t = SEARCH_STATES_MAX)]
    states_max: usize,
    /// The most operations printed around each violation.
    #[arg(long, default_value_t = 40)]
    shown_max: usize,
    /// Saves each violating key's failing prefix here, as a history the checker reads again.
    #[arg(long)]
    witness_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(&Args::parse()) {
        Ok(Status::Clean) => ExitCode::SUCCESS,
        Ok(Status::Anomalies) => ExitCode::from(1),
        Ok(Status::Unknown) => ExitCode::from(3),
        Err(error) => {
            eprintln!("polis-check-history: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> anyhow::Result<Status> {
    let file =
        File::open(&args.history).with_context(|| format!("opening {}", args.history.display()))?;
    let history = History::from_reader(BufReader::new(file))
        .with_context(|| format!("reading {}", args.history.display()))?;
    let options = CheckOptions {
        states_max: args.states_max,
        shown_max: args.shown_max,
    };
    let report = Report::check(&history, options);
    print!("{report}");
    if let Some(dir) = &args.witness_dir {
        save_witnesses(dir, &history, &report)?;
    }
    Ok(report.status())
}

/// Writes each violating key's failing prefix as `<key with / as _>.jsonl` in `dir`.
fn save_witnesses(dir: &Path, history: &History, report: &Report) -> anyhow::Result<()> {
    for key in report.keys.iter().filter(|k| !k.witness_sources.is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(format!(
            "{}.jsonl",
            key.key.trim_start_matches('/').replace('/', "_")
        ));
        let mut out =
            File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        for &source in &key.witness_sources {
            writeln!(out, "{}", serde_json::to_string(&history.ops[source])?)?;
        }
        println!(
            "saved the failing prefix of {} to {}",
            key.key,
            path.display()
        );
    }
    Ok(())
}
