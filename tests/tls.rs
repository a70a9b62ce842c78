//! Issue 12, corporate networks: a CA that only `SSL_CERT_FILE` names (as behind a TLS-inspecting proxy),
//! `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` for replay and for observe's upstream, and TLS failures that exit 1
//! as the README says. Everything runs on 127.0.0.1: a TLS front (test CA, made here with rcgen) before the
//! simulator, and a small HTTP proxy that counts what goes through it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use cohere_bundle_simulator::DEMO_KEY;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::util::{self, Run, Sim};

const MODEL: &str = "command-r-08-2024";

/// A CA made for this test and a server certificate it signed for `localhost` and `127.0.0.1`.
struct TestCa {
    /// The CA certificate, PEM: what `SSL_CERT_FILE` points at.
    ca_pem: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

fn test_ca(dir: &Path) -> TestCa {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cohere-bundle test inspection CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().expect("server key");
    let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("server params")
        .signed_by(&leaf_key, &issuer)
        .expect("server cert");
    let ca_pem = util::write(dir, "corp-ca.pem", ca_cert.pem());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone(), ca_cert.der().clone()], key)
    .expect("server config");
    TestCa {
        ca_pem,
        server: Arc::new(server),
    }
}

/// Servers on a runtime of their own, so that a test can run the binary synchronously meanwhile.
struct Servers {
    rt: tokio::runtime::Runtime,
}

impl Servers {
    fn new() -> Servers {
        Servers {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime"),
        }
    }

    fn listen(&self) -> (TcpListener, u16) {
        let l = self
            .rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        (l, port)
    }

    /// HTTPS on a port of its own in front of `target` (the simulator): TLS ends here, bytes go on as they are.
    fn tls_front(&self, config: Arc<rustls::ServerConfig>, target: SocketAddr) -> u16 {
        let (listener, port) = self.listen();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        self.rt.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // An untrusting client aborts the handshake: nothing to forward then.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut up) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
        port
    }

    /// A forward proxy: `CONNECT host:port` opens a tunnel; any other request (absolute form) is passed on to
    /// the host it names. Each connection's first line goes into the returned list.
    fn http_proxy(&self) -> (u16, Arc<Mutex<Vec<String>>>) {
        let (listener, port) = self.listen();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        self.rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let _ = proxy_connection(client, log).await;
                });
            }
        });
        (port, seen)
    }
}

async fn proxy_connection(
    mut client: TcpStream,
    log: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = client.read(&mut buf).await?;
        if n == 0 || head.len() > 64 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let first = text.lines().next().unwrap_or_default().to_string();
    log.lock().unwrap().push(first.clone());
    let mut words = first.split(' ');
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    if method == "CONNECT" {
        let mut up = TcpStream::connect(target).await?;
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        tokio::io::copy_bidirectional(&mut client, &mut up).await?;
    } else {
        let url = url::Url::parse(target).map_err(std::io::Error::other)?;
        let authority = format!(
            "{}:{}",
            url.host_str().unwrap_or_default(),
            url.port_or_known_default().unwrap_or(80)
        );
        // The server takes the absolute form as it is; what was read past the head (a body) goes on with it.
        let mut up = TcpStream::connect(authority).await?;
        up.write_all(&head).await?;
        tokio::io::copy_bidirectional(&mut client, &mut up).await?;
    }
    Ok(())
}

fn sim_addr(sim: &Sim) -> SocketAddr {
    sim.base_url()
        .trim_start_matches("http://")
        .parse()
        .expect("simulator address")
}

/// A chat request for a model the simulator does not know (a 404 from the API, whichever way it travelled).
fn request(dir: &Path) -> PathBuf {
    let auth = format!("Bearer {DEMO_KEY}");
    util::write(
        dir,
        "request.json",
        util::envelope(
            "https://api.cohere.com",
            "/v2/chat",
            &[("Authorization", &auth), ("x-simulate", "model-not-found")],
            &json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
        ),
    )
}

/// `replay` of [`request`] against `base`, with the environment `env` on top of the test defaults.
fn replay(dir: &Path, base: &str, env: &[(&str, &str)]) -> Run {
    let req = request(dir);
    let mut c = util::cli(dir).arg("replay").arg(&req).args([
        "--base-url",
        base,
        "--json",
        "--force",
        "--out",
        "b.zip",
    ]);
    for (k, v) in env {
        c = c.env(k, v);
    }
    c.run()
}

#[test]
fn tls_replay_trusts_the_ca_in_ssl_cert_file_and_only_then() {
    let dir = util::tempdir();
    let ca = test_ca(dir.path());
    let sim = Sim::default_config();
    let servers = Servers::new();
    let port = servers.tls_front(ca.server.clone(), sim_addr(&sim));
    let base = format!("https://localhost:{port}");

    // Not in the system store nor among the Mozilla roots: the handshake fails, exit 1, one line that says TLS.
    let run = replay(dir.path(), &base, &[]).fails(1, &["TLS", "certificate", "SSL_CERT_FILE"]);
    assert!(
        !dir.path().join("b.zip").exists(),
        "no bundle for an unreachable API: {}",
        run.stderr
    );

    // Trusted through SSL_CERT_FILE (as a TLS-inspecting proxy's CA would be): the API's own 404 is bundled.
    let ca_pem = ca.ca_pem.to_string_lossy().into_owned();
    let run = replay(dir.path(), &base, &[("SSL_CERT_FILE", &ca_pem)]).success();
    assert_eq!(run.json()["status"], 404, "{}", run.stdout);
    let s = util::summary(&dir.path().join("b.zip"));
    assert_eq!(s["status"], 404, "{s:#}");
    assert_eq!(s["causes"][0]["code"], "model_not_found", "{s:#}");
    assert!(
        sim.requests().iter().any(|r| r.path == "/v2/chat"),
        "the chat went through the TLS front to the simulator"
    );

    // The same CA from SSL_CERT_DIR.
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(&ca.ca_pem, certs.join("corp.pem")).unwrap();
    let certs = certs.to_string_lossy().into_owned();
    replay(dir.path(), &base, &[("SSL_CERT_DIR", &certs)]).success();
}

#[test]
fn tls_bad_ssl_cert_file_is_a_usage_error_naming_it() {
    let dir = util::tempdir();
    let base = "http://127.0.0.1:9";
    let missing = dir.path().join("missing.pem");
    let missing = missing.to_string_lossy().into_owned();
    replay(dir.path(), base, &[("SSL_CERT_FILE", &missing)]).fails(2, &["SSL_CERT_FILE", &missing]);
    let notes = util::write(dir.path(), "notes.txt", "not a certificate\n");
    let notes = notes.to_string_lossy().into_owned();
    replay(dir.path(), base, &[("SSL_CERT_FILE", &notes)])
        .fails(2, &["SSL_CERT_FILE", &notes, "PEM"]);
    // observe reads it too, before it starts.
    util::cli(dir.path())
        .env("SSL_CERT_FILE", &notes)
        .args([
            "observe",
            "--upstream",
            base,
            "--out",
            "o.zip",
            "--",
            "true",
        ])
        .run()
        .fails(2, &["SSL_CERT_FILE", &notes]);
}

#[test]
fn tls_https_url_on_a_plain_http_port_exits_1_and_says_tls() {
    let dir = util::tempdir();
    let sim = Sim::default_config();
    let base = sim.base_url().replace("http://", "https://");
    let run = replay(dir.path(), &base, &[]).fails(1, &["TLS", "http://"]);
    assert!(run.stderr.contains(&base), "names the URL: {}", run.stderr);
    assert!(!dir.path().join("b.zip").exists());
}

/// `observe --upstream URL -- cohere-bundle replay request.json`: the inner replay talks to the recording proxy
/// (`CO_API_URL`), the proxy to `upstream`. Returns the run and observe's summary.
fn observe(dir: &Path, upstream: &str, env: &[(&str, &str)]) -> (Run, Value) {
    let req = request(dir);
    let mut c = util::cli(dir)
        .args([
            "observe",
            "--upstream",
            upstream,
            "--force",
            "--out",
            "o.zip",
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_cohere-bundle"))
        .arg("replay")
        .arg(&req)
        .args(["--force", "--out", "inner.zip"]);
    for (k, v) in env {
        c = c.env(k, v);
    }
    let run = c.run().success();
    let s = util::summary(&dir.join("o.zip"));
    (run, s)
}

#[test]
fn tls_observe_upstream_trusts_the_ca_in_ssl_cert_file() {
    let dir = util::tempdir();
    let ca = test_ca(dir.path());
    let sim = Sim::default_config();
    let servers = Servers::new();
    let port = servers.tls_front(ca.server.clone(), sim_addr(&sim));
    let upstream = format!("https://localhost:{port}");

    // Untrusted: the proxy cannot reach the upstream, and its record says why.
    let (run, s) = observe(dir.path(), &upstream, &[]);
    assert_eq!(s["error"]["class"], "network", "{s:#}\n{}", run.stderr);
    let msg = s["error"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("certificate") && msg.contains("SSL_CERT_FILE"),
        "{msg}"
    );
    assert!(!sim.requests().iter().any(|r| r.path == "/v2/chat"));

    // Trusted through SSL_CERT_FILE: the API's 404 is what observe saw.
    let ca_pem = ca.ca_pem.to_string_lossy().into_owned();
    let (run, s) = observe(dir.path(), &upstream, &[("SSL_CERT_FILE", &ca_pem)]);
    assert_eq!(s["status"], 404, "{s:#}\n{}", run.stderr);
    assert_eq!(s["causes"][0]["code"], "model_not_found", "{s:#}");
}

/// The test defaults say `NO_PROXY=127.0.0.1,localhost`; these keep 127.0.0.1 direct (the observe proxy the
/// inner replay talks to) and send `localhost` (the servers) through `proxy`, named by `var` (upper and lower
/// case).
fn proxied(var: &str, proxy: &str) -> Vec<(String, String)> {
    vec![
        (var.to_string(), proxy.to_string()),
        (var.to_ascii_lowercase(), proxy.to_string()),
        ("NO_PROXY".to_string(), "127.0.0.1".to_string()),
        ("no_proxy".to_string(), "127.0.0.1".to_string()),
    ]
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[test]
fn tls_replay_goes_through_https_proxy_and_http_proxy_unless_no_proxy() {
    let dir = util::tempdir();
    let ca = test_ca(dir.path());
    let sim = Sim::default_config();
    let servers = Servers::new();
    let tls_port = servers.tls_front(ca.server.clone(), sim_addr(&sim));
    let (proxy_port, seen) = servers.http_proxy();
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let ca_pem = ca.ca_pem.to_string_lossy().into_owned();

    // https: a CONNECT tunnel through HTTPS_PROXY, TLS inside it.
    let mut env = proxied("HTTPS_PROXY", &proxy);
    env.push(("SSL_CERT_FILE".into(), ca_pem.clone()));
    let base = format!("https://localhost:{tls_port}");
    let run = replay(dir.path(), &base, &pairs(&env)).success();
    assert_eq!(run.json()["status"], 404, "{}", run.stdout);
    let tunnel = format!("CONNECT localhost:{tls_port} HTTP/1.1");
    assert!(
        seen.lock().unwrap().contains(&tunnel),
        "{:?}",
        seen.lock().unwrap()
    );

    // http: the request itself, in absolute form, through HTTP_PROXY.
    seen.lock().unwrap().clear();
    let sim_port = sim_addr(&sim).port();
    let base = format!("http://localhost:{sim_port}");
    let run = replay(dir.path(), &base, &pairs(&proxied("HTTP_PROXY", &proxy))).success();
    assert_eq!(run.json()["status"], 404, "{}", run.stdout);
    let chat = format!("POST http://localhost:{sim_port}/v2/chat HTTP/1.1");
    assert!(
        seen.lock().unwrap().contains(&chat),
        "{:?}",
        seen.lock().unwrap()
    );

    // NO_PROXY covering the host: straight there.
    seen.lock().unwrap().clear();
    let mut env = proxied("HTTP_PROXY", &proxy);
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    env.push(("no_proxy".into(), "127.0.0.1,localhost".into()));
    replay(dir.path(), &base, &pairs(&env)).success();
    assert!(
        seen.lock().unwrap().is_empty(),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn tls_observe_upstream_goes_through_https_proxy_and_http_proxy() {
    let dir = util::tempdir();
    let ca = test_ca(dir.path());
    let sim = Sim::default_config();
    let servers = Servers::new();
    let tls_port = servers.tls_front(ca.server.clone(), sim_addr(&sim));
    let (proxy_port, seen) = servers.http_proxy();
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    let ca_pem = ca.ca_pem.to_string_lossy().into_owned();

    // An https upstream: observe tunnels through HTTPS_PROXY. NO_PROXY is empty, yet the inner replay reaches
    // observe on 127.0.0.1 directly: observe adds its own host to the command's NO_PROXY.
    let mut env = proxied("HTTPS_PROXY", &proxy);
    env.push(("HTTP_PROXY".into(), proxy.clone()));
    env.push(("http_proxy".into(), proxy.clone()));
    env.push(("NO_PROXY".into(), String::new()));
    env.push(("no_proxy".into(), String::new()));
    env.push(("SSL_CERT_FILE".into(), ca_pem.clone()));
    let upstream = format!("https://localhost:{tls_port}");
    let (run, s) = observe(dir.path(), &upstream, &pairs(&env));
    assert_eq!(s["status"], 404, "{s:#}\n{}", run.stderr);
    let tunnel = format!("CONNECT localhost:{tls_port} HTTP/1.1");
    assert!(
        seen.lock().unwrap().contains(&tunnel),
        "{:?}",
        seen.lock().unwrap()
    );
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("POST http://127.0.0.1")),
        "the command talked to observe directly: {:?}",
        seen.lock().unwrap()
    );

    // An http upstream: observe hands each request to HTTP_PROXY in absolute form.
    seen.lock().unwrap().clear();
    let sim_port = sim_addr(&sim).port();
    let upstream = format!("http://localhost:{sim_port}");
    let (run, s) = observe(
        dir.path(),
        &upstream,
        &pairs(&proxied("HTTP_PROXY", &proxy)),
    );
    assert_eq!(s["status"], 404, "{s:#}\n{}", run.stderr);
    let chat = format!("POST http://localhost:{sim_port}/v2/chat HTTP/1.1");
    assert!(
        seen.lock().unwrap().contains(&chat),
        "{:?}",
        seen.lock().unwrap()
    );

    // An https:// proxy (TLS to the proxy, trusted through SSL_CERT_FILE too), then TLS to the upstream inside
    // the tunnel.
    seen.lock().unwrap().clear();
    let proxy_addr: SocketAddr = format!("127.0.0.1:{proxy_port}").parse().unwrap();
    let tls_proxy_port = servers.tls_front(ca.server.clone(), proxy_addr);
    let mut env = proxied(
        "HTTPS_PROXY",
        &format!("https://localhost:{tls_proxy_port}"),
    );
    env.push(("SSL_CERT_FILE".into(), ca_pem.clone()));
    let upstream = format!("https://localhost:{tls_port}");
    let (run, s) = observe(dir.path(), &upstream, &pairs(&env));
    assert_eq!(s["status"], 404, "{s:#}\n{}", run.stderr);
    assert!(
        seen.lock().unwrap().contains(&tunnel),
        "{:?}",
        seen.lock().unwrap()
    );
}
