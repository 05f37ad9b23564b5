//! The city workflows on test nodes: the sample city set up, its plugins built from source and
//! deployed, alerts published and waited for (see `polis-city` for the pieces).

use std::future::Future;
use std::time::{Duration, Instant};

use polis_city::{CityOptions, deploy_all, packages, publish, sample_city, set_up_city};
use polis_client::{Client, Stat};

use crate::guests::core_module;

/// Far above what any step needs: reaching it means the awaited thing never happens.
pub const CITY_DEADLINE: Duration = Duration::from_secs(60);

/// Sets up the sample city and deploys its three plugins. Run as an administrator.
pub async fn open_city(admin: &Client, options: &CityOptions) {
    let districts = sample_city::districts().expect("the sample city");
    set_up_city(admin, &districts).await.expect("city set up");
    let packages = packages(options, core_module).expect("packages");
    deploy_all(admin, &packages).await.expect("deployed");
}

/// Publishes `document` as inbox node `id` and waits until the fan-out has handled it.
pub async fn publish_handled(admin: &Client, agency: &Client, id: &str, document: &str) -> Stat {
    let stat = publish(agency, id, document, None)
        .await
        .expect("published");
    assert!(
        polis_city::wait_handled(admin, "alert-fanout", stat.czxid, CITY_DEADLINE).await,
        "the fan-out did not handle {id} in time"
    );
    stat
}

/// Polls `probe` every 20 ms until it yields a value, within [`CITY_DEADLINE`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < CITY_DEADLINE,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
