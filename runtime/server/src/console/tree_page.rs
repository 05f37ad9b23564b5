//! One page of the tree view: a node's stat, ACL and data, and one page of its children,
//! read with the viewer's identities through the same ACL checks as a client's reads.

use std::ops::Bound;

use polis_tree::{DataTree, Id, Stat};
use serde_json::{Value, json};

use super::data_view::{DataFormat, render_data};

/// The most children names on one page; the page says where the next one starts.
pub const CHILDREN_PAGE_MAX: usize = 200;

/// The page of `node_path`, its children after `after` (exclusive), read as `identities`.
/// The work is bounded (one page of names, the data up to its bound), so it may run under the
/// tree's read lock.
pub fn tree_page(
    tree: &DataTree,
    node_path: &str,
    after: Option<&str>,
    format: DataFormat,
    identities: &[Id],
) -> Value {
    let (data, stat) = match tree.get_data(node_path, identities) {
        Ok(found) => found,
        Err(error) => return json!({ "path": node_path, "error": error.to_string() }),
    };
    let acl = match tree.get_acl(node_path, identities) {
        Ok((acl, _)) => acl
            .iter()
            .map(|entry| {
                json!({
                    "scheme": entry.id.scheme,
                    "id": entry.id.id,
                    "perms": perms_text(entry.perms.0),
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let children = tree
        .node(node_path)
        .map(|(_, children)| children)
        .into_iter()
        .flat_map(|children| {
            let start = after.map_or(Bound::Unbounded, Bound::Excluded);
            children.range::<str, _>((start, Bound::Unbounded))
        })
        .take(CHILDREN_PAGE_MAX + 1)
        .map(|name| name.to_string())
        .collect::<Vec<_>>();
    page_json(node_path, &stat, acl, render_data(data, format), children)
}

/// Shapes the page; a full page plus one name means there is a next page, starting after the
/// last name shown.
fn page_json(
    node_path: &str,
    stat: &Stat,
    acl: Vec<Value>,
    data: Value,
    mut children: Vec<String>,
) -> Value {
    let more = children.len() > CHILDREN_PAGE_MAX;
    children.truncate(CHILDREN_PAGE_MAX);
    let next_after = more.then(|| children.last().cloned()).flatten();
    json!({
        "path": node_path,
        "stat": stat_json(stat),
        "acl": acl,
        "data": data,
        "children": children,
        "children_total": stat.num_children,
        "next_after": next_after,
    })
}

/// A stat with zxids in hex, as `polis stat` and zkCli print them.
pub fn stat_json(stat: &Stat) -> Value {
    json!({
        "czxid": format!("0x{:x}", stat.czxid),
        "mzxid": format!("0x{:x}", stat.mzxid),
        "pzxid": format!("0x{:x}", stat.pzxid),
        "ctime": stat.ctime,
        "mtime": stat.mtime,
        "version": stat.version,
        "cversion": stat.cversion,
        "aversion": stat.aversion,
        "ephemeral_owner": format!("0x{:x}", stat.ephemeral_owner),
        "data_length": stat.data_length,
        "num_children": stat.num_children,
    })
}

/// ZooKeeper's permission letters, `cdrwa`.
pub fn perms_text(bits: u32) -> String {
    [(4, 'c'), (8, 'd'), (1, 'r'), (2, 'w'), (16, 'a')]
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, letter)| *letter)
        .collect()
}

#[cfg(test)]
mod tests {
    use polis_tree::{Acl, Caller, CreateMode, Limits, Perms, Txn, TxnKind, WriteOp};

    use super::*;

    fn create(tree: &mut DataTree, zxid: i64, path: &str, data: &[u8], acl: Vec<Acl>) {
        let op = WriteOp::Create {
            path: path.to_string(),
            data: Some(data.to_vec()),
            acl,
            mode: CreateMode::Persistent,
        };
        let txn = Txn {
            zxid,
            time_ms: 0,
            kind: TxnKind::Write {
                caller: Caller::system(),
                op,
            },
        };
        tree.apply(&txn);
    }

    fn open() -> Vec<Acl> {
        vec![Acl::new(Perms::ALL, Id::anyone())]
    }

    #[test]
    fn children_come_a_page_at_a_time() {
        let mut tree = DataTree::new(Limits::default());
        create(&mut tree, 1, "/big", b"", open());
        for index in 0..(CHILDREN_PAGE_MAX + 5) {
            create(
                &mut tree,
                2 + index as i64,
                &format!("/big/n{index:05}"),
                b"",
                open(),
            );
        }
        let viewer = [Id::anyone()];
        let first = tree_page(&tree, "/big", None, DataFormat::Auto, &viewer);
        assert_eq!(
            first["children"].as_array().unwrap().len(),
            CHILDREN_PAGE_MAX
        );
        assert_eq!(first["children_total"], CHILDREN_PAGE_MAX + 5);
        let after = first["next_after"].as_str().unwrap().to_string();
        assert_eq!(after, format!("n{:05}", CHILDREN_PAGE_MAX - 1));
        let second = tree_page(&tree, "/big", Some(&after), DataFormat::Auto, &viewer);
        assert_eq!(second["children"].as_array().unwrap().len(), 5);
        assert_eq!(second["next_after"], Value::Null);
    }

    #[test]
    fn a_viewer_sees_only_what_the_acl_lets_it_read() {
        let mut tree = DataTree::new(Limits::default());
        let admins_only = vec![Acl::new(Perms::ALL, Id::new(Id::SCHEME_X509, "CN=admin"))];
        create(&mut tree, 1, "/secret", b"s3cret", admins_only);
        create(&mut tree, 2, "/open", br#"{"ok":true}"#, open());
        let viewer = [Id::anyone()];
        let refused = tree_page(&tree, "/secret", None, DataFormat::Auto, &viewer);
        assert!(refused["error"].as_str().unwrap().contains("NoAuth") || refused["data"].is_null());
        assert!(!refused.to_string().contains("s3cret"));
        let admin = [Id::new(Id::SCHEME_SUPER, "console")];
        let seen = tree_page(&tree, "/secret", None, DataFormat::Auto, &admin);
        assert_eq!(seen["data"]["text"], "s3cret");
        let open_page = tree_page(&tree, "/open", None, DataFormat::Auto, &viewer);
        assert_eq!(open_page["data"]["format"], "json");
        assert_eq!(open_page["acl"][0]["perms"], "cdrwa");
        assert_eq!(open_page["stat"]["mzxid"], "0x2");
    }
}
