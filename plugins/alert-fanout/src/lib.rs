//! The CAP 1.2 alert fan-out: the city workflow that turns one agency's alert into one
//! notification per affected district, exactly once.
//!
//! An agency writes a CAP 1.2 alert (XML, or the JSON rendering with CAP's element names) to
//! its own inbox, `<root>/alerts/inbox/<agency>/<id>`, which only its identity may create in (the
//! city's ACLs). For each such node the plugin
//!
//! - parses and validates it; a refusal goes to `<root>/alerts/rejected/<id>` with every problem
//!   found, in words;
//! - checks that the CAP `<sender>` is one the agency is registered to speak for
//!   (`<root>/agencies/<agency>`: `{"identity": …, "senders": […]}`), so that an agency cannot
//!   publish in another's name;
//! - dedupes by CAP's identity (sender, identifier, sent): a repeat goes to
//!   `<root>/alerts/duplicates/<id>` naming the key it repeats, and nothing else happens;
//! - threads Updates and Cancels through `references`: the referenced key records are marked
//!   `superseded_by`, and the districts' notifications of the thread are rewritten in place, so
//!   a district holds one notification per incident, never a duplicate; districts outside an
//!   update's area get a Cancel saying so;
//! - targets districts of the registry `<root>/districts/<name>` by geocode and by
//!   polygon/circle overlap (Private alerts: the districts named in `addresses`);
//! - writes `<root>/notifications/<district>/<thread>` (Test, Exercise and System messages:
//!   `<root>/exercises/...`) as a TTL node living until `expires`, with an `ack` child for actual
//!   alerts, and the thread's state at `<root>/alerts/state/<thread>`.
//!
//! Restricted and Private alerts: notifications are world-readable, so theirs carry the key,
//! scope and link but none of the alert's content; the district reads the full alert at the
//! link, as itself, and the inbox node's ACL (set by the publishing agency) decides.
//!
//! The modules `cap_xml`, `validation`, `geometry`, `cap_time` and `district` are plain Rust and
//! unit-tested natively.

pub mod alert;
pub mod alert_key;
pub mod cap_time;
pub mod cap_xml;
pub mod config;
pub mod district;
pub mod fanout;
pub mod geometry;
pub mod notification;
pub mod thread_state;
pub mod validation;

use polis_plugin_sdk::{Context, EventKind, Plugin, WatchEvent};

use crate::config::Config;
use crate::fanout::Fanout;
use polis_plugin_sdk::Staging;

/// The plugin.
#[derive(Debug)]
pub struct AlertFanout;

impl Plugin for AlertFanout {
    fn init(config: &[u8]) -> Result<(), String> {
        Config::parse(config).map(|_| ())
    }

    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
        let config = Config::parse(ctx.config())?;
        let inbox = config.inbox();
        let mut stage = Staging::new(ctx);
        let mut fanout = Fanout::new(&config, &mut stage);
        for event in events {
            // `<inbox>/<agency>/<id>`: an alert in an agency's own inbox. The agencies' inbox
            // folders themselves, and anything deeper, are not alerts.
            let in_inbox = event
                .path
                .strip_prefix(&inbox)
                .and_then(|rest| rest.strip_prefix('/'))
                .and_then(|rest| rest.split_once('/'))
                .filter(|(agency, id)| !agency.is_empty() && !id.is_empty() && !id.contains('/'));
            if let Some((agency, _)) = in_inbox
                && event.kind == EventKind::NodeCreated
            {
                fanout.intake(agency, &event.path, event.data.as_deref())?;
            }
        }
        Ok(())
    }
}

polis_plugin_sdk::export_plugin!(AlertFanout);

#[cfg(test)]
mod tests;
