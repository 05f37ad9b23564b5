//! The exchange between a guest's fiber and the thread that invokes it.
//!
//! Wasmtime requires a store's data to be `'static`, but the tree view a plugin reads is borrowed
//! for the invocation (typically a `&DataTree`). The host functions are therefore `async`: a read
//! puts its request in a small exchange slot and returns `Pending`, which suspends the guest's
//! fiber and hands control back to [`drive`], the loop polling the call on the invoking thread.
//! That loop holds the view, answers the request, and polls again; the guest resumes with the
//! answer. All of it happens on the calling thread with no executor and no `unsafe`, and costs one
//! fiber switch per read.

use std::future::Future;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use polis_tree::{Stat, TreeError};

use crate::TreeView;

#[derive(Debug)]
pub(crate) enum ReadRequest {
    GetData(String),
    Exists(String),
    GetChildren(String),
}

#[derive(Debug)]
pub(crate) enum ReadResponse {
    Data(Result<(Vec<u8>, Stat), TreeError>),
    Exists(Result<Option<Stat>, TreeError>),
    Children(Result<Vec<String>, TreeError>),
}

#[derive(Debug, Default)]
pub(crate) struct Exchange {
    pub(crate) request: Option<ReadRequest>,
    pub(crate) response: Option<ReadResponse>,
}

/// Polls `call` to completion on this thread, answering the guest's reads from `view` whenever
/// it suspends. The guest only suspends to read, so a suspension without a request means
/// something else went wrong; after `patience` of those the call is abandoned (dropping it
/// unwinds the guest).
pub(crate) fn drive<T>(
    call: impl Future<Output = wasmtime::Result<T>>,
    exchange: &Mutex<Exchange>,
    view: &dyn TreeView,
    patience: Duration,
) -> wasmtime::Result<T> {
    let mut call = std::pin::pin!(call);
    let mut cx = Context::from_waker(Waker::noop());
    let mut idle_since: Option<Instant> = None;
    loop {
        if let Poll::Ready(output) = call.as_mut().poll(&mut cx) {
            return output;
        }
        let request = exchange.lock().expect("exchange lock").request.take();
        match request {
            Some(request) => {
                idle_since = None;
                let response = match request {
                    ReadRequest::GetData(node_path) => {
                        ReadResponse::Data(view.get_data(&node_path))
                    }
                    ReadRequest::Exists(node_path) => ReadResponse::Exists(view.exists(&node_path)),
                    ReadRequest::GetChildren(node_path) => {
                        ReadResponse::Children(view.get_children(&node_path))
                    }
                };
                exchange.lock().expect("exchange lock").response = Some(response);
            }
            None => {
                let since = *idle_since.get_or_insert_with(Instant::now);
                if since.elapsed() > patience {
                    return Err(wasmtime::Error::msg(
                        "the plugin suspended without a request to serve",
                    ));
                }
                std::thread::yield_now();
            }
        }
    }
}
