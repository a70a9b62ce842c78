//! Bundling benchmark: scrub + compress + write N MiB of LLM-API logs into a bundle, timed in the same run as
//! `zip -q -6` of the same files, with this process's peak memory.
//!
//! `cargo bench --bench bundle` (1024 MiB in 4 logs) or `cargo bench --bench bundle -- --mib 256`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use cohere_bundle_core::bundle::{write_bundle, Member, MemberSource, WriteOptions};
use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};

const KEY: &str = "Zx8Qm2Lp4Rt6Vw8Yb0Nc2Df4Gh6Jk8Ls0Pq2Ws4E";

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Writes `mib` MiB of JSON-lines log: requests, responses and headers, with a secret now and then.
fn generate(path: &PathBuf, mib: u64, seed: u64) {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).expect("create log"));
    let target = mib << 20;
    let mut written = 0u64;
    let mut i = seed;
    let words = [
        "the", "model", "returned", "an", "answer", "about", "shipping", "orders", "customer",
        "refund", "policy", "token",
    ];
    while written < target {
        i = i
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let text: Vec<&str> = (0..24)
            .map(|k| words[((i >> (k % 60)) as usize + k) % words.len()])
            .collect();
        let line = match i % 50 {
            0 => format!("{{\"ts\":{written},\"level\":\"debug\",\"headers\":{{\"Authorization\":\"Bearer {KEY}\",\"x-debug-trace-id\":\"{:032x}\"}}}}\n", i),
            1 => format!("{{\"ts\":{written},\"level\":\"info\",\"env\":\"AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY{}\"}}\n", i % 10),
            2..=20 => format!("{{\"ts\":{written},\"event\":\"request\",\"endpoint\":\"/v2/chat\",\"body\":{{\"model\":\"command-r-08-2024\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}],\"max_tokens\":512}}}}\n", text.join(" ")),
            _ => format!("{{\"ts\":{written},\"event\":\"response\",\"status\":200,\"usage\":{{\"billed_units\":{{\"input_tokens\":{},\"output_tokens\":{}}}}},\"text\":\"{}\"}}\n", i % 900, i % 300, text.join(" ")),
        };
        w.write_all(line.as_bytes()).expect("write log");
        written += line.len() as u64;
    }
    w.flush().expect("flush log");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib: u64 = args
        .iter()
        .position(|a| a == "--mib")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let files = 4u64;
    let dir = tempfile::tempdir().expect("tempdir");
    let logs: Vec<PathBuf> = (0..files)
        .map(|i| dir.path().join(format!("app-{i}.log")))
        .collect();
    eprintln!("generating {mib} MiB of logs in {files} files...");
    for (i, p) in logs.iter().enumerate() {
        generate(p, mib / files, i as u64 + 1);
    }
    let total: u64 = logs
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let total_mib = total as f64 / (1 << 20) as f64;
    let rss_before = peak_rss_mib();

    let scrubber = Scrubber::new({
        let mut o = ScrubOptions::default();
        o.known = vec![KnownSecret::new("cohere-key", KEY)];
        o.redact_content = false;
        o
    });
    let members: Vec<Member> = logs
        .iter()
        .map(|p| Member {
            name: format!("logs/{}", p.file_name().unwrap().to_string_lossy()),
            source: MemberSource::File {
                path: p.clone(),
                keep_tail: None,
            },
        })
        .collect();
    let out = dir.path().join("bundle.zip");
    let t = Instant::now();
    let written = write_bundle(
        &members,
        &scrubber,
        &WriteOptions {
            path: out.clone(),
            force: false,
            cuts: vec![],
        },
    )
    .expect("bundle");
    let ours = t.elapsed().as_secs_f64();
    let rss_after = peak_rss_mib();

    let zip_out = dir.path().join("plain.zip");
    let t = Instant::now();
    let status = std::process::Command::new("zip")
        .arg("-q")
        .arg("-6")
        .arg("-j")
        .arg(&zip_out)
        .args(&logs)
        .status();
    let theirs = t.elapsed().as_secs_f64();
    println!("bundle: {total_mib:.0} MiB of logs in {files} files");
    println!(
        "cohere-bundle (scrub + compress + write + leak check): {ours:.2} s = {:.0} MiB/s, zip {:.1} MiB, {} redactions, peak RSS {rss_after:.1} MiB (before bundling {rss_before:.1} MiB)",
        total_mib / ours,
        written.size as f64 / (1 << 20) as f64,
        written.redactions.total()
    );
    match status {
        Ok(s) if s.success() => {
            let size = std::fs::metadata(&zip_out).map(|m| m.len()).unwrap_or(0);
            println!(
                "zip -q -6 (compress + write only): {theirs:.2} s = {:.0} MiB/s, zip {:.1} MiB",
                total_mib / theirs,
                size as f64 / (1 << 20) as f64
            );
            println!(
                "ratio: cohere-bundle takes {:.2}x the time of zip -q -6",
                ours / theirs
            );
        }
        _ => println!("zip -q -6: not available (install Debian's zip to compare)"),
    }
}
