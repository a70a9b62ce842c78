//! The observe proxy's upstream connections: one per client connection, reused while it lives, opened again
//! when the upstream closed it (with or without saying so), kept for the next client connection when the
//! client closes its own; the upstream's base path and host applied.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cohere_bundle_core::gather::observe::{ObserveOptions, Proxy};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    host: String,
    /// The proxy's side of the TCP connection: the same port means the same upstream connection.
    peer: SocketAddr,
}

/// A raw HTTP/1.1 upstream on 127.0.0.1 answering every request with a small JSON body. With `close_after`,
/// it closes each connection that long after answering, without a `connection: close` header (an idle
/// keep-alive timeout as servers and load balancers have).
async fn upstream(close_after: Option<Duration>) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, peer)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: the head, then content-length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let header = |name: &str| {
                        head.lines()
                            .find_map(|l| {
                                let (n, v) = l.split_once(':')?;
                                n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
                            })
                            .unwrap_or_default()
                    };
                    let len: usize = header("content-length").parse().unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..head_end + len);
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    log.lock().unwrap().push(Seen {
                        path,
                        host: header("host"),
                        peer,
                    });
                    let body = r#"{"id":"c1","finish_reason":"COMPLETE","message":{"role":"assistant","content":[{"type":"text","text":"Hi"}]}}"#;
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                    if let Some(d) = close_after {
                        tokio::time::sleep(d).await;
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

async fn chat(client: &reqwest::Client, base: &str) -> Value {
    let r = client
        .post(format!("{base}/v2/chat"))
        .json(&json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn base_path_and_host_are_applied_and_the_upstream_connection_is_reused() {
    let (addr, seen) = upstream(None).await;
    let proxy = Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = format!("http://{addr}/base/");
        o
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..3 {
        assert_eq!(
            chat(&client, &proxy.base_url()).await["message"]["content"][0]["text"],
            "Hi"
        );
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    for s in &seen {
        assert_eq!(s.path, "/base/v2/chat");
        assert_eq!(s.host, addr.to_string());
    }
    assert!(
        seen.iter().all(|s| s.peer == seen[0].peer),
        "one keep-alive client connection, one upstream connection: {seen:?}"
    );
    let rec = proxy.stop().await;
    assert_eq!((rec.stats.requests, rec.stats.failures), (3, 0));
}

#[tokio::test]
async fn an_upstream_closing_idle_connections_causes_no_failure() {
    let (addr, seen) = upstream(Some(Duration::from_millis(20))).await;
    let proxy = Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = format!("http://{addr}");
        o
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    for _ in 0..3 {
        chat(&client, &proxy.base_url()).await;
        // Past the upstream's idle timeout: the next request needs a new upstream connection.
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[0].peer != seen[1].peer && seen[1].peer != seen[2].peer,
        "{seen:?}"
    );
    let rec = proxy.stop().await;
    assert_eq!(
        (rec.stats.requests, rec.stats.successes, rec.stats.failures),
        (3, 3, 0)
    );
    assert!(rec.exchanges.is_empty());
}

#[tokio::test]
async fn a_client_connection_per_request_still_reuses_the_upstream_connection() {
    let (addr, seen) = upstream(None).await;
    let proxy = Proxy::start({
        let mut o = ObserveOptions::default();
        o.upstream = format!("http://{addr}");
        o
    })
    .await
    .unwrap();
    // No keep-alive on the client side: every request comes on a new connection to the proxy.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    for _ in 0..3 {
        chat(&client, &proxy.base_url()).await;
        // Let the proxy see the client connection close and keep its upstream connection.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter().all(|s| s.peer == seen[0].peer),
        "one upstream connection for all three: {seen:?}"
    );
    let rec = proxy.stop().await;
    assert_eq!((rec.stats.requests, rec.stats.failures), (3, 0));
}
