//! Request bodies through the observe proxy: streamed upstream as they arrive (never held whole), recorded as
//! their first `body_cap` bytes with the full size; a client that gives up mid-upload is a client-side abort;
//! listening beyond loopback needs `--allow-remote`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cohere_bundle_core::gather::observe::{ObserveOptions, Proxy};
use cohere_bundle_core::FailureClass;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::observe::records;
use crate::util::{cli, tempdir};

const MIB: u64 = 1 << 20;
const MODEL: &str = "command-a-03-2025";

/// What the upstream saw of one request.
#[derive(Debug, Clone, Default)]
struct Seen {
    content_length: Option<u64>,
    chunked: bool,
    /// Body bytes received.
    bytes: u64,
    /// The body broke off (the proxy cut the request because the client did).
    broke: bool,
}

/// An upstream on 127.0.0.1 that reads each request body frame by frame, counting the bytes (`live` as they
/// arrive) and keeping none, then answers 400 with an API-style `message`.
struct Upstream {
    addr: SocketAddr,
    live: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let live = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (l, s) = (live.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (live, seen) = (l.clone(), s.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(
                        move |req: Request<hyper::body::Incoming>| {
                            let (live, seen) = (live.clone(), seen.clone());
                            async move {
                                let header = |n: &str| {
                                    req.headers()
                                        .get(n)
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_string)
                                };
                                let mut s = Seen {
                                    content_length: header("content-length")
                                        .and_then(|v| v.parse().ok()),
                                    chunked: header("transfer-encoding")
                                        .is_some_and(|v| v.contains("chunked")),
                                    ..Seen::default()
                                };
                                let mut body = req.into_body();
                                while let Some(frame) = body.frame().await {
                                    match frame {
                                        Ok(f) => {
                                            let n = f.data_ref().map_or(0, |d| d.len() as u64);
                                            s.bytes += n;
                                            live.fetch_add(n, Ordering::SeqCst);
                                        }
                                        Err(_) => {
                                            s.broke = true;
                                            break;
                                        }
                                    }
                                }
                                seen.lock().unwrap().push(s);
                                let msg = r#"{"id":"big-1","message":"too many tokens: the request exceeds the model's context length"}"#;
                                Ok::<_, Infallible>(
                                    Response::builder()
                                        .status(400)
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from_static(msg.as_bytes())))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Upstream { addr, live, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

static FILL: [u8; 64 * 1024] = [b'x'; 64 * 1024];

/// The start of a v2 chat body whose one message is `total` bytes of JSON in all.
fn json_start() -> String {
    format!(r#"{{"model":"{MODEL}","stream":false,"messages":[{{"role":"user","content":""#)
}
const JSON_END: &str = r#""}]}"#;

/// A `total`-byte chat request generated on the fly in 64 KiB frames. Halfway, it waits until the upstream
/// has received a quarter of it: a proxy that held the body until it was complete would never let that
/// happen (the stream then fails after 20 s instead of hanging).
fn generated_body(total: u64, upstream_live: Arc<AtomicU64>) -> reqwest::Body {
    let start = Bytes::from(json_start());
    let fill = total - start.len() as u64 - JSON_END.len() as u64;
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(start) });
    let middle = futures_util::stream::unfold(0u64, move |sent| {
        let live = upstream_live.clone();
        async move {
            if sent >= fill {
                return None;
            }
            if sent >= fill / 2 && sent < fill / 2 + FILL.len() as u64 {
                let waited = tokio::time::timeout(Duration::from_secs(20), async {
                    while live.load(Ordering::SeqCst) < total / 4 {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
                .await;
                if waited.is_err() {
                    let e = std::io::Error::other(
                        "the upstream got nothing of the first half: the proxy buffered the body",
                    );
                    return Some((Err(e), fill));
                }
            }
            let n = (fill - sent).min(FILL.len() as u64) as usize;
            Some((Ok(Bytes::from_static(&FILL[..n])), sent + n as u64))
        }
    });
    let end = futures_util::stream::once(async { Ok(Bytes::from_static(JSON_END.as_bytes())) });
    use futures_util::StreamExt;
    reqwest::Body::wrap_stream(head.chain(middle).chain(end))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_post_streams_through_and_the_record_keeps_the_capped_prefix() {
    let up = Upstream::start().await;
    let proxy = Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = up.url();
        o
    })
    .await
    .unwrap();
    let cap = ObserveOptions::default().body_cap;
    let total = 64 * MIB;
    let client = reqwest::Client::new();
    let url = format!("{}/v2/chat", proxy.base_url());
    // Chunked, as a streaming client sends it, then with a content-length, as an SDK does.
    for declared in [false, true] {
        up.live.store(0, Ordering::SeqCst);
        let mut req = client
            .post(&url)
            .header("content-type", "application/json")
            .body(generated_body(total, up.live.clone()));
        if declared {
            req = req.header("content-length", total.to_string());
        }
        let r = req.send().await.expect("the upload goes through");
        assert_eq!(r.status(), 400);
        let v: Value = r.json().await.unwrap();
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with("too many tokens"));
    }

    let seen = up.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for s in &seen {
        assert_eq!(s.bytes, total, "the whole body arrives upstream: {s:?}");
        assert!(!s.broke, "{s:?}");
    }
    assert!(
        seen[0].chunked && seen[0].content_length.is_none(),
        "{:?}",
        seen[0]
    );
    assert_eq!(seen[1].content_length, Some(total));

    let rec = records(&proxy, 2).await;
    assert_eq!(rec.exchanges.len(), 2);
    for e in &rec.exchanges {
        assert_eq!(e.status(), Some(400));
        assert_eq!(
            e.failure.as_ref().map(|f| f.class),
            Some(FailureClass::Http)
        );
        let b = &e.request.body;
        assert!(b.truncated, "only the first part is kept");
        assert_eq!(b.size, total, "the record gives the full size");
        assert_eq!(b.text.len(), cap);
        assert!(b.text.starts_with(&json_start()), "{}", &b.text[..80]);
    }
    let s = &rec.stats;
    assert_eq!(s.request_bytes, 2 * total);
    assert_eq!(s.truncated_bodies, 2);
    // Model and stream flag from the prefix; the input size of a body over the cap is not known.
    assert_eq!(s.by_model[MODEL], 2);
    let shape = &s.shapes[0].shape;
    assert_eq!(shape.model.as_deref(), Some(MODEL));
    assert!(!shape.stream && shape.input_chars_unknown, "{shape:?}");
    proxy.stop().await;
}

/// Sends a request head declaring `declared` body bytes and `sent` bytes of the body, on a raw connection.
async fn partial_upload(proxy: &Proxy, declared: u64, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let head = format!(
        "POST /v2/chat HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n",
        proxy.addr()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let mut body = json_start().into_bytes();
    body.resize(sent, b'x');
    s.write_all(&body).await.unwrap();
    s.flush().await.unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_gives_up_mid_upload_is_a_client_side_abort() {
    let up = Upstream::start().await;
    let proxy = Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = up.url();
        o
    })
    .await
    .unwrap();
    let declared = 8 * MIB;

    // Gone while the proxy reads the first part of the body: nothing went upstream.
    let early = partial_upload(&proxy, declared, 100_000).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(early);
    let rec = records(&proxy, 1).await;
    assert_eq!(rec.exchanges.len(), 1);

    // Gone after the proxy started streaming the body upstream.
    let late = partial_upload(&proxy, declared, 3 * MIB as usize).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while up.live.load(Ordering::SeqCst) < 2 * MIB {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream got no body"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(late);
    let rec = records(&proxy, 2).await;
    assert_eq!(rec.exchanges.len(), 2, "{:?}", rec.stats);

    for (e, most) in rec.exchanges.iter().zip([100_000, 3 * MIB]) {
        let f = e.failure.as_ref().expect("a failure");
        assert!(f.client_side, "the client's doing, not the API's: {f:?}");
        assert_eq!(f.class, FailureClass::Stream);
        assert!(
            f.message.contains("while sending the request body")
                && f.message.contains(&format!("of {declared} bytes")),
            "{f:?}"
        );
        assert!(
            e.response.is_none() && e.status().is_none(),
            "no status it never got: {e:?}"
        );
        let b = &e.request.body;
        assert!(b.size <= most && b.size < declared, "{b:?}");
        assert!(
            json_start().starts_with(&b.text) || b.text.starts_with(&json_start()),
            "{}",
            b.text
        );
    }
    assert!(
        !rec.stats.by_status.keys().any(|k| k.starts_with('2')),
        "{:?}",
        rec.stats.by_status
    );
    // The upstream saw only the second request, and saw it break off rather than end short.
    let seen = up.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].broke && seen[0].bytes < declared, "{seen:?}");

    // The proxy keeps serving.
    let r = reqwest::Client::new()
        .post(format!("{}/v2/chat", proxy.base_url()))
        .body(format!("{}hi{JSON_END}", json_start()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    proxy.stop().await;
}

#[tokio::test]
async fn listening_beyond_loopback_needs_allow_remote() {
    let e = Proxy::start({
        let mut o = ObserveOptions::default();
        o.listen = "0.0.0.0:0".parse().unwrap();
        o
    })
    .await
    .err()
    .expect("refused");
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("allow_remote"), "{e}");

    let dir = tempdir();
    let dead = "http://127.0.0.1:9";
    cli(dir.path())
        .args([
            "observe",
            "--listen",
            "0.0.0.0:0",
            "--upstream",
            dead,
            "--",
            "true",
        ])
        .run()
        .fails(2, &["--listen 0.0.0.0:0", "--allow-remote"]);
    let run = cli(dir.path())
        .args([
            "observe",
            "--listen",
            "0.0.0.0:0",
            "--allow-remote",
            "--upstream",
            dead,
            "--",
            "true",
        ])
        .run()
        .success();
    assert!(
        run.stderr.contains("warning: listening on 0.0.0.0:") && run.stderr.contains("API key"),
        "{}",
        run.stderr
    );
}
