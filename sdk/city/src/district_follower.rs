//! A district's system: follows `/city/notifications/<district>` with a persistent recursive
//! watch, acknowledges every actual Alert and Update, and saves the zxid it has handled to a
//! local file so that after a restart it resumes exactly where it stopped.
//!
//! Resuming: the watch resumes after `saved − 1`, so the last transaction is replayed whole (one
//! commit may carry several notifications for one district, and a crash may fall between them).
//! Handling is idempotent — an acknowledgement already in place is not written again — so a
//! replayed event costs a read and nothing else. If the server's event history no longer reaches
//! back to the saved zxid, the follower reads every current notification instead, then watches
//! from there.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use polis_client::{Client, ErrorCode, EventKind, WatchMode, Zxid};

use crate::city_setup::ROOT;
use crate::error::CityError;

/// What the follower did with one notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    pub zxid: Zxid,
    pub thread: String,
    pub key: String,
    pub msg_type: String,
    pub headline: String,
    /// True if this call wrote the acknowledgement; false if none was due or it was there.
    pub acknowledged: bool,
}

/// See the module docs.
#[derive(Debug)]
pub struct DistrictFollower {
    client: Client,
    district: String,
    state_file: PathBuf,
}

/// The saved zxid, or `None` for a first start.
pub fn load_zxid(state_file: &Path) -> Option<Zxid> {
    std::fs::read_to_string(state_file)
        .ok()
        .and_then(|text| text.trim().parse().ok())
}

/// Saves atomically: a crash leaves the old value or the new one, never half a number.
fn save_zxid(state_file: &Path, zxid: Zxid) -> std::io::Result<()> {
    let temporary = state_file.with_extension("tmp");
    std::fs::write(&temporary, zxid.to_string())?;
    std::fs::rename(&temporary, state_file)
}

impl DistrictFollower {
    pub fn new(client: Client, district: &str, state_file: impl Into<PathBuf>) -> Self {
        DistrictFollower {
            client,
            district: district.to_string(),
            state_file: state_file.into(),
        }
    }

    fn base(&self) -> String {
        format!("{ROOT}/notifications/{}", self.district)
    }

    /// Handles the notification at `path` (if it still exists): acknowledges it if due.
    async fn handle(&self, path: &str, zxid: Zxid) -> Result<Option<Received>, CityError> {
        let (data, _) = match self.client.get_data(path).await {
            Ok(found) => found,
            Err(error) if error.is_no_node() => return Ok(None),
            Err(error) => return Err(CityError::client(path)(error)),
        };
        let notification: serde_json::Value =
            serde_json::from_slice(&data).map_err(|source| CityError::Json {
                path: path.to_string(),
                source,
            })?;
        let text = |name: &str| notification[name].as_str().unwrap_or_default().to_string();
        let key = text("key");
        let msg_type = text("msg_type");
        let mut acknowledged = false;
        if matches!(msg_type.as_str(), "Alert" | "Update") {
            let ack = format!("{path}/ack");
            match self.client.get_data(&ack).await {
                Ok((current, _)) if current == key.as_bytes() => {}
                Ok(_) => {
                    self.client
                        .set_data(&ack, key.as_bytes(), -1)
                        .await
                        .map_err(CityError::client(&ack))?;
                    acknowledged = true;
                }
                Err(error) if error.is_no_node() => {}
                Err(error) => return Err(CityError::client(&ack)(error)),
            }
        }
        Ok(Some(Received {
            zxid,
            thread: path.rsplit('/').next().unwrap_or_default().to_string(),
            key,
            msg_type,
            headline: text("headline"),
            acknowledged,
        }))
    }

    /// Follows the district's notifications, calling `on_received` for each, until the watch
    /// ends (the client closed) or an error. Runs forever otherwise: stop it by dropping the
    /// future.
    pub async fn run(&self, mut on_received: impl FnMut(&Received)) -> Result<(), CityError> {
        let base = self.base();
        let saved = load_zxid(&self.state_file);
        let mut stream = match self
            .client
            .watch(&base, WatchMode::PersistentRecursive, saved.map(|z| z - 1))
            .await
        {
            Ok(stream) => stream,
            Err(error) if saved.is_some() && error.code() == Some(ErrorCode::DataInconsistency) => {
                // The history no longer reaches back to the saved zxid: read what is there now,
                // then follow from here.
                let stream = self
                    .client
                    .watch(&base, WatchMode::PersistentRecursive, None)
                    .await
                    .map_err(CityError::client(&base))?;
                let threads = match self.client.get_children(&base).await {
                    Ok((threads, _)) => threads,
                    Err(error) if error.is_no_node() => Vec::new(),
                    Err(error) => return Err(CityError::client(&base)(error)),
                };
                for thread in threads {
                    if let Some(received) = self.handle(&format!("{base}/{thread}"), 0).await? {
                        on_received(&received);
                    }
                }
                stream
            }
            Err(error) => return Err(CityError::client(&base)(error)),
        };
        while let Some(item) = stream.next().await {
            let event = item.map_err(CityError::client(&base))?;
            let depth = event
                .path
                .strip_prefix(&base)
                .map(|rest| rest.matches('/').count());
            if depth == Some(1)
                && matches!(
                    event.kind,
                    EventKind::NodeCreated | EventKind::NodeDataChanged
                )
                && let Some(received) = self.handle(&event.path, event.zxid).await?
            {
                on_received(&received);
            }
            save_zxid(&self.state_file, event.zxid).map_err(|source| CityError::StateFile {
                path: self.state_file.display().to_string(),
                source,
            })?;
        }
        Ok(())
    }
}
