//! A district of the registry (`<root>/districts/<name>`, JSON) and whether an alert's areas
//! touch it.

use serde::{Deserialize, Serialize};

use crate::alert::NamedValue;
use crate::geometry::Polygon;
use crate::validation::CheckedArea;

/// A district's registry entry, as JSON:
///
/// ```json
/// {"polygon": "37.80,-122.42 37.81,-122.42 37.81,-122.40 37.80,-122.42",
///  "geocodes": [{"valueName": "SAME", "value": "006075"}],
///  "agencies": [{"name": "harbor-fire", "categories": ["Fire", "Rescue"]}]}
/// ```
///
/// `polygon` is a CAP polygon string; either it or `geocodes` (or both) locates the district.
/// `identity`, the certificate subject of the district's own system (which alone may write its
/// acknowledgements), defaults to the city CA's client certificate for the district's name,
/// `CN=<name>,O=Polis`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct District {
    pub polygon: Option<String>,
    pub geocodes: Vec<NamedValue>,
    pub agencies: Vec<AgencySubscription>,
    pub identity: Option<String>,
}

/// Whether an alerting agency's geocodes target districts when the same `<area>` also gives a
/// polygon or a circle (the agency's registry entry, `"geocodeTargeting"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GeocodeTargeting {
    /// Geocodes target only an area without a polygon or circle. Where an area gives a shape, the
    /// shape is the warned area and its geocodes only name the zones it falls in: every NWS
    /// storm-based warning carries its whole county's SAME code beside the polygon, and alerting
    /// the county for a storm three districts wide is exactly the over-alerting that teaches
    /// people to ignore warnings. Zone-based products (a Wind Advisory by forecast zone) have no
    /// shape and still target by their codes.
    #[default]
    WithoutGeometry,
    /// Geocodes target beside a shape too, for an agency whose alerts are zone-based by policy.
    Always,
}

/// An agency of the district that wants alerts of some CAP categories (all when empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AgencySubscription {
    pub name: String,
    pub categories: Vec<String>,
}

/// A district entry with its polygon parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct LocatedDistrict {
    pub name: String,
    pub entry: District,
    pub polygon: Option<Polygon>,
}

impl LocatedDistrict {
    /// Parses a registry entry; the error says what is wrong with it.
    pub fn parse(name: &str, data: &[u8]) -> Result<LocatedDistrict, String> {
        let entry: District = serde_json::from_slice(data)
            .map_err(|error| format!("district {name}: not a registry entry: {error}"))?;
        let polygon = match entry.polygon.as_deref() {
            Some(text) => Some(
                Polygon::parse(text)
                    .map_err(|error| format!("district {name}: polygon: {error}"))?,
            ),
            None => None,
        };
        Ok(LocatedDistrict {
            name: name.to_string(),
            entry,
            polygon,
        })
    }

    /// The certificate subject of the district's own system.
    pub fn identity(&self) -> String {
        default_identity_or(&self.name, self.entry.identity.as_deref())
    }

    /// True if the area's shapes overlap the district's polygon, or, where the area has no shape
    /// (or `targeting` says geocodes always count), it names one of the district's geocodes.
    pub fn is_touched_by(&self, area: &CheckedArea, targeting: GeocodeTargeting) -> bool {
        let has_shape = !area.polygons.is_empty() || !area.circles.is_empty();
        let geocodes_count = !has_shape || targeting == GeocodeTargeting::Always;
        let geocode_match =
            geocodes_count && shares_a_geocode(&area.geocodes, &self.entry.geocodes);
        if geocode_match {
            return true;
        }
        let Some(polygon) = &self.polygon else {
            return false;
        };
        area.polygons.iter().any(|shape| polygon.intersects(shape))
            || area
                .circles
                .iter()
                .any(|circle| polygon.intersects_circle(circle))
    }

    /// The district's agencies subscribed to any of `categories`.
    pub fn agencies_for(&self, categories: &[String]) -> Vec<String> {
        self.entry
            .agencies
            .iter()
            .filter(|agency| {
                agency.categories.is_empty()
                    || agency.categories.iter().any(|wanted| {
                        categories
                            .iter()
                            .any(|category| category.eq_ignore_ascii_case(wanted))
                    })
            })
            .map(|agency| agency.name.clone())
            .collect()
    }
}

/// Geocode schemes that name part of what a coarser scheme names whole, finest first: an NWS
/// forecast zone (UGC) lies within a county, which a SAME (FIPS) code names.
const FINER_GEOCODE_SCHEMES: &[&str] = &["UGC"];

/// Whether an area's geocodes name the district, by the finest scheme both use: a zone-based
/// product for zone ORZ103 also carries its county's SAME code, and matching that would alert
/// every district of the county, not the zone's.
fn shares_a_geocode(area: &[NamedValue], district: &[NamedValue]) -> bool {
    let uses = |codes: &[NamedValue], scheme: &str| {
        codes
            .iter()
            .any(|code| code.value_name.eq_ignore_ascii_case(scheme))
    };
    let matches = |scheme: Option<&str>| {
        area.iter().any(|code| {
            scheme.is_none_or(|scheme| code.value_name.eq_ignore_ascii_case(scheme))
                && district.iter().any(|own| {
                    own.value_name.eq_ignore_ascii_case(&code.value_name) && own.value == code.value
                })
        })
    };
    match FINER_GEOCODE_SCHEMES
        .iter()
        .find(|scheme| uses(area, scheme) && uses(district, scheme))
    {
        Some(scheme) => matches(Some(scheme)),
        None => matches(None),
    }
}

/// `identity`, or the city CA's client certificate subject for the district `name`.
pub fn default_identity_or(name: &str, identity: Option<&str>) -> String {
    identity.map_or_else(|| format!("CN={name},O=Polis"), str::to_string)
}
