//! Deploying plugins over the client protocol: what `polis plugin deploy|upgrade|rollback|resume|
//! rm|ls|status|logs` do, as ordinary tree operations by an administrator's client.
//!
//! A deployment is plain replicated state under `/polis/plugins` (see [`polis_plugin_layout`]): the
//! component's bytes content-addressed by SHA-256 (uploaded in chunks, each one request, and
//! skipped when already stored), then the deployment record with its cursor, status, log and
//! dead-letter nodes in one multi. Only administrators may write under `/polis`, so the tree's
//! ACLs decide who deploys. Upgrades and rollbacks replace the record with a compare-and-set on
//! its version and leave the cursor alone, so the new revision goes on where the old one stopped.

use polis_client::{Client, CreateMode, Error as ClientError, Op};
use polis_plugin_host::{LoadError, ManifestError, PluginManifest, componentize};
use polis_plugin_layout::{
    COMPONENT_CHUNK_LEN, COMPONENT_LEN_MAX, COMPONENTS_PATH, ComponentRecord, Cursor,
    DEPLOYED_PATH, DeadLetter, Deployment, HISTORY_REVISIONS_MAX, PLUGINS_PATH, PluginPaths,
    PluginState, PluginStatus, REPLAY_PREFIX, Revision, StoredLogLine, administrators_only_acl,
    component_chunk_path, component_path, plugin_state_acl,
};
use polis_tree::{Zxid, entries_between};
use sha2::{Digest, Sha256};

/// The most dead-letter entries removed per request when a plugin is removed.
const REMOVE_BATCH_MAX: usize = 256;

/// Why a plugin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("invalid manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("invalid component: {0}")]
    Component(#[from] LoadError),
    #[error("the component is {len} bytes, more than the {max} allowed")]
    ComponentTooLarge { len: usize, max: usize },
    #[error("plugin {0:?} is already deployed; use upgrade")]
    AlreadyDeployed(String),
    #[error("plugin {0:?} is not deployed")]
    NotDeployed(String),
    #[error("plugin {0:?} has no earlier revision to roll back to")]
    NoEarlierRevision(String),
    #[error("the manifest names plugin {found:?}, not {expected:?}")]
    NameMismatch { expected: String, found: String },
    #[error("the deployment of {0:?} changed meanwhile; try again")]
    Conflict(String),
    #[error("plugin {name:?} has no dead letter {id:?}")]
    NoSuchDeadLetter { name: String, id: String },
    #[error("plugin {name:?} is {state:?}: only a paused or failed plugin resumes")]
    NothingToResume { name: String, state: PluginState },
    #[error("the stored record {path} is unreadable: {reason}")]
    Corrupt { path: String, reason: String },
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Reads a manifest as TOML, or as JSON if it starts with `{`.
pub fn parse_manifest(text: &str) -> Result<PluginManifest, DeployError> {
    let manifest = if text.trim_start().starts_with('{') {
        PluginManifest::from_json(text)?
    } else {
        PluginManifest::from_toml(text)?
    };
    manifest.validate()?;
    Ok(manifest)
}

/// A plugin ready to upload: its manifest, and its bytes as a component (a core module with an
/// embedded component type is made into one here).
#[derive(Clone, Debug)]
pub struct PluginPackage {
    pub manifest: PluginManifest,
    pub component: Vec<u8>,
    pub sha256: String,
}

impl PluginPackage {
    pub fn new(manifest: PluginManifest, wasm: &[u8]) -> Result<PluginPackage, DeployError> {
        manifest.validate()?;
        let component = componentize(wasm)?;
        if component.len() > COMPONENT_LEN_MAX {
            return Err(DeployError::ComponentTooLarge {
                len: component.len(),
                max: COMPONENT_LEN_MAX,
            });
        }
        let sha256 = hex(&Sha256::digest(&component));
        Ok(PluginPackage {
            manifest,
            component,
            sha256,
        })
    }
}

/// What `polis plugin status` shows.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PluginReport {
    pub name: String,
    pub deployment: Deployment,
    pub status: PluginStatus,
    pub cursor: Cursor,
    /// How far the plugin's stored cursor is behind the newest transaction this client has
    /// seen, in Raft log entries. An idle plugin's cursor trails by the commit that moved it and
    /// by what came in the last second (it is committed forward at most once a second).
    pub lag_entries: u64,
    /// The dead-letter entries, oldest first (their node names and contents).
    pub dead_letters: Vec<(String, DeadLetter)>,
}

/// Deploys a new plugin. Fails if one of that name is deployed.
pub async fn deploy(client: &Client, package: &PluginPackage) -> Result<Deployment, DeployError> {
    let name = package.manifest.name.clone();
    ensure_layout(client).await?;
    upload_component(client, package).await?;
    let paths = PluginPaths::new(&name);
    let deployment = Deployment {
        current: Revision {
            revision: 1,
            manifest: package.manifest.clone(),
            component: package.sha256.clone(),
            started_at: None,
        },
        history: Vec::new(),
    };
    let status = PluginStatus {
        state: PluginState::Deployed,
        revision: 1,
        version: package.manifest.version.clone(),
        ..PluginStatus::default()
    };
    let state_acl = plugin_state_acl(&name);
    let ops = vec![
        Op::create(
            &paths.deployment,
            &json(&deployment),
            &administrators_only_acl(),
            CreateMode::Persistent,
        ),
        // Empty: the plugin starts after this transaction (the cursor's czxid).
        Op::create(&paths.cursor, b"", &state_acl, CreateMode::Persistent),
        Op::create(
            &paths.status,
            &json(&status),
            &state_acl,
            CreateMode::Persistent,
        ),
        Op::create(&paths.logs, b"[]", &state_acl, CreateMode::Persistent),
        Op::create(&paths.dead_letter, b"", &state_acl, CreateMode::Persistent),
    ];
    match client.multi(ops).await {
        Ok(_) => {
            // See `collect_components`: a collection between the upload and the record.
            upload_component(client, package).await?;
            Ok(deployment)
        }
        Err(error) if error.is_node_exists() => Err(DeployError::AlreadyDeployed(name)),
        Err(error) => Err(error.into()),
    }
}

/// Replaces a deployed plugin's manifest and component with a new revision; its cursor stays,
/// so the new revision handles the events after the last one the old revision handled.
pub async fn upgrade(client: &Client, package: &PluginPackage) -> Result<Deployment, DeployError> {
    let name = package.manifest.name.clone();
    upload_component(client, package).await?;
    let before: Deployment = read_json(client, &name, &PluginPaths::new(&name).deployment).await?;
    let upgraded = replace(client, &name, |current, changed_at| {
        let mut history = current.history.clone();
        // The retired revision keeps the zxid it took effect at, so that its events are still
        // its own however many upgrades follow before the plugin reaches them.
        history.insert(
            0,
            Revision {
                started_at: Some(current.current.started_at.unwrap_or(changed_at)),
                ..current.current.clone()
            },
        );
        history.truncate(HISTORY_REVISIONS_MAX);
        Ok(Deployment {
            current: Revision {
                revision: current.current.revision + 1,
                manifest: package.manifest.clone(),
                component: package.sha256.clone(),
                started_at: None,
            },
            history,
        })
    })
    .await?;
    // A collection running meanwhile (another plugin removed) may have taken the component
    // between its upload and the record: uploading again is cheap when nothing is missing.
    upload_component(client, package).await?;
    // The revision that fell off the history may have been the last user of its component.
    collect_components(client, &components_of(&before)).await?;
    Ok(upgraded)
}

/// The components a deployment's revisions use.
fn components_of(deployment: &Deployment) -> Vec<String> {
    std::iter::once(&deployment.current)
        .chain(&deployment.history)
        .map(|revision| revision.component.clone())
        .collect()
}

/// Deletes those of `candidates` that no deployment's revision uses any more, chunks first, so
/// that removed and upgraded plugins do not leave their components stored for ever. A deploy
/// uploads its component before writing its record and again after (only what is missing), so
/// a collection that runs in between mostly costs it a second upload; a collection whose chunk
/// deletions interleave with that second upload can still leave the component incomplete, which
/// the leader reports when it loads the plugin (`polis plugin status`), and a new upload heals.
async fn collect_components(client: &Client, candidates: &[String]) -> Result<(), DeployError> {
    let mut used = std::collections::BTreeSet::new();
    for name in list(client).await? {
        let path = PluginPaths::new(&name).deployment;
        match client.get_data(&path).await {
            Ok((data, _)) => {
                if let Ok(deployment) = serde_json::from_slice::<Deployment>(&data) {
                    used.extend(components_of(&deployment));
                }
            }
            Err(error) if error.is_no_node() => {}
            Err(error) => return Err(error.into()),
        }
    }
    let unused: std::collections::BTreeSet<&String> = candidates
        .iter()
        .filter(|component| !used.contains(*component))
        .collect();
    for component in unused {
        let record = component_path(component);
        let chunks = match client.get_children(&record).await {
            Ok((chunks, _)) => chunks,
            Err(error) if error.is_no_node() => continue,
            Err(error) => return Err(error.into()),
        };
        for batch in chunks.chunks(REMOVE_BATCH_MAX) {
            let ops = batch
                .iter()
                .map(|chunk| Op::delete(format!("{record}/{chunk}"), -1))
                .collect();
            client.multi(ops).await?;
        }
        match client.delete(&record, -1).await {
            Ok(()) => tracing::info!(%component, "removed an unused plugin component"),
            // Gone already, or a deploy is uploading it again: either way it is not ours.
            Err(error) if error.is_no_node() || error.is_not_empty() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}

/// Goes back to the previous revision's manifest and component, as a new revision.
pub async fn rollback(client: &Client, name: &str) -> Result<Deployment, DeployError> {
    replace(client, name, |current, _| {
        let Some((previous, older)) = current.history.split_first() else {
            return Err(DeployError::NoEarlierRevision(name.to_string()));
        };
        Ok(Deployment {
            current: Revision {
                revision: current.current.revision + 1,
                manifest: previous.manifest.clone(),
                component: previous.component.clone(),
                started_at: None,
            },
            history: older.to_vec(),
        })
    })
    .await
}

/// Starts a paused (or failed) plugin again: the same manifest and component as a new revision,
/// which retries the event it stopped at.
pub async fn resume(client: &Client, name: &str) -> Result<Deployment, DeployError> {
    // A resume is a new revision (that is what restarts the worker); for a plugin that is
    // running it would only churn the revision history and restart it for nothing.
    let paths = PluginPaths::new(name);
    let state = match client.get_data(&paths.status).await {
        Ok((data, _)) => serde_json::from_slice::<PluginStatus>(&data)
            .map(|status| status.state)
            .unwrap_or_default(),
        Err(error) if error.is_no_node() => return Err(DeployError::NotDeployed(name.to_string())),
        Err(error) => return Err(error.into()),
    };
    if !matches!(state, PluginState::Paused | PluginState::Failed) {
        return Err(DeployError::NothingToResume {
            name: name.to_string(),
            state,
        });
    }
    replace(client, name, |current, changed_at| {
        let mut next = current.clone();
        next.current.revision += 1;
        // The same code goes on: it handles the events from where it took effect, not from the
        // resume's zxid (which would hand the events in between back to the revision before).
        next.current.started_at = Some(current.current.started_at.unwrap_or(changed_at));
        Ok(next)
    })
    .await
}

/// Removes a plugin with its cursor, status, log and dead letters, and the components of its
/// revisions that no other deployment uses.
pub async fn remove(client: &Client, name: &str) -> Result<(), DeployError> {
    let paths = PluginPaths::new(name);
    let components = match client.get_data(&paths.deployment).await {
        Ok((data, _)) => serde_json::from_slice::<Deployment>(&data)
            .map(|deployment| components_of(&deployment))
            .unwrap_or_default(),
        Err(error) if error.is_no_node() => return Err(DeployError::NotDeployed(name.to_string())),
        Err(error) => return Err(error.into()),
    };
    let dead_letters = match client.get_children(&paths.dead_letter).await {
        Ok((children, _)) => children,
        Err(error) if error.is_no_node() => return Err(DeployError::NotDeployed(name.to_string())),
        Err(error) => return Err(error.into()),
    };
    for chunk in dead_letters.chunks(REMOVE_BATCH_MAX) {
        let ops = chunk
            .iter()
            .map(|child| Op::delete(format!("{}/{child}", paths.dead_letter), -1))
            .collect();
        client.multi(ops).await?;
    }
    let ops = vec![
        Op::delete(&paths.dead_letter, -1),
        Op::delete(&paths.logs, -1),
        Op::delete(&paths.status, -1),
        Op::delete(&paths.cursor, -1),
        Op::delete(&paths.deployment, -1),
    ];
    match client.multi(ops).await {
        Ok(_) => collect_components(client, &components).await,
        Err(error) if error.is_no_node() => Err(DeployError::NotDeployed(name.to_string())),
        Err(error) if error.is_not_empty() => Err(DeployError::Conflict(name.to_string())),
        Err(error) => Err(error.into()),
    }
}

/// The path of dead letter `id` of plugin `name`, if `id` names one (not a path, not a replay
/// already asked for).
fn dead_letter_path(name: &str, id: &str) -> Result<String, DeployError> {
    if id.is_empty() || id.contains('/') || id.starts_with(REPLAY_PREFIX) {
        return Err(DeployError::NoSuchDeadLetter {
            name: name.to_string(),
            id: id.to_string(),
        });
    }
    Ok(format!("{}/{id}", PluginPaths::new(name).dead_letter))
}

/// Deletes dead letter `id`: its events are given up for good.
pub async fn drop_dead_letter(client: &Client, name: &str, id: &str) -> Result<(), DeployError> {
    let path = dead_letter_path(name, id)?;
    match client.delete(&path, -1).await {
        Ok(()) => Ok(()),
        Err(error) if error.is_no_node() => Err(DeployError::NoSuchDeadLetter {
            name: name.to_string(),
            id: id.to_string(),
        }),
        Err(error) => Err(error.into()),
    }
}

/// Asks the leader's worker to run dead letter `id`'s events again with the running revision
/// (after the cause was fixed: the plugin upgraded, a missing node created). The dead letter is
/// renamed `replay-<id>` in one multi; the worker consumes that request when it commits the
/// replay's writes, or makes it a dead letter again with the new error. See
/// [`polis_plugin_layout::REPLAY_PREFIX`].
pub async fn replay_dead_letter(client: &Client, name: &str, id: &str) -> Result<(), DeployError> {
    let path = dead_letter_path(name, id)?;
    let missing = || DeployError::NoSuchDeadLetter {
        name: name.to_string(),
        id: id.to_string(),
    };
    let (data, stat) = match client.get_data(&path).await {
        Ok(found) => found,
        Err(error) if error.is_no_node() => return Err(missing()),
        Err(error) => return Err(error.into()),
    };
    let request = format!("{}/{REPLAY_PREFIX}{id}", PluginPaths::new(name).dead_letter);
    let ops = vec![
        Op::create(
            &request,
            &data,
            &plugin_state_acl(name),
            CreateMode::Persistent,
        ),
        Op::delete(&path, stat.version),
    ];
    match client.multi(ops).await {
        Ok(_) => Ok(()),
        Err(error) if error.is_no_node() || error.is_bad_version() => Err(missing()),
        Err(error) => Err(error.into()),
    }
}

/// The deployed plugins' names, in order.
pub async fn list(client: &Client) -> Result<Vec<String>, DeployError> {
    match client.get_children(DEPLOYED_PATH).await {
        Ok((mut names, _)) => {
            names.sort();
            Ok(names)
        }
        Err(error) if error.is_no_node() => Ok(Vec::new()),
        Err(error) => Err(error.into()),
    }
}

/// A plugin's deployment, status, cursor, lag and dead letters.
pub async fn status(client: &Client, name: &str) -> Result<PluginReport, DeployError> {
    let paths = PluginPaths::new(name);
    let deployment: Deployment = read_json(client, name, &paths.deployment).await?;
    let status: PluginStatus = read_json(client, name, &paths.status).await?;
    let (cursor_data, cursor_stat) = client.get_data(&paths.cursor).await?;
    let cursor = if cursor_data.is_empty() {
        Cursor::after(cursor_stat.czxid)
    } else {
        serde_json::from_slice(&cursor_data).map_err(|error| DeployError::Corrupt {
            path: paths.cursor.clone(),
            reason: error.to_string(),
        })?
    };
    let lag_entries = entries_between(cursor.zxid, client.last_zxid_seen());
    let (mut children, _) = client.get_children(&paths.dead_letter).await?;
    children.sort();
    let mut dead_letters = Vec::with_capacity(children.len());
    for child in children {
        let path = format!("{}/{child}", paths.dead_letter);
        let entry: DeadLetter = read_json(client, name, &path).await?;
        dead_letters.push((child, entry));
    }
    Ok(PluginReport {
        name: name.to_string(),
        deployment,
        status,
        cursor,
        lag_entries,
        dead_letters,
    })
}

/// The plugin's last log lines, oldest first.
pub async fn logs(client: &Client, name: &str) -> Result<Vec<StoredLogLine>, DeployError> {
    read_json(client, name, &PluginPaths::new(name).logs).await
}

/// Creates `/polis/plugins` and its two folders if they are missing.
async fn ensure_layout(client: &Client) -> Result<(), DeployError> {
    for path in [PLUGINS_PATH, COMPONENTS_PATH, DEPLOYED_PATH] {
        create_if_missing(client, path, b"").await?;
    }
    Ok(())
}

async fn create_if_missing(client: &Client, path: &str, data: &[u8]) -> Result<(), DeployError> {
    match client
        .create(
            path,
            data,
            &administrators_only_acl(),
            CreateMode::Persistent,
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(error) if error.is_node_exists() => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Stores the component's chunks unless they are stored already. Each chunk is its own request,
/// so an interrupted upload is completed by the next deploy of the same bytes.
async fn upload_component(client: &Client, package: &PluginPackage) -> Result<(), DeployError> {
    ensure_layout(client).await?;
    let record = ComponentRecord::for_bytes(package.sha256.clone(), package.component.len());
    create_if_missing(client, &component_path(&package.sha256), &json(&record)).await?;
    let (stored, _) = client
        .get_children(&component_path(&package.sha256))
        .await?;
    for (index, chunk) in package.component.chunks(COMPONENT_CHUNK_LEN).enumerate() {
        let path = component_chunk_path(&package.sha256, index);
        let name = path.rsplit('/').next().unwrap_or_default();
        if !stored.iter().any(|child| child == name) {
            create_if_missing(client, &path, chunk).await?;
        }
    }
    Ok(())
}

/// Replaces a deployment record with what `next` makes of it, compare-and-set on its version.
async fn replace(
    client: &Client,
    name: &str,
    next: impl FnOnce(&Deployment, Zxid) -> Result<Deployment, DeployError>,
) -> Result<Deployment, DeployError> {
    let paths = PluginPaths::new(name);
    let (data, stat) = match client.get_data(&paths.deployment).await {
        Ok(found) => found,
        Err(error) if error.is_no_node() => return Err(DeployError::NotDeployed(name.to_string())),
        Err(error) => return Err(error.into()),
    };
    let current: Deployment =
        serde_json::from_slice(&data).map_err(|error| DeployError::Corrupt {
            path: paths.deployment.clone(),
            reason: error.to_string(),
        })?;
    // The record's mzxid: when its current revision took effect (only revision changes rewrite
    // it).
    let updated = next(&current, stat.mzxid)?;
    if updated.current.manifest.name != name {
        return Err(DeployError::NameMismatch {
            expected: name.to_string(),
            found: updated.current.manifest.name.clone(),
        });
    }
    match client
        .set_data(&paths.deployment, &json(&updated), stat.version)
        .await
    {
        Ok(_) => Ok(updated),
        Err(error) if error.is_bad_version() => Err(DeployError::Conflict(name.to_string())),
        Err(error) => Err(error.into()),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    client: &Client,
    name: &str,
    path: &str,
) -> Result<T, DeployError> {
    let data = match client.get_data(path).await {
        Ok((data, _)) => data,
        Err(error) if error.is_no_node() => return Err(DeployError::NotDeployed(name.to_string())),
        Err(error) => return Err(error.into()),
    };
    serde_json::from_slice(&data).map_err(|error| DeployError::Corrupt {
        path: path.to_string(),
        reason: error.to_string(),
    })
}

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // These records hold strings, numbers and the manifest, which always serialize.
    serde_json::to_vec(value).unwrap_or_default()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
