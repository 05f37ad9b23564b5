//! Feeds arbitrary bytes to everything the server decodes from a client: the frame prefix, the
//! connect request and requests, under tight limits so that every limit is reached. A panic, or
//! an allocation libFuzzer's `-rss_limit_mb` / `-malloc_limit_mb` catches, is a finding.
//! Whatever decodes must encode again and decode to the same request.

#![no_main]

use libfuzzer_sys::fuzz_target;
use polis_zookeeper::{JuteLimits, Request, classify_prefix, decode_connect, decode_request};

fuzz_target!(|bytes: &[u8]| {
    let limits = JuteLimits {
        frame_len_max: 4096,
        path_len_max: 256,
        data_len_max: 1024,
        acl_entries_max: 8,
        multi_ops_max: 16,
        watch_paths_max: 32,
        password_len_max: 16,
    };
    if let Some(prefix) = bytes.first_chunk::<4>() {
        let _ = classify_prefix(*prefix, true, &limits);
        let _ = classify_prefix(*prefix, false, &limits);
    }
    let _ = decode_connect(bytes, &limits);
    if let Ok(request) = decode_request(bytes, &limits) {
        let frame = request.encode();
        let again: Request =
            decode_request(&frame[4..], &limits).expect("re-encoded request decodes");
        assert_eq!(again, request);
    }
});
