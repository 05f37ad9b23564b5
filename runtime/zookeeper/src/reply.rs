//! Replies: a `ReplyHeader` (xid, zxid, error code) and, on success, the operation's record.

use crate::multi::encode_end;
use crate::{Acl, JuteWriter, MultiResult, Stat};

/// `ReplyHeader`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The request's xid (or a reserved one, see [`crate::xid`]).
    pub xid: i32,
    /// The zxid of the last transaction the server had applied (for a write, the write's).
    pub zxid: i64,
    /// 0, or ZooKeeper's error code (`KeeperException.Code`); a failed request has no body.
    pub err: i32,
}

impl ReplyHeader {
    pub fn encode(&self, writer: &mut JuteWriter) {
        writer.write_int(self.xid);
        writer.write_long(self.zxid);
        writer.write_int(self.err);
    }
}

/// The record after a reply header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyBody {
    /// Nothing: errors, delete, ping, close, auth, setWatches, removeWatches, checkWatches.
    Empty,
    /// `CreateResponse` and `SyncResponse`.
    Path(String),
    /// `Create2Response` (create2, createContainer, createTTL).
    PathStat(String, Stat),
    /// `ExistsResponse`, `SetDataResponse`, `SetACLResponse`.
    Stat(Stat),
    /// `GetDataResponse`; `None` is null data (length -1).
    Data(Option<Vec<u8>>, Stat),
    /// `GetACLResponse`.
    Acl(Vec<Acl>, Stat),
    /// `SetSASLResponse`: the server's next SASL token.
    Sasl(Vec<u8>),
    /// `GetChildrenResponse`, and `GetEphemeralsResponse` (a list of paths).
    Children(Vec<String>),
    /// `GetChildren2Response`.
    Children2(Vec<String>, Stat),
    /// `MultiResponse` (multi and multiRead).
    Multi(Vec<MultiResult>),
    /// `GetAllChildrenNumberResponse`.
    Count(i32),
    /// `ErrorResponse`: addWatch answers `ErrorResponse(0)`.
    Error(i32),
    /// `WhoAmIResponse`: (auth scheme, user) pairs.
    WhoAmI(Vec<(String, String)>),
}

/// One reply frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub header: ReplyHeader,
    pub body: ReplyBody,
}

/// The whole frame of a reply, length prefix included.
pub fn encode_reply(reply: &Reply) -> Vec<u8> {
    let mut writer = JuteWriter::new();
    reply.header.encode(&mut writer);
    match &reply.body {
        ReplyBody::Empty => {}
        ReplyBody::Path(path) => writer.write_string(path),
        ReplyBody::PathStat(path, stat) => {
            writer.write_string(path);
            stat.encode(&mut writer);
        }
        ReplyBody::Stat(stat) => stat.encode(&mut writer),
        ReplyBody::Data(data, stat) => {
            writer.write_nullable_buffer(data.as_deref());
            stat.encode(&mut writer);
        }
        ReplyBody::Acl(acl, stat) => {
            Acl::encode_list(acl, &mut writer);
            stat.encode(&mut writer);
        }
        ReplyBody::Sasl(token) => writer.write_buffer(token),
        ReplyBody::Children(children) => writer.write_strings(children),
        ReplyBody::Children2(children, stat) => {
            writer.write_strings(children);
            stat.encode(&mut writer);
        }
        ReplyBody::Multi(results) => {
            for result in results {
                result.encode(&mut writer);
            }
            encode_end(&mut writer);
        }
        ReplyBody::Count(count) | ReplyBody::Error(count) => writer.write_int(*count),
        ReplyBody::WhoAmI(identities) => {
            writer.write_count(identities.len());
            for (scheme, user) in identities {
                writer.write_string(scheme);
                writer.write_string(user);
            }
        }
    }
    writer.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JuteLimits, JuteReader};

    #[test]
    fn a_failed_request_is_a_bare_header() {
        let frame = encode_reply(&Reply {
            header: ReplyHeader {
                xid: 5,
                zxid: 9,
                err: -101,
            },
            body: ReplyBody::Empty,
        });
        assert_eq!(frame.len(), 4 + 16);
        assert_eq!(&frame[..4], &16i32.to_be_bytes());
        let mut reader = JuteReader::new(&frame[4..]);
        assert_eq!(reader.read_int("xid").unwrap(), 5);
        assert_eq!(reader.read_long("zxid").unwrap(), 9);
        assert_eq!(reader.read_int("err").unwrap(), -101);
    }

    #[test]
    fn a_multi_reply_ends_with_the_done_marker() {
        let frame = encode_reply(&Reply {
            header: ReplyHeader::default(),
            body: ReplyBody::Multi(vec![
                MultiResult::Create {
                    path: "/a".to_string(),
                },
                MultiResult::Error { code: -101 },
            ]),
        });
        let mut reader = JuteReader::new(&frame[4 + 16..]);
        let limits = JuteLimits::default();
        assert_eq!(reader.read_int("type").unwrap(), 1);
        assert!(!reader.read_bool("done").unwrap());
        assert_eq!(reader.read_int("err").unwrap(), 0);
        assert_eq!(
            reader
                .read_string("path", "p", limits.path_len_max)
                .unwrap(),
            "/a"
        );
        assert_eq!(reader.read_int("type").unwrap(), -1);
        assert!(!reader.read_bool("done").unwrap());
        assert_eq!(reader.read_int("err").unwrap(), -101);
        assert_eq!(reader.read_int("ErrorResponse.err").unwrap(), -101);
        assert_eq!(reader.read_int("type").unwrap(), -1);
        assert!(reader.read_bool("done").unwrap());
        assert_eq!(reader.read_int("err").unwrap(), -1);
        assert!(reader.is_empty());
    }
}
