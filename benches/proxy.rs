//! Added latency and throughput of the observe proxy on loopback, against direct calls to the same upstream.
//! Run with `cargo bench --bench proxy`. Targets (issue 6): p50 added ≤ 0.5 ms, throughput ≥ 90 % of direct
//! calls to the simulator.
//!
//! Upstreams:
//! - the project's simulator (`cohere_bundle_simulator`), answering v2 chat requests made with the demo key:
//!   the main figure;
//! - a minimal hyper server that answers every request at once with a fixed v2 chat body, the worst case for
//!   the proxy (an upstream that does no work), also with 2 ms and 10 ms of think time.
//!
//! Layout: client and upstream each run on their own tokio runtime (2 worker threads each, named `client` and
//! `upstream`), as the SDK and the API are separate processes in real use; the observe proxy runs on its own
//! thread (`observe-proxy`, as in the product), and the bare reference forwarder on a 1-thread runtime
//! (`proxy`) so that it is compared like for like. So every figure can say where the CPU went: per request,
//! the microseconds of CPU spent by each part's threads (`/proc/self/task/*/schedstat`, kernel time such as
//! loopback TCP included). `PROXY_BENCH_LAYOUT=shared` runs client, upstream and the reference forwarder on
//! one runtime (no per-part split then). `PROXY_BENCH_THREADS_CLIENT` / `_UPSTREAM` / `_PROXY` change the
//! worker counts.
//!
//! Fairness: the same client code, requests and concurrency (16 keep-alive connections) for direct and
//! proxied; both warmed up first; rounds alternate the order (direct first, then proxied first) and every
//! round's ratio is printed, with the median and range. Knobs: `PROXY_BENCH_REQUESTS` (default 4000: latency
//! samples; throughput runs use 5× that, 1× with think time), `PROXY_BENCH_ROUNDS` (default 5).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cohere_bundle_core::gather::observe::{ObserveOptions, Proxy};
use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::runtime::Runtime;

const CHAT_RESPONSE: &str = r#"{"id":"c1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hello! How can I help you today?"}]},"usage":{"billed_units":{"input_tokens":5,"output_tokens":9},"tokens":{"input_tokens":71,"output_tokens":9}}}"#;
const CHAT_REQUEST: &str = r#"{"model":"command-a-03-2025","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":100}"#;
const CONCURRENCY: usize = 16;

/// The minimal upstream's think time per request, in microseconds (0: answer at once).
static UPSTREAM_DELAY_US: AtomicU64 = AtomicU64::new(0);

async fn minimal_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(|req: Request<hyper::body::Incoming>| async move {
                        let _ = req.into_body().collect().await;
                        let delay = UPSTREAM_DELAY_US.load(Ordering::Relaxed);
                        if delay > 0 {
                            tokio::time::sleep(Duration::from_micros(delay)).await;
                        }
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "application/json")
                                .header("x-debug-trace-id", "0123456789abcdef0123456789abcdef")
                                .body(Full::new(Bytes::from_static(CHAT_RESPONSE.as_bytes())))
                                .expect("response"),
                        )
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A reference point, not the product: a bare forwarding proxy (hyper, one upstream connection per client
/// connection, bodies streamed both ways, nothing recorded, no header rewriting). What any HTTP/1 proxy on
/// this stack pays at least for the extra hop.
async fn bare_forwarder(upstream: SocketAddr) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind forwarder");
    let addr = listener.local_addr().expect("forwarder addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = up.set_nodelay(true);
                let Ok((sender, conn)) =
                    hyper::client::conn::http1::handshake(TokioIo::new(up)).await
                else {
                    return;
                };
                tokio::spawn(conn);
                let sender = Arc::new(tokio::sync::Mutex::new(sender));
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let sender = sender.clone();
                    async move {
                        let fut = {
                            let mut s = sender.lock().await;
                            s.ready().await?;
                            s.send_request(req)
                        };
                        fut.await
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

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(c)
}

/// One v2 chat call; checks the status and that the body has the length a direct call gets.
async fn one(client: &HttpClient, url: &str, expect_len: usize) -> Duration {
    let t = Instant::now();
    let req = Request::post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {DEMO_KEY}"))
        .body(Full::new(Bytes::from_static(CHAT_REQUEST.as_bytes())))
        .expect("request");
    let resp = client.request(req).await.expect("bench request");
    assert_eq!(resp.status(), 200, "{url}");
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("bench body")
        .to_bytes();
    assert_eq!(
        body.len(),
        expect_len,
        "{url}: {}",
        String::from_utf8_lossy(&body)
    );
    t.elapsed()
}

async fn body_len(url: &str) -> usize {
    let req = Request::post(url)
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {DEMO_KEY}"))
        .body(Full::new(Bytes::from_static(CHAT_REQUEST.as_bytes())))
        .expect("request");
    let resp = client().request(req).await.expect("probe request");
    assert_eq!(resp.status(), 200, "{url}");
    resp.into_body()
        .collect()
        .await
        .expect("probe body")
        .to_bytes()
        .len()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (ns) of this process's threads, by the prefix of their name: client, proxy, upstream, other.
fn cpu_by_part() -> [u64; 4] {
    let mut out = [0u64; 4];
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in dir.flatten() {
        let p = task.path();
        let comm = std::fs::read_to_string(p.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(p.join("schedstat"))
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .unwrap_or(0);
        // `observe-proxy` is the proxy's own thread; the bench's `proxy` runtime only starts it.
        let i = match comm.trim_end() {
            "client" => 0,
            "proxy" | "observe-proxy" => 1,
            "upstream" => 2,
            _ => 3,
        };
        out[i] += ns;
    }
    out
}

/// One throughput run's result.
#[derive(Clone, Copy)]
struct Run {
    rps: f64,
    /// CPU µs per request: client, proxy, upstream, other, total.
    cpu_us: [f64; 5],
    /// Cores busy on average (total CPU / wall time).
    cores: f64,
}

async fn throughput(client: &HttpClient, url: &str, total: usize, expect_len: usize) -> Run {
    let n = total / CONCURRENCY;
    let cpu0 = cpu_by_part();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                one(&client, &url, expect_len).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("throughput task");
    }
    let wall = start.elapsed().as_secs_f64();
    let cpu1 = cpu_by_part();
    let done = (n * CONCURRENCY) as f64;
    let mut cpu_us = [0.0; 5];
    for i in 0..4 {
        cpu_us[i] = cpu1[i].saturating_sub(cpu0[i]) as f64 / 1000.0 / done;
        cpu_us[4] += cpu_us[i];
    }
    Run {
        rps: done / wall,
        cpu_us,
        cores: cpu_us[4] * done / 1e6 / wall,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn avg_cpu(runs: &[Run]) -> [f64; 5] {
    let mut s = [0.0; 5];
    for r in runs {
        for (i, v) in r.cpu_us.iter().enumerate() {
            s[i] += v / runs.len() as f64;
        }
    }
    s
}

/// Alternating rounds of direct and proxied runs; prints every round and a summary.
/// Returns the median throughput ratio and the CPU-bound ratio, in %.
async fn compare(
    label: &str,
    direct_url: &str,
    proxy_url: &str,
    total: usize,
    rounds: usize,
    split: bool,
) -> (f64, f64) {
    let expect_len = body_len(direct_url).await;
    let (dc, pc) = (client(), client());
    // Warm-up: open the keep-alive connections and run the code paths of both sides.
    throughput(
        &dc,
        direct_url,
        (total / 5).max(CONCURRENCY * 20),
        expect_len,
    )
    .await;
    throughput(
        &pc,
        proxy_url,
        (total / 5).max(CONCURRENCY * 20),
        expect_len,
    )
    .await;
    println!("{label}: {total} requests per run, {CONCURRENCY} concurrent keep-alive clients");
    let (mut direct, mut proxied, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (d, p) = if round % 2 == 0 {
            let d = throughput(&dc, direct_url, total, expect_len).await;
            (d, throughput(&pc, proxy_url, total, expect_len).await)
        } else {
            let p = throughput(&pc, proxy_url, total, expect_len).await;
            (throughput(&dc, direct_url, total, expect_len).await, p)
        };
        let ratio = p.rps / d.rps * 100.0;
        println!(
            "  round {}: direct {:>6.0} req/s   proxied {:>6.0} req/s   = {ratio:5.1} % of direct",
            round + 1,
            d.rps,
            p.rps
        );
        direct.push(d);
        proxied.push(p);
        ratios.push(ratio);
    }
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    let med = median(ratios.clone());
    println!("  => proxied = {med:.1} % of direct (median of {rounds}; range {lo:.1}–{hi:.1} %)   (target >= 90 %)");
    let (dcpu, pcpu) = (avg_cpu(&direct), avg_cpu(&proxied));
    let cores = |runs: &[Run]| runs.iter().map(|r| r.cores).sum::<f64>() / runs.len() as f64;
    if split {
        println!(
            "  CPU per request (µs): direct  client {:5.1}  upstream {:5.1}  other {:4.1}  total {:5.1}  ({:.2} cores busy)",
            dcpu[0],
            dcpu[2],
            dcpu[3],
            dcpu[4],
            cores(&direct)
        );
        println!(
            "                        proxied client {:5.1}  upstream {:5.1}  other {:4.1}  total {:5.1}  ({:.2} cores busy)  proxy {:5.1}",
            pcpu[0],
            pcpu[2],
            pcpu[3],
            pcpu[4],
            cores(&proxied),
            pcpu[1]
        );
    } else {
        println!(
            "  CPU per request (µs, whole process): direct {:5.1} ({:.2} cores busy)   proxied {:5.1} ({:.2} cores busy)",
            dcpu[4],
            cores(&direct),
            pcpu[4],
            cores(&proxied)
        );
    }
    println!(
        "  CPU bound: when the cores are saturated, throughput ~ 1 / CPU per request: direct/proxied CPU = {:.1} %",
        dcpu[4] / pcpu[4] * 100.0
    );
    (med, dcpu[4] / pcpu[4] * 100.0)
}

fn runtime(name: &'static str) -> Runtime {
    let default = if name == "proxy" { 1 } else { 2 };
    let threads = std::env::var(format!("PROXY_BENCH_THREADS_{}", name.to_uppercase()))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Pins every thread of this process (or, with `only_self`, the calling thread) to `cpu`.
fn pin(cpu: usize, only_self: bool) {
    let tids: Vec<i32> = if only_self {
        vec![0]
    } else {
        std::fs::read_dir("/proc/self/task")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    for tid in tids {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it; the call reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

/// `--serve-simulator`: the simulator alone in this process, pinned to the last CPU, until stdin closes.
fn serve_simulator() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    pin(cpus - 1, true); // before the runtime starts, so its threads inherit it
    let rt = runtime("upstream");
    let sim = rt
        .block_on(Simulator::start(SimConfig::default()))
        .expect("simulator");
    println!("SIM {}", sim.base_url());
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    drop(sim);
}

fn main() {
    if std::env::args().any(|a| a == "--serve-simulator") {
        serve_simulator();
        return;
    }
    let n: usize = std::env::var("PROXY_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let rounds: usize = std::env::var("PROXY_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let split = std::env::var("PROXY_BENCH_LAYOUT").map_or(true, |v| v != "shared");
    let client_rt = Arc::new(runtime(if split { "client" } else { "bench" }));
    let (proxy_rt, upstream_rt) = if split {
        (Arc::new(runtime("proxy")), Arc::new(runtime("upstream")))
    } else {
        (client_rt.clone(), client_rt.clone())
    };
    println!(
        "layout: {}",
        if split {
            "client and upstream on separate 2-thread runtimes, the proxy on its own thread"
        } else {
            "client and upstream on one 2-thread runtime, the proxy on its own thread"
        }
    );

    let sim = upstream_rt
        .block_on(Simulator::start(SimConfig::default()))
        .expect("simulator");
    let minimal = upstream_rt.block_on(minimal_upstream());
    let start_proxy = |upstream: String| {
        proxy_rt
            .block_on(Proxy::start({
                let mut o = ObserveOptions::default();
                o.upstream = upstream;
                o
            }))
            .expect("proxy")
    };
    let sim_proxy = start_proxy(sim.base_url());
    let min_proxy = start_proxy(format!("http://{minimal}"));
    let sim_direct = format!("{}/v2/chat", sim.base_url());
    let sim_proxied = format!("{}/v2/chat", sim_proxy.base_url());
    let min_direct = format!("http://{minimal}/v2/chat");
    let min_proxied = format!("{}/v2/chat", min_proxy.base_url());
    let bare = proxy_rt.block_on(bare_forwarder(minimal));
    let bare_proxied = format!("http://{bare}/v2/chat");

    // `PROXY_BENCH_ONLY=simulator|no-work|think` runs only the throughput rows whose label contains it.
    let only = std::env::var("PROXY_BENCH_ONLY").ok();
    let wanted = |label: &str| only.as_deref().is_none_or(|o| label.contains(o));
    client_rt.block_on(async {
        // Latency: one keep-alive connection each, requests alternated so that drift hits both equally.
        for (label, direct_url, proxy_url) in
            [("simulator", &sim_direct, &sim_proxied), ("no-work upstream", &min_direct, &min_proxied)]
        {
            if only.is_some() {
                break;
            }
            let expect_len = body_len(direct_url).await;
            let (dc, pc) = (client(), client());
            for _ in 0..200 {
                one(&dc, direct_url, expect_len).await;
                one(&pc, proxy_url, expect_len).await;
            }
            let (mut direct, mut proxied) = (Vec::with_capacity(n), Vec::with_capacity(n));
            for _ in 0..n {
                direct.push(one(&dc, direct_url, expect_len).await);
                proxied.push(one(&pc, proxy_url, expect_len).await);
            }
            direct.sort();
            proxied.sort();
            let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
            let (p50, p99) = (percentile(&proxied, 0.5), percentile(&proxied, 0.99));
            println!("latency, {label}: {n} sequential v2 chat requests each way (keep-alive, loopback):");
            println!("  direct  p50 {:.3} ms  p99 {:.3} ms", ms(d50), ms(d99));
            println!("  proxied p50 {:.3} ms  p99 {:.3} ms", ms(p50), ms(p99));
            println!(
                "  added   p50 {:.3} ms  p99 {:.3} ms   (target p50 <= 0.5 ms)",
                ms(p50.saturating_sub(d50)),
                ms(p99.saturating_sub(d99))
            );
        }

        let mut rows = Vec::new();
        if wanted("simulator") {
            let main = compare(
                "THROUGHPUT (issue 6 target), simulator upstream, v2 chat with the demo key",
                &sim_direct,
                &sim_proxied,
                n * 5,
                rounds,
                split,
            )
            .await;
            rows.push(("simulator upstream (main figure)".to_string(), main));
        }
        for delay_us in [0u64, 2000, 10_000] {
            UPSTREAM_DELAY_US.store(delay_us, Ordering::Relaxed);
            let label = if delay_us == 0 {
                "worst case: no-work upstream, answers at once".to_string()
            } else {
                format!("no-work upstream + {} ms think time", delay_us / 1000)
            };
            if !wanted(&label) {
                continue;
            }
            let total = if delay_us == 0 { n * 5 } else { n };
            let r = compare(&format!("throughput, {label}"), &min_direct, &min_proxied, total, rounds, split).await;
            rows.push((label, r));
        }
        UPSTREAM_DELAY_US.store(0, Ordering::Relaxed);
        let label = "reference, not the product: bare hyper forwarder (no recording), no-work upstream";
        if wanted(label) {
            let r = compare(&format!("throughput, {label}"), &min_direct, &bare_proxied, n * 5, rounds, split).await;
            rows.push((label.to_string(), r));
        }
        // The deployment shape: the API runs on other machines, not on the cores of the program and the proxy.
        // The simulator runs in its own process pinned to one core; client and proxy share the other core.
        let label = "simulator in its own process on its own core (as a remote API is), client + proxy on the other";
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        if wanted(label) && cpus >= 2 {
            let mut child = std::process::Command::new(std::env::current_exe().expect("own path"))
                .arg("--serve-simulator")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("simulator process");
            let mut line = String::new();
            let out = child.stdout.take().expect("child stdout");
            std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).expect("simulator address");
            let base = line.trim().strip_prefix("SIM ").expect("SIM line").to_string();
            let proxy = Proxy::start({
                let mut o = ObserveOptions::default();
                o.upstream = base.clone();
                o
            })
                .await
                .expect("proxy");
            pin(0, false);
            let direct = format!("{base}/v2/chat");
            let proxied = format!("{}/v2/chat", proxy.base_url());
            // A fresh process speeds up over its first thousands of requests: warm it before measuring.
            let warm = client();
            let len = body_len(&direct).await;
            throughput(&warm, &direct, n * 2, len).await;
            let r = compare(&format!("throughput, {label}"), &direct, &proxied, n * 2, rounds, false).await;
            rows.push((label.to_string(), r));
            let _ = proxy.stop().await;
            drop(child.stdin.take());
            let _ = child.wait();
        }
        println!("summary: median proxied/direct throughput (in brackets: direct/proxied CPU per request)");
        for (label, (r, cpu)) in rows {
            println!("  {r:5.1} %  ({cpu:5.1} %)  {label}");
        }
    });

    for (label, proxy) in [("simulator", sim_proxy), ("no-work", min_proxy)] {
        let rec = proxy_rt.block_on(proxy.stop());
        println!(
            "recorded via the {label} proxy: {} requests, {} failures, {} full records kept",
            rec.stats.requests,
            rec.stats.failures,
            rec.exchanges.len()
        );
    }
    drop(sim);
}
