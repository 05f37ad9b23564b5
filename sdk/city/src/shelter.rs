//! A shelter the city registers, and the report only it may write.
//!
//! False occupancy figures send evacuees to a full shelter, or away from one with room. So a
//! shelter's report is a node the city's administrator creates when it registers the shelter,
//! and only that shelter's certificate may change it: no shelter reports for another, no
//! operator holding one certificate reports for all of them, and nobody adds a shelter the city
//! has not registered.

use polis_client::{Acl, Client, Id, Perms, Stat};

use crate::city_setup::ROOT;
use crate::error::CityError;

/// The longest shelter name: a name is one path segment and, on the city's CA, a certificate's
/// common name (`polis ca issue --client NAME`), which X.509 bounds at 64 characters.
pub const SHELTER_NAME_LEN_MAX: usize = 64;

/// A registered shelter: where its report lives and the certificate that writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shelter {
    /// The district it lies in, one of the city's districts.
    pub district: String,
    /// Its name, unique in its district: `/city/shelters/<district>/<name>`.
    pub name: String,
    /// The `x509` identity (certificate subject) that may write its report.
    pub identity: String,
}

impl Shelter {
    /// A shelter with a client certificate from the city's CA (`polis ca issue --client NAME`:
    /// subject `CN=NAME,O=Polis`).
    pub fn with_client_certificate(district: &str, name: &str) -> Shelter {
        Shelter {
            district: district.to_string(),
            name: name.to_string(),
            identity: format!("CN={name},O=Polis"),
        }
    }

    /// Its report's path.
    pub fn path(&self) -> String {
        format!("{ROOT}/shelters/{}/{}", self.district, self.name)
    }

    /// Its report's ACL: the administrators may do anything, the shelter may read and write
    /// its report (not delete it, which takes its district's folder), everyone may read it.
    pub fn report_acl(&self) -> Vec<Acl> {
        vec![
            Acl::new(Perms::ALL, Id::new(Id::SCHEME_AUTH, "")),
            Acl::new(Perms::READ, Id::anyone()),
            Acl::new(
                Perms(Perms::READ.0 | Perms::WRITE.0),
                Id::new(Id::SCHEME_X509, &self.identity),
            ),
        ]
    }

    /// Checks that the shelter names one of `districts` and that its name is one path segment
    /// a certificate can carry.
    pub fn validate(&self, districts: &[(String, String)]) -> Result<(), CityError> {
        let invalid = |reason: &str| {
            Err(CityError::Shelter {
                shelter: format!("{}/{}", self.district, self.name),
                reason: reason.to_string(),
            })
        };
        if !districts.iter().any(|(name, _)| *name == self.district) {
            return invalid("its district is not one of the city's");
        }
        if self.name.is_empty() || self.name.len() > SHELTER_NAME_LEN_MAX {
            return invalid("its name must have 1 to 64 characters");
        }
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if !self.name.chars().all(allowed) || self.name.starts_with('-') {
            return invalid("its name may hold lowercase letters, digits and inner dashes only");
        }
        if self.identity.is_empty() {
            return invalid("it has no identity to report with");
        }
        Ok(())
    }

    /// Writes the shelter's occupancy and capacity. `client` must hold the shelter's
    /// certificate (or an administrator's).
    pub async fn report(
        &self,
        client: &Client,
        occupancy: u64,
        capacity: u64,
    ) -> Result<Stat, CityError> {
        let path = self.path();
        let report = format!(r#"{{"occupancy": {occupancy}, "capacity": {capacity}}}"#);
        client
            .set_data(&path, report.as_bytes(), -1)
            .await
            .map_err(CityError::client(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn districts() -> Vec<(String, String)> {
        vec![("harbor".to_string(), "{}".to_string())]
    }

    #[test]
    fn a_shelter_in_a_known_district_with_a_plain_name_is_valid() {
        let shelter = Shelter::with_client_certificate("harbor", "pier-7-gym");
        shelter.validate(&districts()).expect("valid");
        assert_eq!(shelter.path(), "/city/shelters/harbor/pier-7-gym");
        assert_eq!(shelter.identity, "CN=pier-7-gym,O=Polis");
    }

    #[test]
    fn a_shelter_outside_the_city_or_with_a_path_in_its_name_is_refused() {
        for (district, name) in [
            ("atlantis", "gym"),
            ("harbor", ""),
            ("harbor", "../alerts"),
            ("harbor", "gym/annex"),
            ("harbor", "Gym"),
            ("harbor", "-gym"),
            ("harbor", &"g".repeat(SHELTER_NAME_LEN_MAX + 1)),
        ] {
            let shelter = Shelter::with_client_certificate(district, name);
            assert!(
                matches!(
                    shelter.validate(&districts()),
                    Err(CityError::Shelter { .. })
                ),
                "{district}/{name}"
            );
        }
    }

    #[test]
    fn only_the_shelter_and_administrators_may_write_its_report() {
        let shelter = Shelter::with_client_certificate("harbor", "pier-7-gym");
        let acl = shelter.report_acl();
        let writers: Vec<&Id> = acl
            .iter()
            .filter(|entry| entry.perms.0 & Perms::WRITE.0 != 0)
            .map(|entry| &entry.id)
            .collect();
        assert_eq!(
            writers,
            [
                &Id::new(Id::SCHEME_AUTH, ""),
                &Id::new(Id::SCHEME_X509, "CN=pier-7-gym,O=Polis")
            ]
        );
    }
}
