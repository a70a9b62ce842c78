//! Hostile bundles for `verify`, built with the `zip` crate as a stranger could: bombs, duplicate and escaping
//! names, too many members. Shared by the end-to-end tests and `benches/verify.rs`.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// What a member holds.
pub enum Body {
    /// These bytes.
    Bytes(Vec<u8>),
    /// This many spaces, streamed in 1 MiB pieces (a bomb: deflate packs 1 GiB of them into about 1 MB).
    Spaces(u64),
}

impl Body {
    /// A text member.
    pub fn text(s: &str) -> Body {
        Body::Bytes(s.as_bytes().to_vec())
    }

    /// Streams the body to `w`, returning its size and SHA-256.
    fn write_to(&self, w: &mut impl Write) -> (u64, String) {
        let mut h = Sha256::new();
        let size = match self {
            Body::Bytes(b) => {
                w.write_all(b).expect("write member");
                h.update(b);
                b.len() as u64
            }
            Body::Spaces(n) => {
                let piece = vec![b' '; 1 << 20];
                let mut left = *n;
                while left > 0 {
                    let k = left.min(piece.len() as u64) as usize;
                    w.write_all(&piece[..k]).expect("write member");
                    h.update(&piece[..k]);
                    left -= k as u64;
                }
                *n
            }
        };
        (size, hex::encode(h.finalize()))
    }
}

/// What `manifest.json` holds.
pub enum Manifest {
    /// Every other member with its true size and SHA-256, as the tool writes it.
    Listing,
    /// This body instead.
    Raw(Body),
}

fn options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(9))
}

/// Writes a bundle-shaped zip: `members` in order, then `manifest.json`. With [`Manifest::Listing`] and the
/// members a bundle has (say `report.md` and `summary.json`), the zip passes `verify`.
pub fn write_zip(path: &Path, members: &[(&str, Body)], manifest: Manifest) {
    let f = std::fs::File::create(path).expect("create zip");
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(f));
    let mut listing = Vec::new();
    for (name, body) in members {
        zip.start_file(*name, options()).expect("start member");
        let (size, sha256) = body.write_to(&mut zip);
        listing.push(serde_json::json!({"name": name, "size": size, "sha256": sha256}));
    }
    zip.start_file("manifest.json", options())
        .expect("start manifest");
    match manifest {
        Manifest::Listing => {
            let m = serde_json::json!({"schema_version": 1, "tool": "hostile", "members": listing});
            zip.write_all(m.to_string().as_bytes())
                .expect("write manifest");
        }
        Manifest::Raw(body) => {
            body.write_to(&mut zip);
        }
    }
    zip.finish()
        .expect("finish zip")
        .flush()
        .expect("flush zip");
}

/// The members of a minimal bundle that verifies: `report.md` and `summary.json`.
pub fn minimal() -> Vec<(&'static str, Body)> {
    vec![
        ("report.md", Body::text("# Report\n")),
        ("summary.json", Body::text(r#"{"schema_version": 1}"#)),
    ]
}

/// A bundle with `n` members in all (`manifest.json` included), each a line of text, every one listed.
pub fn many_members(path: &Path, n: usize) {
    let names: Vec<String> = (0..n.saturating_sub(3))
        .map(|i| format!("exchanges/{i:06}.json"))
        .collect();
    let mut members = minimal();
    for (i, name) in names.iter().enumerate() {
        members.push((
            name.as_str(),
            Body::Bytes(format!("{{\"i\": {i}}}\n").into_bytes()),
        ));
    }
    write_zip(path, &members, Manifest::Listing);
}

/// Renames member `from` to `to` (names of the same length) in the local header and the central directory,
/// leaving everything else as it is: how a zip gets two members of one name, which the `zip` crate refuses to
/// write.
pub fn rename_member(path: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len(), "same length");
    let (local, central) = {
        let mut z =
            zip::ZipArchive::new(std::fs::File::open(path).expect("open zip")).expect("zip");
        let m = z.by_name(from).expect("member to rename");
        (m.header_start(), m.central_header_start())
    };
    let mut bytes = std::fs::read(path).expect("read zip");
    for (at, fixed) in [(local as usize, 30), (central as usize, 46)] {
        let name = &mut bytes[at + fixed..at + fixed + from.len()];
        assert_eq!(name, from.as_bytes(), "name where the header says");
        name.copy_from_slice(to.as_bytes());
    }
    std::fs::write(path, bytes).expect("write zip");
}

/// Makes member `name` claim to inflate to `size` bytes (in its local header and the central directory), so a
/// reader that trusts the claim is fooled: how a bomb hides from a size check.
pub fn set_declared_size(path: &Path, name: &str, size: u32) {
    let (local, central) = {
        let mut z =
            zip::ZipArchive::new(std::fs::File::open(path).expect("open zip")).expect("zip");
        let m = z.by_name(name).expect("member");
        (m.header_start(), m.central_header_start())
    };
    let mut bytes = std::fs::read(path).expect("read zip");
    for at in [local as usize + 22, central as usize + 24] {
        bytes[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }
    std::fs::write(path, bytes).expect("write zip");
}
