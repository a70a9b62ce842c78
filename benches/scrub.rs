//! Scrubber throughput and memory on a generated LLM-API log, compared with ripsecrets.
//!
//! `cargo bench --bench scrub` (256 MiB); `cargo bench --bench scrub -- --mib 1024` for 1 GiB.
//! The log (JSON lines of requests, responses and headers, with planted secrets) is written to a temp dir.
//! The scrubbing runs in a child process so its peak memory (VmHWM) is its own. `SCRUB_BENCH_KEEP=DIR` keeps
//! the generated log in DIR, so that `--child FILE` can be profiled alone.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cohere_bundle_core::scrub::{KnownSecret, ScrubOptions, Scrubber};

const KEY: &str = "wsEGdjnelIuVJy7VjzPhIzDz9YlDgiPBA3CO9PFw";

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

/// Writes `mib` MiB of log lines; returns how many secrets were planted.
fn generate(path: &Path, mib: usize) -> std::io::Result<usize> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let target = (mib as u64) << 20;
    let mut written = 0u64;
    let mut planted = 0usize;
    let mut i = 0u64;
    let words = [
        "the",
        "model",
        "returned",
        "a",
        "summary",
        "of",
        "quarterly",
        "results",
        "for",
        "customer",
        "support",
        "tickets",
        "about",
        "billing",
        "and",
        "latency",
        "in",
        "region",
        "europe",
        "with",
        "tokens",
        "counted",
    ];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    while written < target {
        let n = 20 + (rnd() % 120) as usize;
        let text: Vec<&str> = (0..n)
            .map(|_| words[(rnd() % words.len() as u64) as usize])
            .collect();
        let text = text.join(" ");
        let line = match i % 4 {
            0 => format!(
                r#"{{"ts":"2026-11-24T10:00:{:02}Z","kind":"request","method":"POST","url":"https://api.cohere.com/v2/chat","headers":[{{"name":"Content-Type","value":"application/json"}},{{"name":"X-Client-Name","value":"bench"}}],"body":{{"model":"command-r-plus-08-2024","max_tokens":512,"messages":[{{"role":"user","content":"{text}"}}]}}}}"#,
                i % 60
            ),
            1 => format!(
                r#"{{"ts":"2026-11-24T10:00:{:02}Z","kind":"response","status":200,"headers":[{{"name":"x-request-id","value":"{:016x}"}}],"body":{{"id":"{:x}","finish_reason":"COMPLETE","message":{{"role":"assistant","content":[{{"type":"text","text":"{text}"}}]}},"usage":{{"billed_units":{{"input_tokens":{},"output_tokens":{}}}}}}}}}"#,
                i % 60,
                rnd(),
                rnd(),
                n,
                n / 2
            ),
            2 => format!(
                r#"{{"ts":"2026-11-24T10:00:{:02}Z","kind":"log","level":"info","msg":"retrying after 429","attempt":{},"latency_ms":{}}}"#,
                i % 60,
                i % 5,
                rnd() % 3000
            ),
            _ => format!(
                r#"{{"ts":"2026-11-24T10:00:{:02}Z","kind":"embed","body":{{"model":"embed-english-v3.0","input_type":"search_document","texts":["{text}"]}}}}"#,
                i % 60
            ),
        };
        w.write_all(line.as_bytes())?;
        w.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        // Plant a secret every ~2000 lines, rotating through kinds.
        if i % 2000 == 7 {
            let s = match (i / 2000) % 6 {
                0 => format!(
                    r#"{{"kind":"request","headers":[{{"name":"Authorization","value":"Bearer {KEY}"}}]}}"#
                ),
                1 => format!("export CO_API_KEY={KEY}"),
                2 => format!("ghp_{:036x}", rnd() as u128 * 0x1_0000_0001)
                    .chars()
                    .take(40)
                    .collect(),
                3 => format!("AKIA{}", "Q7ZDX5R2LMN3PV4B"),
                4 => format!(
                    r#"{{"db":"postgres://app:S3cr3t-{:x}@db.internal:5432/prod"}}"#,
                    rnd()
                ),
                _ => format!(r#"{{"password": "pw-{:x}"}}"#, rnd()),
            };
            w.write_all(s.as_bytes())?;
            w.write_all(b"\n")?;
            written += s.len() as u64 + 1;
            planted += 1;
        }
        i += 1;
    }
    w.flush()?;
    Ok(planted)
}

fn child(input: &str) {
    let start_hwm = vm_hwm_kib();
    let s = Scrubber::new({
        let mut o = ScrubOptions::default();
        o.known = vec![KnownSecret::new("cohere-key", KEY)];
        o.redact_content = false;
        o
    });
    let f = std::fs::File::open(input).expect("bench input");
    let out = std::io::sink();
    let t = Instant::now();
    let stats = s.scrub_stream("bench.log", f, out).expect("scrub");
    let secs = t.elapsed().as_secs_f64();
    let rep = s.report();
    println!(
        "CHILD bytes={} secs={secs:.3} hwm_kib={} start_hwm_kib={start_hwm} redactions={}",
        stats.bytes_in,
        vm_hwm_kib(),
        rep.total()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(p) = args.iter().position(|a| a == "--child") {
        child(&args[p + 1]);
        return;
    }
    let mut sizes = vec![256usize];
    if let Some(p) = args.iter().position(|a| a == "--mib") {
        sizes = args[p + 1]
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect();
    } else if let Ok(v) = std::env::var("SCRUB_BENCH_MIB") {
        sizes = v.split(',').filter_map(|n| n.parse().ok()).collect();
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let me = std::env::current_exe().expect("own path");
    for mib in sizes {
        let path = dir.path().join(format!("llm-{mib}.jsonl"));
        let t = Instant::now();
        let planted = generate(&path, mib).expect("generate");
        println!(
            "generated {mib} MiB log with {planted} planted secrets in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        let out = Command::new(&me)
            .arg("--child")
            .arg(&path)
            .output()
            .expect("run child");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.starts_with("CHILD"))
            .unwrap_or("")
            .to_string();
        let field = |k: &str| -> f64 {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let bytes = field("bytes");
        let secs = field("secs");
        println!(
            "cohere-bundle scrub_stream: {mib} MiB in {secs:.2}s = {:.0} MiB/s single-core, peak memory (VmHWM) {:.1} MiB, {} redactions",
            bytes / 1048576.0 / secs.max(1e-9),
            field("hwm_kib") / 1024.0,
            field("redactions")
        );
        match which("ripsecrets") {
            None => println!("ripsecrets: not installed"),
            Some(rs) => {
                let t = Instant::now();
                let o = Command::new(&rs).arg(&path).output();
                let secs = t.elapsed().as_secs_f64();
                match o {
                    Ok(o) => {
                        let found = String::from_utf8_lossy(&o.stdout).lines().count();
                        println!(
                            "ripsecrets {}: {mib} MiB in {secs:.2}s = {:.0} MiB/s ({found} lines reported; it detects, it does not rewrite)",
                            rs.display(),
                            mib as f64 / secs
                        );
                    }
                    Err(e) => println!("ripsecrets: failed to run: {e}"),
                }
            }
        }
        // SCRUB_BENCH_KEEP=DIR keeps the generated log there (to profile `--child FILE` alone).
        match std::env::var_os("SCRUB_BENCH_KEEP") {
            Some(d) => {
                let kept = Path::new(&d).join(path.file_name().unwrap_or_default());
                if std::fs::rename(&path, &kept).is_err() {
                    let _ = std::fs::copy(&path, &kept).map(|_| std::fs::remove_file(&path));
                }
                println!("kept the log at {}", kept.display());
            }
            None => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
