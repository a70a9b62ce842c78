//! Added latency and throughput of the observe proxy on loopback, against a direct connection to the same
//! upstream. Run with `cargo bench --bench proxy`. Targets: p50 added ≤ 0.5 ms, throughput ≥ 90 % of direct.
//!
//! The upstream is a minimal hyper server on 127.0.0.1 answering every request with a fixed v2 chat JSON
//! body, so that the figures measure the proxy and not the upstream. Request counts are bounded
//! (`PROXY_BENCH_REQUESTS`, default 4000 for latency and 20000 for throughput).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use cohere_bundle::observe::{ObserveOptions, Proxy};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};

const CHAT_RESPONSE: &str = r#"{"id":"c1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hello! How can I help you today?"}]},"usage":{"billed_units":{"input_tokens":5,"output_tokens":9},"tokens":{"input_tokens":71,"output_tokens":9}}}"#;
const CHAT_REQUEST: &str = r#"{"model":"command-a-03-2025","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":100}"#;

/// The upstream's think time per request, in microseconds (0: answer at once).
static UPSTREAM_DELAY_US: AtomicU64 = AtomicU64::new(0);

async fn upstream() -> SocketAddr {
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

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    let mut c = HttpConnector::new();
    c.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(c)
}

async fn one(client: &HttpClient, url: &str) -> Duration {
    let t = Instant::now();
    let req = Request::post(url)
        .header("content-type", "application/json")
        .header("authorization", "Bearer bench-key")
        .body(Full::new(Bytes::from_static(CHAT_REQUEST.as_bytes())))
        .expect("request");
    let resp = client.request(req).await.expect("bench request");
    assert_eq!(resp.status(), 200);
    let body = resp
        .into_body()
        .collect()
        .await
        .expect("bench body")
        .to_bytes();
    assert_eq!(body.len(), CHAT_RESPONSE.len());
    t.elapsed()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn throughput(url: &str, total: usize, concurrency: usize) -> f64 {
    let client = client();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let url = url.to_string();
        let n = total / concurrency;
        tasks.push(tokio::spawn(async move {
            for _ in 0..n {
                one(&client, &url).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("throughput task");
    }
    (total / concurrency * concurrency) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let n: usize = std::env::var("PROXY_BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(4000);
        let up = upstream().await;
        let proxy = Proxy::start(ObserveOptions { upstream: format!("http://{up}"), ..ObserveOptions::default() })
            .await
            .expect("proxy");
        let direct_url = format!("http://{up}/v2/chat");
        let proxy_url = format!("{}/v2/chat", proxy.base_url());

        // Latency: one keep-alive connection each, requests alternated so that drift hits both equally.
        let (dc, pc) = (client(), client());
        for _ in 0..200 {
            one(&dc, &direct_url).await;
            one(&pc, &proxy_url).await;
        }
        let (mut direct, mut proxied) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            direct.push(one(&dc, &direct_url).await);
            proxied.push(one(&pc, &proxy_url).await);
        }
        direct.sort();
        proxied.sort();
        let (d50, d99) = (percentile(&direct, 0.5), percentile(&direct, 0.99));
        let (p50, p99) = (percentile(&proxied, 0.5), percentile(&proxied, 0.99));
        println!("latency over {n} sequential requests each (keep-alive, loopback):");
        println!("  direct  p50 {:.3} ms  p99 {:.3} ms", ms(d50), ms(d99));
        println!("  proxied p50 {:.3} ms  p99 {:.3} ms", ms(p50), ms(p99));
        println!(
            "  added   p50 {:.3} ms  p99 {:.3} ms   (target p50 <= 0.5 ms)",
            ms(p50.saturating_sub(d50)),
            ms(p99.saturating_sub(d99))
        );

        // Throughput: 16 concurrent keep-alive clients, a bounded number of requests. First with an upstream
        // that answers at once (pure CPU: the proxy's extra hop competes with client and upstream for the same
        // 2 cores), then with 2 ms and 10 ms of upstream think time (a real API takes far longer than that).
        let total = n * 5;
        let concurrency = 16;
        let _ = throughput(&direct_url, 1000, concurrency).await;
        let _ = throughput(&proxy_url, 1000, concurrency).await;
        for delay_us in [0u64, 2000, 10_000] {
            UPSTREAM_DELAY_US.store(delay_us, Ordering::Relaxed);
            let total = if delay_us == 0 { total } else { n };
            let d = throughput(&direct_url, total, concurrency).await;
            let p = throughput(&proxy_url, total, concurrency).await;
            println!(
                "throughput over {total} requests, {concurrency} concurrent clients, upstream think time {} ms:",
                delay_us as f64 / 1000.0
            );
            println!("  direct  {d:.0} req/s");
            println!("  proxied {p:.0} req/s  = {:.1} % of direct   (target >= 90 %)", p / d * 100.0);
        }

        let rec = proxy.stop().await;
        println!(
            "recorded: {} requests, {} failures, {} full records kept",
            rec.stats.requests,
            rec.stats.failures,
            rec.exchanges.len()
        );
    });
}
