//! What a district finds at `<root>/notifications/<district>/<thread>` (JSON): everything its
//! systems need to act without parsing CAP, and the link to the full alert.

use serde::{Deserialize, Serialize};

use crate::validation::{CheckedAlert, Scope};

/// A district's notification of an alert thread. An update or cancel rewrites the same node, so
/// a district holds one notification per thread, never a duplicate.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The key of the message this notification carries; an acknowledgement names it.
    pub key: String,
    pub thread: String,
    /// Alert, Update or Cancel; a district outside an update's area gets Cancel too.
    pub msg_type: String,
    pub status: String,
    pub scope: String,
    pub sender: String,
    pub identifier: String,
    pub sent: String,
    pub expires: Option<String>,
    /// The inbox node holding the full alert as published, under the publisher's ACL.
    pub alert: String,
    /// Keys this message supersedes.
    pub supersedes: Vec<String>,
    /// The district's agencies subscribed to the alert's categories.
    pub agencies: Vec<String>,
    /// Empty for Restricted and Private alerts: the notification is world-readable, so it names
    /// the alert and leaves its content to the inbox node's ACL.
    pub event: String,
    pub headline: String,
    pub severity: String,
    pub urgency: String,
    pub certainty: String,
    pub categories: Vec<String>,
    pub instruction: String,
    pub area: Vec<String>,
    /// CAP polygon and circle strings, so the district's edge can test its own points.
    pub polygons: Vec<String>,
    pub circles: Vec<String>,
    /// Every `<info>` block, in the document's order (CAP puts the primary language first, whose
    /// text the fields above repeat): a district shows each reader the language it reads.
    pub info: Vec<InfoText>,
    /// Why a district got a Cancel it did not ask for (e.g. "outside the updated area").
    pub note: String,
    /// The commit time at which the fan-out wrote this, in ms.
    pub notified_ms: i64,
}

/// One `<info>` block's text, for a district to show in its language.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InfoText {
    /// RFC 3066 language tag; CAP's default is `en-US`.
    pub language: String,
    pub event: String,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub severity: String,
    pub urgency: String,
    pub certainty: String,
    pub sender_name: String,
    pub web: String,
}

impl InfoText {
    fn of(info: &crate::alert::Info) -> InfoText {
        InfoText {
            language: info.language.clone().unwrap_or_else(|| "en-US".to_string()),
            event: info.event.clone(),
            headline: info.headline.clone().unwrap_or_default(),
            description: info.description.clone().unwrap_or_default(),
            instruction: info.instruction.clone().unwrap_or_default(),
            severity: info.severity.clone(),
            urgency: info.urgency.clone(),
            certainty: info.certainty.clone(),
            sender_name: info.sender_name.clone().unwrap_or_default(),
            web: info.web.clone().unwrap_or_default(),
        }
    }
}

/// Appends the values not already in `list`, keeping their order: the info blocks of one alert
/// in several languages repeat the same areas.
fn extend_unique(list: &mut Vec<String>, values: impl IntoIterator<Item = String>) {
    for value in values {
        if !list.contains(&value) {
            list.push(value);
        }
    }
}

impl Notification {
    pub fn of(alert: &CheckedAlert, key: &str, thread: &str, inbox_path: &str) -> Notification {
        let cap = &alert.alert;
        let mut notification = Notification {
            key: key.into(),
            thread: thread.into(),
            msg_type: cap.msg_type.clone(),
            status: cap.status.clone(),
            scope: cap.scope.clone(),
            sender: cap.sender.clone(),
            identifier: cap.identifier.clone(),
            sent: cap.sent.clone(),
            expires: cap
                .info
                .iter()
                .filter_map(|info| info.expires.clone())
                .max(),
            alert: inbox_path.into(),
            ..Notification::default()
        };
        if alert.scope != Scope::Public {
            return notification;
        }
        // The first info block is the primary language's; CAP orders them that way.
        if let Some(info) = cap.info.first() {
            notification.event = info.event.clone();
            notification.headline = info.headline.clone().unwrap_or_default();
            notification.severity = info.severity.clone();
            notification.urgency = info.urgency.clone();
            notification.certainty = info.certainty.clone();
            notification.instruction = info.instruction.clone().unwrap_or_default();
        }
        notification.categories = alert.categories();
        notification.info = cap.info.iter().map(InfoText::of).collect();
        for info in &cap.info {
            for area in &info.area {
                extend_unique(&mut notification.area, [area.area_desc.clone()]);
                extend_unique(&mut notification.polygons, area.polygon.iter().cloned());
                extend_unique(&mut notification.circles, area.circle.iter().cloned());
            }
        }
        notification
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(data: &[u8]) -> Result<Notification, String> {
        serde_json::from_slice(data).map_err(|error| format!("notification: {error}"))
    }
}
