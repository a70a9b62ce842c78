//! report.html renders in headless Chromium and shows the shape matrix as a green/red grid.
//! Needs Debian's `chromium`: run `scripts/setup-chromium.sh` once.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `.cell-ok{background:#c9ecd5}` and `.cell-fail{background:#f6c4c4}` in crates/core/templates/report.html.j2.
const GREEN: [u8; 3] = [0xc9, 0xec, 0xd5];
const RED: [u8; 3] = [0xf6, 0xc4, 0xc4];

fn chromium() -> PathBuf {
    let candidates = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/lib/chromium/chromium",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "chromium is not installed (looked for {}): run scripts/setup-chromium.sh",
                candidates.join(", ")
            )
        })
}

/// Runs Chromium headless to screenshot `html` into `png`; kills it after two minutes.
fn screenshot(html: &Path, png: &Path, profile: &Path) {
    let url = format!("file://{}", html.display());
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
        ])
        .args([
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1000,1600")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for chromium") {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    assert!(
        status.success() && png.exists(),
        "chromium failed ({status}): {err}"
    );
}

/// Pixels of each colour in an RGB or RGBA PNG.
fn count_colours(png: &Path, colours: &[[u8; 3]]) -> (u32, u32, Vec<usize>) {
    let decoder = png::Decoder::new(std::fs::File::open(png).expect("png opens"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let mut counts = vec![0usize; colours.len()];
    for px in buf[..info.buffer_size()].chunks_exact(step) {
        for (i, c) in colours.iter().enumerate() {
            if px[..3] == c[..] {
                counts[i] += 1;
            }
        }
    }
    (info.width, info.height, counts)
}

#[test]
fn report_html_shows_the_matrix_grid_in_headless_chromium() {
    let browser = chromium();
    let dir = tempfile::tempdir().expect("tempdir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let zip = rt.block_on(crate::matrix::write_matrix_bundle(dir.path()));
    let mut a = zip::ZipArchive::new(std::fs::File::open(&zip).expect("zip")).expect("zip opens");
    let mut html = String::new();
    a.by_name("report.html")
        .expect("report.html")
        .read_to_string(&mut html)
        .expect("utf-8");
    assert!(
        html.contains("class=\"matrix\""),
        "report.html has the grid"
    );
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write report.html");
    let png = std::env::var_os("MATRIX_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("report.png"));
    let _ = std::fs::remove_file(&png);
    screenshot(&page, &png, &dir.path().join("profile"));
    let size = std::fs::metadata(&png).expect("png written").len();
    assert!(
        size > 20_000,
        "{} is only {size} bytes ({})",
        png.display(),
        browser.display()
    );
    let (w, h, counts) = count_colours(&png, &[GREEN, RED]);
    assert_eq!((w, h), (1000, 1600));
    assert!(
        counts[0] > 500,
        "green (succeeding) cells visible: {} pixels",
        counts[0]
    );
    assert!(
        counts[1] > 500,
        "red (failing) cells visible: {} pixels",
        counts[1]
    );
    check_readme_screenshot(&png);
}

/// The screenshot in the README (docs/report.png) is this test's own, and current: same size, and at most 3%
/// of its pixels differ (times and ids in the text differ between runs). `UPDATE_SCREENSHOT=1` rewrites it.
fn check_readme_screenshot(png: &Path) {
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report.png");
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        std::fs::create_dir_all(committed.parent().unwrap()).unwrap();
        std::fs::copy(png, &committed).expect("update docs/report.png");
        return;
    }
    assert!(
        committed.exists(),
        "{} is missing: run this test with UPDATE_SCREENSHOT=1",
        committed.display()
    );
    let (a, aw, ah) = rgb(png);
    let (b, bw, bh) = rgb(&committed);
    assert_eq!(
        (aw, ah),
        (bw, bh),
        "the README's screenshot has another size: update it"
    );
    let differ = a
        .chunks_exact(3)
        .zip(b.chunks_exact(3))
        .filter(|(x, y)| x.iter().zip(y.iter()).any(|(p, q)| p.abs_diff(*q) > 16))
        .count();
    let share = differ as f64 / f64::from(aw * ah);
    assert!(
        share <= 0.03,
        "docs/report.png is out of date: {:.1}% of its pixels differ (run with UPDATE_SCREENSHOT=1)",
        share * 100.0
    );
}

/// The RGB pixels of a PNG, with its width and height.
fn rgb(png: &Path) -> (Vec<u8>, u32, u32) {
    let decoder = png::Decoder::new(std::fs::File::open(png).expect("png opens"));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let step = if info.color_type == png::ColorType::Rgba {
        4
    } else {
        3
    };
    let px = buf[..info.buffer_size()]
        .chunks_exact(step)
        .flat_map(|p| p[..3].to_vec())
        .collect();
    (px, info.width, info.height)
}
