//! A follower's proposals: each packed batch of its clients' writes goes to the leader as one
//! forwarded request.

use std::time::Duration;

use polis_tree::TxnKind;

use super::{ForwardError, ForwardRequest, ForwardResponse, QuicPeerClient};
use crate::{ProposalFuture, ProposalSink, ProposeError};

/// Forwards proposals to one leader, which proposes each batch through its own proposer.
#[derive(Debug)]
pub struct ForwardProposalSink {
    leader: QuicPeerClient,
    /// How long one forwarded batch may take.
    timeout: Duration,
}

impl ForwardProposalSink {
    pub fn new(leader: QuicPeerClient, timeout: Duration) -> ForwardProposalSink {
        ForwardProposalSink { leader, timeout }
    }
}

impl ProposalSink for ForwardProposalSink {
    fn propose(&self, txns: Vec<TxnKind>) -> ProposalFuture {
        let leader = self.leader.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            match leader
                .forward(ForwardRequest::ClientWrite(txns), timeout)
                .await
            {
                Ok(ForwardResponse::ClientWrite(responses)) => Ok(responses),
                Ok(other) => Err(ProposeError::Unknown(format!(
                    "the leader answered a write with {other:?}"
                ))),
                // Refused before proposing: the caller may try the new leader.
                Err(ForwardError::NotLeader { leader }) => Err(ProposeError::NotLeader { leader }),
                Err(ForwardError::Refused(reason)) => Err(ProposeError::Refused(reason)),
                // The request may have reached the leader and been committed.
                Err(error) => Err(ProposeError::Unknown(error.to_string())),
            }
        })
    }
}
