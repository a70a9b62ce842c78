//! `verify` on zips from strangers: bombs, duplicate and escaping names, symbolic links and too many members
//! are refused with exit 1 and a one-line error naming the member, with bounded memory and no panic.

use std::path::Path;

use crate::hostile_zips::{self as hz, Body, Manifest};
use crate::util;

const GIB: u64 = 1 << 30;

fn verify(dir: &Path, zip: &str) -> util::Run {
    util::cli(dir).args(["verify", zip]).run()
}

#[test]
fn a_minimal_hostile_built_bundle_verifies() {
    // The builder makes bundles that pass, so each refusal below is for the one thing changed.
    let d = util::tempdir();
    hz::write_zip(&d.path().join("ok.zip"), &hz::minimal(), Manifest::Listing);
    let r = verify(d.path(), "ok.zip").success();
    assert!(r.stdout.contains("OK (2 members"), "{}", r.stdout);
}

#[test]
fn manifest_inflating_to_1_gib_is_refused_without_inflating_it() {
    let d = util::tempdir();
    let zip = d.path().join("bomb.zip");
    hz::write_zip(&zip, &hz::minimal(), Manifest::Raw(Body::Spaces(GIB)));
    let on_disk = std::fs::metadata(&zip).expect("zip").len();
    assert!(on_disk < 4 << 20, "a bomb is small: {on_disk} bytes");
    // Refused from the size the zip declares, before inflating a byte of it; the bytes it would inflate to are
    // refused as they stream too (the unit test `json_is_parsed_as_it_streams_and_refused_past_the_cap`).
    // Peak memory against the 64 MiB target: `cargo bench --bench verify`.
    verify(d.path(), "bomb.zip").fails(1, &["manifest.json", "1.0 GiB", "16.0 MiB"]);
}

#[test]
fn a_manifest_that_understates_its_size_is_cut_off_at_the_cap() {
    // It claims 100 bytes: the size check passes, and the read stops at the cap (or the zip reader's own end).
    let d = util::tempdir();
    let zip = d.path().join("liar.zip");
    hz::write_zip(&zip, &hz::minimal(), Manifest::Raw(Body::Spaces(GIB)));
    hz::set_declared_size(&zip, "manifest.json", 100);
    verify(d.path(), "liar.zip").fails(1, &["manifest.json"]);
}

#[test]
fn summary_inflating_past_the_cap_is_refused() {
    // Listed in the manifest with its true size and hash, so the refusal is the cap's.
    let d = util::tempdir();
    let members = vec![
        ("report.md", Body::text("# Report\n")),
        ("summary.json", Body::Spaces(64 << 20)),
    ];
    hz::write_zip(&d.path().join("s.zip"), &members, Manifest::Listing);
    verify(d.path(), "s.zip").fails(1, &["summary.json", "16.0 MiB"]);
}

#[test]
fn a_manifest_listing_too_many_members_is_refused() {
    let entries: Vec<_> = (0..10_001)
        .map(|i| serde_json::json!({"name": format!("m{i}"), "size": 0, "sha256": ""}))
        .collect();
    let manifest = serde_json::json!({"schema_version": 1, "tool": "x", "members": entries});
    let d = util::tempdir();
    hz::write_zip(
        &d.path().join("m.zip"),
        &hz::minimal(),
        Manifest::Raw(Body::Bytes(manifest.to_string().into_bytes())),
    );
    verify(d.path(), "m.zip").fails(1, &["manifest.json", "more than 10000 members"]);
}

#[test]
fn a_duplicate_name_is_refused() {
    // A second report.md, unlisted, would be the one `unzip` leaves on disk.
    let d = util::tempdir();
    let zip = d.path().join("dup.zip");
    let mut members = hz::minimal();
    members.push(("report.mX", Body::text("# Not the report you checked\n")));
    hz::write_zip(&zip, &members, Manifest::Listing);
    hz::rename_member(&zip, "report.mX", "report.md");
    verify(d.path(), "dup.zip").fails(1, &["report.md", "twice"]);
}

#[test]
fn names_that_escape_the_folder_are_refused() {
    let d = util::tempdir();
    for (i, (name, why)) in [
        ("../x", "'..'"),
        ("logs/../../x", "'..'"),
        ("/abs", "absolute"),
        ("C:/x", "drive letter"),
        ("c:x", "drive letter"),
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
    ]
    .into_iter()
    .enumerate()
    {
        let file = format!("n{i}.zip");
        let mut members = hz::minimal();
        members.push((name, Body::text("x")));
        hz::write_zip(&d.path().join(&file), &members, Manifest::Listing);
        verify(d.path(), &file).fails(1, &[name, why]);
    }
}

#[test]
fn a_symbolic_link_member_is_refused() {
    let d = util::tempdir();
    let zip = d.path().join("link.zip");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip).expect("create"));
        w.add_symlink(
            "report.md",
            "/etc/passwd",
            zip::write::SimpleFileOptions::default(),
        )
        .expect("symlink");
        w.finish().expect("finish");
    }
    verify(d.path(), "link.zip").fails(1, &["report.md", "symbolic link"]);
}

#[test]
fn more_members_than_the_limit_are_refused_before_reading_them() {
    let d = util::tempdir();
    hz::many_members(&d.path().join("many.zip"), 10_001);
    verify(d.path(), "many.zip").fails(1, &["10001 members", "limit of 10000"]);
}

#[test]
fn a_bundle_at_the_member_limit_verifies() {
    let d = util::tempdir();
    hz::many_members(&d.path().join("limit.zip"), 10_000);
    let r = verify(d.path(), "limit.zip").success();
    assert!(r.stdout.contains("OK (9999 members"), "{}", r.stdout);
}

#[test]
fn a_secret_across_a_read_boundary_is_found() {
    // The leak search reads members in rounds of about 1 MiB; a key cut by a round's end is still found.
    const KEY: &str = "Zq8Wm2Lp4Rt6Vw8Yb0Nc2Df4Gh6Jk8Ls0Pq2Ws4E";
    let d = util::tempdir();
    for (i, at) in [
        (1usize << 20) - 20,
        (1 << 20) + (64 << 10) - 7,
        (2 << 20) + (64 << 10) - 30,
    ]
    .into_iter()
    .enumerate()
    {
        let mut log = vec![b'a'; 3 << 20];
        log[at..at + KEY.len()].copy_from_slice(KEY.as_bytes());
        log[at - 1] = b' ';
        log[at + KEY.len()] = b' ';
        let mut members = hz::minimal();
        members.push(("logs/app.log", Body::Bytes(log)));
        let file = format!("leak{i}.zip");
        hz::write_zip(&d.path().join(&file), &members, Manifest::Listing);
        util::cli(d.path())
            .args(["verify", &file, "--secret", KEY])
            .run()
            .fails(3, &["logs/app.log"]);
    }
}
