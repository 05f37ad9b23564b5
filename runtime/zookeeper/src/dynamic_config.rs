//! ZooKeeper's dynamic configuration text (`/zookeeper/config`, the answer to `reconfig`) and the
//! server specifications `reconfig` takes, as pure functions.
//!
//! ZooKeeper 3.5+ names each server of an ensemble with a line
//! `server.<id>=<address>:<quorum port>:<election port>[:<role>][;[<client address>:]<client port>]`
//! and ends the configuration with `version=<hex>`. Polis's members have a peer address (Raft) and
//! a client address instead, and no election port; so a member added through `reconfig` keeps the
//! text it was given (its *descriptor*, everything after `=`), and a member Polis knows only from
//! its own membership is described with its peer port standing for both of ZooKeeper's.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The most servers one `reconfig` may name (joining, leaving or as the new members). A
/// cluster has a handful; the bound keeps a hostile administrator's request from making the
/// leader plan over an unbounded list.
pub const RECONFIG_SERVERS_MAX: usize = 64;

/// The longest descriptor kept for a server, in bytes.
pub const SERVER_DESCRIPTOR_LEN_MAX: usize = 512;

/// What a server is in ZooKeeper's terms: a participant votes, an observer (Polis's learner)
/// does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerRole {
    Participant,
    Observer,
}

/// One `server.<id>=...` specification, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    pub id: u64,
    pub role: ServerRole,
    /// `<address>:<quorum port>`: where peers reach the server, Polis's peer address.
    pub peer_address: String,
    /// `<client address>:<client port>` (the address `0.0.0.0` when only the port is given), or
    /// empty when the specification has no client part.
    pub client_address: String,
    /// Everything after `=`, kept so that the configuration shows the server as it was named.
    pub descriptor: String,
}

/// Parses a comma-separated list of server specifications (`reconfig`'s joining servers and
/// new members), or says why it is not one. Empty or absent lists are no servers.
pub fn parse_servers(list: &str) -> Result<Vec<ServerSpec>, String> {
    let specs: Vec<&str> = list
        .split([',', '\n'])
        .map(str::trim)
        .filter(|spec| !spec.is_empty())
        .collect();
    if specs.len() > RECONFIG_SERVERS_MAX {
        return Err(format!(
            "{} servers exceed RECONFIG_SERVERS_MAX ({RECONFIG_SERVERS_MAX})",
            specs.len()
        ));
    }
    let servers = specs
        .into_iter()
        .map(parse_server)
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids: Vec<u64> = servers.iter().map(|server| server.id).collect();
    ids.sort_unstable();
    if ids.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("a server id is named twice".to_string());
    }
    Ok(servers)
}

/// Parses one `server.<id>=<address>:<port>:<port>[:<role>][;[<address>:]<port>]`.
pub fn parse_server(spec: &str) -> Result<ServerSpec, String> {
    let invalid = |why: &str| format!("{spec:?} is not a server specification: {why}");
    let (key, descriptor) = spec.split_once('=').ok_or_else(|| invalid("no '='"))?;
    let id = key
        .trim()
        .strip_prefix("server.")
        .and_then(|id| id.parse::<u64>().ok())
        .ok_or_else(|| invalid("the key is not server.<id>"))?;
    let descriptor = descriptor.trim();
    if descriptor.len() > SERVER_DESCRIPTOR_LEN_MAX {
        return Err(invalid("longer than SERVER_DESCRIPTOR_LEN_MAX"));
    }
    let (quorum, client) = match descriptor.split_once(';') {
        Some((quorum, client)) => (quorum, Some(client)),
        None => (descriptor, None),
    };
    // The role is optional and last; the address may itself hold colons (IPv6 in brackets), so
    // the ports are taken from the right.
    let (address_and_ports, role) = match quorum.rsplit_once(':') {
        Some((rest, "participant")) => (rest, ServerRole::Participant),
        Some((rest, "observer")) => (rest, ServerRole::Observer),
        _ => (quorum, ServerRole::Participant),
    };
    let mut parts: Vec<&str> = address_and_ports.rsplitn(3, ':').collect();
    parts.reverse();
    server_of(id, role, &parts, client, descriptor).map_err(|why| invalid(&why))
}

fn server_of(
    id: u64,
    role: ServerRole,
    address_and_ports: &[&str],
    client: Option<&str>,
    descriptor: &str,
) -> Result<ServerSpec, String> {
    let [address, quorum_port, election_port] = address_and_ports else {
        return Err("expected <address>:<quorum port>:<election port>".to_string());
    };
    if address.is_empty() {
        return Err("the address is empty".to_string());
    }
    port(quorum_port)?;
    port(election_port)?;
    let client_address = match client.map(str::trim) {
        None | Some("") => String::new(),
        Some(client) => match client.rsplit_once(':') {
            Some((host, client_port)) if !host.is_empty() => {
                port(client_port)?;
                client.to_string()
            }
            Some(_) => return Err("the client address is empty".to_string()),
            None => {
                port(client)?;
                format!("0.0.0.0:{client}")
            }
        },
    };
    Ok(ServerSpec {
        id,
        role,
        peer_address: format!("{address}:{quorum_port}"),
        client_address,
        descriptor: descriptor.to_string(),
    })
}

fn port(text: &str) -> Result<u16, String> {
    text.parse::<u16>()
        .ok()
        .filter(|port| *port > 0)
        .ok_or_else(|| format!("{text:?} is not a port"))
}

/// Parses `reconfig`'s comma-separated leaving server ids.
pub fn parse_ids(list: &str) -> Result<Vec<u64>, String> {
    let ids = list
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(|id| {
            id.parse::<u64>()
                .map_err(|_| format!("{id:?} is not a server id"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() > RECONFIG_SERVERS_MAX {
        return Err(format!(
            "{} servers exceed RECONFIG_SERVERS_MAX ({RECONFIG_SERVERS_MAX})",
            ids.len()
        ));
    }
    Ok(ids)
}

/// The descriptors a configuration text holds, by server id (lines that are not
/// `server.<id>=...` are skipped: `version=` and anything a later ZooKeeper adds).
pub fn descriptors_of(config: &str) -> BTreeMap<u64, String> {
    config
        .lines()
        .filter_map(|line| {
            let (key, descriptor) = line.split_once('=')?;
            let id = key.trim().strip_prefix("server.")?.parse::<u64>().ok()?;
            Some((id, descriptor.trim().to_string()))
        })
        .collect()
}

/// How a member Polis knows only from its membership is described: its peer port stands for
/// both of ZooKeeper's ports (Polis elects and replicates over one connection).
pub fn synthesized_descriptor(peer_address: &str, client_address: &str, voter: bool) -> String {
    let role = if voter { "participant" } else { "observer" };
    let quorum = match peer_address.rsplit_once(':') {
        Some((_, port)) => format!("{peer_address}:{port}"),
        None => peer_address.to_string(),
    };
    if client_address.is_empty() {
        format!("{quorum}:{role}")
    } else {
        format!("{quorum}:{role};{client_address}")
    }
}

/// The configuration text: one `server.<id>=<descriptor>` line per member in id order, then
/// `version=<hex>` as ZooKeeper writes it.
pub fn render(members: &BTreeMap<u64, String>, version: u64) -> String {
    let mut text = String::new();
    for (id, descriptor) in members {
        let _ = writeln!(text, "server.{id}={descriptor}");
    }
    let _ = write!(text, "version={version:x}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_specification_parses_as_zookeeper_writes_it() {
        let spec = parse_server("server.100=0.0.0.0:1234:2345:observer;0.0.0.0:3456").unwrap();
        assert_eq!(spec.id, 100);
        assert_eq!(spec.role, ServerRole::Observer);
        assert_eq!(spec.peer_address, "0.0.0.0:1234");
        assert_eq!(spec.client_address, "0.0.0.0:3456");
        assert_eq!(spec.descriptor, "0.0.0.0:1234:2345:observer;0.0.0.0:3456");

        let spec = parse_server("server.2=10.0.0.2:2888:3888;2181").unwrap();
        assert_eq!(spec.role, ServerRole::Participant);
        assert_eq!(spec.client_address, "0.0.0.0:2181");
        let spec = parse_server("server.3=[::1]:2888:3888:participant").unwrap();
        assert_eq!(spec.peer_address, "[::1]:2888");
        assert_eq!(spec.client_address, "");
    }

    #[test]
    fn malformed_specifications_are_refused_with_a_reason() {
        for bad in [
            "some thing",
            "server.x=a:1:2",
            "server.1=a:1",
            "server.1=:1:2",
            "server.1=a:0:2",
            "server.1=a:1:2;b:",
            "server.1=a:1:70000",
        ] {
            assert!(parse_server(bad).is_err(), "{bad} parsed");
        }
        assert!(parse_servers("server.1=a:1:2,server.1=b:1:2").is_err());
        let many = (0..=RECONFIG_SERVERS_MAX)
            .map(|id| format!("server.{id}=a:1:2"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(parse_servers(&many).is_err());
        assert!(parse_ids("1,x").is_err());
        assert_eq!(parse_ids(" 1, 2 ,").unwrap(), vec![1, 2]);
        assert!(parse_servers("").unwrap().is_empty());
    }

    #[test]
    fn the_configuration_renders_and_reads_back_its_descriptors() {
        let mut members = BTreeMap::new();
        members.insert(
            2,
            synthesized_descriptor("10.0.0.2:7482", "10.0.0.2:7481", true),
        );
        members.insert(9, "h:1:2:observer;h:3".to_string());
        let text = render(&members, 0x1a);
        assert_eq!(
            text,
            "server.2=10.0.0.2:7482:7482:participant;10.0.0.2:7481\n\
             server.9=h:1:2:observer;h:3\nversion=1a"
        );
        assert_eq!(descriptors_of(&text), members);
        // The synthesized descriptor is itself a specification Polis reads back alike.
        let spec = parse_server(&format!("server.2={}", members[&2])).unwrap();
        assert_eq!(spec.peer_address, "10.0.0.2:7482");
        assert_eq!(spec.client_address, "10.0.0.2:7481");
    }
}
