//! The city workflows on test nodes: the sample city set up, its plugins built from source and
//! deployed, alerts published and waited for (see `polis-city` for the pieces).

use std::future::Future;
use std::time::Duration;

pub use polis_city::sample_city::{NWS_AGENCY, OEM_AGENCY, POLICE_AGENCY};
use polis_city::{CityOptions, deploy_all, packages, publish, sample_city, set_up_city};
use polis_client::{Client, Stat};

use crate::guests::core_module;

/// Far above what any step needs: reaching it means the awaited thing never happens.
pub const CITY_DEADLINE: Duration = Duration::from_secs(60);

/// Sets up the sample city and deploys its three plugins. Run as an administrator.
pub async fn open_city(admin: &Client, options: &CityOptions) {
    let districts = sample_city::districts().expect("the sample city");
    set_up_city(admin, &districts, &sample_city::access())
        .await
        .expect("city set up");
    let packages = packages(options, core_module).expect("packages");
    deploy_all(admin, &packages).await.expect("deployed");
}

/// The sample city's agencies, each connected with its own certificate.
#[derive(Debug)]
pub struct SampleAgencies {
    pub weather_service: Client,
    pub police: Client,
    pub emergency_management: Client,
}

impl SampleAgencies {
    /// Connects each agency with `connect` (which is given the agency's certificate name).
    pub async fn connect<F, Fut>(connect: F) -> SampleAgencies
    where
        F: Fn(&'static str) -> Fut,
        Fut: Future<Output = Client>,
    {
        SampleAgencies {
            weather_service: connect(NWS_AGENCY).await,
            police: connect(POLICE_AGENCY).await,
            emergency_management: connect(OEM_AGENCY).await,
        }
    }

    /// The agency a sample document belongs to (by its sender), and its client.
    pub fn for_document(&self, document: &str) -> (&'static str, &Client) {
        match sample_city::agency_of(document) {
            NWS_AGENCY => (NWS_AGENCY, &self.weather_service),
            POLICE_AGENCY => (POLICE_AGENCY, &self.police),
            agency => (agency, &self.emergency_management),
        }
    }
}

/// Publishes `document` as inbox node `id` of its agency, as that agency, and waits until the
/// fan-out has handled it.
pub async fn publish_handled(
    admin: &Client,
    agencies: &SampleAgencies,
    id: &str,
    document: &str,
) -> Stat {
    let (agency, client) = agencies.for_document(document);
    let stat = publish(client, agency, id, document, None)
        .await
        .expect("published");
    assert!(
        polis_city::wait_handled(admin, "alert-fanout", stat.czxid, CITY_DEADLINE).await,
        "the fan-out did not handle {id} in time"
    );
    stat
}

/// [`crate::eventually`] within [`CITY_DEADLINE`], for probes written as closures that return a
/// future.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    crate::eventually(what, CITY_DEADLINE, async || probe().await).await
}
