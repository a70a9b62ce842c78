//! `summary.json` stays schema v1, byte for byte: a bundle with a shape sweep is read back into the typed
//! [`Summary`] and written again unchanged, and its text matches the snapshot taken with the untyped version
//! (before `mode`, the classes, the sweep and the limits' sources were enums).

use cohere_bundle_core::Summary;

use crate::util;

/// Volatile numbers of `summary.json`: timings.
fn filters(s: &mut insta::Settings) {
    s.add_filter(
        r#""(total_ms|time_to_headers_ms)": [0-9.]+"#,
        r#""$1": [MS]"#,
    );
}

#[tokio::test]
async fn summary_json_with_a_sweep_keeps_schema_v1_byte_for_byte() {
    let dir = util::tempdir();
    let zip = crate::matrix::write_matrix_bundle(dir.path()).await;
    let text = util::member(&zip, "summary.json");

    // The typed model reads every field and writes the same bytes.
    let summary: Summary = serde_json::from_str(&text).expect("summary.json parses as Summary");
    let matrix = summary
        .matrix
        .as_ref()
        .expect("the sweep is in the summary");
    assert!(!matrix.cells.is_empty(), "cells: {text}");
    let again = serde_json::to_string_pretty(&summary).expect("serialises") + "\n";
    assert_eq!(
        again, text,
        "summary.json written again from the typed model differs"
    );

    // `matrix.json` is the same result as `summary.matrix`.
    let member: cohere_bundle_core::gather::matrix::MatrixResult =
        serde_json::from_str(&util::member(&zip, "matrix.json")).expect("matrix.json parses");
    assert_eq!(&member, matrix);

    let mut settings = util::insta_settings();
    filters(&mut settings);
    settings.bind(|| insta::assert_snapshot!("summary_with_sweep", text));
}
