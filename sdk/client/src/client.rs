//! The client handle: one session, every operation of the protocol.

use std::sync::Arc;
use std::time::Duration;

use polis_proto::convert::{
    acl_list_from_wire, acl_to_wire, error_code_from_wire, id_from_wire, stat_from_wire,
    watch_kind_to_wire,
};
use polis_proto::wire;
use polis_proto::wire::request::Op as RequestOp;
use polis_proto::wire::response::Result as ResponseResult;
use polis_tree::{Acl, CreateMode, ErrorCode, Id, SessionId, Stat, WatchKind, Zxid};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::backoff::{Backoff, random_u64};
use crate::cluster::{ClusterStatus, LearnerAdded};
use crate::connector::{Connector, Established, HandshakeError};
use crate::driver::Driver;
use crate::op::create_to_wire;
use crate::request::{Call, Command, WatchIntent};
use crate::shared::{AUTHS_LEN_MAX, AuthEntry, Shared, lock};
use crate::watch_book::PersistentWatch;
use crate::watch_stream::StreamEnding;
use crate::{
    ClientConfig, ClientState, Error, OneShotWatch, Op, OpResult, ReadConsistency, SessionEvent,
    WatchMode, WatchStream,
};

/// A Polis session, ZooKeeper's `ZooKeeper` handle.
///
/// Cheap to clone (an `Arc` inside); all clones share one session and one connection, and may be
/// used from many tasks at once: calls are pipelined on the connection and answered in the order
/// they were written. The session is closed when [`Client::close`] is called or the last clone is
/// dropped (then without waiting for the server's answer).
///
/// Every call is bounded by the request timeout. A call that fails with
/// [`Error::ConnectionLoss`] or [`Error::Timeout`] may or may not have taken effect, exactly as in
/// ZooKeeper; the client meanwhile reconnects to the same session on its own.
///
/// Reads are linearizable unless the handle was made with
/// [`Client::with_read_consistency`]`(`[`ReadConsistency::Local`]`)`.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<ClientInner>,
    /// How fresh this handle's reads must be; clones made by `with_read_consistency` share the
    /// session but not this.
    read_consistency: ReadConsistency,
}

#[derive(Debug)]
struct ClientInner {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    shutdown: watch::Sender<bool>,
    config: ClientConfig,
}

impl Drop for ClientInner {
    fn drop(&mut self) {
        // The driver closes the session; a client nobody holds can never be used again.
        self.shutdown.send_replace(true);
    }
}

impl Client {
    /// Opens a new session on one of the configured servers (starting from a random one and
    /// trying each in turn) and returns once a server has granted it.
    ///
    /// A server that was reached but could not settle the session — the leadership changed while
    /// it was being opened, as ZooKeeper's ConnectionLoss — is tried again after a short backoff,
    /// within the request timeout: opening a session again is safe, since one that was committed
    /// after all is never used and expires on its own. A round in which no server could even be
    /// reached ends the attempt at once.
    ///
    /// Must be called inside a Tokio runtime; the connection is served by a task of that runtime.
    /// Fails with [`Error::InvalidConfig`] for a bad configuration or unreadable TLS files,
    /// [`Error::Auth`] if the servers refuse the certificate, and [`Error::Connect`] if no server
    /// could be reached.
    pub async fn connect(config: ClientConfig) -> Result<Client, Error> {
        config.validate()?;
        let mut connector = Connector::new(&config)?;
        let shared = Arc::new(Shared::new());
        let (established, next_server) =
            Self::first_session(&config, &shared, &mut connector).await?;
        let connected = &established.connected;
        shared.set_session(
            connected.session_id,
            &connected.password,
            connected.session_timeout_ms,
        );
        shared.transition(
            ClientState::Connected,
            SessionEvent::Connected {
                session_id: connected.session_id,
            },
        );
        let (commands, command_receiver) = mpsc::channel(config.request_queue_len_max);
        let (shutdown, shutdown_receiver) = watch::channel(false);
        let driver = Driver::new(
            shared.clone(),
            config.clone(),
            connector,
            command_receiver,
            shutdown_receiver,
            next_server,
        );
        tokio::spawn(driver.run(established));
        Ok(Client {
            inner: Arc::new(ClientInner {
                shared,
                commands,
                shutdown,
                config,
            }),
            read_consistency: ReadConsistency::default(),
        })
    }

    /// The first session of [`Client::connect`], and the index of the server to try after the
    /// one that granted it.
    async fn first_session(
        config: &ClientConfig,
        shared: &Arc<Shared>,
        connector: &mut Connector,
    ) -> Result<(Established, usize), Error> {
        let servers = &config.servers;
        debug_assert!(!servers.is_empty(), "validate refuses an empty server list");
        let start = usize::try_from(random_u64() % servers.len() as u64).unwrap_or(0);
        let deadline = tokio::time::Instant::now() + config.request_timeout();
        let mut backoff = Backoff::new(
            config.reconnect_backoff_min_ms,
            config.reconnect_backoff_max_ms,
        );
        let mut attempt = start;
        loop {
            let mut failures = Vec::new();
            let mut unsettled = false;
            for _ in 0..servers.len() {
                let server = servers[attempt % servers.len()];
                attempt = attempt.wrapping_add(1);
                let connect = Driver::connect_request(shared, config);
                match connector.establish(server, connect).await {
                    Ok(established) => return Ok((established, attempt)),
                    Err(HandshakeError::Unreachable(reason)) => failures.push(reason),
                    Err(HandshakeError::Unsettled(reason)) => {
                        unsettled = true;
                        failures.push(reason);
                    }
                    Err(HandshakeError::Auth(reason)) => return Err(Error::Auth(reason)),
                    // A new session cannot have expired; a server saying so is confused.
                    Err(HandshakeError::Expired) => {
                        failures.push(format!("{server}: refused a new session as expired"));
                    }
                }
            }
            let resume_at = tokio::time::Instant::now() + backoff.next_delay();
            if !unsettled || resume_at >= deadline {
                return Err(Error::Connect(failures.join("; ")));
            }
            tracing::debug!(failures = %failures.join("; "), "no session yet; trying again");
            tokio::time::sleep_until(resume_at).await;
        }
    }

    /// A handle on the same session (and connection) whose reads — `exists`, `get_data`,
    /// `get_children`, `get_acl`, `count_descendants`, `ephemerals`, and the registration of
    /// watches — have the given consistency. Writes, `multi`, `sync` and the session itself are
    /// unaffected.
    ///
    /// With [`ReadConsistency::Local`] the connected server answers from its own copy of the
    /// tree without asking the leader, so reads keep working on a node cut off from the leader
    /// (a learner in a partitioned district), at the price of possibly missing recent writes.
    /// `sync` followed by a local read gives ZooKeeper's "read after sync" freshness.
    ///
    /// ```no_run
    /// # async fn example(client: polis_client::Client) -> Result<(), polis_client::Error> {
    /// use polis_client::ReadConsistency;
    /// let local = client.with_read_consistency(ReadConsistency::Local);
    /// let (data, _stat) = local.get_data("/city/status").await?;
    /// # Ok(()) }
    /// ```
    pub fn with_read_consistency(&self, read_consistency: ReadConsistency) -> Client {
        Client {
            inner: self.inner.clone(),
            read_consistency,
        }
    }

    /// The consistency of this handle's reads.
    pub fn read_consistency(&self) -> ReadConsistency {
        self.read_consistency
    }

    /// The session id the server assigned.
    pub fn session_id(&self) -> SessionId {
        self.inner.shared.session_id()
    }

    /// The session timeout the server granted, in milliseconds.
    pub fn session_timeout_ms(&self) -> i32 {
        self.inner.shared.session_timeout_ms()
    }

    /// The highest zxid seen in any answer or event. A reconnect never accepts a server behind
    /// it, so the client's view of the tree never goes back in time.
    pub fn last_zxid_seen(&self) -> Zxid {
        self.inner.shared.last_zxid_seen()
    }

    /// Where the session stands now.
    pub fn state(&self) -> ClientState {
        self.inner.shared.state()
    }

    /// Changes of the connection and session from now on (a bounded broadcast: a receiver that
    /// falls more than 64 events behind gets `Lagged`).
    pub fn session_events(&self) -> broadcast::Receiver<SessionEvent> {
        self.inner.shared.subscribe_events()
    }

    /// Waits until the client is connected, or fails with the terminal error if it never will be.
    /// Useful before retrying a call that failed with [`Error::ConnectionLoss`].
    pub async fn wait_connected(&self) -> Result<(), Error> {
        let mut states = self.inner.shared.subscribe_state();
        let state = *states
            .wait_for(|state| *state == ClientState::Connected || state.is_terminal())
            .await
            .map_err(|_| Error::Closed)?;
        match state.terminal_error() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Closes the session: the server deletes its ephemeral nodes at once (instead of after the
    /// session timeout) and every watch ends with [`Error::Closed`]. Calls already written are
    /// answered first; calls made afterwards fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<(), Error> {
        let mut states = self.inner.shared.subscribe_state();
        self.inner.shutdown.send_replace(true);
        let bound = self.inner.config.request_timeout() * 2;
        match tokio::time::timeout(bound, states.wait_for(|state| state.is_terminal())).await {
            Ok(_) => Ok(()),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Creates a node and returns its actual path (with the sequence suffix for sequential
    /// modes) and its stat. An empty `acl` means ZooKeeper's `OPEN_ACL_UNSAFE`.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat), Error> {
        self.create_with(path, Some(data), acl, mode).await
    }

    /// [`Client::create`] with ZooKeeper's null data, which reads back as null
    /// ([`Client::get_data_or_null`]) rather than as empty data.
    pub async fn create_without_data(
        &self,
        path: &str,
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat), Error> {
        self.create_with(path, None, acl, mode).await
    }

    async fn create_with(
        &self,
        path: &str,
        data: Option<&[u8]>,
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat), Error> {
        let op = RequestOp::Create(create_to_wire(path, data, acl, mode));
        match self.request(op, path).await? {
            ResponseResult::Create(created) => {
                Ok((created.path.clone(), required_stat(&created.stat)?))
            }
            other => Err(unexpected("create", &other)),
        }
    }

    /// Deletes a node if its version matches (-1 matches any).
    pub async fn delete(&self, path: &str, version: i32) -> Result<(), Error> {
        let op = RequestOp::Delete(wire::Delete {
            path: path.to_string(),
            version,
        });
        match self.request(op, path).await? {
            ResponseResult::Delete(_) => Ok(()),
            other => Err(unexpected("delete", &other)),
        }
    }

    /// The node's stat, or `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<Stat>, Error> {
        let response = self.call(exists_op(path, false), WatchIntent::None).await?;
        exists_result(response, path)
    }

    /// [`Client::exists`], and a one-shot watch that fires when the node is created, deleted or
    /// its data changes (set also on a missing node, to see its creation).
    pub async fn exists_watch(&self, path: &str) -> Result<(Option<Stat>, OneShotWatch), Error> {
        let (intent, watch) = one_shot(WatchKind::Data, path);
        let response = self.call(exists_op(path, true), intent).await?;
        Ok((exists_result(response, path)?, watch))
    }

    /// The node's data and stat. ZooKeeper's null data reads as empty here; see
    /// [`Client::get_data_or_null`].
    pub async fn get_data(&self, path: &str) -> Result<(Vec<u8>, Stat), Error> {
        let (data, stat) = self.get_data_or_null(path).await?;
        Ok((data.unwrap_or_default(), stat))
    }

    /// The node's data, `None` for ZooKeeper's null data, and its stat.
    pub async fn get_data_or_null(&self, path: &str) -> Result<(Option<Vec<u8>>, Stat), Error> {
        let response = self
            .call(get_data_op(path, false), WatchIntent::None)
            .await?;
        get_data_result(response, path)
    }

    /// [`Client::get_data`], and a one-shot watch that fires when the data changes or the node
    /// is deleted.
    pub async fn get_data_watch(
        &self,
        path: &str,
    ) -> Result<((Vec<u8>, Stat), OneShotWatch), Error> {
        let (intent, watch) = one_shot(WatchKind::Data, path);
        let response = self.call(get_data_op(path, true), intent).await?;
        let (data, stat) = get_data_result(response, path)?;
        Ok(((data.unwrap_or_default(), stat), watch))
    }

    /// Replaces the node's data if its version matches (-1 matches any); returns the new stat.
    pub async fn set_data(&self, path: &str, data: &[u8], version: i32) -> Result<Stat, Error> {
        let op = RequestOp::SetData(wire::SetData {
            path: path.to_string(),
            data: data.to_vec(),
            version,
            null_data: false,
        });
        match self.request(op, path).await? {
            ResponseResult::SetData(set) => required_stat(&set.stat),
            other => Err(unexpected("set_data", &other)),
        }
    }

    /// The names (not paths) of the node's children, unordered as in ZooKeeper, and its stat.
    pub async fn get_children(&self, path: &str) -> Result<(Vec<String>, Stat), Error> {
        let response = self
            .call(get_children_op(path, false), WatchIntent::None)
            .await?;
        get_children_result(response, path)
    }

    /// [`Client::get_children`], and a one-shot watch that fires when a child is created or
    /// deleted, or the node itself is deleted.
    pub async fn get_children_watch(
        &self,
        path: &str,
    ) -> Result<((Vec<String>, Stat), OneShotWatch), Error> {
        let (intent, watch) = one_shot(WatchKind::Children, path);
        let response = self.call(get_children_op(path, true), intent).await?;
        Ok((get_children_result(response, path)?, watch))
    }

    /// The node's ACL and stat.
    pub async fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat), Error> {
        let op = RequestOp::GetAcl(wire::GetAcl {
            path: path.to_string(),
        });
        match self.request(op, path).await? {
            ResponseResult::GetAcl(got) => {
                let acl = acl_list_from_wire(&got.acl)
                    .map_err(|error| Error::Protocol(format!("an ACL from the server: {error}")))?;
                Ok((acl, required_stat(&got.stat)?))
            }
            other => Err(unexpected("get_acl", &other)),
        }
    }

    /// Replaces the node's ACL if its ACL version (`aversion`) matches (-1 matches any).
    pub async fn set_acl(&self, path: &str, acl: &[Acl], version: i32) -> Result<Stat, Error> {
        let op = RequestOp::SetAcl(wire::SetAcl {
            path: path.to_string(),
            acl: acl.iter().map(acl_to_wire).collect(),
            version,
        });
        match self.request(op, path).await? {
            ResponseResult::SetAcl(set) => required_stat(&set.stat),
            other => Err(unexpected("set_acl", &other)),
        }
    }

    /// Succeeds if the node exists with this version (-1: any), as a one-operation `multi`;
    /// fails with [`Error::Api`] (`NoNode`, `BadVersion`) otherwise.
    pub async fn check(&self, path: &str, version: i32) -> Result<(), Error> {
        match self.multi(vec![Op::check(path, version)]).await {
            Ok(_) => Ok(()),
            Err(Error::Multi { code, .. }) => Err(Error::api(
                code,
                format!("check of version {version} failed"),
                Some(path),
            )),
            Err(error) => Err(error),
        }
    }

    /// Applies every operation or none, atomically (ZooKeeper's `multi`). On failure the error is
    /// [`Error::Multi`], naming the operation that failed and every operation's code.
    pub async fn multi(&self, ops: Vec<Op>) -> Result<Vec<OpResult>, Error> {
        let op = RequestOp::Multi(wire::Multi {
            ops: ops.iter().map(Op::to_wire).collect(),
        });
        let response = self.call(op, WatchIntent::None).await?;
        multi_result(response, &ops)
    }

    /// Waits until the server this client is connected to has applied everything committed
    /// before the sync reached it, so that a following read sees at least that (ZooKeeper's
    /// `sync`, for readers that must not lag behind another client's write).
    pub async fn sync(&self, path: &str) -> Result<String, Error> {
        let op = RequestOp::Sync(wire::Sync {
            path: path.to_string(),
        });
        match self.request(op, path).await? {
            ResponseResult::Sync(synced) => Ok(synced.path.clone()),
            other => Err(unexpected("sync", &other)),
        }
    }

    /// The number of nodes below `path` (ZooKeeper's `getAllChildrenNumber`).
    pub async fn count_descendants(&self, path: &str) -> Result<i64, Error> {
        let op = RequestOp::CountDescendants(wire::CountDescendants {
            path: path.to_string(),
        });
        match self.request(op, path).await? {
            ResponseResult::CountDescendants(count) => Ok(count.count),
            other => Err(unexpected("count_descendants", &other)),
        }
    }

    /// The paths of this session's ephemeral nodes that start with `prefix` ("/" for all), as
    /// ZooKeeper's `getEphemerals`.
    pub async fn ephemerals(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let op = RequestOp::GetEphemerals(wire::GetEphemerals {
            prefix: prefix.to_string(),
        });
        match self.request(op, prefix).await? {
            ResponseResult::GetEphemerals(paths) => Ok(paths.paths.clone()),
            other => Err(unexpected("ephemerals", &other)),
        }
    }

    /// Authenticates this session as a `digest` user as well (ZooKeeper's
    /// `addAuthInfo("digest", "user:password")`); returns every identity the connection now has.
    ///
    /// The credentials are kept in memory and sent again after every reconnect, because the
    /// server attaches them to the connection, as ZooKeeper's client does.
    pub async fn add_auth_digest(&self, user: &str, password: &str) -> Result<Vec<Id>, Error> {
        let entry = AuthEntry {
            scheme: polis_security::digest::ACL_SCHEME.to_string(),
            auth: format!("{user}:{password}").into_bytes(),
        };
        {
            let auths = lock(&self.inner.shared.auths);
            if !auths.contains(&entry) && auths.len() >= AUTHS_LEN_MAX {
                return Err(Error::LimitExceeded {
                    limit: "digest credentials per client",
                    max: AUTHS_LEN_MAX,
                });
            }
        }
        let op = RequestOp::AddAuth(wire::AddAuth {
            scheme: entry.scheme.clone(),
            auth: entry.auth.clone(),
        });
        let result = self.request(op, "").await.map_err(|error| match error {
            // An authentication refusal is not a path error; report it as one.
            Error::Api {
                code: ErrorCode::AuthFailed,
                message,
                ..
            } => Error::Auth(message),
            other => other,
        })?;
        let ids = match result {
            ResponseResult::AddAuth(ids) => ids,
            other => return Err(unexpected("add_auth", &other)),
        };
        let mut auths = lock(&self.inner.shared.auths);
        if !auths.contains(&entry) && auths.len() < AUTHS_LEN_MAX {
            auths.push(entry);
        }
        Ok(ids.identities.iter().map(id_from_wire).collect())
    }

    /// Follows `path` with a persistent (or persistent-recursive) watch, as ZooKeeper 3.6's
    /// `addWatch`, delivered as a stream.
    ///
    /// With `resume_after_zxid`, the server first replays every matching event after that zxid
    /// from its history, then continues live, so a consumer that remembers the zxid of the last
    /// event it processed can restart without missing one. A zxid older than the server's history
    /// fails with [`Error::Api`] `DataInconsistency`: re-read the state, then watch again.
    pub async fn watch(
        &self,
        path: &str,
        mode: WatchMode,
        resume_after_zxid: Option<Zxid>,
    ) -> Result<WatchStream, Error> {
        let kind = mode.kind();
        let (sender, receiver) = mpsc::channel(self.inner.config.watch_buffer_len);
        let ending = Arc::new(StreamEnding::default());
        let intent = WatchIntent::Persistent(PersistentWatch {
            path: path.to_string(),
            kind,
            // Without a resume point, anything at or below what this client has already seen can
            // only be a replay for another stream, which this one must not get.
            floor: resume_after_zxid.unwrap_or_else(|| self.last_zxid_seen()),
            sender,
            ending: ending.clone(),
        });
        let op = RequestOp::AddWatch(wire::AddWatch {
            path: path.to_string(),
            mode: watch_kind_to_wire(kind) as i32,
            resume_after_zxid,
        });
        let response = self.call(op, intent).await?;
        match checked(response, path)? {
            ResponseResult::AddWatch(_) => Ok(WatchStream::new(
                receiver,
                ending,
                path.to_string(),
                kind,
                self.inner.commands.clone(),
            )),
            other => Err(unexpected("add_watch", &other)),
        }
    }

    /// The cluster's state: the answering node's role and log position, the leader and term,
    /// and every member (voter or learner) with, when the leader could be asked, how far its
    /// log is. For administrators only (a certificate subject in the servers' `admins`); others
    /// get [`Error::Api`] `NoAuth`.
    pub async fn cluster_status(&self) -> Result<ClusterStatus, Error> {
        let op = RequestOp::ClusterStatus(wire::ClusterStatus {});
        match self.request(op, "").await? {
            ResponseResult::ClusterStatus(status) => Ok(ClusterStatus::from_wire(&status)),
            other => Err(unexpected("cluster_status", &other)),
        }
    }

    /// Adds node `id`, reachable by peers at `peer_address` and by clients at
    /// `client_address` (both `host:port`), as a learner: it receives the log and serves reads
    /// but does not vote. The node should be running, started with `join_cluster = true`. The
    /// server waits up to `catch_up_timeout` (its default, 2 s, if `None`; at most a third of
    /// the session timeout) for the learner to hold the log up to its admission. Administrators
    /// only; a voter, or a learner with other addresses, is refused with `BadArguments`.
    pub async fn add_learner(
        &self,
        id: u64,
        peer_address: &str,
        client_address: &str,
        catch_up_timeout: Option<Duration>,
    ) -> Result<LearnerAdded, Error> {
        let op = RequestOp::AddLearner(wire::AddLearner {
            id,
            peer_address: peer_address.to_string(),
            client_address: client_address.to_string(),
            catch_up_timeout_ms: catch_up_timeout.map_or(0, |timeout| {
                u32::try_from(timeout.as_millis())
                    .unwrap_or(u32::MAX)
                    .max(1)
            }),
        });
        match self.request(op, "").await? {
            ResponseResult::AddLearner(added) => LearnerAdded::from_wire(&added),
            other => Err(unexpected("add_learner", &other)),
        }
    }

    /// Changes the voters to exactly `voters` through joint consensus, and drops the members in
    /// `remove` (learners, or voters left out of `voters`; a voter left out and not in `remove`
    /// stays on as a learner). Every voter must already be a member (add it as a learner
    /// first). With `if_membership_index` (a [`ClusterStatus::membership_log_index`]) the change
    /// happens only if no other change came in between, else `BadVersion`. Returns the cluster
    /// once the change is committed. Administrators only.
    pub async fn change_membership(
        &self,
        voters: &[u64],
        remove: &[u64],
        if_membership_index: Option<u64>,
    ) -> Result<ClusterStatus, Error> {
        let op = RequestOp::ChangeMembership(wire::ChangeMembership {
            voters: voters.to_vec(),
            remove: remove.to_vec(),
            if_membership_index,
        });
        match self.request(op, "").await? {
            ResponseResult::ChangeMembership(status) => Ok(ClusterStatus::from_wire(&status)),
            other => Err(unexpected("change_membership", &other)),
        }
    }

    /// Makes learner `id` a voter: the current voters plus `id`, conditional on the membership
    /// read just before (so a concurrent change fails with `BadVersion` instead of being
    /// undone). Administrators only.
    pub async fn promote(&self, id: u64) -> Result<ClusterStatus, Error> {
        let status = self.cluster_status().await?;
        if status.member(id).is_none() {
            return Err(Error::api(
                ErrorCode::BadArguments,
                format!("node {id} is not a member; add it as a learner first"),
                None,
            ));
        }
        let mut voters = status.voters();
        voters.insert(id);
        let voters: Vec<u64> = voters.into_iter().collect();
        self.change_membership(&voters, &[], Some(status.membership_log_index))
            .await
    }

    /// Removes member `id` (a voter, through joint consensus, or a learner) from the cluster,
    /// conditional on the membership read just before. Administrators only.
    pub async fn remove_member(&self, id: u64) -> Result<ClusterStatus, Error> {
        let status = self.cluster_status().await?;
        let mut voters = status.voters();
        voters.remove(&id);
        let voters: Vec<u64> = voters.into_iter().collect();
        self.change_membership(&voters, &[id], Some(status.membership_log_index))
            .await
    }

    /// Sends a request without a watch and returns its successful result.
    async fn request(&self, op: RequestOp, path: &str) -> Result<ResponseResult, Error> {
        let response = self.call(op, WatchIntent::None).await?;
        checked(response, path)
    }

    /// Hands a request to the driver and waits for the raw answer, within the request timeout.
    async fn call(&self, op: RequestOp, watch: WatchIntent) -> Result<wire::Response, Error> {
        if let Some(error) = self.state().terminal_error() {
            return Err(error);
        }
        let deadline = tokio::time::Instant::now() + self.inner.config.request_timeout();
        let (reply, answer) = oneshot::channel();
        let allow_stale = self.read_consistency.allows_stale() && is_read(&op);
        let command = Command::Call(Call {
            op,
            reply,
            watch,
            allow_stale,
        });
        match tokio::time::timeout_at(deadline, self.inner.commands.send(command)).await {
            Err(_) => return Err(Error::Timeout),
            Ok(Err(_)) => return Err(self.gone()),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(_)) => Err(self.gone()),
            Ok(Ok(outcome)) => outcome,
        }
    }

    /// The error for a call the driver dropped: the terminal state's, once it is known.
    fn gone(&self) -> Error {
        self.state().terminal_error().unwrap_or(Error::Closed)
    }
}

/// True for the operations that only read the tree (and may register a watch), the ones a
/// [`ReadConsistency::Local`] handle lets the server answer locally.
fn is_read(op: &RequestOp) -> bool {
    matches!(
        op,
        RequestOp::Exists(_)
            | RequestOp::GetData(_)
            | RequestOp::GetChildren(_)
            | RequestOp::GetAcl(_)
            | RequestOp::CountDescendants(_)
            | RequestOp::GetEphemerals(_)
            | RequestOp::AddWatch(_)
    )
}

/// The result of a successful answer, or the server's error.
fn checked(response: wire::Response, path: &str) -> Result<ResponseResult, Error> {
    let code = error_code_from_wire(response.error_code);
    if code != ErrorCode::Ok {
        let path = (!path.is_empty()).then_some(path);
        return Err(Error::api(code, response.error_message, path));
    }
    response.result.ok_or_else(|| {
        Error::Protocol(format!(
            "an answer to xid {} without a result",
            response.xid
        ))
    })
}

fn unexpected(operation: &str, result: &ResponseResult) -> Error {
    Error::Protocol(format!(
        "the answer to {operation} carries the result of another operation: {result:?}"
    ))
}

fn required_stat(stat: &Option<wire::Stat>) -> Result<Stat, Error> {
    stat.as_ref()
        .map(stat_from_wire)
        .ok_or_else(|| Error::Protocol("an answer without the node's stat".into()))
}

fn one_shot(kind: WatchKind, path: &str) -> (WatchIntent, OneShotWatch) {
    let (sender, receiver) = oneshot::channel();
    let intent = WatchIntent::OneShot {
        kind,
        path: path.to_string(),
        sender,
    };
    (intent, OneShotWatch::new(receiver))
}

fn exists_op(path: &str, watch: bool) -> RequestOp {
    RequestOp::Exists(wire::Exists {
        path: path.to_string(),
        watch,
    })
}

fn exists_result(response: wire::Response, path: &str) -> Result<Option<Stat>, Error> {
    match checked(response, path)? {
        ResponseResult::Exists(exists) => Ok(exists.stat.as_ref().map(stat_from_wire)),
        other => Err(unexpected("exists", &other)),
    }
}

fn get_data_op(path: &str, watch: bool) -> RequestOp {
    RequestOp::GetData(wire::GetData {
        path: path.to_string(),
        watch,
    })
}

fn get_data_result(response: wire::Response, path: &str) -> Result<(Option<Vec<u8>>, Stat), Error> {
    match checked(response, path)? {
        ResponseResult::GetData(got) => {
            let data = (!got.null_data).then(|| got.data.clone());
            Ok((data, required_stat(&got.stat)?))
        }
        other => Err(unexpected("get_data", &other)),
    }
}

fn get_children_op(path: &str, watch: bool) -> RequestOp {
    RequestOp::GetChildren(wire::GetChildren {
        path: path.to_string(),
        watch,
    })
}

fn get_children_result(response: wire::Response, path: &str) -> Result<(Vec<String>, Stat), Error> {
    match checked(response, path)? {
        ResponseResult::GetChildren(got) => Ok((got.children.clone(), required_stat(&got.stat)?)),
        other => Err(unexpected("get_children", &other)),
    }
}

/// A multi's answer: the per-operation results, or ZooKeeper's error report.
fn multi_result(response: wire::Response, ops: &[Op]) -> Result<Vec<OpResult>, Error> {
    let code = error_code_from_wire(response.error_code);
    let results = match response.result {
        Some(ResponseResult::Multi(multi)) => multi.results,
        Some(other) => return Err(unexpected("multi", &other)),
        None if code != ErrorCode::Ok => {
            // No per-operation report: the request as a whole was refused (malformed, too many
            // operations, not authorised to run it at all).
            return Err(Error::api(code, response.error_message, None));
        }
        None => return Err(Error::Protocol("a multi answer without results".into())),
    };
    let codes: Vec<ErrorCode> = results
        .iter()
        .map(|result| error_code_from_wire(result.error_code))
        .collect();
    if let Some(failed_index) = codes.iter().position(|code| *code != ErrorCode::Ok) {
        // The server names the operation in its message too; the error names it already.
        let prefix = format!("operation {failed_index}: ");
        let message = match response.error_message.strip_prefix(&prefix) {
            Some(reason) => reason.to_string(),
            None => response.error_message,
        };
        return Err(Error::Multi {
            failed_index,
            code: codes[failed_index],
            message,
            results: codes,
        });
    }
    if code != ErrorCode::Ok {
        let path = ops.first().map(Op::path);
        return Err(Error::api(code, response.error_message, path));
    }
    if results.len() != ops.len() {
        return Err(Error::Protocol(format!(
            "{} results for a multi of {} operations",
            results.len(),
            ops.len()
        )));
    }
    results.iter().map(OpResult::from_wire).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multi_response(code: ErrorCode, codes: &[ErrorCode]) -> wire::Response {
        wire::Response {
            xid: 1,
            zxid: 9,
            error_code: code.as_i32(),
            error_message: "no".into(),
            result: Some(ResponseResult::Multi(wire::MultiResult {
                results: codes
                    .iter()
                    .map(|code| wire::MultiOpResult {
                        error_code: code.as_i32(),
                        result: (*code == ErrorCode::Ok)
                            .then_some(wire::multi_op_result::Result::Check(wire::Empty {})),
                    })
                    .collect(),
            })),
        }
    }

    #[test]
    fn failed_multi_reports_the_failing_operation_and_every_code() {
        let ops = vec![Op::check("/a", 1), Op::check("/b", 2), Op::check("/c", 3)];
        let codes = [
            ErrorCode::Ok,
            ErrorCode::BadVersion,
            ErrorCode::RuntimeInconsistency,
        ];
        let error = multi_result(multi_response(ErrorCode::BadVersion, &codes), &ops).unwrap_err();
        assert_eq!(
            error,
            Error::Multi {
                failed_index: 1,
                code: ErrorCode::BadVersion,
                message: "no".into(),
                results: codes.to_vec(),
            }
        );
        let ok = multi_result(multi_response(ErrorCode::Ok, &[ErrorCode::Ok; 3]), &ops).unwrap();
        assert_eq!(ok, vec![OpResult::Check; 3]);
        let refused = wire::Response {
            error_code: ErrorCode::BadArguments.as_i32(),
            ..Default::default()
        };
        assert!(matches!(
            multi_result(refused, &ops),
            Err(Error::Api {
                code: ErrorCode::BadArguments,
                ..
            })
        ));
    }

    #[test]
    fn only_reads_may_be_answered_locally() {
        assert!(is_read(&get_data_op("/a", false)));
        assert!(is_read(&get_children_op("/a", true)));
        assert!(is_read(&exists_op("/a", false)));
        let write = RequestOp::SetData(wire::SetData {
            path: "/a".into(),
            data: Vec::new(),
            version: -1,
            null_data: false,
        });
        assert!(!is_read(&write));
        let sync = RequestOp::Sync(wire::Sync { path: "/".into() });
        assert!(
            !is_read(&sync),
            "sync is the barrier a local read may follow"
        );
    }

    #[test]
    fn answers_are_checked() {
        let no_node = wire::Response {
            error_code: ErrorCode::NoNode.as_i32(),
            error_message: "no node at /x".into(),
            ..Default::default()
        };
        assert!(checked(no_node, "/x").unwrap_err().is_no_node());
        let absent = wire::Response {
            result: Some(ResponseResult::Exists(wire::ExistsResult { stat: None })),
            ..Default::default()
        };
        assert_eq!(exists_result(absent, "/x"), Ok(None));
        let wrong = wire::Response {
            result: Some(ResponseResult::Ping(wire::Empty {})),
            ..Default::default()
        };
        assert!(matches!(
            get_data_result(wrong, "/x"),
            Err(Error::Protocol(_))
        ));
    }
}
