//! What goes into an invocation (an [`EventBatch`]) and what comes out ([`InvocationOutcome`]).

use std::fmt;
use std::time::Duration;

use polis_tree::{EventKind, WatchEvent, WriteOp, Zxid};

/// One event as a plugin receives it: the watch event and the node's data as its transaction
/// left it (for created and data-changed events the plugin may read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginEvent {
    pub path: String,
    pub kind: EventKind,
    pub zxid: Zxid,
    pub data: Option<Vec<u8>>,
}

impl PluginEvent {
    pub fn new(event: &WatchEvent, data: Option<Vec<u8>>) -> PluginEvent {
        PluginEvent {
            path: event.path.clone(),
            kind: event.kind,
            zxid: event.zxid,
            data,
        }
    }
}

/// The input of one invocation: events in zxid order, and the commit time the plugin's clock
/// shows (that of the batch's last transaction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventBatch {
    pub events: Vec<PluginEvent>,
    pub commit_time_ms: i64,
}

impl EventBatch {
    pub fn new(commit_time_ms: i64, events: Vec<PluginEvent>) -> EventBatch {
        EventBatch {
            events,
            commit_time_ms,
        }
    }

    /// The zxid of the last event: where the plugin's cursor moves when the batch commits.
    pub fn last_zxid(&self) -> Option<Zxid> {
        self.events.last().map(|event| event.zxid)
    }
}

/// A log line a plugin wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// What a successful invocation staged: write operations in the order the plugin staged them,
/// ready to be committed as one `multi` (with the caller's cursor update) as the identities the
/// plugin runs as. Creates carry ACLs with `auth` entries, which the tree expands to those
/// identities at commit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StagedWrites {
    pub ops: Vec<WriteOp>,
    /// Paths plus data, as counted against `staged_bytes_max`.
    pub bytes: u64,
}

/// The result of one invocation. The logs, fuel and time are there whether it succeeded or not.
#[derive(Clone, Debug)]
pub struct InvocationOutcome {
    /// The plugin's name (its metrics label).
    pub plugin: String,
    pub result: Result<StagedWrites, PluginFailure>,
    pub logs: Vec<LogLine>,
    pub fuel_used: u64,
    pub elapsed: Duration,
}

impl InvocationOutcome {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The failure's kind, if it failed.
    pub fn failure_kind(&self) -> Option<FailureKind> {
        self.result.as_ref().err().map(PluginFailure::kind)
    }
}

/// Whether a capability violation was a read or a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    Write,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Read => "read",
            Access::Write => "write",
        })
    }
}

/// Why an invocation failed. It fails alone: nothing is staged, and the engine goes on serving
/// every plugin.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PluginFailure {
    /// The guest trapped (a panic, an `unreachable`, an out-of-bounds access, a stack overflow).
    #[error("the plugin trapped: {message}")]
    Trap { message: String },
    /// It used up `fuel_per_invocation`.
    #[error("the plugin ran out of fuel ({fuel} units)")]
    FuelExhausted { fuel: u64 },
    /// It ran past `deadline_ms`.
    #[error("the plugin ran past its {deadline_ms} ms deadline")]
    DeadlineExceeded { deadline_ms: u64 },
    /// It tried to grow its memory past `memory_bytes_max` (or a table past the host's bound).
    #[error("the plugin tried to use more than {bytes_max} bytes of memory")]
    MemoryLimit { bytes_max: u64 },
    /// It read or staged a write outside its manifest's capabilities.
    #[error("capability violation: the plugin may not {access} {path}")]
    CapabilityViolation { access: Access, path: String },
    /// It staged more writes or bytes, or wrote more log lines, than its limits allow.
    #[error("the plugin's output is too large: more than {limit} = {max}")]
    OutputTooLarge { limit: &'static str, max: u64 },
    /// `init` or `handle-events` returned an error.
    #[error("the plugin failed: {0}")]
    GuestError(String),
    /// The batch was refused before the plugin ran (more events than `events_per_batch_max`):
    /// the caller's mistake, not the plugin's.
    #[error("invalid batch: {0}")]
    InvalidBatch(String),
    /// The host could not run the plugin now (every instance slot busy): retry later.
    #[error("the host is busy: {0}")]
    Unavailable(String),
}

/// The kind of a [`PluginFailure`], for metrics and decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    Trap,
    FuelExhausted,
    DeadlineExceeded,
    MemoryLimit,
    CapabilityViolation,
    OutputTooLarge,
    GuestError,
    InvalidBatch,
    Unavailable,
}

impl FailureKind {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::FuelExhausted => "fuel_exhausted",
            FailureKind::DeadlineExceeded => "deadline_exceeded",
            FailureKind::MemoryLimit => "memory_limit",
            FailureKind::CapabilityViolation => "capability_violation",
            FailureKind::OutputTooLarge => "output_too_large",
            FailureKind::GuestError => "guest_error",
            FailureKind::InvalidBatch => "invalid_batch",
            FailureKind::Unavailable => "unavailable",
        }
    }
}

impl PluginFailure {
    pub fn kind(&self) -> FailureKind {
        match self {
            PluginFailure::Trap { .. } => FailureKind::Trap,
            PluginFailure::FuelExhausted { .. } => FailureKind::FuelExhausted,
            PluginFailure::DeadlineExceeded { .. } => FailureKind::DeadlineExceeded,
            PluginFailure::MemoryLimit { .. } => FailureKind::MemoryLimit,
            PluginFailure::CapabilityViolation { .. } => FailureKind::CapabilityViolation,
            PluginFailure::OutputTooLarge { .. } => FailureKind::OutputTooLarge,
            PluginFailure::GuestError(_) => FailureKind::GuestError,
            PluginFailure::InvalidBatch(_) => FailureKind::InvalidBatch,
            PluginFailure::Unavailable(_) => FailureKind::Unavailable,
        }
    }
}
