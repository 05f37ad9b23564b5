//! A minimal etcd v3 gRPC client: `KV.Range`, `KV.Put`, `KV.Txn` and `Watch.Watch`.
//!
//! The messages are written by hand with prost's derive instead of generated from etcd's
//! `rpc.proto`, because generating them needs `protoc` at build time and CI builds the whole
//! workspace. Only the fields the benchmark uses are declared; protobuf ignores the others. Field
//! numbers and the service paths are etcd's (`api/etcdserverpb/rpc.proto`, `mvccpb/kv.proto`),
//! unchanged since etcd 3.0 for everything used here.

use std::time::Instant;

use anyhow::Context as _;
use futures::StreamExt as _;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic_prost::ProstCodec;

#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// Member-local read instead of a linearizable one (etcd's default is linearizable).
    #[prost(bool, tag = "7")]
    pub serializable: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RangeResponse {
    #[prost(message, repeated, tag = "2")]
    pub kvs: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PutResponse {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RequestOp {
    #[prost(oneof = "request_op::Request", tags = "1, 2")]
    pub request: Option<request_op::Request>,
}

pub mod request_op {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Request {
        #[prost(message, tag = "1")]
        RequestRange(super::RangeRequest),
        #[prost(message, tag = "2")]
        RequestPut(super::PutRequest),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnRequest {
    /// No comparisons: the success branch always runs.
    #[prost(message, repeated, tag = "2")]
    pub success: Vec<RequestOp>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct TxnResponse {
    #[prost(bool, tag = "2")]
    pub succeeded: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchCreateRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchRequest {
    #[prost(oneof = "watch_request::RequestUnion", tags = "1")]
    pub request_union: Option<watch_request::RequestUnion>,
}

pub mod watch_request {
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum RequestUnion {
        #[prost(message, tag = "1")]
        CreateRequest(super::WatchCreateRequest),
    }
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(message, optional, tag = "2")]
    pub kv: Option<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchResponse {
    #[prost(int64, tag = "2")]
    pub watch_id: i64,
    #[prost(bool, tag = "3")]
    pub created: bool,
    #[prost(bool, tag = "4")]
    pub canceled: bool,
    #[prost(string, tag = "6")]
    pub cancel_reason: String,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
}

const RANGE: &str = "/etcdserverpb.KV/Range";
const PUT: &str = "/etcdserverpb.KV/Put";
const TXN: &str = "/etcdserverpb.KV/Txn";
const WATCH: &str = "/etcdserverpb.Watch/Watch";

/// How many event arrivals a watch holds for its reader; the benchmark reads one per round, so
/// this is only reached if a round is abandoned.
const WATCH_EVENT_BACKLOG: usize = 64;

/// One etcd client session: its own HTTP/2 connection to one member, as a ZooKeeper session is
/// its own TCP connection, so that sessions are comparable across systems.
#[derive(Clone, Debug)]
pub struct EtcdClient {
    grpc: tonic::client::Grpc<Channel>,
}

impl EtcdClient {
    /// Connects to `url` (`http://127.0.0.1:23791`).
    pub async fn connect(url: &str) -> anyhow::Result<EtcdClient> {
        let channel = Channel::from_shared(url.to_string())
            .context("etcd endpoint URL")?
            .connect()
            .await
            .with_context(|| format!("connecting to etcd at {url}"))?;
        Ok(EtcdClient {
            grpc: tonic::client::Grpc::new(channel),
        })
    }

    async fn unary<Request, Response>(
        &self,
        path: &'static str,
        request: Request,
    ) -> anyhow::Result<Response>
    where
        Request: prost::Message + Send + Sync + 'static,
        Response: prost::Message + Default + Send + Sync + 'static,
    {
        // `Grpc` calls take `&mut self`; a clone shares the connection.
        let mut grpc = self.grpc.clone();
        grpc.ready().await.context("etcd connection not ready")?;
        let response = grpc
            .unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(path),
                ProstCodec::<Request, Response>::default(),
            )
            .await
            .map_err(|status| anyhow::anyhow!("etcd {path}: {status}"))?;
        Ok(response.into_inner())
    }

    /// A linearizable read of one key; fails if the key is missing.
    pub async fn get(&self, key: &str) -> anyhow::Result<Vec<u8>> {
        let response: RangeResponse = self
            .unary(
                RANGE,
                RangeRequest {
                    key: key.as_bytes().to_vec(),
                    serializable: false,
                },
            )
            .await?;
        let kv = response
            .kvs
            .into_iter()
            .next()
            .with_context(|| format!("etcd has no key {key}"))?;
        Ok(kv.value)
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let _: PutResponse = self
            .unary(
                PUT,
                PutRequest {
                    key: key.as_bytes().to_vec(),
                    value: value.to_vec(),
                },
            )
            .await?;
        Ok(())
    }

    /// One transaction putting every key (no comparisons).
    pub async fn put_all(&self, keys: &[String], value: &[u8]) -> anyhow::Result<()> {
        let success = keys
            .iter()
            .map(|key| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: key.as_bytes().to_vec(),
                    value: value.to_vec(),
                })),
            })
            .collect();
        let response: TxnResponse = self.unary(TXN, TxnRequest { success }).await?;
        anyhow::ensure!(response.succeeded, "etcd transaction did not succeed");
        Ok(())
    }

    /// Opens a watch stream on `key` and returns once etcd confirmed the watch; every later
    /// response carrying events sends the instant it arrived on the returned channel.
    pub async fn watch(&self, key: &str) -> anyhow::Result<tokio::sync::mpsc::Receiver<Instant>> {
        let create = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: key.as_bytes().to_vec(),
                },
            )),
        };
        // The request stream stays open after the create: etcd ends a watch stream whose client
        // half-closed it.
        let requests = futures::stream::iter([create]).chain(futures::stream::pending());
        let mut grpc = self.grpc.clone();
        grpc.ready().await.context("etcd connection not ready")?;
        let mut responses = grpc
            .streaming(
                tonic::Request::new(requests),
                PathAndQuery::from_static(WATCH),
                ProstCodec::<WatchRequest, WatchResponse>::default(),
            )
            .await
            .map_err(|status| anyhow::anyhow!("etcd watch: {status}"))?
            .into_inner();
        let first = responses
            .message()
            .await
            .map_err(|status| anyhow::anyhow!("etcd watch: {status}"))?
            .context("etcd closed the watch stream")?;
        anyhow::ensure!(
            first.created && !first.canceled,
            "etcd refused the watch: {}",
            first.cancel_reason
        );
        let (events, receiver) = tokio::sync::mpsc::channel(WATCH_EVENT_BACKLOG);
        tokio::spawn(async move {
            while let Ok(Some(response)) = responses.message().await {
                if !response.events.is_empty() && events.send(Instant::now()).await.is_err() {
                    break;
                }
            }
        });
        Ok(receiver)
    }
}
