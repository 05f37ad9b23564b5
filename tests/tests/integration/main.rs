//! Polis's integration tests, as one test binary.
//!
//! Each module is one area of behaviour (the city workflows, the client, the cluster, plugins, the
//! service, the ZooKeeper face), run through real parts: real redb files, real QUIC sockets on
//! 127.0.0.1, real wasm components, real ZooKeeper clients. They are one binary rather than one
//! per file because every binary links the whole server (wasmtime and cranelift among it): 22
//! binaries took about 2.6 GB of disk and 22 links of the same code; one takes 120 MB. Run one
//! area with `cargo test -p polis-tests --test integration cluster_chaos::`.

mod city_acks;
mod city_alerts;
mod city_district;
mod city_failover;
mod city_shelters;
mod client_auth;
mod client_operations;
mod client_recipes;
mod client_sessions;
mod client_watches;
mod cluster;
mod cluster_chaos;
mod cluster_membership;
mod cluster_partition;
mod console_api;
mod console_browser;
mod crash_log;
mod crash_safety;
mod operations;
mod plugins_cluster;
mod plugins_service;
mod service_acl;
mod service_protocol;
mod service_sessions;
mod zookeeper_client;
mod zookeeper_kazoo;
mod zookeeper_zkcli;
