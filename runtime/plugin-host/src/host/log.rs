//! `polis:plugin/log`: a plugin's log lines, bounded in count and length.

use crate::bindings::log;
use crate::{LogLevel, LogLine, PluginFailure};

use super::HostState;

/// Log lines longer than this many bytes are cut.
pub const LOG_LINE_BYTES_MAX: usize = 4096;

impl log::Host for HostState {
    async fn log(&mut self, level: log::Level, mut message: String) -> wasmtime::Result<()> {
        let max = self.manifest.limits.log_lines_max;
        if self.logs.len() >= max as usize {
            return Err(self.fail(PluginFailure::OutputTooLarge {
                limit: "log_lines_max",
                max: u64::from(max),
            }));
        }
        if message.len() > LOG_LINE_BYTES_MAX {
            let mut cut = LOG_LINE_BYTES_MAX;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let level = match level {
            log::Level::Trace => LogLevel::Trace,
            log::Level::Debug => LogLevel::Debug,
            log::Level::Info => LogLevel::Info,
            log::Level::Warn => LogLevel::Warn,
            log::Level::Error => LogLevel::Error,
        };
        self.logs.push(LogLine { level, message });
        Ok(())
    }
}
