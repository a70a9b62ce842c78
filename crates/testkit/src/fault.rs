//! A small fault server for tests: on 127.0.0.1, it answers every request with raw bytes the test chose
//! (a cut stream, a cut JSON body, an echo of the request, odd headers), so that behaviour no well-behaved
//! server shows can be tested. It runs on its own thread and stops when dropped.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the server answers to one request (the raw request bytes, head and body).
pub type Answer = dyn Fn(&[u8]) -> Vec<u8> + Send + Sync;

/// A running fault server.
pub struct FaultServer {
    addr: std::net::SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    thread: Option<JoinHandle<()>>,
}

impl FaultServer {
    /// Starts a server that answers every request with `answer(request)`, then closes the connection.
    pub fn start(answer: impl Fn(&[u8]) -> Vec<u8> + Send + Sync + 'static) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answer> = Arc::new(answer);
        let (s, r) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (answer, r) = (answer.clone(), r.clone());
                        std::thread::spawn(move || serve(conn, &*answer, &r));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultServer {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// Answers every request with these bytes.
    pub fn fixed(response: impl Into<Vec<u8>>) -> FaultServer {
        let response = response.into();
        FaultServer::start(move |_| response.clone())
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far (raw bytes).
    pub fn requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, answer: &Answer, requests: &Mutex<Vec<Vec<u8>>>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut buf = [0u8; 8192];
    // Read the head, then as much body as Content-Length says.
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
        if let Some(end) = find(&req, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if req.len() >= end + 4 + len {
                break;
            }
        }
    }
    requests.lock().expect("lock").push(req.clone());
    let _ = conn.write_all(&answer(&req));
    let _ = conn.flush();
    let _ = conn.shutdown(Shutdown::Both);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// An HTTP/1.1 response with a `Content-Length` that matches `body`.
pub fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    s.into_bytes()
}

/// An HTTP/1.1 response whose body is chunked, one chunk per item, properly terminated.
pub fn chunked(status: &str, headers: &[(&str, &str)], chunks: &[&str]) -> Vec<u8> {
    let mut s = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    for c in chunks {
        s.push_str(&format!("{:x}\r\n{c}\r\n", c.len()));
    }
    s.push_str("0\r\n\r\n");
    s.into_bytes()
}
