//! Znode path rules, as ZooKeeper's `PathUtils.validatePath`.
//!
//! A path is absolute, uses `/` as its only separator, has no empty segment and no trailing slash
//! (except the root `/`), no `.` or `..` segment, and no control or otherwise invisible characters.

use crate::TreeError;

/// Checks `path` against ZooKeeper's rules and the length limit.
pub fn validate(path: &str, path_len_max: usize) -> Result<(), TreeError> {
    let invalid = |reason: &'static str| TreeError::InvalidPath {
        path: truncate_for_error(path),
        reason,
    };
    if path.is_empty() {
        return Err(invalid("path must not be empty"));
    }
    if path.len() > path_len_max {
        return Err(invalid("path is longer than path_len_max"));
    }
    if !path.starts_with('/') {
        return Err(invalid("path must start with /"));
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(invalid("path must not end with /"));
    }
    for segment in path[1..].split('/') {
        if segment.is_empty() {
            return Err(invalid("empty segment (//)"));
        }
        if segment == "." || segment == ".." {
            return Err(invalid("relative segments . and .. are not allowed"));
        }
    }
    if path.chars().any(is_forbidden_char) {
        return Err(invalid("control or non-printing character"));
    }
    Ok(())
}

/// The characters ZooKeeper's `PathUtils.validatePath` rejects: NUL, control characters, and
/// the UTF-16 code units \ud800-\uf8ff and \ufff0-\uffff.
///
/// ZooKeeper checks UTF-16 code units, so every character above U+FFFF (an emoji, say), which
/// Java holds as a surrogate pair starting in \ud800-\udbff, is rejected too: a node with such a
/// name could not be addressed by any ZooKeeper client.
fn is_forbidden_char(c: char) -> bool {
    c == '\u{0}'
        || ('\u{1}'..='\u{1f}').contains(&c)
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || ('\u{e000}'..='\u{f8ff}').contains(&c)
        || ('\u{fff0}'..='\u{ffff}').contains(&c)
        || c > '\u{ffff}'
}

/// The parent of a valid, non-root path.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(index) => &path[..index],
    }
}

/// The last segment of a valid, non-root path.
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(index) => &path[index + 1..],
        None => path,
    }
}

/// The path of `name` under `parent`.
pub fn join(parent: &str, name: &str) -> String {
    if parent == "/" {
        format!("/{name}")
    } else {
        format!("{parent}/{name}")
    }
}

/// True if `path` is `ancestor` or lies below it.
pub fn is_self_or_descendant(path: &str, ancestor: &str) -> bool {
    if ancestor == "/" {
        return true;
    }
    path == ancestor
        || (path.len() > ancestor.len()
            && path.starts_with(ancestor)
            && path.as_bytes()[ancestor.len()] == b'/')
}

/// The path itself followed by each of its ancestors up to the root.
pub fn self_and_ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = if current == "/" {
            None
        } else {
            Some(parent(current))
        };
        Some(current)
    })
}

/// Paths in errors are cut so that a hostile multi-megabyte path does not travel back whole.
fn truncate_for_error(path: &str) -> String {
    const SHOWN_MAX: usize = 256;
    if path.len() <= SHOWN_MAX {
        return path.to_string();
    }
    let mut end = SHOWN_MAX;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths_are_accepted() {
        for path in [
            "/",
            "/a",
            "/a/b",
            "/zookeeper",
            "/a/.b",
            "/a/b..",
            "/é/ü",
            "/\u{a0}",
            "/\u{f900}",
        ] {
            assert_eq!(validate(path, 4096), Ok(()), "{path}");
        }
    }

    #[test]
    fn invalid_paths_are_rejected() {
        for path in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/a/..",
            "/a/./b",
            "/a\u{0}b",
            "/a\nb",
            "/\u{7f}",
            "/\u{e000}",
            "/\u{9f}",
            "/\u{fff0}",
            "/\u{ffff}",
            "/\u{10000}",
            "/alert-\u{1f6a8}",
        ] {
            assert!(validate(path, 4096).is_err(), "{path:?}");
        }
    }

    #[test]
    fn overlong_path_is_rejected() {
        let path = format!("/{}", "a".repeat(10));
        assert!(validate(&path, 10).is_err());
        assert!(validate(&path, 11).is_ok());
    }

    #[test]
    fn parent_name_and_ancestors() {
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(name("/a/b/c"), "c");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        let ancestors: Vec<_> = self_and_ancestors("/a/b").collect();
        assert_eq!(ancestors, vec!["/a/b", "/a", "/"]);
        assert!(is_self_or_descendant("/a/b", "/a"));
        assert!(!is_self_or_descendant("/ab", "/a"));
        assert!(is_self_or_descendant("/a", "/"));
    }
}
