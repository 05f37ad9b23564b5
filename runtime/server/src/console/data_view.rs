//! A znode's data as the console shows it: text, JSON or hex, never more than a bound, with a
//! marker where it was cut.

use serde_json::{Value, json};

/// The most bytes of one node's data the console shows.
pub const DATA_BYTES_MAX: usize = 64 * 1024;
/// The most bytes shown as a hex dump (each takes about four characters on the page).
pub const HEX_BYTES_MAX: usize = 4 * 1024;

/// How to show data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataFormat {
    /// JSON if it parses as JSON, text if it is UTF-8, hex otherwise.
    Auto,
    Text,
    Json,
    Hex,
}

impl DataFormat {
    pub fn parse(name: Option<&str>) -> DataFormat {
        match name {
            Some("text") => DataFormat::Text,
            Some("json") => DataFormat::Json,
            Some("hex") => DataFormat::Hex,
            _ => DataFormat::Auto,
        }
    }
}

/// The longest prefix of `text` of at most `bytes_max` bytes that ends on a character boundary.
pub fn truncate_str(text: &str, bytes_max: usize) -> (&str, bool) {
    if text.len() <= bytes_max {
        return (text, false);
    }
    let mut end = bytes_max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

/// `data` shown in `format`: `{format, len, text, truncated}`, where `format` is the one used
/// (JSON that does not parse falls back to text, and text that is not UTF-8 to hex).
pub fn render_data(data: Option<&[u8]>, format: DataFormat) -> Value {
    let Some(data) = data else {
        return json!({ "format": "null", "len": 0, "text": "", "truncated": false });
    };
    let utf8 = std::str::from_utf8(data).ok();
    let parsed = || {
        // Parsing is skipped for data past the bound: its JSON would be cut anyway, and the
        // work stays bounded.
        (data.len() <= DATA_BYTES_MAX)
            .then(|| serde_json::from_slice::<Value>(data).ok())
            .flatten()
    };
    let (used, text, truncated) = match (format, utf8) {
        (DataFormat::Hex, _) | (DataFormat::Auto | DataFormat::Text | DataFormat::Json, None) => {
            let shown = &data[..data.len().min(HEX_BYTES_MAX)];
            ("hex", hex_dump(shown), data.len() > shown.len())
        }
        (DataFormat::Json | DataFormat::Auto, Some(text)) => match parsed() {
            Some(value) if !data.is_empty() => {
                let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
                let (shown, cut) = truncate_str(&pretty, DATA_BYTES_MAX);
                ("json", shown.to_string(), cut)
            }
            _ => {
                let (shown, cut) = truncate_str(text, DATA_BYTES_MAX);
                ("text", shown.to_string(), cut)
            }
        },
        (DataFormat::Text, Some(text)) => {
            let (shown, cut) = truncate_str(text, DATA_BYTES_MAX);
            ("text", shown.to_string(), cut)
        }
    };
    json!({ "format": used, "len": data.len(), "text": text, "truncated": truncated })
}

/// A hex dump as `xxd` prints it: offset, sixteen bytes, and their printable characters.
pub fn hex_dump(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len() * 4 + 16);
    for (line, chunk) in data.chunks(16).enumerate() {
        out.push_str(&format!("{:08x}  ", line * 16));
        for column in 0..16 {
            match chunk.get(column) {
                Some(byte) => out.push_str(&format!("{byte:02x} ")),
                None => out.push_str("   "),
            }
        }
        out.push(' ');
        out.extend(chunk.iter().map(|byte| {
            if byte.is_ascii_graphic() || *byte == b' ' {
                *byte as char
            } else {
                '.'
            }
        }));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_picks_json_then_text_then_hex() {
        let json = render_data(Some(br#"{"a":1}"#), DataFormat::Auto);
        assert_eq!(json["format"], "json");
        assert_eq!(json["text"], "{\n  \"a\": 1\n}");
        let text = render_data(Some(b"hello"), DataFormat::Auto);
        assert_eq!(
            (text["format"].as_str(), text["text"].as_str()),
            (Some("text"), Some("hello"))
        );
        let binary = render_data(Some(&[0xff, 0x00, b'A']), DataFormat::Auto);
        assert_eq!(binary["format"], "hex");
        assert!(
            binary["text"]
                .as_str()
                .unwrap()
                .starts_with("00000000  ff 00 41")
        );
        assert!(binary["text"].as_str().unwrap().trim_end().ends_with("..A"));
        assert_eq!(render_data(None, DataFormat::Auto)["format"], "null");
    }

    #[test]
    fn a_huge_value_is_cut_with_a_marker() {
        let huge = "é".repeat(DATA_BYTES_MAX);
        let shown = render_data(Some(huge.as_bytes()), DataFormat::Text);
        assert_eq!(shown["truncated"], true);
        assert_eq!(shown["len"], huge.len());
        let text = shown["text"].as_str().unwrap();
        assert!(text.len() <= DATA_BYTES_MAX && text.chars().all(|c| c == 'é'));
        let hex = render_data(Some(&vec![0u8; DATA_BYTES_MAX * 4]), DataFormat::Hex);
        assert_eq!(hex["truncated"], true);
        assert_eq!(
            hex["text"].as_str().unwrap().lines().count(),
            HEX_BYTES_MAX / 16
        );
    }

    #[test]
    fn json_that_does_not_parse_is_shown_as_text() {
        let shown = render_data(Some(b"{not json"), DataFormat::Json);
        assert_eq!(shown["format"], "text");
        assert_eq!(DataFormat::parse(Some("hex")), DataFormat::Hex);
        assert_eq!(DataFormat::parse(Some("nonsense")), DataFormat::Auto);
    }

    #[test]
    fn truncation_ends_on_a_character() {
        assert_eq!(truncate_str("aé", 2), ("a", true));
        assert_eq!(truncate_str("abc", 3), ("abc", false));
    }
}
