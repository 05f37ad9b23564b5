//! Cascadia Bay, a made-up river city of twelve districts, and realistic CAP 1.2 alerts for it.
//! The files live with the fan-out plugin (`plugins/alert-fanout/testdata/`), whose unit tests
//! use the same city.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::CityError;
use crate::shelter::Shelter;

/// The district registry: a JSON array of `{name, polygon, geocodes, agencies}`.
pub const DISTRICTS_JSON: &str =
    include_str!("../../../plugins/alert-fanout/testdata/districts.json");

/// An alerting agency the city registers: the certificate subject it publishes as, and the CAP
/// senders it may speak for (the fan-out rejects an alert whose `<sender>` is not among them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Agency {
    /// Its name, which is also its inbox's: `/city/alerts/inbox/<name>`.
    pub name: String,
    /// The `x509` identity (certificate subject) that may publish in its inbox.
    pub identity: String,
    pub senders: Vec<String>,
}

impl Agency {
    /// An agency with a client certificate from the city's CA (`polis ca issue --client NAME`:
    /// subject `CN=NAME,O=Polis`).
    pub fn with_client_certificate(name: &str, senders: &[&str]) -> Agency {
        Agency {
            name: name.to_string(),
            identity: format!("CN={name},O=Polis"),
            senders: senders.iter().map(|sender| sender.to_string()).collect(),
        }
    }

    /// Its registry entry, `/city/agencies/<name>`.
    pub fn registry_entry(&self) -> String {
        serde_json::json!({ "identity": self.identity, "senders": self.senders }).to_string()
    }
}

/// The sample city's agencies: the National Weather Service's Portland office, the police's
/// watch desk, and the city's office of emergency management, which also publishes for the fire
/// department.
pub fn agencies() -> Vec<Agency> {
    vec![
        Agency::with_client_certificate(NWS_AGENCY, &[NWS_SENDER]),
        Agency::with_client_certificate(POLICE_AGENCY, &[POLICE_SENDER]),
        Agency::with_client_certificate(
            OEM_AGENCY,
            &[
                "oem@cascadia-bay.example",
                "dispatch@fire.cascadia-bay.example",
                "bench@oem.cascadia-bay.example",
            ],
        ),
    ]
}

/// Who may do what in a city beyond its administrators: the alerting agencies, and the
/// shelters, each of which reports its own occupancy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CityAccess {
    pub agencies: Vec<Agency>,
    pub shelters: Vec<Shelter>,
}

/// The sample city's access: its agencies and its shelters.
pub fn access() -> CityAccess {
    CityAccess {
        agencies: agencies(),
        shelters: shelters(),
    }
}

/// The sample city's shelters, each with its own client certificate.
pub fn shelters() -> Vec<Shelter> {
    [
        ("harbor", "pier-7-gym"),
        ("harbor", "st-marys-hall"),
        ("riverside", "riverside-high"),
        ("eastbank", "eastbank-community-center"),
    ]
    .into_iter()
    .map(|(district, name)| Shelter::with_client_certificate(district, name))
    .collect()
}

/// The sample Weather Service office.
pub const NWS_AGENCY: &str = "nws-portland";
/// The sample police watch desk.
pub const POLICE_AGENCY: &str = "cbpd-watch";
/// The sample city's office of emergency management.
pub const OEM_AGENCY: &str = "cascadia-bay-oem";
const NWS_SENDER: &str = "w-nws.webmaster@noaa.gov";
const POLICE_SENDER: &str = "watch@police.cascadia-bay.example";

/// The sample agency whose inbox a sample alert belongs in, by its sender (anything else, a
/// document that is not CAP included, goes to the office of emergency management's).
pub fn agency_of(document: &str) -> &'static str {
    if document.contains(NWS_SENDER) {
        NWS_AGENCY
    } else if document.contains(POLICE_SENDER) {
        POLICE_AGENCY
    } else {
        OEM_AGENCY
    }
}

/// The sample alerts, by file name.
pub const FIXTURES: &[(&str, &str)] = &[
    (
        "flood-warning.xml",
        include_str!("../../../plugins/alert-fanout/testdata/flood-warning.xml"),
    ),
    (
        "flood-warning-update.xml",
        include_str!("../../../plugins/alert-fanout/testdata/flood-warning-update.xml"),
    ),
    (
        "flood-warning-cancel.xml",
        include_str!("../../../plugins/alert-fanout/testdata/flood-warning-cancel.xml"),
    ),
    (
        "chemical-fire.json",
        include_str!("../../../plugins/alert-fanout/testdata/chemical-fire.json"),
    ),
    (
        "winter-storm.xml",
        include_str!("../../../plugins/alert-fanout/testdata/winter-storm.xml"),
    ),
    (
        "monthly-test.xml",
        include_str!("../../../plugins/alert-fanout/testdata/monthly-test.xml"),
    ),
    (
        "invalid-open-polygon.xml",
        include_str!("../../../plugins/alert-fanout/testdata/invalid-open-polygon.xml"),
    ),
    (
        "restricted-police.xml",
        include_str!("../../../plugins/alert-fanout/testdata/restricted-police.xml"),
    ),
];

/// How long a refreshed sample alert stays valid: two days, so that `expires` also falls after
/// the samples' fixed `sent` times (the latest is 2026-12-01T05:05Z) whenever they run.
pub const SAMPLE_VALIDITY_MS: i64 = 48 * 3_600_000;

/// The districts: (name, registry entry as JSON).
pub fn districts() -> Result<Vec<(String, String)>, CityError> {
    let entries: Vec<serde_json::Value> = serde_json::from_str(DISTRICTS_JSON)
        .map_err(|error| CityError::Sample(error.to_string()))?;
    entries
        .into_iter()
        .map(|entry| {
            let name = entry["name"]
                .as_str()
                .ok_or_else(|| CityError::Sample("a district without a name".into()))?
                .to_string();
            Ok((name, entry.to_string()))
        })
        .collect()
}

/// A sample alert, by file name. Panics on an unknown name: the set is fixed at compile time.
pub fn fixture(name: &str) -> &'static str {
    FIXTURES
        .iter()
        .find(|(file, _)| *file == name)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("no sample alert {name}"))
}

/// A sample alert with every `expires` moved to `SAMPLE_VALIDITY_MS` from now: the files carry
/// fixed dates (as real messages do), and the fan-out refuses an alert that expired already.
pub fn fresh_fixture(name: &str) -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64);
    with_expiry(fixture(name), now_ms + SAMPLE_VALIDITY_MS)
}

/// Replaces the value of every `<expires>` element and `"expires"` member.
pub fn with_expiry(document: &str, expires_ms: i64) -> String {
    let stamp = format_cap_time(expires_ms);
    let mut out = document.to_string();
    for (open, close) in [("<expires>", "</expires>"), ("\"expires\": \"", "\"")] {
        let mut from = 0;
        while let Some(start) = out[from..].find(open).map(|at| from + at + open.len()) {
            let Some(end) = out[start..].find(close).map(|at| start + at) else {
                break;
            };
            out.replace_range(start..end, &stamp);
            from = start + stamp.len() + close.len();
        }
    }
    out
}

/// Milliseconds since the Unix epoch as a CAP date-time in UTC ("2026-11-30T17:05:00+00:00").
pub fn format_cap_time(ms: i64) -> String {
    let seconds = ms.div_euclid(1_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_times_are_formatted_in_utc() {
        assert_eq!(format_cap_time(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(
            format_cap_time(1_700_000_000_000),
            "2023-11-14T22:13:20+00:00"
        );
        assert_eq!(
            format_cap_time(951_782_400_000),
            "2000-02-29T00:00:00+00:00"
        );
    }

    #[test]
    fn expiry_is_rewritten_in_xml_and_json() {
        let xml = with_expiry(fixture("flood-warning.xml"), 0);
        assert!(xml.contains("<expires>1970-01-01T00:00:00+00:00</expires>"));
        let json = with_expiry(fixture("chemical-fire.json"), 0);
        assert!(json.contains("\"expires\": \"1970-01-01T00:00:00+00:00\""));
    }

    #[test]
    fn the_city_has_twelve_districts() {
        assert_eq!(districts().unwrap().len(), 12);
    }

    #[test]
    fn every_sample_shelter_is_valid_in_the_sample_city() {
        let districts = districts().unwrap();
        for shelter in shelters() {
            shelter
                .validate(&districts)
                .expect("a valid sample shelter");
        }
    }
}
