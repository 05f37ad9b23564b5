//! CAP 1.2 validation: from an [`Alert`] as written to a [`CheckedAlert`] the fan-out can act
//! on, or every problem found, as one readable reason.

use crate::alert::{Alert, NamedValue};
use crate::cap_time::parse_cap_time;
use crate::geometry::{Circle, Polygon};

/// The most `info` blocks, areas per info and references one alert may carry: bounds the work of
/// one alert (each area is tested against every district).
pub const INFOS_MAX: usize = 16;
pub const AREAS_PER_INFO_MAX: usize = 64;
pub const REFERENCES_MAX: usize = 64;

/// `status`: whether the alert is real.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Actual,
    Exercise,
    System,
    Test,
    Draft,
}

/// `msgType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
    Ack,
    Error,
}

/// `scope`: who may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Public,
    Restricted,
    Private,
}

/// One entry of `references`: "sender,identifier,sent".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
    pub sent: String,
}

/// The shapes and codes of one `area`, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedArea {
    pub description: String,
    pub polygons: Vec<Polygon>,
    pub circles: Vec<Circle>,
    pub geocodes: Vec<NamedValue>,
}

/// An alert that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedAlert {
    pub alert: Alert,
    pub status: Status,
    pub msg_type: MsgType,
    pub scope: Scope,
    pub sent_ms: i64,
    /// The latest `expires` of its info blocks; `None` only for a Cancel without info.
    pub expires_ms: Option<i64>,
    pub areas: Vec<CheckedArea>,
    pub references: Vec<Reference>,
}

impl CheckedAlert {
    /// The categories of all info blocks.
    pub fn categories(&self) -> Vec<String> {
        let mut categories: Vec<String> = self
            .alert
            .info
            .iter()
            .flat_map(|info| info.category.iter().cloned())
            .collect();
        categories.sort();
        categories.dedup();
        categories
    }
}

fn one_of<T: Copy>(
    problems: &mut Vec<String>,
    field: &str,
    value: &str,
    choices: &[(&str, T)],
) -> Option<T> {
    if value.is_empty() {
        problems.push(format!("<{field}> is missing"));
        return None;
    }
    match choices.iter().find(|(name, _)| *name == value) {
        Some((_, choice)) => Some(*choice),
        None => {
            let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
            problems.push(format!(
                "<{field}> is {value:?}, not one of {}",
                names.join(", ")
            ));
            None
        }
    }
}

fn required(problems: &mut Vec<String>, field: &str, value: &str) {
    if value.trim().is_empty() {
        problems.push(format!("<{field}> is missing"));
    }
}

/// CAP forbids these in identifier and sender, so references (comma- and space-separated) stay
/// parseable.
fn has_reserved_characters(value: &str) -> bool {
    value.contains([' ', ',', '<', '&'])
}

/// Parses `references`: whitespace-separated "sender,identifier,sent" triples.
pub fn parse_references(text: &str) -> Result<Vec<Reference>, String> {
    let references: Vec<Reference> = text
        .split_whitespace()
        .map(|triple| {
            let mut parts = triple.split(',');
            match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(sender), Some(identifier), Some(sent), None)
                    if !sender.is_empty() && !identifier.is_empty() && !sent.is_empty() =>
                {
                    Ok(Reference {
                        sender: sender.to_string(),
                        identifier: identifier.to_string(),
                        sent: sent.to_string(),
                    })
                }
                _ => Err(format!(
                    "<references> entry {triple:?} is not \"sender,identifier,sent\""
                )),
            }
        })
        .collect::<Result<_, _>>()?;
    if references.len() > REFERENCES_MAX {
        return Err(format!(
            "<references> names {} alerts, more than {REFERENCES_MAX}",
            references.len()
        ));
    }
    Ok(references)
}

/// Validates an alert. The error lists every problem found, separated by "; ".
pub fn validate(alert: Alert) -> Result<CheckedAlert, String> {
    let mut problems = Vec::new();
    required(&mut problems, "identifier", &alert.identifier);
    required(&mut problems, "sender", &alert.sender);
    if has_reserved_characters(&alert.identifier) || has_reserved_characters(&alert.sender) {
        problems.push("<identifier> and <sender> may not contain spaces, commas, < or &".into());
    }
    let sent_ms = if alert.sent.is_empty() {
        problems.push("<sent> is missing".into());
        None
    } else {
        parse_cap_time(&alert.sent)
            .map_err(|error| problems.push(format!("<sent>: {error}")))
            .ok()
    };
    let status = one_of(
        &mut problems,
        "status",
        &alert.status,
        &[
            ("Actual", Status::Actual),
            ("Exercise", Status::Exercise),
            ("System", Status::System),
            ("Test", Status::Test),
            ("Draft", Status::Draft),
        ],
    );
    let msg_type = one_of(
        &mut problems,
        "msgType",
        &alert.msg_type,
        &[
            ("Alert", MsgType::Alert),
            ("Update", MsgType::Update),
            ("Cancel", MsgType::Cancel),
            ("Ack", MsgType::Ack),
            ("Error", MsgType::Error),
        ],
    );
    let scope = one_of(
        &mut problems,
        "scope",
        &alert.scope,
        &[
            ("Public", Scope::Public),
            ("Restricted", Scope::Restricted),
            ("Private", Scope::Private),
        ],
    );
    match scope {
        Some(Scope::Restricted) if alert.restriction.as_deref().unwrap_or("").is_empty() => {
            problems.push("a Restricted alert needs <restriction>".into())
        }
        Some(Scope::Private) if alert.addresses.as_deref().unwrap_or("").is_empty() => {
            problems.push("a Private alert needs <addresses>".into())
        }
        _ => {}
    }
    let references = match alert.references.as_deref() {
        Some(text) => parse_references(text).unwrap_or_else(|problem| {
            problems.push(problem);
            Vec::new()
        }),
        None => Vec::new(),
    };
    if matches!(msg_type, Some(MsgType::Update | MsgType::Cancel)) && references.is_empty() {
        problems.push("an Update or Cancel needs <references> to the alerts it replaces".into());
    }
    // A Cancel may stand without info; everything else carries at least one.
    if alert.info.is_empty() && msg_type != Some(MsgType::Cancel) {
        problems.push("<info> is missing".into());
    }
    if alert.info.len() > INFOS_MAX {
        problems.push(format!(
            "{} <info> blocks, more than {INFOS_MAX}",
            alert.info.len()
        ));
    }
    let mut expires_ms: Option<i64> = None;
    let mut areas = Vec::new();
    for (index, info) in alert.info.iter().enumerate() {
        let at = |field: &str| format!("info[{index}].{field}");
        if info.category.is_empty() {
            problems.push(format!("<{}> is missing", at("category")));
        }
        required(&mut problems, &at("event"), &info.event);
        one_of(
            &mut problems,
            &at("urgency"),
            &info.urgency,
            &[
                ("Immediate", ()),
                ("Expected", ()),
                ("Future", ()),
                ("Past", ()),
                ("Unknown", ()),
            ],
        );
        one_of(
            &mut problems,
            &at("severity"),
            &info.severity,
            &[
                ("Extreme", ()),
                ("Severe", ()),
                ("Moderate", ()),
                ("Minor", ()),
                ("Unknown", ()),
            ],
        );
        one_of(
            &mut problems,
            &at("certainty"),
            &info.certainty,
            &[
                ("Observed", ()),
                ("Likely", ()),
                ("Possible", ()),
                ("Unlikely", ()),
                ("Unknown", ()),
            ],
        );
        match info.expires.as_deref() {
            None | Some("") => problems.push(format!("<{}> is missing", at("expires"))),
            Some(text) => match parse_cap_time(text) {
                Ok(ms) => expires_ms = Some(expires_ms.map_or(ms, |latest| latest.max(ms))),
                Err(error) => problems.push(format!("<{}>: {error}", at("expires"))),
            },
        }
        if info.area.is_empty() {
            problems.push(format!("<{}> is missing", at("area")));
        }
        if info.area.len() > AREAS_PER_INFO_MAX {
            problems.push(format!(
                "{} areas in info[{index}], more than {AREAS_PER_INFO_MAX}",
                info.area.len()
            ));
        }
        for (area_index, area) in info.area.iter().enumerate() {
            let at = |field: &str| format!("info[{index}].area[{area_index}].{field}");
            required(&mut problems, &at("areaDesc"), &area.area_desc);
            let mut polygons = Vec::new();
            for text in &area.polygon {
                match Polygon::parse(text) {
                    Ok(polygon) => polygons.push(polygon),
                    Err(error) => problems.push(format!("<{}>: {error}", at("polygon"))),
                }
            }
            let mut circles = Vec::new();
            for text in &area.circle {
                match Circle::parse(text) {
                    Ok(circle) => circles.push(circle),
                    Err(error) => problems.push(format!("<{}>: {error}", at("circle"))),
                }
            }
            areas.push(CheckedArea {
                description: area.area_desc.clone(),
                polygons,
                circles,
                geocodes: area.geocode.clone(),
            });
        }
    }
    if let (Some(sent), Some(expires)) = (sent_ms, expires_ms)
        && expires <= sent
    {
        problems.push("<expires> is not after <sent>".into());
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    match (status, msg_type, scope, sent_ms) {
        (Some(status), Some(msg_type), Some(scope), Some(sent_ms)) => Ok(CheckedAlert {
            alert,
            status,
            msg_type,
            scope,
            sent_ms,
            expires_ms,
            areas,
            references,
        }),
        _ => Err("the alert is incomplete".into()),
    }
}
