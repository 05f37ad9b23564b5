//! A large tree loaded before the cases (`--preload-znodes N`), so that the cases measure each
//! system as a city would run it: with a million znodes, snapshots are large and a system that
//! stops applying while it writes one shows it in its tail latency (the `max ms` column).

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::session::Endpoints;

/// The data of every preloaded node, in bytes (as `bench/memory/run` loads).
const PRELOAD_DATA_LEN: usize = 48;
/// Children per parent node: `/polis-preload/pNNNN/cNNNN`.
const PRELOAD_CHILDREN_PER_PARENT: usize = 1000;
/// Creates per multi (etcd's default `--max-txn-ops` is 128).
const PRELOAD_BATCH_CREATES: usize = 100;
/// Sessions loading at once.
const PRELOAD_SESSIONS: usize = 16;
/// The root of the preloaded tree.
const PRELOAD_ROOT: &str = "/polis-preload";

/// Loads `znodes` nodes (rounded up to whole batches) into the system behind `endpoints` and
/// returns how long it took.
pub async fn preload(endpoints: &Endpoints, znodes: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let data = vec![b'p'; PRELOAD_DATA_LEN];
    let parents = znodes.div_ceil(PRELOAD_CHILDREN_PER_PARENT).max(1);
    let setup = endpoints.connect(0).await.context("a preload session")?;
    setup.ensure(PRELOAD_ROOT, &data).await?;
    for parent in 0..parents {
        setup.ensure(&parent_path(parent), &data).await?;
    }
    setup.close().await;

    let batches = znodes.div_ceil(PRELOAD_BATCH_CREATES);
    let mut loaders = Vec::with_capacity(PRELOAD_SESSIONS);
    for loader in 0..PRELOAD_SESSIONS {
        let session = endpoints
            .connect(loader)
            .await
            .context("a preload session")?;
        let data = data.clone();
        loaders.push(tokio::spawn(async move {
            // Loader `l` takes batches l, l + S, l + 2S, ...
            for batch in (loader..batches).step_by(PRELOAD_SESSIONS) {
                let paths = batch_paths(batch, znodes);
                session
                    .create_all(&paths, &data)
                    .await
                    .with_context(|| format!("preloading batch {batch}"))?;
            }
            session.close().await;
            anyhow::Ok(())
        }));
    }
    for loader in loaders {
        loader.await.context("a preload session panicked")??;
    }
    Ok(started.elapsed())
}

fn parent_path(parent: usize) -> String {
    format!("{PRELOAD_ROOT}/p{parent:04}")
}

/// The paths of batch `batch`: consecutive node numbers, each under its parent.
fn batch_paths(batch: usize, znodes: usize) -> Vec<String> {
    let first = batch * PRELOAD_BATCH_CREATES;
    let end = (first + PRELOAD_BATCH_CREATES).min(znodes);
    (first..end)
        .map(|node| {
            let parent = node / PRELOAD_CHILDREN_PER_PARENT;
            let child = node % PRELOAD_CHILDREN_PER_PARENT;
            format!("{}/c{child:04}", parent_path(parent))
        })
        .collect()
}
