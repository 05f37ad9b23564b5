//! The results of a successful `multi`.

use polis_proto::convert::stat_from_wire;
use polis_proto::wire;
use polis_tree::Stat;

use crate::Error;

/// The result of one operation of a successful [`crate::Client::multi`], in the order of the
/// operations, as ZooKeeper's `OpResult`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpResult {
    /// The created node's actual path (with its sequence suffix) and its stat.
    Create {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    SetAcl {
        stat: Stat,
    },
}

impl OpResult {
    pub(crate) fn from_wire(result: &wire::MultiOpResult) -> Result<OpResult, Error> {
        use wire::multi_op_result::Result as WireResult;
        let stat = |stat: &Option<wire::Stat>| {
            stat.as_ref()
                .map(stat_from_wire)
                .ok_or_else(|| Error::Protocol("a multi result without a stat".into()))
        };
        match &result.result {
            Some(WireResult::Create(created)) => Ok(OpResult::Create {
                path: created.path.clone(),
                stat: stat(&created.stat)?,
            }),
            Some(WireResult::Delete(_)) => Ok(OpResult::Delete),
            Some(WireResult::SetData(set)) => Ok(OpResult::SetData {
                stat: stat(&set.stat)?,
            }),
            Some(WireResult::Check(_)) => Ok(OpResult::Check),
            Some(WireResult::SetAcl(set)) => Ok(OpResult::SetAcl {
                stat: stat(&set.stat)?,
            }),
            None => Err(Error::Protocol("a multi result without a result".into())),
        }
    }
}
