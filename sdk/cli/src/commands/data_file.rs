//! Node data read from a file or standard input (`--data-file`), within a bound.

use std::io::Read;
use std::path::Path;

/// The most bytes `--data-file` reads: the ceiling no cluster's `data_len_max` may pass, so that
/// a node's own, lower limit is the one that answers (with the server's error), while a wrong
/// file (a disk image, `/dev/zero`) is refused before it is read into memory whole.
pub const DATA_FILE_BYTES_MAX: usize = polis_tree::Limits::DATA_LEN_MAX_CEILING;

/// The whole of `file` (`-`: standard input), refused past [`DATA_FILE_BYTES_MAX`].
pub fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    read_within(file, DATA_FILE_BYTES_MAX)
}

/// The whole of `file`, refused past `bytes_max`: one byte more is read to tell.
fn read_within(file: &Path, bytes_max: usize) -> anyhow::Result<Vec<u8>> {
    let limit = u64::try_from(bytes_max)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut data = Vec::new();
    let (name, read) = if file == Path::new("-") {
        let read = std::io::stdin().lock().take(limit).read_to_end(&mut data);
        ("standard input".to_string(), read)
    } else {
        let opened = std::fs::File::open(file)
            .map_err(|error| anyhow::anyhow!("reading {}: {error}", file.display()))?;
        let read = opened.take(limit).read_to_end(&mut data);
        (file.display().to_string(), read)
    };
    read.map_err(|error| anyhow::anyhow!("reading {name}: {error}"))?;
    anyhow::ensure!(
        data.len() <= bytes_max,
        "{name} holds more than {bytes_max} bytes, more than any node may hold"
    );
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_byte_for_byte() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("data.bin");
        let bytes: Vec<u8> = (0..=255).collect();
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(read(&file).unwrap(), bytes);
    }

    #[test]
    fn a_file_past_the_bound_is_refused() {
        let directory = tempfile::tempdir().unwrap();
        let file = directory.path().join("big.bin");
        std::fs::write(&file, [7_u8; 11]).unwrap();
        assert_eq!(read_within(&file, 11).unwrap().len(), 11);
        let error = read_within(&file, 10).unwrap_err();
        assert!(error.to_string().contains("more than 10 bytes"), "{error}");
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let error = read(Path::new("/nonexistent/polis-data")).unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/polis-data"),
            "{error}"
        );
    }
}
