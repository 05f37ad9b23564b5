//! The city workflows from the host side.
//!
//! The workflows themselves are WebAssembly plugins in `plugins/` (`alert-fanout`,
//! `alert-escalation`, `shelter-capacity`); this crate is what runs around them: the sample city
//! (Cascadia Bay, twelve districts, realistic CAP 1.2 alerts), the tree's skeleton with its ACLs,
//! the plugins' manifests and deployment, publishing alerts and reading back what districts
//! received. The integration tests, the benchmark and two programs use it:
//!
//! - `polis-city-demo` (`bin/city-demo/`, `scripts/demo`): a local 3-node cluster, the city,
//!   the plugins, a scripted alert sequence, and what each district received with its latency;
//!   it lives in a crate of its own because it starts nodes, so that this crate never depends
//!   on the server;
//! - `polis-district`: a district's system, watching its notifications recursively, resuming
//!   from the last zxid it saved after a restart, and acknowledging.

pub mod alert_key;
pub mod city_plugins;
pub mod city_setup;
pub mod delivery;
pub mod district_follower;
pub mod error;
pub mod sample_city;
pub mod shelter;

pub use alert_key::alert_key;
pub use city_plugins::{CityOptions, deploy_all, packages, wait_handled};
pub use city_setup::{ROOT, publish, set_up_city};
pub use delivery::{Delivery, deliveries, read_json, read_text};
pub use district_follower::{DistrictFollower, Received};
pub use error::CityError;
pub use shelter::Shelter;
