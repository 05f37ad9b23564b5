//! The host's metrics, through the `metrics` facade (the server installs the Prometheus
//! exporter). Every invocation metric has a `plugin` label (the manifest's name).
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `polis_plugin_invocations_total` | counter | plugin, result (`ok`/`failed`) | invocations |
//! | `polis_plugin_invocation_seconds` | histogram | plugin | wall time of an invocation |
//! | `polis_plugin_fuel_used` | histogram | plugin | fuel one invocation used |
//! | `polis_plugin_failures_total` | counter | plugin, kind ([`crate::FailureKind::as_str`]) | failed invocations |
//! | `polis_plugin_staged_writes_total` | counter | plugin | writes staged by successful invocations |
//! | `polis_plugin_events_total` | counter | plugin | events handed to the plugin |
//! | `polis_plugin_component_loads_total` | counter | source (`memory`/`disk`/`compiled`) | component loads |

use crate::InvocationOutcome;

pub const INVOCATIONS: &str = "polis_plugin_invocations_total";
pub const INVOCATION_SECONDS: &str = "polis_plugin_invocation_seconds";
pub const FUEL_USED: &str = "polis_plugin_fuel_used";
pub const FAILURES: &str = "polis_plugin_failures_total";
pub const STAGED_WRITES: &str = "polis_plugin_staged_writes_total";
pub const EVENTS: &str = "polis_plugin_events_total";
pub const COMPONENT_LOADS: &str = "polis_plugin_component_loads_total";

pub(crate) fn describe() {
    metrics::describe_counter!(INVOCATIONS, "Plugin invocations, by plugin and result");
    metrics::describe_histogram!(
        INVOCATION_SECONDS,
        metrics::Unit::Seconds,
        "Wall time of one plugin invocation"
    );
    metrics::describe_histogram!(FUEL_USED, "Wasmtime fuel one plugin invocation used");
    metrics::describe_counter!(FAILURES, "Failed plugin invocations, by plugin and kind");
    metrics::describe_counter!(
        STAGED_WRITES,
        "Writes staged by successful plugin invocations"
    );
    metrics::describe_counter!(EVENTS, "Watch events handed to plugins");
    metrics::describe_counter!(COMPONENT_LOADS, "Plugin component loads, by cache source");
}

pub(crate) fn component_loaded(source: &'static str) {
    metrics::counter!(COMPONENT_LOADS, "source" => source).increment(1);
}

pub(crate) fn invocation(outcome: &InvocationOutcome, events: usize) {
    let plugin = outcome.plugin.clone();
    let result = if outcome.is_ok() { "ok" } else { "failed" };
    metrics::counter!(INVOCATIONS, "plugin" => plugin.clone(), "result" => result).increment(1);
    metrics::histogram!(INVOCATION_SECONDS, "plugin" => plugin.clone())
        .record(outcome.elapsed.as_secs_f64());
    // Precision loss above 2^53 fuel units does not matter for a histogram.
    #[allow(clippy::cast_precision_loss)]
    metrics::histogram!(FUEL_USED, "plugin" => plugin.clone()).record(outcome.fuel_used as f64);
    metrics::counter!(EVENTS, "plugin" => plugin.clone()).increment(events as u64);
    match &outcome.result {
        Ok(staged) => {
            metrics::counter!(STAGED_WRITES, "plugin" => plugin).increment(staged.ops.len() as u64);
        }
        Err(failure) => {
            metrics::counter!(FAILURES, "plugin" => plugin, "kind" => failure.kind().as_str())
                .increment(1);
        }
    }
}
