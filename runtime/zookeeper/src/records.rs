//! Jute's data records shared by many operations: `Stat`, `Id` and `ACL`
//! (`org.apache.zookeeper.data`).

use crate::{DecodeError, JuteLimits, JuteReader, JuteWriter};

/// A znode's metadata, field for field as `org.apache.zookeeper.data.Stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    pub czxid: i64,
    pub mzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub cversion: i32,
    pub aversion: i32,
    pub ephemeral_owner: i64,
    pub data_length: i32,
    pub num_children: i32,
    pub pzxid: i64,
}

impl Stat {
    /// The encoded length of a `Stat`: 6 longs and 5 ints.
    pub const ENCODED_LEN: usize = 6 * 8 + 5 * 4;

    pub fn encode(&self, writer: &mut JuteWriter) {
        writer.write_long(self.czxid);
        writer.write_long(self.mzxid);
        writer.write_long(self.ctime);
        writer.write_long(self.mtime);
        writer.write_int(self.version);
        writer.write_int(self.cversion);
        writer.write_int(self.aversion);
        writer.write_long(self.ephemeral_owner);
        writer.write_int(self.data_length);
        writer.write_int(self.num_children);
        writer.write_long(self.pzxid);
    }

    pub fn decode(reader: &mut JuteReader<'_>) -> Result<Stat, DecodeError> {
        Ok(Stat {
            czxid: reader.read_long("stat.czxid")?,
            mzxid: reader.read_long("stat.mzxid")?,
            ctime: reader.read_long("stat.ctime")?,
            mtime: reader.read_long("stat.mtime")?,
            version: reader.read_int("stat.version")?,
            cversion: reader.read_int("stat.cversion")?,
            aversion: reader.read_int("stat.aversion")?,
            ephemeral_owner: reader.read_long("stat.ephemeralOwner")?,
            data_length: reader.read_int("stat.dataLength")?,
            num_children: reader.read_int("stat.numChildren")?,
            pzxid: reader.read_long("stat.pzxid")?,
        })
    }
}

/// An identity: a scheme (`world`, `digest`, `auth`, `ip`, …) and an id in it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Id {
    pub scheme: String,
    pub id: String,
}

/// One ACL entry: permission bits (READ 1, WRITE 2, CREATE 4, DELETE 8, ADMIN 16) for an id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    pub perms: i32,
    pub id: Id,
}

impl Acl {
    /// The smallest encoding of an entry: perms and two empty strings.
    const ENCODED_LEN_MIN: usize = 3 * 4;

    pub fn encode(&self, writer: &mut JuteWriter) {
        writer.write_int(self.perms);
        writer.write_string(&self.id.scheme);
        writer.write_string(&self.id.id);
    }

    pub fn encode_list(acl: &[Acl], writer: &mut JuteWriter) {
        writer.write_count(acl.len());
        for entry in acl {
            entry.encode(writer);
        }
    }

    pub fn decode_list(
        reader: &mut JuteReader<'_>,
        limits: &JuteLimits,
    ) -> Result<Vec<Acl>, DecodeError> {
        let count = reader.read_count(
            "acl",
            "acl_entries_max",
            limits.acl_entries_max,
            Acl::ENCODED_LEN_MIN,
        )?;
        let mut acl = Vec::with_capacity(count);
        for _ in 0..count {
            let perms = reader.read_int("acl.perms")?;
            let scheme =
                reader.read_string("acl.id.scheme", "path_len_max", limits.path_len_max)?;
            let id = reader.read_string("acl.id.id", "path_len_max", limits.path_len_max)?;
            acl.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        Ok(acl)
    }
}
