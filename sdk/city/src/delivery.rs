//! What districts received: the notifications under `/city/notifications` (or `/exercises`),
//! read back with their stats, and the commit-to-notification latency each one shows.

use polis_client::{Client, Stat};

use crate::city_setup::ROOT;
use crate::error::CityError;

/// One district's notification of one alert thread.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub district: String,
    pub thread: String,
    pub notification: serde_json::Value,
    pub stat: Stat,
}

impl Delivery {
    pub fn msg_type(&self) -> &str {
        self.notification["msg_type"].as_str().unwrap_or_default()
    }

    pub fn key(&self) -> &str {
        self.notification["key"].as_str().unwrap_or_default()
    }

    pub fn field(&self, name: &str) -> &str {
        self.notification[name].as_str().unwrap_or_default()
    }

    /// Milliseconds from the commit of the inbox node `published` to the commit that last wrote
    /// this notification: both are the leader's commit times, so no client clock takes part.
    pub fn latency_ms(&self, published: &Stat) -> i64 {
        self.stat.mtime - published.ctime
    }
}

fn missing_is_empty(
    result: Result<(Vec<String>, Stat), polis_client::Error>,
    path: &str,
) -> Result<Vec<String>, CityError> {
    match result {
        Ok((mut children, _)) => {
            children.sort();
            Ok(children)
        }
        Err(error) if error.is_no_node() => Ok(Vec::new()),
        Err(error) => Err(CityError::client(path)(error)),
    }
}

/// Every notification in `subtree` ("notifications" or "exercises"), by district then thread.
pub async fn deliveries(client: &Client, subtree: &str) -> Result<Vec<Delivery>, CityError> {
    let base = format!("{ROOT}/{subtree}");
    let mut found = Vec::new();
    for district in missing_is_empty(client.get_children(&base).await, &base)? {
        let dir = format!("{base}/{district}");
        for thread in missing_is_empty(client.get_children(&dir).await, &dir)? {
            let path = format!("{dir}/{thread}");
            let (data, stat) = match client.get_data(&path).await {
                Ok(found) => found,
                // Expired (TTL) between the listing and the read.
                Err(error) if error.is_no_node() => continue,
                Err(error) => return Err(CityError::client(&path)(error)),
            };
            let notification =
                serde_json::from_slice(&data).map_err(|source| CityError::Json { path, source })?;
            found.push(Delivery {
                district: district.clone(),
                thread,
                notification,
                stat,
            });
        }
    }
    Ok(found)
}

/// A JSON node's content, or `None` if there is no node.
pub async fn read_json(
    client: &Client,
    path: &str,
) -> Result<Option<serde_json::Value>, CityError> {
    match client.get_data(path).await {
        Ok((data, _)) => {
            serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| CityError::Json {
                    path: path.to_string(),
                    source,
                })
        }
        Err(error) if error.is_no_node() => Ok(None),
        Err(error) => Err(CityError::client(path)(error)),
    }
}

/// A text node's content, or `None` if there is no node.
pub async fn read_text(client: &Client, path: &str) -> Result<Option<String>, CityError> {
    match client.get_data(path).await {
        Ok((data, _)) => Ok(Some(String::from_utf8_lossy(&data).into_owned())),
        Err(error) if error.is_no_node() => Ok(None),
        Err(error) => Err(CityError::client(path)(error)),
    }
}
