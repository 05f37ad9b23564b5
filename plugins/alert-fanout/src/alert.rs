//! A CAP 1.2 alert as written: every element the fan-out uses, as text, before validation.
//! XML (`cap_xml`) and the JSON rendering (field names as CAP's element names) both parse into
//! this; `validation` turns it into a [`crate::validation::CheckedAlert`] or a readable reason.

use serde::{Deserialize, Serialize};

/// The `alert` element.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Alert {
    pub identifier: String,
    pub sender: String,
    pub sent: String,
    pub status: String,
    pub msg_type: String,
    pub source: Option<String>,
    pub scope: String,
    pub restriction: Option<String>,
    pub addresses: Option<String>,
    pub note: Option<String>,
    pub references: Option<String>,
    pub incidents: Option<String>,
    pub info: Vec<Info>,
}

/// One `info` block: the alert in one language.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Info {
    pub language: Option<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub category: Vec<String>,
    pub event: String,
    #[serde(deserialize_with = "one_or_many")]
    pub response_type: Vec<String>,
    pub urgency: String,
    pub severity: String,
    pub certainty: String,
    pub effective: Option<String>,
    pub onset: Option<String>,
    pub expires: Option<String>,
    pub sender_name: Option<String>,
    pub headline: Option<String>,
    pub description: Option<String>,
    pub instruction: Option<String>,
    pub web: Option<String>,
    pub parameter: Vec<NamedValue>,
    pub area: Vec<Area>,
}

/// One `area` block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Area {
    pub area_desc: String,
    #[serde(deserialize_with = "one_or_many")]
    pub polygon: Vec<String>,
    #[serde(deserialize_with = "one_or_many")]
    pub circle: Vec<String>,
    pub geocode: Vec<NamedValue>,
}

/// A `geocode` or `parameter`: CAP's valueName/value pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NamedValue {
    pub value_name: String,
    pub value: String,
}

/// The JSON rendering may give a repeated element with one occurrence as a plain string.
fn one_or_many<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}
