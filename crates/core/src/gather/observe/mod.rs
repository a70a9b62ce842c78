//! Gather stage. The recording proxy behind `cohere-bundle observe`.
//!
//! A reverse proxy on 127.0.0.1 (HTTP/1.1, keep-alive) that forwards every request to the upstream Cohere API
//! and returns the answer to the client unchanged, streams included (events pass through as they arrive). On
//! the way it records each exchange as an [`Exchange`]: failures in full (everything with `record_all`), and
//! counts and shapes of the successes, so that a long run stays within bounded memory.
//!
//! ```no_run
//! # async fn demo() -> cohere_bundle_core::Result<()> {
//! use cohere_bundle_core::gather::observe::{ObserveOptions, Proxy, run_command};
//! let proxy = Proxy::start(ObserveOptions::default()).await?;
//! let status = run_command(&proxy.base_url(), &["python3".into(), "app.py".into()]).await?;
//! let recording = proxy.stop().await;
//! println!("{status}: {} failures", recording.stats.failures);
//! # Ok(()) }
//! ```
//!
//! Request bodies are streamed too: the proxy reads the first `body_cap` bytes (all of a usual request: the
//! model, stream flag and shape come from them), then sends the request upstream and passes the rest on as
//! it arrives, so a body of any size costs it about one cap of memory. Records keep the first `body_cap`
//! bytes of each body, marked truncated with the full size.
//!
//! Failure classes: status ≥ 400 → `http` (the body's `message` verbatim); the upstream unreachable →
//! `network` (the client gets a 502 with a JSON `message`); an error inside a 200 stream, the upstream
//! breaking off mid-body, or the client going away mid-body → `stream` (`network` for a non-stream body that
//! broke off). A client that goes away before any response (mid-upload or waiting) is a client-side abort
//! (`client_side`, no status). Retries of one SDK call share a `retry_group`.
//!
//! The proxy listens on loopback unless [`ObserveOptions::allow_remote`] says otherwise.
//!
//! The proxy asks the upstream for uncompressed bodies (`accept-encoding: identity`) so that what it records
//! is readable; the client still gets a valid response.

mod body;
mod connect;
mod record;
mod upload;

use std::convert::Infallible;
use std::ffi::OsString;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::cohere::{Endpoint, DEFAULT_BASE_URL};
use crate::exchange::{Body, Exchange, Failure, FailureClass, Header, RecordedRequest, Timings};
use crate::gather::net::NetOptions;
use crate::{Error, Result};

pub use record::{ObserveStats, Recording, Shape, ShapeStats};

use body::{InFlight, RecordingBody};
use connect::UpstreamConnector;
use record::{Finished, RetryTable, Store};
use upload::{Upload, UploadBody};

/// How the proxy listens, where it forwards and what it keeps.
///
/// ```
/// use cohere_bundle_core::gather::observe::ObserveOptions;
/// let o = ObserveOptions::for_upstream("https://api.cohere.com").record_all(true);
/// assert_eq!(o.listen.to_string(), "127.0.0.1:0");
/// assert!(o.record_all && !o.allow_remote);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ObserveOptions {
    /// Where to listen; the default `127.0.0.1:0` picks a free port. Only loopback addresses unless
    /// `allow_remote` is set.
    pub listen: SocketAddr,
    /// Allow a `listen` address other than loopback. Off by default: anyone who can reach the proxy can send
    /// requests through it, and so spend the API key of whoever sends through it.
    pub allow_remote: bool,
    /// The upstream base URL, e.g. `https://api.cohere.com` (a trailing `/v1` is removed for Cohere hosts,
    /// as the SDK does).
    pub upstream: String,
    /// Keep full records of successes too, not only of failures.
    pub record_all: bool,
    /// Bytes of each request and response body kept in a record; longer bodies are marked truncated (with
    /// their full size). Bodies are streamed through, never held whole: the proxy holds about this much of
    /// each body at most.
    pub body_cap: usize,
    /// Full records kept at most; past it the oldest successes are dropped first, then the oldest failures.
    pub max_records: usize,
    /// A request with the same method, path and body as one that got a retryable failure (408, 409, 429,
    /// 5xx, unreachable) within this window is taken as its retry.
    pub retry_window: Duration,
    /// How long [`Proxy::stop`] waits for in-flight exchanges before cutting them off.
    pub drain_timeout: Duration,
    /// Trusted roots and proxy for the upstream connections (`NO_PROXY` decides, once, whether the upstream
    /// goes through `HTTPS_PROXY` / `HTTP_PROXY`).
    pub net: NetOptions,
}

impl ObserveOptions {
    /// The defaults, forwarding to `upstream`.
    ///
    /// Example: [`Proxy`].
    pub fn for_upstream(upstream: impl Into<String>) -> Self {
        ObserveOptions {
            upstream: upstream.into(),
            ..Default::default()
        }
    }

    /// Where to listen (loopback only, unless [`ObserveOptions::allow_remote`] is set).
    ///
    /// Example: [`Proxy`].
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Keep full records of successes too.
    ///
    /// Example: [`Proxy`].
    #[must_use]
    pub fn record_all(mut self, on: bool) -> Self {
        self.record_all = on;
        self
    }

    /// Trusted roots and proxy for the upstream connections.
    ///
    /// Example: [`Proxy`].
    #[must_use]
    pub fn net(mut self, net: NetOptions) -> Self {
        self.net = net;
        self
    }
}

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            allow_remote: false,
            upstream: DEFAULT_BASE_URL.to_string(),
            record_all: false,
            body_cap: 1 << 20,
            max_records: 1000,
            retry_window: Duration::from_secs(65),
            drain_timeout: Duration::from_secs(30),
            net: NetOptions::default(),
        }
    }
}

type Sender = hyper::client::conn::http1::SendRequest<UploadBody>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// State shared by the connections of one proxy.
pub(crate) struct Shared {
    upstream: String,
    /// The `host` header sent upstream.
    host: HeaderValue,
    /// The path of the upstream base URL (`""`, or e.g. `/base`), put in front of every request path.
    base_path: String,
    /// Opens the upstream connections: to the upstream's scheme, host and port, or through a proxy.
    connector: UpstreamConnector,
    /// Idle upstream connections left by client connections that closed, with the time they became idle,
    /// for the next client connections (a client that opens a connection per request still gets a warm
    /// upstream connection, TLS included). Touched when a client connection opens or closes, not per request.
    idle: Mutex<Vec<(Sender, Instant)>>,
    record_all: bool,
    body_cap: usize,
    seq: AtomicU64,
    store: Mutex<Store>,
    retries: Mutex<RetryTable>,
    stopping: AtomicBool,
}

impl Shared {
    pub(crate) fn finish(&self, f: Finished) {
        lock(&self.store).finish(f);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running recording proxy. Drop it or call [`Proxy::stop`] to stop it.
///
/// The proxy runs on a thread of its own (`observe-proxy`) with a single-threaded tokio runtime: one event
/// loop serves all connections, so an exchange never wakes a second worker thread, and the proxy's work does
/// not depend on the caller's runtime. One core carries tens of thousands of exchanges a second, far beyond
/// what an application sends to the Cohere API.
///
/// Recording a failing call, with the [simulator](cohere_bundle_simulator) as the upstream:
///
/// ```
/// use cohere_bundle_core::gather::net::{NetOptions, ProxyMode};
/// use cohere_bundle_core::gather::observe::{ObserveOptions, Proxy};
/// use cohere_bundle_simulator::{SimConfig, Simulator, DEMO_KEY, SIMULATE_HEADER};
///
/// let rt = tokio::runtime::Runtime::new()?;
/// rt.block_on(async {
///     let sim = Simulator::start(SimConfig::default()).await?;
///     let mut net = NetOptions::default();
///     net.proxy = ProxyMode::Direct;
///     let opts = ObserveOptions::for_upstream(sim.base_url())
///         .listen("127.0.0.1:0".parse()?)
///         .record_all(false)
///         .net(net);
///     let proxy = Proxy::start(opts).await?;
///     assert_eq!(proxy.upstream(), sim.base_url());
///     assert_eq!(proxy.via(), None);
///     assert_eq!(proxy.base_url(), format!("http://{}", proxy.addr()));
///
///     // The application talks to the proxy instead of the API.
///     let http = reqwest::Client::builder().no_proxy().build()?;
///     let body = serde_json::json!({"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Hi"}]});
///     for scenario in [None, Some("service-unavailable")] {
///         let mut req = http.post(format!("{}/v2/chat", proxy.base_url())).bearer_auth(DEMO_KEY).json(&body);
///         if let Some(s) = scenario {
///             req = req.header(SIMULATE_HEADER, s);
///         }
///         req.send().await?.bytes().await?;
///     }
///
///     let so_far = proxy.snapshot();
///     assert_eq!(so_far.stats.requests, 2);
///     let recording = proxy.stop().await;
///     // Only the failure is kept in full; the success is counted, with its shape.
///     assert_eq!((recording.stats.successes, recording.stats.failures), (1, 1));
///     assert_eq!(recording.exchanges.len(), 1);
///     assert_eq!(recording.exchanges[0].status(), Some(503));
///     let shape = &recording.stats.shapes[0];
///     assert_eq!((shape.shape.endpoint.as_str(), shape.successes, shape.failures), ("v2/chat", 1, 1));
///     sim.shutdown().await;
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    /// Resolves when the proxy thread has drained and stopped.
    done: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Proxy {
    /// Binds the listener and starts serving. Fails with a one-line error naming the upstream URL or the
    /// listen address at fault.
    ///
    /// Example: [`Proxy`].
    pub async fn start(opts: ObserveOptions) -> Result<Proxy> {
        check_listen(opts.listen, opts.allow_remote)?;
        let upstream = normalize_upstream(&opts.upstream)?;
        let target = UpstreamTarget::new(&upstream)?;
        let connector = UpstreamConnector::new(target.connect_uri, &opts.net)?;
        let listen_err = |e: std::io::Error| {
            Error::field("listen", Some(opts.listen.to_string()), e.to_string())
        };
        let listener = std::net::TcpListener::bind(opts.listen).map_err(listen_err)?;
        listener.set_nonblocking(true).map_err(listen_err)?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Other(format!("listen address: {e}")))?;
        let shared = Arc::new(Shared {
            upstream,
            host: target.host,
            base_path: target.base_path,
            connector,
            idle: Mutex::new(Vec::new()),
            record_all: opts.record_all,
            body_cap: opts.body_cap,
            seq: AtomicU64::new(0),
            store: Mutex::new(Store::new(opts.body_cap, opts.max_records)),
            retries: Mutex::new(RetryTable::new(opts.retry_window)),
            stopping: AtomicBool::new(false),
        });
        let (shutdown, rx) = watch::channel(false);
        let (done_tx, done) = tokio::sync::oneshot::channel();
        // Sockets and timers only: the proxy spawns no processes and handles no signals.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .thread_name("observe-proxy")
            .build()
            .map_err(|e| Error::Other(format!("observe proxy runtime: {e}")))?;
        let server_shared = shared.clone();
        let drain = opts.drain_timeout;
        // Registered with the proxy's own runtime here, so that a failure is an error, not a print.
        let listener = {
            let _in_rt = rt.enter();
            TcpListener::from_std(listener)
                .map_err(|e| Error::Other(format!("observe: listening on {addr}: {e}")))?
        };
        std::thread::Builder::new()
            .name("observe-proxy".into())
            .spawn(move || {
                rt.block_on(serve(listener, server_shared, rx, drain));
                // Connections still open past the drain timeout are cut off when the runtime drops.
                drop(rt);
                let _ = done_tx.send(());
            })
            .map_err(|e| Error::Other(format!("observe proxy thread: {e}")))?;
        Ok(Proxy {
            addr,
            shared,
            shutdown,
            done: Some(done),
        })
    }

    /// The address the proxy listens on.
    ///
    /// Example: [`Proxy`].
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for clients: `http://127.0.0.1:PORT` (no `/v1`), for `CO_API_URL` or a TS `baseUrl`.
    /// A proxy listening on every interface (`0.0.0.0`, `::`) is reached on loopback.
    ///
    /// Example: [`Proxy`].
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }

    /// The upstream base URL requests are forwarded to.
    ///
    /// Example: [`Proxy`].
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }

    /// The HTTP proxy the upstream connections go through (`HTTPS_PROXY` and the like), if any, as
    /// `scheme://host:port` without credentials.
    ///
    /// Example: [`Proxy`].
    pub fn via(&self) -> Option<&str> {
        self.shared.connector.via()
    }

    /// What has been recorded so far (exchanges still in flight are not in it yet).
    ///
    /// Example: [`Proxy`].
    pub fn snapshot(&self) -> Recording {
        lock(&self.shared.store).snapshot()
    }

    /// Stops accepting connections, lets in-flight exchanges finish (up to the drain timeout) and returns
    /// everything recorded.
    ///
    /// Example: [`Proxy`].
    pub async fn stop(mut self) -> Recording {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
        lock(&self.shared.store).snapshot()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Refuses a listen address beyond this machine unless `allow_remote` says so.
fn check_listen(listen: SocketAddr, allow_remote: bool) -> Result<()> {
    if allow_remote || listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    Err(Error::field(
        "listen",
        Some(listen.to_string()),
        "not a loopback address: anyone who can reach the proxy could send requests through it and spend the \
         API key of whoever sends through it; set `allow_remote` to listen there anyway",
    ))
}

/// Checks the upstream URL and removes a trailing `/` (and `/v1` for Cohere hosts, like the SDK's
/// `fix_base_url`).
fn normalize_upstream(raw: &str) -> Result<String> {
    let what = || format!("upstream URL {raw:?}");
    let url = url::Url::parse(raw.trim()).map_err(|e| Error::input(what(), e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::input(what(), "must start with http:// or https://"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::input(what(), "has no host"))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::input(what(), "must not have a query or fragment"));
    }
    let mut s = url.as_str().trim_end_matches('/').to_string();
    if (host.contains("cohere.com") || host.contains("cohere.ai")) && s.ends_with("/v1") {
        s.truncate(s.len() - 3);
    }
    Ok(s)
}

/// Where the upstream connections go, worked out once from the upstream base URL.
struct UpstreamTarget {
    connect_uri: hyper::Uri,
    host: HeaderValue,
    base_path: String,
}

impl UpstreamTarget {
    fn new(upstream: &str) -> Result<UpstreamTarget> {
        let what = || format!("upstream URL {upstream:?}");
        let url = url::Url::parse(upstream).map_err(|e| Error::input(what(), e.to_string()))?;
        let host = url
            .host_str()
            .ok_or_else(|| Error::input(what(), "has no host"))?;
        // The authority as the `host` header wants it: the port only when it is not the scheme's default.
        let authority = match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let connect_uri = format!("{}://{host}:{port}", url.scheme())
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| Error::input(what(), e.to_string()))?;
        let host =
            HeaderValue::from_str(&authority).map_err(|e| Error::input(what(), e.to_string()))?;
        Ok(UpstreamTarget {
            connect_uri,
            host,
            base_path: url.path().trim_end_matches('/').to_string(),
        })
    }
}

/// Idle upstream connections kept at most, and for how long.
const MAX_IDLE: usize = 64;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The upstream connection of one client connection. HTTP/1 carries one exchange at a time, so each client
/// connection gets its own upstream connection: taken from the idle ones (or opened) on its first request,
/// opened again when the upstream closed it, handed back to the idle ones when the client connection closes.
/// No pool lookup and no lock shared between connections on the request path.
struct UpstreamSlot {
    shared: Arc<Shared>,
    sender: Mutex<Option<Sender>>,
}

impl UpstreamSlot {
    fn new(shared: Arc<Shared>) -> UpstreamSlot {
        UpstreamSlot {
            shared,
            sender: Mutex::new(None),
        }
    }

    /// Sends `req` on this client connection's upstream connection, opening one when there is none or the
    /// old one closed before the request could be written.
    async fn send(
        &self,
        shared: &Shared,
        mut req: Request<UploadBody>,
    ) -> Result<Response<Incoming>, BoxError> {
        shared.connector.prepare(&mut req);
        let old = lock(&self.sender).take().or_else(|| take_idle(shared));
        if let Some(mut sender) = old {
            if sender.ready().await.is_ok() {
                let sent = sender.try_send_request(req);
                *lock(&self.sender) = Some(sender);
                match sent.await {
                    Ok(resp) => return Ok(resp),
                    Err(mut e) => match e.take_message() {
                        // Never written: the connection was closing. A new one gets it.
                        Some(r) => req = r,
                        None => return Err(e.into_error().into()),
                    },
                }
            }
        }
        let io = shared.connector.connect().await?;
        let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
            .handshake(io)
            .await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let sent = sender.send_request(req);
        *lock(&self.sender) = Some(sender);
        Ok(sent.await?)
    }
}

impl Drop for UpstreamSlot {
    /// The client connection closed: an upstream connection with no exchange under way is kept for others.
    fn drop(&mut self) {
        let Some(sender) = lock(&self.sender).take() else {
            return;
        };
        if sender.is_ready() && !self.shared.stopping.load(Ordering::SeqCst) {
            let mut idle = lock(&self.shared.idle);
            let now = Instant::now();
            idle.retain(|(s, at)| {
                !s.is_closed() && now.saturating_duration_since(*at) < IDLE_TIMEOUT
            });
            if idle.len() < MAX_IDLE {
                idle.push((sender, now));
            }
        }
    }
}

/// The most recently idled upstream connection that is still open and not idle for too long.
fn take_idle(shared: &Shared) -> Option<Sender> {
    let mut idle = lock(&shared.idle);
    while let Some((sender, at)) = idle.pop() {
        if !sender.is_closed() && at.elapsed() < IDLE_TIMEOUT {
            return Some(sender);
        }
    }
    None
}

async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut rx: watch::Receiver<bool>,
    drain: Duration,
) {
    let mut conns = JoinSet::new();
    let conn_rx = rx.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => Some(accepted),
            r = rx.wait_for(|stop| *stop) => { drop(r); None }
        };
        let Some(accepted) = accepted else { break };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors and the like: wait a little rather than spin.
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut rx = conn_rx.clone();
        conns.spawn(async move {
            let slot = Arc::new(UpstreamSlot::new(shared.clone()));
            let svc =
                hyper::service::service_fn(move |req| handle(shared.clone(), slot.clone(), req));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            let stop = tokio::select! {
                _ = conn.as_mut() => false,
                r = rx.wait_for(|stop| *stop) => r.is_ok(),
            };
            if stop {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        });
        // Reap finished connections so the set stays small.
        while conns.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(drain, async { while conns.join_next().await.is_some() {} }).await;
    conns.shutdown().await;
    // Close the idle upstream connections.
    lock(&shared.idle).clear();
}

/// How long a client may take to send a request's headers; past it the connection is closed, so that stopping
/// the proxy never waits on a slow or silent client for longer.
///
/// Example: [`Proxy`] (a stop is bounded by it).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Facts about a request needed for stats, shapes and records.
pub(crate) struct RequestMeta {
    pub endpoint: Endpoint,
    pub shape: Shape,
}

impl RequestMeta {
    /// A placeholder until the body has been read.
    fn pending() -> RequestMeta {
        RequestMeta {
            endpoint: Endpoint::Other,
            shape: Shape {
                endpoint: String::new(),
                model: None,
                stream: false,
                input_chars_up_to: 0,
                input_chars_unknown: true,
                max_tokens: None,
            },
        }
    }

    /// The facts of a request from its path and its body: all of it when `complete`, else its first bytes
    /// (a body larger than the cap), from which a scan of the top-level members gets the model, the stream
    /// flag and `max_tokens` when they come before the cut; the input size is then unknown.
    fn new(path: &str, body: &[u8], complete: bool) -> RequestMeta {
        let endpoint = Endpoint::from_path(path);
        let json = if complete && body.first() == Some(&b'{') {
            serde_json::from_slice::<serde_json::Value>(body).ok()
        } else {
            None
        };
        let (model, stream, chars, max_tokens) = match &json {
            Some(v) => (
                v.get("model").and_then(|m| m.as_str()).map(str::to_string),
                v.get("stream").and_then(|s| s.as_bool()).unwrap_or(false),
                crate::tokens::input_chars(endpoint, v),
                crate::tokens::max_tokens(v),
            ),
            None if !complete => {
                let f = upload::scan_prefix(body);
                (f.model, f.stream.unwrap_or(false), 0, f.max_tokens)
            }
            None => (None, false, 0, None),
        };
        let model = model.or_else(|| {
            // `GET /v1/models/{model}` names the model in the path.
            let p = path.split('?').next().unwrap_or("");
            p.rsplit_once("/v1/models/")
                .map(|(_, m)| m.to_string())
                .filter(|m| !m.is_empty())
        });
        RequestMeta {
            endpoint,
            shape: Shape {
                endpoint: endpoint.name().to_string(),
                model,
                stream,
                input_chars_up_to: if chars == 0 {
                    0
                } else {
                    chars.next_power_of_two()
                },
                input_chars_unknown: !complete,
                max_tokens,
            },
        }
    }
}

/// Hop-by-hop headers, never forwarded in either direction.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
    )
}

fn headers_vec(map: &HeaderMap) -> Vec<Header> {
    map.iter()
        .map(|(n, v)| Header::new(n.as_str(), String::from_utf8_lossy(v.as_bytes())))
        .collect()
}

/// The retry-grouping key: method, path and query, the body's first `cap` bytes and its length (the
/// whole body when it fits under the cap). `len` is the body's full length when known: all of it was read,
/// or the client declared it in `content-length`.
fn retry_key(method: &hyper::Method, path: &str, head: &[u8], cap: usize, len: Option<u64>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    method.as_str().hash(&mut h);
    path.hash(&mut h);
    head[..head.len().min(cap)].hash(&mut h);
    len.hash(&mut h);
    h.finish()
}

/// The client's `content-length`, when it sent one that parses.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

pub(crate) use crate::gather::client::error_chain;

type ProxyBody = Either<RecordingBody, Full<Bytes>>;

fn json_response(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Forwards one client request upstream and hands the answer back, recording the exchange on the way: reads
/// the first part of the body (for the meta and the retry group), sends the request with the rest of the
/// body streaming after it, and returns the response with its body recorded as it passes.
async fn handle(
    shared: Arc<Shared>,
    slot: Arc<UpstreamSlot>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let t0 = Instant::now();
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    let (parts, mut body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let uri = match upstream_uri(&shared, &parts.uri) {
        Ok(u) => u,
        Err(e) => {
            let url = format!("{}{path_and_query}", shared.upstream);
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                &format!("cannot forward to {url}: {e}"),
            ));
        }
    };
    let declared = declared_length(&parts.headers);
    let upload = Arc::new(Upload::default());
    // From here on, a handler dropped before the upstream answers (the client went away, mid-upload or
    // waiting) is recorded by the guard as a client-side abort.
    let mut guard = PendingGuard::new(InFlight::arrived(&shared, seq, t0, &parts, &upload));

    // Read the body up to the cap: all of a usual request, the first part of a large one. The rest is
    // streamed upstream as it arrives, never held.
    let cap = shared.body_cap;
    let complete = match read_head(&mut body, &mut guard.frames, &upload, cap).await {
        Ok(complete) => complete,
        Err(reason) => return Ok(head_broke(&mut guard, &upload, &reason)),
    };
    if complete {
        upload.set_complete();
    }
    let head = concat(std::mem::take(&mut guard.frames));
    let meta = RequestMeta::new(parts.uri.path(), &head, complete);
    let len = if complete {
        Some(head.len() as u64)
    } else {
        declared
    };
    let key = retry_key(&parts.method, path_and_query, &head, cap, len);
    let group = lock(&shared.retries).lookup(key, t0);

    let mut headers = upstream_headers(&shared, parts.headers);
    let up_body = upload_body(&mut headers, body, &head, complete, declared, &upload);
    let mut up_req = Request::new(up_body);
    *up_req.method_mut() = parts.method;
    *up_req.uri_mut() = uri;
    *up_req.headers_mut() = headers;

    guard.meta_ready = true;
    if let Some(inflight) = guard.inflight.as_mut() {
        // Only the first cap (and a few bytes, so that a cut never splits a UTF-8 character) is kept.
        inflight.req_head = head.slice(..head.len().min(cap.saturating_add(4)));
        inflight.meta = meta;
        inflight.group = group;
    }
    let result = slot.send(&shared, up_req).await;
    let Some(inflight) = guard.inflight.take() else {
        return Ok(json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cohere-bundle observe: internal error",
        ));
    };
    Ok(match result {
        Ok(resp) => forward_response(&shared, inflight, resp, key, group),
        Err(e) => upstream_failed(&shared, inflight, e.as_ref(), key, group),
    })
}

/// Reads the request body into `frames` until it ends or more than `cap` bytes are in; returns whether it
/// ended (all of it was read), or why it broke off.
async fn read_head(
    body: &mut Incoming,
    frames: &mut Vec<Bytes>,
    upload: &Upload,
    cap: usize,
) -> std::result::Result<bool, String> {
    let mut read = 0usize;
    loop {
        if hyper::body::Body::is_end_stream(body) {
            return Ok(true);
        }
        if read > cap {
            return Ok(false);
        }
        match body.frame().await {
            None => return Ok(true),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    upload.add(data.len());
                    read += data.len();
                    frames.push(data);
                }
            }
            Some(Err(e)) => return Err(error_chain(&e)),
        }
    }
}

/// The client's body broke off while its first part was read: records what arrived as a client-side failure
/// and answers 400.
fn head_broke(guard: &mut PendingGuard, upload: &Upload, reason: &str) -> Response<ProxyBody> {
    upload.set_broke(reason.to_string());
    let inflight = guard.inflight.take().map(|mut inflight| {
        let head = concat(std::mem::take(&mut guard.frames));
        inflight.meta = RequestMeta::new(inflight.uri.path(), &head, false);
        inflight.req_head = head;
        inflight
    });
    body_broke(inflight, reason)
}

/// The client's request body broke off: records the exchange (when there is one) as a client-side stream
/// failure and answers 400.
fn body_broke(inflight: Option<InFlight>, reason: &str) -> Response<ProxyBody> {
    if let Some(inflight) = inflight {
        let failure = Failure::client_side(
            FailureClass::Stream,
            upload_broke_message(&inflight, reason),
        );
        inflight.finish_without_response(failure);
    }
    json_response(
        StatusCode::BAD_REQUEST,
        &format!("client request body could not be read: {reason}"),
    )
}

/// Removes the hop-by-hop headers.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    if headers.keys().any(is_hop_by_hop) {
        let hop: Vec<HeaderName> = headers
            .keys()
            .filter(|n| is_hop_by_hop(n))
            .cloned()
            .collect();
        for n in hop {
            headers.remove(&n);
        }
    }
}

/// The headers sent upstream: the client's minus the hop-by-hop ones; the upstream's host, and identity
/// encoding so that the record is readable.
fn upstream_headers(shared: &Shared, mut headers: HeaderMap) -> HeaderMap {
    remove_hop_by_hop(&mut headers);
    headers.insert(header::HOST, shared.host.clone());
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    headers
}

/// The body sent upstream, with `headers` framed to match: a complete body is the head with its length; a
/// larger one is the head then the rest of the client's body as it arrives, with the client's
/// content-length, or chunked without one.
fn upload_body(
    headers: &mut HeaderMap,
    body: Incoming,
    head: &Bytes,
    complete: bool,
    declared: Option<u64>,
    upload: &Arc<Upload>,
) -> UploadBody {
    if complete {
        drop(body);
        if !head.is_empty() || headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(head.len()));
        }
        UploadBody::complete(head.clone(), upload.clone())
    } else {
        // The client's content-length stands for the whole body; without one the body goes chunked.
        if declared.is_none() {
            headers.remove(header::CONTENT_LENGTH);
            headers.insert(
                header::TRANSFER_ENCODING,
                HeaderValue::from_static("chunked"),
            );
        }
        UploadBody::streaming(head.clone(), body, upload.clone())
    }
}

/// The upstream answered: notes the time to headers, the status, the retry outcome and whether the body is
/// a stream, and returns the response minus its hop-by-hop headers, its body recorded as it passes (kept
/// for failures, retries, streams, and everything with `record_all`).
fn forward_response(
    shared: &Shared,
    mut inflight: InFlight,
    resp: Response<Incoming>,
    key: u64,
    group: Option<u32>,
) -> Response<ProxyBody> {
    let status = resp.status().as_u16();
    let now = Instant::now();
    inflight.time_to_headers = Some(now.saturating_duration_since(inflight.t0));
    inflight.group =
        lock(&shared.retries).outcome(key, group, record::is_retryable(Some(status)), now);
    inflight.status = Some(status);
    let (mut rparts, rbody) = resp.into_parts();
    let content_type = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    inflight.is_stream = content_type.contains("event-stream")
        || content_type.contains("stream+json")
        || content_type.contains("x-ndjson")
        || (inflight.meta.shape.stream && status < 300);
    inflight.resp_headers = rparts.headers.clone();
    remove_hop_by_hop(&mut rparts.headers);
    let keep = shared.record_all || status >= 400 || inflight.group.is_some() || inflight.is_stream;
    let body = RecordingBody::new(rbody, inflight, keep);
    Response::from_parts(rparts, Either::Left(body))
}

/// Sending upstream failed. When the client's body broke off mid-upload (which broke the upstream request),
/// that is the client's doing: a 400 recorded as a client-side failure. Otherwise the upstream is
/// unreachable: a 502 recorded as a network failure.
fn upstream_failed(
    shared: &Shared,
    mut inflight: InFlight,
    e: &(dyn std::error::Error + Send + Sync + 'static),
    key: u64,
    group: Option<u32>,
) -> Response<ProxyBody> {
    if let Some(reason) = inflight.upload.broke() {
        return body_broke(Some(inflight), &reason);
    }
    let reason = error_chain(e);
    let sent = if inflight.upload.is_complete() {
        String::new()
    } else {
        format!(
            " (after {} bytes of the request body)",
            inflight.upload.received()
        )
    };
    let msg = format!(
        "cohere-bundle observe: cannot reach upstream {}: {reason}{sent}",
        inflight.url()
    );
    inflight.group = lock(&shared.retries).outcome(key, group, true, Instant::now());
    inflight.finish_without_response(Failure::new(FailureClass::Network, msg.clone()));
    json_response(StatusCode::BAD_GATEWAY, &msg)
}

/// Records an exchange whose handler was dropped before the upstream answered: while the request body was
/// arriving, or while waiting for the upstream.
struct PendingGuard {
    inflight: Option<InFlight>,
    /// The request body read so far, while the first part of it is being read.
    frames: Vec<Bytes>,
    /// The request's meta is worked out (false while the first part of the body is being read).
    meta_ready: bool,
}

impl PendingGuard {
    fn new(inflight: InFlight) -> PendingGuard {
        PendingGuard {
            inflight: Some(inflight),
            frames: Vec::new(),
            meta_ready: false,
        }
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(mut inflight) = self.inflight.take() {
            if !self.meta_ready {
                // Dropped while reading the first part of the body: record what arrived.
                let head = concat(std::mem::take(&mut self.frames));
                inflight.meta = RequestMeta::new(inflight.uri.path(), &head, false);
                inflight.req_head = head;
            }
            let stopping = inflight.shared.stopping.load(Ordering::SeqCst);
            let message = match (stopping, inflight.upload.is_complete()) {
                (true, true) => "observe stopped before the upstream answered".to_string(),
                (false, true) => "the client disconnected before the upstream answered".to_string(),
                (true, false) => format!(
                    "observe stopped while the request body was arriving, after {}",
                    body_progress(&inflight)
                ),
                (false, false) => format!(
                    "the client disconnected while sending the request body, after {}",
                    body_progress(&inflight)
                ),
            };
            // The client gave up (or observe stopped) before any response: a client-side abort, which
            // says nothing about the API.
            inflight.finish_without_response(Failure::client_side(FailureClass::Stream, message));
        }
    }
}

/// "N bytes" of the request body received, with the size the client declared when it did.
fn body_progress(inflight: &InFlight) -> String {
    let got = inflight.upload.received();
    match declared_length(&inflight.req_headers) {
        Some(len) => format!("{got} of {len} bytes"),
        None => format!("{got} bytes"),
    }
}

fn upload_broke_message(inflight: &InFlight, reason: &str) -> String {
    format!(
        "the client disconnected while sending the request body, after {}: {reason}",
        body_progress(inflight)
    )
}

/// Frames as one buffer (no copy for one frame, the usual case).
fn concat(mut frames: Vec<Bytes>) -> Bytes {
    match frames.len() {
        0 => Bytes::new(),
        1 => frames.pop().unwrap_or_default(),
        _ => {
            let mut b = bytes::BytesMut::with_capacity(frames.iter().map(Bytes::len).sum());
            for f in &frames {
                b.extend_from_slice(f);
            }
            b.freeze()
        }
    }
}

/// The wall-clock time of `t0`: read only when a record is built, so that the request path reads one clock.
fn started_at(t0: Instant) -> SystemTime {
    let now = SystemTime::now();
    now.checked_sub(t0.elapsed()).unwrap_or(now)
}

/// The request URI upstream: the upstream base path, then the client's path and query.
fn upstream_uri(
    shared: &Shared,
    client_uri: &hyper::Uri,
) -> std::result::Result<hyper::Uri, hyper::http::Error> {
    let pq = client_uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| hyper::http::uri::PathAndQuery::from_static("/"));
    let pq = if shared.base_path.is_empty() {
        pq
    } else {
        format!("{}{pq}", shared.base_path).try_into()?
    };
    let mut parts = hyper::http::uri::Parts::default();
    parts.path_and_query = Some(pq);
    Ok(hyper::Uri::from_parts(parts)?)
}

impl InFlight {
    /// A request that has just arrived: nothing of its body read, its meta pending, no answer yet.
    fn arrived(
        shared: &Arc<Shared>,
        seq: u64,
        t0: Instant,
        parts: &hyper::http::request::Parts,
        upload: &Arc<Upload>,
    ) -> InFlight {
        InFlight {
            shared: shared.clone(),
            seq,
            t0,
            time_to_headers: None,
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            req_headers: parts.headers.clone(),
            req_head: Bytes::new(),
            upload: upload.clone(),
            // Worked out once the first part of the body is in (or by the guard, if the client goes first).
            meta: RequestMeta::pending(),
            group: None,
            status: None,
            resp_headers: HeaderMap::new(),
            is_stream: false,
        }
    }

    /// The upstream URL of the request, as recorded.
    pub(crate) fn url(&self) -> String {
        let pq = self.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        format!("{}{pq}", self.shared.upstream)
    }

    /// Builds the full record.
    pub(crate) fn exchange(
        &self,
        response: Option<crate::exchange::RecordedResponse>,
        failure: Option<Failure>,
    ) -> Exchange {
        let cap = self.shared.body_cap;
        Exchange {
            index: 0,
            purpose: crate::exchange::Purpose::Observed,
            request: RecordedRequest {
                method: self.method.to_string(),
                url: self.url(),
                headers: headers_vec(&self.req_headers),
                body: Body::from_prefix(&self.req_head, cap, self.upload.received()),
            },
            response,
            timings: Timings {
                started_at: started_at(self.t0).into(),
                time_to_headers_ms: self.time_to_headers.map(|d| d.as_secs_f64() * 1000.0),
                total_ms: self.t0.elapsed().as_secs_f64() * 1000.0,
            },
            failure,
            retry_group: self.group,
        }
    }

    fn finish_without_response(self, failure: Failure) {
        let class = failure.class;
        let record = self.exchange(None, Some(failure));
        self.shared.finish(Finished {
            seq: self.seq,
            endpoint: self.meta.endpoint.name(),
            shape: self.meta.shape,
            status: None,
            failure_class: Some(class),
            request_bytes: self.upload.received(),
            response_bytes: 0,
            trial_headers: false,
            record: Some(record),
        });
    }
}

/// How [`run_command_with`] starts the command.
///
/// Example: [`run_command_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOptions {
    /// For a Node program (the command is `node`, `npm`, `npx` …, or `NODE_OPTIONS` is set): preload a module
    /// (`--import`) that sends `fetch` requests for `api_hosts` to the proxy, for SDKs that ignore `CO_API_URL`.
    pub node_preload: bool,
    /// The hosts whose requests the preload redirects (`host` or `host:port`): the Cohere API's, and the
    /// upstream's.
    pub api_hosts: Vec<String>,
    /// The command's `NODE_OPTIONS` as the caller's environment has it (the library reads no environment).
    pub node_options: Option<String>,
}

impl RunOptions {
    /// The preload on, for the Cohere API's hosts and `upstream`'s.
    ///
    /// Example: [`run_command_with`].
    pub fn for_upstream(upstream: &str) -> RunOptions {
        let mut api_hosts = vec!["api.cohere.com".to_string(), "api.cohere.ai".to_string()];
        if let Ok(u) = url::Url::parse(upstream) {
            if let Some(h) = u.host_str() {
                api_hosts.push(match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h.to_string(),
                });
            }
        }
        RunOptions {
            node_preload: true,
            api_hosts,
            node_options: None,
        }
    }
}

/// The module [`RunOptions::node_preload`] loads.
const NODE_PRELOAD: &str = include_str!("../../../assets/node-preload.mjs");

/// Programs that run Node.
const NODE_PROGRAMS: &[&str] = &[
    "node", "nodejs", "npm", "npx", "pnpm", "yarn", "tsx", "ts-node",
];

/// [`run_command_with`] with the Node preload off.
///
/// Example: [`crate::gather::observe`].
pub async fn run_command(
    proxy_base_url: &str,
    command: &[OsString],
) -> Result<std::process::ExitStatus> {
    let opts = RunOptions {
        node_preload: false,
        api_hosts: Vec::new(),
        node_options: None,
    };
    run_command_with(proxy_base_url, command, &opts).await
}

/// Runs `command` with `CO_API_URL` set to the proxy's base URL (no `/v1`), stdin, stdout and stderr
/// inherited, and returns its exit status. A Node program also gets the preload of
/// [`RunOptions::node_preload`]. When a proxy is set (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`), the
/// command's `NO_PROXY` and `no_proxy` also name the recording proxy's host, so that a client which honours them
/// (the Python SDK does) talks to the recording proxy directly, not through the network's proxy.
///
/// ```
/// use cohere_bundle_core::gather::observe::{run_command_with, RunOptions};
/// # if cfg!(unix) {
/// let rt = tokio::runtime::Runtime::new()?;
/// let opts = RunOptions::for_upstream("http://127.0.0.1:8080");
/// assert!(opts.node_preload && opts.api_hosts.contains(&"127.0.0.1:8080".to_string()));
/// // The command sees the proxy's URL in CO_API_URL.
/// let script = r#"test "$CO_API_URL" = "http://127.0.0.1:9999""#;
/// let status = rt.block_on(run_command_with("http://127.0.0.1:9999", &["sh".into(), "-c".into(), script.into()], &opts))?;
/// assert!(status.success());
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn run_command_with(
    proxy_base_url: &str,
    command: &[OsString],
    opts: &RunOptions,
) -> Result<std::process::ExitStatus> {
    run_command_until(proxy_base_url, command, opts, std::future::pending()).await
}

/// [`run_command_with`] that ends early when `stop` resolves (SIGINT or SIGTERM reached this process): the
/// command is asked to stop (SIGTERM on Unix), killed if it has not ended within [`STOP_GRACE`], and waited
/// for; the preload directory is removed before this returns, either way.
///
/// ```
/// # #[cfg(unix)] {
/// use std::time::Duration;
/// use cohere_bundle_core::gather::observe::{run_command_until, RunOptions};
/// let rt = tokio::runtime::Runtime::new()?;
/// let opts = RunOptions::for_upstream("http://127.0.0.1:9999");
/// let status = rt.block_on(async {
///     let stop = tokio::time::sleep(Duration::from_millis(200));
///     run_command_until("http://127.0.0.1:9999", &["sleep".into(), "30".into()], &opts, stop).await
/// })?;
/// assert!(!status.success()); // stopped by SIGTERM
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn run_command_until(
    proxy_base_url: &str,
    command: &[OsString],
    opts: &RunOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<std::process::ExitStatus> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| Error::input("command", "no command given to run"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env("CO_API_URL", proxy_base_url)
        .stdin(std::process::Stdio::inherit())
        .stdout(std::process::Stdio::inherit())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    for (var, value) in child_no_proxy(proxy_base_url) {
        cmd.env(var, value);
    }
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let node = NODE_PROGRAMS.contains(&name.as_str()) || opts.node_options.is_some();
    // Kept until the command ends; removed with it (and on an interrupt).
    let mut _preload = None;
    if opts.node_preload && node {
        let dir = tempfile::Builder::new()
            .prefix("cohere-bundle-preload-")
            .tempdir()
            .map_err(|e| Error::io(std::env::temp_dir(), e))?;
        let file = dir.path().join("observe-preload.mjs");
        std::fs::write(&file, NODE_PRELOAD).map_err(|e| Error::io(&file, e))?;
        let url = url::Url::from_file_path(&file)
            .map_err(|_| Error::Other(format!("{}: not an absolute path", file.display())))?;
        let mut node_options = format!("--import={url}");
        if let Some(o) = opts
            .node_options
            .as_deref()
            .filter(|o| !o.trim().is_empty())
        {
            node_options = format!("{o} {node_options}");
        }
        cmd.env("NODE_OPTIONS", node_options)
            .env("COHERE_BUNDLE_OBSERVE_PROXY", proxy_base_url)
            .env("COHERE_BUNDLE_OBSERVE_HOSTS", opts.api_hosts.join(","));
        let guard = crate::cleanup::track(dir.path());
        _preload = Some((dir, guard));
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::input(
            format!("command {}", program.to_string_lossy()),
            e.to_string(),
        )
    })?;
    let waited =
        |e: std::io::Error| Error::Other(format!("waiting for {}: {e}", program.to_string_lossy()));
    tokio::select! {
        status = child.wait() => return status.map_err(waited),
        () = stop => {}
    }
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with the id of our own child, which has not been waited for (so not reused).
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(status) => status.map_err(waited),
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await.map_err(waited)
        }
    }
}

/// How long a command that [`run_command_until`] stops may take to end before it is killed.
///
/// Example: [`run_command_until`].
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// `NO_PROXY` and `no_proxy` for the command of [`run_command`]: each as it is (or as the other is) plus the host
/// of `proxy_base_url`. Nothing when no proxy is set or the host is listed already.
fn child_no_proxy(proxy_base_url: &str) -> Vec<(&'static str, String)> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let proxied = ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]
        .iter()
        .any(|k| var(k).or_else(|| var(&k.to_ascii_lowercase())).is_some());
    let Some(host) = url::Url::parse(proxy_base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
    else {
        return Vec::new();
    };
    if !proxied {
        return Vec::new();
    }
    [("NO_PROXY", "no_proxy"), ("no_proxy", "NO_PROXY")]
        .into_iter()
        .filter_map(|(name, other)| {
            let current = var(name).or_else(|| var(other)).unwrap_or_default();
            if current.split(',').any(|h| h.trim() == host) {
                return None;
            }
            let value = if current.is_empty() {
                host.clone()
            } else {
                format!("{current},{host}")
            };
            Some((name, value))
        })
        .collect()
}

/// Resolves on Ctrl-C, or on SIGTERM on Unix.
///
/// ```no_run
/// use cohere_bundle_core::gather::observe::{wait_for_shutdown_signal, ObserveOptions, Proxy};
/// # async fn demo() -> cohere_bundle_core::Result<()> {
/// let proxy = Proxy::start(ObserveOptions::default()).await?;
/// println!("export CO_API_URL={}", proxy.base_url());
/// wait_for_shutdown_signal().await;
/// let recording = proxy.stop().await;
/// println!("{} failures", recording.stats.failures);
/// # Ok(()) }
/// ```
pub async fn wait_for_shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_urls_are_checked_and_normalized() {
        assert_eq!(
            normalize_upstream("https://api.cohere.com/v1/").unwrap(),
            "https://api.cohere.com"
        );
        assert_eq!(
            normalize_upstream("http://127.0.0.1:9/base/").unwrap(),
            "http://127.0.0.1:9/base"
        );
        assert_eq!(
            normalize_upstream("http://127.0.0.1:9/v1").unwrap(),
            "http://127.0.0.1:9/v1"
        );
        let e = normalize_upstream("ftp://x").unwrap_err().to_string();
        assert!(e.contains("ftp://x") && e.contains("http://"), "{e}");
        assert!(normalize_upstream("not a url").is_err());
    }

    #[test]
    fn request_meta_reads_model_stream_and_size() {
        let m = RequestMeta::new("/v2/chat", br#"{"model":"command-a-03-2025","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hello"}]}"#, true);
        assert_eq!(m.shape.endpoint, "v2/chat");
        assert_eq!(m.shape.model.as_deref(), Some("command-a-03-2025"));
        assert!(m.shape.stream);
        assert_eq!(m.shape.input_chars_up_to, 8);
        assert_eq!(m.shape.max_tokens, Some(5));
        let m = RequestMeta::new("/v1/models/command-r", b"", true);
        assert_eq!(m.shape.model.as_deref(), Some("command-r"));
        let m = RequestMeta::new("/v2/chat", b"not json", true);
        assert_eq!(m.shape.model, None);
        assert!(!m.shape.input_chars_unknown);
        // The first part of a body over the cap: model, stream and max_tokens by a scan, input size unknown.
        let m = RequestMeta::new(
            "/v2/chat",
            br#"{"model":"command-a-03-2025","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hel"#,
            false,
        );
        assert_eq!(m.shape.model.as_deref(), Some("command-a-03-2025"));
        assert!(m.shape.stream && m.shape.input_chars_unknown);
        assert_eq!(
            (m.shape.input_chars_up_to, m.shape.max_tokens),
            (0, Some(5))
        );
    }

    #[test]
    fn only_loopback_unless_allow_remote() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(check_listen(at("127.0.0.1:0"), false).is_ok());
        assert!(check_listen(at("[::1]:0"), false).is_ok());
        assert!(check_listen(at("[::ffff:127.0.0.1]:0"), false).is_ok());
        let e = check_listen(at("0.0.0.0:0"), false).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let msg = e.to_string();
        assert!(
            msg.contains("listen 0.0.0.0:0") && msg.contains("`allow_remote`"),
            "{msg}"
        );
        assert!(check_listen(at("[::]:0"), false).is_err());
        assert!(check_listen(at("0.0.0.0:0"), true).is_ok());
    }

    #[tokio::test]
    async fn run_command_sets_co_api_url_and_reports_bad_commands() {
        let e = run_command("http://127.0.0.1:1", &[]).await.unwrap_err();
        assert_eq!(e.exit_code(), 2);
        let e = run_command("http://127.0.0.1:1", &["/no/such/program-xyz".into()])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("/no/such/program-xyz"), "{e}");
        let ok = [
            "sh".into(),
            "-c".into(),
            "test \"$CO_API_URL\" = http://127.0.0.1:1".into(),
        ];
        assert!(run_command("http://127.0.0.1:1", &ok)
            .await
            .unwrap()
            .success());
        assert!(!run_command("http://127.0.0.1:2", &ok)
            .await
            .unwrap()
            .success());
    }
}
