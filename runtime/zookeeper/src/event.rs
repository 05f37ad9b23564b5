//! Watch notifications: a reply with xid -1 carrying a `WatcherEvent`.

use crate::{DecodeError, JuteLimits, JuteReader, JuteWriter, ReplyHeader, xid};

/// `Watcher.Event.EventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum EventType {
    None = -1,
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
    DataWatchRemoved = 5,
    ChildWatchRemoved = 6,
    PersistentWatchRemoved = 7,
}

/// `Watcher.Event.KeeperState`: every notification of a live session says SyncConnected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum KeeperState {
    Disconnected = 0,
    SyncConnected = 3,
    AuthFailed = 4,
    ConnectedReadOnly = 5,
    Closed = 7,
    Expired = -112,
}

/// One watch notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherEvent {
    pub event_type: EventType,
    pub state: KeeperState,
    pub path: String,
}

impl WatcherEvent {
    /// Decodes the event after its reply header, as a client would (event type and state stay
    /// raw numbers there, since a client must tolerate new ones).
    pub fn decode_raw(
        reader: &mut JuteReader<'_>,
        limits: &JuteLimits,
    ) -> Result<(i32, i32, String), DecodeError> {
        let event_type = reader.read_int("event.type")?;
        let state = reader.read_int("event.state")?;
        let path = reader.read_string("event.path", "path_len_max", limits.path_len_max)?;
        Ok((event_type, state, path))
    }
}

/// The whole frame of a notification: `ReplyHeader(-1, zxid, 0)` and the event. ZooKeeper 3.6+
/// sends the zxid of the change (earlier servers sent -1); clients ignore it.
pub fn encode_notification(zxid: i64, event: &WatcherEvent) -> Vec<u8> {
    let mut writer = JuteWriter::new();
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    }
    .encode(&mut writer);
    writer.write_int(event.event_type as i32);
    writer.write_int(event.state as i32);
    writer.write_string(&event.path);
    writer.finish()
}
