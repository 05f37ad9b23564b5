//! `polis:plugin/clock`: the commit time of the batch, never the node's own clock, so that every
//! replica's run of a plugin sees the same time.

use crate::bindings::clock;

use super::HostState;

impl clock::Host for HostState {
    async fn commit_time(&mut self) -> wasmtime::Result<i64> {
        Ok(self.commit_time_ms)
    }
}
