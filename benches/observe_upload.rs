//! Memory and throughput of `cohere-bundle observe` relaying a very large request body (issue 12: a 1.5 GB
//! POST took the proxy to 1.49 GB RSS). Run with `cargo bench --bench observe_upload`.
//!
//! The proxy runs as the product runs it: `cohere-bundle observe --listen 127.0.0.1:0 --upstream URL` as a
//! child process (no command: it serves until SIGTERM). In this process: an upstream on 127.0.0.1 that reads
//! each body frame by frame and discards it (counting the bytes), and a client that generates the body on the
//! fly (a v2 chat request whose message is filler; nothing is stored) in 64 KiB frames. The body goes once
//! straight to the upstream (the reference) and once through the proxy with a `content-length` (as the SDKs
//! send it) and once chunked (a streaming client). Printed: the proxy's peak RSS (`VmHWM` of
//! `/proc/PID/status`, read at the end, before the proxy stops), its RSS before the uploads, its CPU time, and
//! the throughput of each upload. Target: peak RSS under 64 MiB.
//!
//! Knobs: `OBSERVE_UPLOAD_BYTES` (default 1500000000, 1.5 GB), `OBSERVE_UPLOAD_BIN` (another
//! `cohere-bundle` binary to measure, e.g. an older build).

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const TARGET_MIB: f64 = 64.0;
static FILL: [u8; 64 * 1024] = [b'x'; 64 * 1024];
const START: &str =
    r#"{"model":"command-a-03-2025","stream":false,"messages":[{"role":"user","content":""#;
const END: &str = r#""}]}"#;

/// An upstream that reads every body to the end, discarding it, and answers a small 200.
async fn discarding_upstream(received: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let received = received.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let received = received.clone();
                    async move {
                        let mut body = req.into_body();
                        while let Some(Ok(frame)) = body.frame().await {
                            if let Some(d) = frame.data_ref() {
                                received.fetch_add(d.len() as u64, Ordering::Relaxed);
                            }
                        }
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(br#"{"id":"ok"}"#)))
                                .expect("response"),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A `total`-byte chat request body, generated in 64 KiB frames.
fn generated(total: u64) -> reqwest::Body {
    let fill = total - START.len() as u64 - END.len() as u64;
    let middle = futures_util::stream::unfold(0u64, move |sent| async move {
        if sent >= fill {
            return None;
        }
        let n = (fill - sent).min(FILL.len() as u64) as usize;
        Some((
            Ok::<_, std::io::Error>(Bytes::from_static(&FILL[..n])),
            sent + n as u64,
        ))
    });
    let s = futures_util::stream::once(async { Ok(Bytes::from_static(START.as_bytes())) })
        .chain(middle)
        .chain(futures_util::stream::once(async {
            Ok(Bytes::from_static(END.as_bytes()))
        }));
    reqwest::Body::wrap_stream(s)
}

/// Uploads `total` bytes to `url` and returns the time it took and the status.
async fn upload(
    client: &reqwest::Client,
    url: &str,
    total: u64,
    declared: bool,
) -> (Duration, u16) {
    let t = Instant::now();
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(generated(total));
    if declared {
        req = req.header("content-length", total.to_string());
    }
    let status = match req.send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            let _ = r.bytes().await;
            s
        }
        Err(e) => {
            eprintln!("upload to {url} failed: {e}");
            0
        }
    };
    (t.elapsed(), status)
}

/// A field of `/proc/PID/status` in KiB (`VmHWM`, `VmRSS`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// User plus system CPU time of a process.
fn cpu_time(pid: u32) -> Option<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the `(comm)`, which may hold spaces: utime and stime are the 12th and 13th.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz))
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn rate(total: u64, d: Duration) -> String {
    format!(
        "{:.0} MB/s ({:.2} s)",
        total as f64 / d.as_secs_f64() / 1e6,
        d.as_secs_f64()
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: u64 = std::env::var("OBSERVE_UPLOAD_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_500_000_000);
    let bin = std::env::var("OBSERVE_UPLOAD_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_cohere-bundle").to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let received = Arc::new(AtomicU64::new(0));
    let up = rt.block_on(discarding_upstream(received.clone()));

    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(&bin)
        .args(["observe", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(format!("http://{up}"))
        .current_dir(dir.path())
        .env_remove("CO_API_KEY")
        .env_remove("COHERE_API_KEY")
        .env_remove("CO_API_URL")
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin}: {e}"));
    let pid = child.id();
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let proxy = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("observe exited before listening");
        }
        if let Some(rest) = line.split("recording proxy on ").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("proxy URL")
                .to_string();
        }
    };
    // Drain the rest of stderr so the child never blocks on it.
    let drain = std::thread::spawn(move || {
        let mut out = String::new();
        let mut line = String::new();
        while stderr.read_line(&mut line).unwrap_or(0) > 0 {
            out.push_str(&line);
            line.clear();
        }
        out
    });
    std::thread::sleep(Duration::from_millis(200));
    let rss_idle = status_kib(pid, "VmRSS:");

    println!(
        "observe upload: {total} bytes ({:.2} GB) per upload, proxy = {bin}",
        total as f64 / 1e9
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let runs = [
        (
            "direct to the upstream (reference)",
            format!("http://{up}/v2/chat"),
            true,
        ),
        (
            "through observe, content-length",
            format!("{proxy}/v2/chat"),
            true,
        ),
        (
            "through observe, chunked",
            format!("{proxy}/v2/chat"),
            false,
        ),
    ];
    let cpu0 = cpu_time(pid);
    for (name, url, declared) in &runs {
        received.store(0, Ordering::Relaxed);
        let (d, status) = rt.block_on(upload(&client, url, total, *declared));
        let got = received.load(Ordering::Relaxed);
        let ok = if status == 200 && got == total {
            String::new()
        } else {
            format!("  INCOMPLETE: status {status}, upstream got {got} bytes")
        };
        println!("  {name:<36} {}{ok}", rate(total, d));
    }
    let cpu = cpu_time(pid).zip(cpu0).map(|(a, b)| a.saturating_sub(b));
    let hwm = status_kib(pid, "VmHWM:");
    let rss_end = status_kib(pid, "VmRSS:");

    // SAFETY: kill with a pid of our own child.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = child.wait();
    let tail = drain.join().unwrap_or_default();

    println!(
        "  proxy RSS: {} idle, {} after the uploads, peak (VmHWM) {}",
        mib(rss_idle),
        mib(rss_end),
        mib(hwm)
    );
    if let Some(cpu) = cpu {
        println!(
            "  proxy CPU for the two proxied uploads: {:.2} s ({:.2} s per GB)",
            cpu.as_secs_f64(),
            cpu.as_secs_f64() / (2.0 * total as f64 / 1e9)
        );
    }
    let peak = hwm.map(|k| k as f64 / 1024.0);
    match peak {
        Some(p) if p < TARGET_MIB => {
            println!("  peak RSS {p:.1} MiB < target {TARGET_MIB} MiB: ok")
        }
        Some(p) => println!("  peak RSS {p:.1} MiB >= target {TARGET_MIB} MiB: OVER TARGET"),
        None => println!("  peak RSS unknown (no /proc)"),
    }
    if let Some(line) = tail.lines().find(|l| l.contains("observed")) {
        println!("  {}", line.trim_start_matches("cohere-bundle: "));
    }
}
