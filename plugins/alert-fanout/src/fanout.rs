//! One inbox node to its effects: validation, dedupe, thread resolution, targeting and the
//! notifications, staged through [`Staging`].

use std::collections::BTreeSet;

use polis_plugin_sdk::{AclPreset, CreateMode, ReadError};

use crate::alert::Alert;
use crate::alert_key::alert_key;
use crate::cap_xml::parse_xml;
use crate::config::Config;
use crate::district::{GeocodeTargeting, LocatedDistrict};
use crate::notification::Notification;
use crate::thread_state::{DistrictProgress, KeyRecord, ThreadState};
use crate::validation::{CheckedAlert, MsgType, Scope, Status, validate};
use polis_plugin_sdk::Staging;

/// The TTL of a Cancel without `expires`: long enough for every district to see it.
pub const CANCEL_WITHOUT_EXPIRY_TTL_MS: i64 = 3_600_000;
/// The identity the fan-out reads inbox nodes as (see the platform's plugin identities).
pub const PLUGIN_IDENTITY: &str = "x509:CN=alert-fanout,OU=plugin,O=Polis";

/// Parses an inbox node: CAP XML if it starts with `<`, the JSON rendering if with `{`.
pub fn parse_document(data: &[u8]) -> Result<Alert, String> {
    let text = std::str::from_utf8(data).map_err(|_| "the alert is not UTF-8".to_string())?;
    match text.trim_start().as_bytes().first() {
        Some(b'<') => parse_xml(text),
        Some(b'{') => {
            serde_json::from_str(text).map_err(|error| format!("not a CAP JSON rendering: {error}"))
        }
        _ => Err("the alert is neither CAP XML nor its JSON rendering".into()),
    }
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// An alerting agency's registry entry (`<root>/agencies/<agency>`, JSON): the CAP senders it
/// speaks for and, optionally, `"geocodeTargeting": "always"` for an agency whose alerts are
/// zone-based by policy (see [`GeocodeTargeting`]).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgencyEntry {
    senders: Vec<String>,
    #[serde(default)]
    geocode_targeting: GeocodeTargeting,
}

/// The handling of one batch's inbox nodes.
#[derive(Debug)]
pub struct Fanout<'s, 'c, 'a> {
    config: &'s Config,
    stage: &'s mut Staging<'c, 'a>,
    districts: Option<Vec<LocatedDistrict>>,
    now_ms: i64,
}

impl<'s, 'c, 'a> Fanout<'s, 'c, 'a> {
    pub fn new(config: &'s Config, stage: &'s mut Staging<'c, 'a>) -> Self {
        let now_ms = stage.context().commit_time_ms();
        Fanout {
            config,
            stage,
            districts: None,
            now_ms,
        }
    }

    fn reject(&mut self, id: &str, reason: &str) -> Result<(), String> {
        self.stage
            .context()
            .warn(format!("rejected {id}: {reason}"));
        self.stage
            .ensure(&format!("{}/alerts/rejected", self.config.root))?;
        self.stage.put(
            &self.config.rejected(id),
            reason.as_bytes(),
            CreateMode::Persistent,
        )
    }

    /// The registry entry of `agency` (the CAP senders it speaks for, how its geocodes target),
    /// or why it may publish nothing.
    fn registered_agency(&mut self, agency: &str) -> Result<Result<AgencyEntry, String>, String> {
        let path = self.config.agency(agency);
        let entry = match self.stage.context().get(&path) {
            Ok(Some(node)) => node.data,
            Ok(None) => return Ok(Err(format!("{agency} is not a registered agency ({path})"))),
            Err(error) => return Err(format!("{path}: {error}")),
        };
        match serde_json::from_slice::<AgencyEntry>(&entry) {
            Ok(entry) => Ok(Ok(entry)),
            Err(error) => Ok(Err(format!(
                "the registry entry {path} is not valid: {error}"
            ))),
        }
    }

    /// Handles the alert at `path` in `agency`'s inbox, whose data the event carried (if
    /// readable).
    pub fn intake(&mut self, agency: &str, path: &str, data: Option<&[u8]>) -> Result<(), String> {
        let id = last_segment(path).to_string();
        let data = match data {
            Some(data) => data.to_vec(),
            None => match self.stage.context().get(path) {
                Ok(Some(node)) => node.data,
                // Deleted before the fan-out reached it: nothing to distribute.
                Ok(None) => return Ok(()),
                Err(ReadError::NoAuth) => {
                    return self.reject(
                        &id,
                        &format!(
                            "the fan-out may not read the alert: its ACL must give READ to {PLUGIN_IDENTITY}"
                        ),
                    );
                }
                Err(error) => return Err(format!("{path}: {error}")),
            },
        };
        let alert = match parse_document(&data).and_then(validate) {
            Ok(alert) => alert,
            Err(reason) => return self.reject(&id, &reason),
        };
        // The inbox's ACL proves which agency wrote the alert; the registry says whose name it
        // may use. Without this any agency could publish as the National Weather Service.
        let registered = match self.registered_agency(agency)? {
            Ok(registered) => registered,
            Err(reason) => return self.reject(&id, &reason),
        };
        let senders = &registered.senders;
        if !senders.contains(&alert.alert.sender) {
            return self.reject(
                &id,
                &format!(
                    "sender {:?} is not one that agency {agency} is registered for ({})",
                    alert.alert.sender,
                    senders.join(", ")
                ),
            );
        }
        match (alert.status, alert.msg_type) {
            (Status::Draft, _) => {
                return self.reject(&id, "status Draft: a draft is not for distribution");
            }
            (_, MsgType::Ack | MsgType::Error) => {
                return self.reject(
                    &id,
                    &format!(
                        "msgType {}: a reply between systems; the fan-out distributes Alert, Update and Cancel",
                        alert.alert.msg_type
                    ),
                );
            }
            _ => {}
        }
        let cap = &alert.alert;
        let key = alert_key(&cap.sender, &cap.identifier, &cap.sent);
        if self.stage.exists(&self.config.key_record(&key))? {
            self.stage.context().info(format!("{id} repeats {key}"));
            self.stage
                .ensure(&format!("{}/alerts/duplicates", self.config.root))?;
            return self.stage.put(
                &self.config.duplicates(&id),
                key.as_bytes(),
                CreateMode::Persistent,
            );
        }
        if let Some(expires_ms) = alert.expires_ms
            && expires_ms <= self.now_ms
        {
            return self.reject(&id, "the alert expired before it reached the city");
        }
        self.distribute(&id, path, &alert, &key, registered.geocode_targeting)
    }

    /// The thread the message belongs to and the thread's state so far, from its references.
    fn resolve_thread(
        &mut self,
        alert: &CheckedAlert,
        key: &str,
    ) -> Result<(String, Option<ThreadState>, Vec<String>), String> {
        let mut thread = None;
        let mut superseded = Vec::new();
        for reference in &alert.references {
            let referenced = alert_key(&reference.sender, &reference.identifier, &reference.sent);
            let record_path = self.config.key_record(&referenced);
            let Some(data) = self.stage.get(&record_path)? else {
                continue;
            };
            let mut record = KeyRecord::from_json(&data)?;
            thread.get_or_insert_with(|| record.thread.clone());
            record.superseded_by = Some(key.to_string());
            self.stage
                .put(&record_path, &record.to_json(), CreateMode::Persistent)?;
            superseded.push(referenced);
        }
        let Some(thread) = thread else {
            return Ok((key.to_string(), None, superseded));
        };
        let state = match self.stage.get(&self.config.state(&thread))? {
            Some(data) => Some(ThreadState::from_json(&data)?),
            None => None,
        };
        Ok((thread, state, superseded))
    }

    fn districts(&mut self) -> Result<&[LocatedDistrict], String> {
        if self.districts.is_none() {
            let registry = self.config.districts();
            let mut names = self.stage.committed_children(&registry)?;
            if names.len() > self.config.districts_max {
                self.stage.context().warn(format!(
                    "the registry has {} districts; only the first {} are served",
                    names.len(),
                    self.config.districts_max
                ));
                names.truncate(self.config.districts_max);
            }
            let mut districts = Vec::with_capacity(names.len());
            for name in names {
                let Some(data) = self.stage.get(&format!("{registry}/{name}"))? else {
                    continue;
                };
                match LocatedDistrict::parse(&name, &data) {
                    Ok(district) => districts.push(district),
                    Err(problem) => self.stage.context().warn(problem),
                }
            }
            self.districts = Some(districts);
        }
        Ok(self.districts.as_deref().unwrap_or_default())
    }

    /// The districts an Alert or Update addresses: for a Private alert those named in
    /// `addresses`, otherwise those its areas touch.
    fn targets(
        &mut self,
        alert: &CheckedAlert,
        targeting: GeocodeTargeting,
    ) -> Result<BTreeSet<String>, String> {
        let districts = self.districts()?;
        if alert.scope == Scope::Private {
            let addressed: BTreeSet<&str> = alert
                .alert
                .addresses
                .as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .map(|address| address.trim_matches('"'))
                .collect();
            return Ok(districts
                .iter()
                .filter(|district| addressed.contains(district.name.as_str()))
                .map(|district| district.name.clone())
                .collect());
        }
        Ok(districts
            .iter()
            .filter(|district| {
                alert
                    .areas
                    .iter()
                    .any(|area| district.is_touched_by(area, targeting))
            })
            .map(|district| district.name.clone())
            .collect())
    }

    fn distribute(
        &mut self,
        id: &str,
        inbox_path: &str,
        alert: &CheckedAlert,
        key: &str,
        targeting: GeocodeTargeting,
    ) -> Result<(), String> {
        let actual = alert.status == Status::Actual;
        let (thread, previous, superseded) = self.resolve_thread(alert, key)?;
        if alert.msg_type == MsgType::Cancel && previous.is_none() {
            return self.reject(id, "the Cancel references no alert this city received");
        }
        let mut state = previous.clone().unwrap_or_else(|| ThreadState {
            thread: thread.clone(),
            ..ThreadState::default()
        });
        let previously_notified: BTreeSet<String> =
            state.with(DistrictProgress::Notified).into_iter().collect();
        let (targets, released) = if alert.msg_type == MsgType::Cancel {
            (previously_notified, BTreeSet::new())
        } else {
            let targets = self.targets(alert, targeting)?;
            let released = previously_notified
                .difference(&targets)
                .cloned()
                .collect::<BTreeSet<_>>();
            (targets, released)
        };
        let ttl_ms = alert
            .expires_ms
            .map_or(CANCEL_WITHOUT_EXPIRY_TTL_MS, |expires| {
                expires - self.now_ms
            });
        let mut notification = Notification::of(alert, key, &thread, inbox_path);
        notification.supersedes = superseded;
        notification.notified_ms = self.now_ms;
        let categories = alert.categories();
        let progress = if alert.msg_type == MsgType::Cancel {
            DistrictProgress::Released
        } else {
            DistrictProgress::Notified
        };
        for district in &targets {
            let agencies = self
                .districts()?
                .iter()
                .find(|located| &located.name == district)
                .map(|located| located.agencies_for(&categories))
                .unwrap_or_default();
            let mut own = notification.clone();
            own.agencies = agencies;
            self.notify(actual, district, &thread, &own, ttl_ms)?;
            state.districts.insert(district.clone(), progress);
        }
        for district in &released {
            let mut own = notification.clone();
            own.msg_type = "Cancel".into();
            own.note =
                "outside the updated area: the alert no longer concerns this district".into();
            self.notify(actual, district, &thread, &own, ttl_ms)?;
            state
                .districts
                .insert(district.clone(), DistrictProgress::Released);
        }
        if targets.is_empty() && released.is_empty() {
            self.stage
                .context()
                .info(format!("{id} ({key}) touches no district"));
        }
        state.current = key.to_string();
        state.keys.push(key.to_string());
        state.msg_type = alert.alert.msg_type.clone();
        state.status = alert.alert.status.clone();
        state.actual = actual;
        state.cancelled = alert.msg_type == MsgType::Cancel;
        state.notified_ms = self.now_ms;
        for dir in ["keys", "state"] {
            self.stage
                .ensure(&format!("{}/alerts/{dir}", self.config.root))?;
        }
        self.stage.put(
            &self.config.state(&thread),
            &state.to_json(),
            CreateMode::Persistent,
        )?;
        let record = KeyRecord {
            thread: thread.clone(),
            alert: inbox_path.to_string(),
            msg_type: alert.alert.msg_type.clone(),
            superseded_by: None,
        };
        self.stage.put(
            &self.config.key_record(key),
            &record.to_json(),
            CreateMode::Persistent,
        )?;
        self.stage.context().info(format!(
            "{id}: {} {key} (thread {thread}) to {} districts, {} released",
            alert.alert.msg_type,
            targets.len(),
            released.len()
        ));
        Ok(())
    }

    /// The certificate subject of `district`'s own system, from its registry entry.
    fn district_identity(&self, district: &str) -> String {
        let entry = self
            .districts
            .as_ref()
            .and_then(|all| all.iter().find(|located| located.name == district));
        match entry {
            Some(located) => located.identity(),
            None => crate::district::default_identity_or(district, None),
        }
    }

    /// Writes (or rewrites) a district's notification of the thread, and for an actual alert the
    /// `ack` node under it that the district acknowledges through.
    fn notify(
        &mut self,
        actual: bool,
        district: &str,
        thread: &str,
        notification: &Notification,
        ttl_ms: i64,
    ) -> Result<(), String> {
        let root = self.config.notifications(actual);
        self.stage.ensure(&root)?;
        self.stage.ensure(&format!("{root}/{district}"))?;
        let path = self.config.notification(actual, district, thread);
        self.stage.put(
            &path,
            &notification.to_json(),
            CreateMode::PersistentWithTtl(ttl_ms),
        )?;
        if actual {
            let ack = format!("{path}/ack");
            if !self.stage.exists(&ack)? {
                // Only the district writes its acknowledgement: with an open ACL any client could
                // acknowledge for another district, or delete its ack, and so suppress the
                // escalation of a district that never saw the alert. Nobody but the fan-out may
                // delete it (the notification grants DELETE to the plugin alone).
                let writer = self.district_identity(district);
                self.stage.put_with(
                    &ack,
                    b"",
                    CreateMode::PersistentWithTtl(ttl_ms),
                    AclPreset::CreatorAllWorldReadAndWriter(writer),
                )?;
            }
        }
        Ok(())
    }
}
