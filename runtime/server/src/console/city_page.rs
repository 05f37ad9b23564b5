//! The city view: the districts of the registry as SVG polygons, the alerts each was notified
//! of, who acknowledged and who was escalated, and shelter capacity — read from the nodes the
//! city's plugins write (`/city`, see `polis-city` and README "City workflows").

use std::collections::BTreeMap;

use polis_tree::{DataTree, Id};
use serde_json::{Value, json};

/// The city's root in the tree.
pub const CITY_ROOT: &str = "/city";
/// The most districts drawn.
pub const CITY_DISTRICTS_MAX: usize = 256;
/// The most points of one district's polygon drawn; a longer one is thinned evenly.
pub const POLYGON_POINTS_MAX: usize = 512;
/// The most notifications, escalations and acknowledgement threads read per district or city.
pub const CITY_ITEMS_MAX: usize = 32;
/// The most bytes of one city node copied out from under the tree's lock.
pub const CITY_RECORD_BYTES_MAX: usize = 64 * 1024;
/// The map's size in SVG units (the page scales it).
pub const MAP_WIDTH: f64 = 1000.0;
pub const MAP_HEIGHT: f64 = 700.0;

/// The city's nodes as copied out of the tree: `(name, data)` pairs, bounded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CityRecords {
    pub districts: Vec<(String, Vec<u8>)>,
    /// district → its notifications.
    pub notifications: BTreeMap<String, Vec<(String, Vec<u8>)>>,
    /// district → the threads it was escalated for.
    pub escalations: BTreeMap<String, Vec<String>>,
    /// The acknowledgement state of each thread.
    pub acks: Vec<(String, Vec<u8>)>,
    pub capacity_city: Option<Vec<u8>>,
    pub capacity_districts: Vec<(String, Vec<u8>)>,
}

/// Copies the city's nodes, as `identities` may read them, under the tree's read lock: each
/// list bounded in length and each value in bytes.
pub fn city_records(tree: &DataTree, identities: &[Id]) -> CityRecords {
    let data = |path: &str| {
        tree.get_data(path, identities)
            .ok()
            .and_then(|(data, _)| data)
            .filter(|data| data.len() <= CITY_RECORD_BYTES_MAX)
            .map(<[u8]>::to_vec)
    };
    let names = |path: &str, max: usize| -> Vec<String> {
        if tree.get_data(path, identities).is_err() {
            return Vec::new();
        }
        tree.node(path)
            .map(|(_, children)| {
                children
                    .iter()
                    .take(max)
                    .map(|name| name.to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let with_data = |path: &str, max: usize| -> Vec<(String, Vec<u8>)> {
        names(path, max)
            .into_iter()
            .filter_map(|name| data(&format!("{path}/{name}")).map(|data| (name, data)))
            .collect()
    };
    let districts = with_data(&format!("{CITY_ROOT}/districts"), CITY_DISTRICTS_MAX);
    let mut notifications = BTreeMap::new();
    let mut escalations = BTreeMap::new();
    for (name, _) in &districts {
        let notified = with_data(&format!("{CITY_ROOT}/notifications/{name}"), CITY_ITEMS_MAX);
        if !notified.is_empty() {
            notifications.insert(name.clone(), notified);
        }
        let escalated = names(&format!("{CITY_ROOT}/escalations/{name}"), CITY_ITEMS_MAX);
        if !escalated.is_empty() {
            escalations.insert(name.clone(), escalated);
        }
    }
    CityRecords {
        districts,
        notifications,
        escalations,
        acks: with_data(&format!("{CITY_ROOT}/alerts/acks"), CITY_ITEMS_MAX),
        capacity_city: data(&format!("{CITY_ROOT}/capacity/city")),
        capacity_districts: with_data(
            &format!("{CITY_ROOT}/capacity/districts"),
            CITY_DISTRICTS_MAX,
        ),
    }
}

/// Parses a registry polygon, `"lat,lon lat,lon …"` (CAP's notation), skipping pairs that do
/// not parse; thinned evenly to at most [`POLYGON_POINTS_MAX`] points.
pub fn parse_polygon(text: &str) -> Vec<(f64, f64)> {
    let points: Vec<(f64, f64)> = text
        .split_whitespace()
        .filter_map(|pair| {
            let (lat, lon) = pair.split_once(',')?;
            let (lat, lon) = (
                lat.trim().parse::<f64>().ok()?,
                lon.trim().parse::<f64>().ok()?,
            );
            (lat.is_finite() && lon.is_finite()).then_some((lat, lon))
        })
        .collect();
    if points.len() <= POLYGON_POINTS_MAX {
        return points;
    }
    let step = points.len().div_ceil(POLYGON_POINTS_MAX);
    points.into_iter().step_by(step).collect()
}

/// Projects every polygon into the map's box with one scale (north up, longitudes shrunk by
/// the cosine of the middle latitude, so districts keep their shapes), as SVG `points` strings.
pub fn project(polygons: &[Vec<(f64, f64)>]) -> Vec<String> {
    let all = polygons.iter().flatten();
    let (mut lat_min, mut lat_max, mut lon_min, mut lon_max) =
        (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (lat, lon) in all {
        lat_min = lat_min.min(*lat);
        lat_max = lat_max.max(*lat);
        lon_min = lon_min.min(*lon);
        lon_max = lon_max.max(*lon);
    }
    if lat_min > lat_max {
        return polygons.iter().map(|_| String::new()).collect();
    }
    let shrink = ((lat_min + lat_max) / 2.0)
        .to_radians()
        .cos()
        .abs()
        .max(0.01);
    let width = ((lon_max - lon_min) * shrink).max(1e-9);
    let height = (lat_max - lat_min).max(1e-9);
    let scale = (MAP_WIDTH / width).min(MAP_HEIGHT / height);
    polygons
        .iter()
        .map(|polygon| {
            polygon
                .iter()
                .map(|(lat, lon)| {
                    let x = (lon - lon_min) * shrink * scale;
                    let y = (lat_max - lat) * scale;
                    format!("{x:.1},{y:.1}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The most bytes of one text field of a notification shown (a headline, an event name).
pub const CITY_TEXT_BYTES_MAX: usize = 256;

/// A notification's text field, cut to [`CITY_TEXT_BYTES_MAX`].
fn short(value: &Value) -> Value {
    match value.as_str() {
        Some(text) => Value::from(super::data_view::truncate_str(text, CITY_TEXT_BYTES_MAX).0),
        None => Value::Null,
    }
}

fn parse(data: &[u8]) -> Value {
    serde_json::from_slice(data).unwrap_or(Value::Null)
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Where a district stands: escalated (silent past its window), notified (an alert it has not
/// acknowledged), acknowledged (every alert it was sent), or clear.
pub fn district_state(
    notified: usize,
    pending: bool,
    acked: bool,
    escalated: bool,
) -> &'static str {
    if escalated {
        "escalated"
    } else if pending || (notified > 0 && !acked) {
        "notified"
    } else if notified > 0 {
        "acknowledged"
    } else {
        "clear"
    }
}

/// The city view from the copied records.
pub fn city_page(records: &CityRecords) -> Value {
    let acks: Vec<Value> = records.acks.iter().map(|(_, data)| parse(data)).collect();
    let in_ack_list = |district: &str, list: &str| {
        acks.iter()
            .any(|ack| string_list(&ack[list]).iter().any(|name| name == district))
    };
    let polygons: Vec<Vec<(f64, f64)>> = records
        .districts
        .iter()
        .map(|(_, data)| parse_polygon(parse(data)["polygon"].as_str().unwrap_or_default()))
        .collect();
    let shapes = project(&polygons);
    let capacity: BTreeMap<&str, Value> = records
        .capacity_districts
        .iter()
        .map(|(name, data)| (name.as_str(), parse(data)))
        .collect();
    let districts: Vec<Value> = records
        .districts
        .iter()
        .zip(shapes)
        .map(|((name, _), points)| {
            let notifications: Vec<Value> = records
                .notifications
                .get(name)
                .into_iter()
                .flatten()
                .map(|(thread, data)| {
                    let notification = parse(data);
                    json!({
                        "thread": thread,
                        "msg_type": short(&notification["msg_type"]),
                        "event": short(&notification["event"]),
                        "headline": short(&notification["headline"]),
                        "severity": short(&notification["severity"]),
                        "expires": short(&notification["expires"]),
                    })
                })
                .collect();
            let live = notifications
                .iter()
                .filter(|notification| notification["msg_type"] != "Cancel")
                .count();
            let escalated = records.escalations.get(name).cloned().unwrap_or_default();
            let state = district_state(
                live,
                in_ack_list(name, "pending"),
                in_ack_list(name, "acked"),
                !escalated.is_empty() || in_ack_list(name, "escalated"),
            );
            json!({
                "name": name,
                "points": points,
                "state": state,
                "notifications": notifications,
                "escalations": escalated,
                "capacity": capacity.get(name.as_str()).cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let threads: Vec<Value> = acks
        .iter()
        .map(|ack| {
            json!({
                "thread": ack["thread"],
                "acked": ack["acked"],
                "pending": ack["pending"],
                "escalated": ack["escalated"],
            })
        })
        .collect();
    json!({
        "width": MAP_WIDTH,
        "height": MAP_HEIGHT,
        "districts": districts,
        "threads": threads,
        "capacity": records.capacity_city.as_deref().map_or(Value::Null, parse),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polygons_parse_and_thin() {
        assert_eq!(
            parse_polygon("45.5,-122.7 bad 45.6,-122.8"),
            vec![(45.5, -122.7), (45.6, -122.8)]
        );
        let long: String = (0..2000).map(|i| format!("{i},{i} ")).collect();
        assert!(parse_polygon(&long).len() <= POLYGON_POINTS_MAX);
    }

    #[test]
    fn projection_keeps_north_up_and_fits_the_box() {
        let square = vec![
            (45.0, -122.0),
            (46.0, -122.0),
            (46.0, -121.0),
            (45.0, -121.0),
        ];
        let shapes = project(&[square]);
        let points: Vec<(f64, f64)> = shapes[0]
            .split(' ')
            .map(|pair| {
                let (x, y) = pair.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        // The southern edge is at the bottom, the northern one at the top.
        assert_eq!(points[0].1, MAP_HEIGHT);
        assert_eq!(points[1].1, 0.0);
        assert!(
            points
                .iter()
                .all(|(x, y)| *x <= MAP_WIDTH + 0.1 && *y <= MAP_HEIGHT + 0.1)
        );
        assert_eq!(project(&[Vec::new()]), vec![String::new()]);
    }

    #[test]
    fn districts_are_coloured_by_where_they_stand() {
        let district = |name: &str| {
            (
                name.to_string(),
                json!({ "polygon": "45.5,-122.7 45.6,-122.7 45.6,-122.6 45.5,-122.7" })
                    .to_string()
                    .into_bytes(),
            )
        };
        let notification =
            json!({ "msg_type": "Alert", "headline": "Flood", "severity": "Severe" });
        let mut records = CityRecords {
            districts: vec![district("harbor"), district("westwood"), district("quiet")],
            ..CityRecords::default()
        };
        for name in ["harbor", "westwood"] {
            records.notifications.insert(
                name.to_string(),
                vec![("t1".to_string(), notification.to_string().into_bytes())],
            );
        }
        records.acks.push((
            "t1".to_string(),
            json!({ "thread": "t1", "acked": ["harbor"], "pending": ["westwood"], "escalated": [] })
                .to_string()
                .into_bytes(),
        ));
        let page = city_page(&records);
        let states: Vec<&str> = page["districts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|district| district["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, vec!["acknowledged", "notified", "clear"]);
        assert_eq!(
            page["districts"][1]["notifications"][0]["headline"],
            "Flood"
        );
        assert_eq!(district_state(1, false, false, true), "escalated");
    }
}
