//! Shelter capacity: an aggregation workflow, where the fan-out is a distribution one.
//!
//! Shelters report `{"occupancy": 120, "capacity": 150}` at `<root>/shelters/<district>/<shelter>`
//! (create, change or delete). The city registers a shelter by creating its report empty, which
//! only that shelter's certificate may then write: an empty report is a shelter that has not
//! reported yet, listed as `unreported` and not counted. For every district touched by a batch the plugin recomputes, from
//! the reports themselves, `<root>/capacity/districts/<district>`, and then the city's
//! `<root>/capacity/city` from the district totals: occupancy, capacity, free places, shelters,
//! the full shelters, and `full` (no free place left in the district or city).
//!
//! Recomputing from the source rather than adding deltas makes every commit correct on its own:
//! a batch replayed, a report deleted, or a shelter that reported garbage (counted, and listed as
//! `invalid`) never leaves a total drifting.

use std::collections::{BTreeMap, BTreeSet};

use polis_plugin_sdk::{Context, Plugin, ReadError, WatchEvent};
use serde::{Deserialize, Serialize};

/// The most shelters one district may list: bounds the reads of one recomputation.
pub const SHELTERS_PER_DISTRICT_MAX: usize = 1_000;
/// The most districts the city total reads.
pub const DISTRICTS_MAX: usize = 1_000;

/// A shelter's report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Report {
    pub occupancy: u64,
    pub capacity: u64,
}

/// A district's or the city's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub occupancy: u64,
    pub capacity: u64,
    pub free: u64,
    pub shelters: u64,
    pub full_shelters: Vec<String>,
    pub invalid: Vec<String>,
    /// Registered shelters whose report is still empty.
    pub unreported: Vec<String>,
    pub full: bool,
}

impl Totals {
    fn finish(&mut self) {
        self.free = self.capacity.saturating_sub(self.occupancy);
        self.full = self.capacity > 0 && self.free == 0;
    }
}

fn root(config: &[u8]) -> Result<String, String> {
    if config.is_empty() {
        return Ok("/city".into());
    }
    let root = std::str::from_utf8(config).map_err(|_| "config is not UTF-8".to_string())?;
    if !root.starts_with('/') || root.ends_with('/') {
        return Err(format!("config {root:?} is not an absolute path"));
    }
    Ok(root.to_string())
}

fn read_error(path: &str, error: ReadError) -> String {
    format!("{path}: {error}")
}

fn children(ctx: &mut Context<'_>, path: &str) -> Result<Vec<String>, String> {
    match ctx.get_children(path) {
        Ok(children) => Ok(children),
        Err(ReadError::NoNode) => Ok(Vec::new()),
        Err(error) => Err(read_error(path, error)),
    }
}

/// A district's totals, from its shelters' reports as committed.
fn district_totals(ctx: &mut Context<'_>, root: &str, district: &str) -> Result<Totals, String> {
    let dir = format!("{root}/shelters/{district}");
    let mut totals = Totals::default();
    for shelter in children(ctx, &dir)?
        .into_iter()
        .take(SHELTERS_PER_DISTRICT_MAX)
    {
        let path = format!("{dir}/{shelter}");
        let Some(node) = ctx.get(&path).map_err(|error| read_error(&path, error))? else {
            continue;
        };
        if node.data.is_empty() {
            totals.unreported.push(shelter);
            continue;
        }
        let Ok(report) = serde_json::from_slice::<Report>(&node.data) else {
            totals.invalid.push(shelter);
            continue;
        };
        totals.shelters += 1;
        totals.occupancy += report.occupancy;
        totals.capacity += report.capacity;
        if report.occupancy >= report.capacity {
            totals.full_shelters.push(shelter);
        }
    }
    totals.finish();
    Ok(totals)
}

/// Stages "set `path` to `totals`", unless it already holds them.
fn publish(ctx: &mut Context<'_>, path: &str, totals: &Totals) -> Result<(), String> {
    let data = serde_json::to_vec(totals).map_err(|error| error.to_string())?;
    let current = ctx.get(path).map_err(|error| read_error(path, error))?;
    if current.as_ref().is_some_and(|node| node.data == data) {
        return Ok(());
    }
    ctx.upsert(path, &data).map_err(|error| error.to_string())
}

fn ensure(ctx: &mut Context<'_>, path: &str) -> Result<(), String> {
    if ctx
        .exists(path)
        .map_err(|error| read_error(path, error))?
        .is_none()
    {
        ctx.create(path, b"").map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// The plugin.
#[derive(Debug)]
pub struct ShelterCapacity;

impl Plugin for ShelterCapacity {
    fn init(config: &[u8]) -> Result<(), String> {
        root(config).map(|_| ())
    }

    fn handle(ctx: &mut Context<'_>, events: &[WatchEvent]) -> Result<(), String> {
        let root = root(ctx.config())?;
        let prefix = format!("{root}/shelters/");
        let touched: BTreeSet<String> = events
            .iter()
            .filter_map(|event| event.path.strip_prefix(&prefix))
            .filter_map(|rest| rest.split('/').next())
            .filter(|district| !district.is_empty())
            .map(str::to_string)
            .collect();
        if touched.is_empty() {
            return Ok(());
        }
        let districts_dir = format!("{root}/capacity/districts");
        let mut fresh: BTreeMap<String, Totals> = BTreeMap::new();
        for district in &touched {
            fresh.insert(district.clone(), district_totals(ctx, &root, district)?);
        }
        // Reads do not see staged writes: the city total takes this batch's districts from
        // `fresh` and the others from the tree.
        let mut city = Totals::default();
        let mut names: BTreeSet<String> = children(ctx, &districts_dir)?
            .into_iter()
            .take(DISTRICTS_MAX)
            .collect();
        names.extend(touched.iter().cloned());
        for name in &names {
            let totals = match fresh.get(name) {
                Some(totals) => totals.clone(),
                None => {
                    let path = format!("{districts_dir}/{name}");
                    match ctx.get(&path).map_err(|error| read_error(&path, error))? {
                        Some(node) => serde_json::from_slice(&node.data).unwrap_or_default(),
                        None => Totals::default(),
                    }
                }
            };
            city.occupancy += totals.occupancy;
            city.capacity += totals.capacity;
            city.shelters += totals.shelters;
            city.full_shelters.extend(
                totals
                    .full_shelters
                    .iter()
                    .map(|shelter| format!("{name}/{shelter}")),
            );
            city.invalid.extend(
                totals
                    .invalid
                    .iter()
                    .map(|shelter| format!("{name}/{shelter}")),
            );
            city.unreported.extend(
                totals
                    .unreported
                    .iter()
                    .map(|shelter| format!("{name}/{shelter}")),
            );
        }
        city.finish();
        ensure(ctx, &format!("{root}/capacity"))?;
        ensure(ctx, &districts_dir)?;
        for (district, totals) in &fresh {
            publish(ctx, &format!("{districts_dir}/{district}"), totals)?;
        }
        publish(ctx, &format!("{root}/capacity/city"), &city)
    }
}

polis_plugin_sdk::export_plugin!(ShelterCapacity);

#[cfg(test)]
mod tests {
    use polis_plugin_sdk::testing::MemoryTree;

    use super::*;

    fn totals(tree: &MemoryTree, path: &str) -> Totals {
        serde_json::from_slice(&tree.get(path).expect(path)).unwrap()
    }

    fn report(tree: &mut MemoryTree, path: &str, occupancy: u64, capacity: u64) {
        let data = format!(r#"{{"occupancy": {occupancy}, "capacity": {capacity}}}"#);
        let events = if tree.get(path).is_some() {
            tree.set(path, data.as_bytes())
        } else {
            tree.create(path, data.as_bytes())
        };
        tree.run::<ShelterCapacity>(b"", &events).expect("handled");
    }

    #[test]
    fn reports_add_up_per_district_and_for_the_city() {
        let mut tree = MemoryTree::new();
        tree.create("/city/capacity/districts", b"");
        report(&mut tree, "/city/shelters/harbor/pier-7-gym", 40, 100);
        report(&mut tree, "/city/shelters/harbor/st-marys", 30, 30);
        report(&mut tree, "/city/shelters/airport/hangar-3", 10, 200);
        let harbor = totals(&tree, "/city/capacity/districts/harbor");
        assert_eq!(
            (harbor.occupancy, harbor.capacity, harbor.free),
            (70, 130, 60)
        );
        assert_eq!(harbor.full_shelters, ["st-marys"]);
        assert!(!harbor.full);
        let city = totals(&tree, "/city/capacity/city");
        assert_eq!((city.occupancy, city.capacity, city.shelters), (80, 330, 3));
        assert_eq!(city.full_shelters, ["harbor/st-marys"]);
    }

    #[test]
    fn a_district_with_no_free_place_is_full_until_a_place_frees() {
        let mut tree = MemoryTree::new();
        report(&mut tree, "/city/shelters/harbor/a", 50, 50);
        report(&mut tree, "/city/shelters/harbor/b", 20, 20);
        assert!(totals(&tree, "/city/capacity/districts/harbor").full);
        report(&mut tree, "/city/shelters/harbor/b", 19, 20);
        assert!(!totals(&tree, "/city/capacity/districts/harbor").full);
        let events = tree.delete("/city/shelters/harbor/b");
        tree.run::<ShelterCapacity>(b"", &events).unwrap();
        let harbor = totals(&tree, "/city/capacity/districts/harbor");
        assert_eq!((harbor.shelters, harbor.full), (1, true));
    }

    #[test]
    fn a_registered_shelter_that_has_not_reported_is_listed_not_counted_nor_invalid() {
        let mut tree = MemoryTree::new();
        let events = tree.create("/city/shelters/harbor/pier-7-gym", b"");
        tree.run::<ShelterCapacity>(b"", &events).unwrap();
        let harbor = totals(&tree, "/city/capacity/districts/harbor");
        assert_eq!(harbor.unreported, ["pier-7-gym"]);
        assert!(harbor.invalid.is_empty());
        assert_eq!(
            (harbor.shelters, harbor.capacity, harbor.full),
            (0, 0, false)
        );
        assert_eq!(
            totals(&tree, "/city/capacity/city").unreported,
            ["harbor/pier-7-gym"]
        );
        // Its first report counts it.
        report(&mut tree, "/city/shelters/harbor/pier-7-gym", 10, 100);
        let harbor = totals(&tree, "/city/capacity/districts/harbor");
        assert!(harbor.unreported.is_empty());
        assert_eq!((harbor.shelters, harbor.capacity), (1, 100));
    }

    #[test]
    fn a_garbage_report_is_listed_not_counted() {
        let mut tree = MemoryTree::new();
        let events = tree.create("/city/shelters/harbor/broken", b"lots");
        tree.run::<ShelterCapacity>(b"", &events).unwrap();
        let harbor = totals(&tree, "/city/capacity/districts/harbor");
        assert_eq!(harbor.invalid, ["broken"]);
        assert_eq!(harbor.capacity, 0);
    }
}
