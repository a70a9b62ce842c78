//! Gather stage. How the recording proxy opens its upstream connections: directly, through an HTTP proxy's `CONNECT` tunnel
//! (an `https://` upstream behind `HTTPS_PROXY`), or to an HTTP proxy that forwards plain requests (an
//! `http://` upstream behind `HTTP_PROXY`, requests in absolute form). The route is chosen once, when the proxy
//! starts, from the upstream URL and [`NetOptions`] (`NO_PROXY` included); TLS trusts [`NetOptions::root_store`].

use std::time::Duration;

use hyper::header::{HeaderValue, PROXY_AUTHORIZATION};
use hyper::http::uri::{Authority, Scheme};
use hyper::{Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::HttpConnector;
use tower_service::Service;

use super::BoxError;
use crate::gather::net::NetOptions;
use crate::{Error, Result};

/// An upstream connection, whichever route it took.
pub(crate) trait UpstreamIo: hyper::rt::Read + hyper::rt::Write + Send + Unpin {}
impl<T: hyper::rt::Read + hyper::rt::Write + Send + Unpin> UpstreamIo for T {}

/// Opens upstream connections along the route chosen at start.
pub(crate) struct UpstreamConnector {
    route: Route,
    /// What is dialled: the upstream's scheme, host and port.
    dst: Uri,
}

enum Route {
    Direct(HttpsConnector<HttpConnector>),
    /// TLS to the upstream inside a `CONNECT` tunnel through the proxy (itself reached over TLS for an
    /// `https://` proxy).
    Tunnel {
        connector: HttpsConnector<Tunnel<HttpsConnector<HttpConnector>>>,
        proxy: String,
    },
    /// Plain HTTP to the proxy, which forwards each request: its URI in absolute form.
    Forward {
        connector: HttpsConnector<HttpConnector>,
        proxy_uri: Uri,
        proxy: String,
        scheme: Scheme,
        authority: Authority,
        auth: Option<HeaderValue>,
    },
}

impl UpstreamConnector {
    /// The route to `dst` (`scheme://host:port`) under `net`.
    pub(crate) fn new(dst: Uri, net: &NetOptions) -> Result<UpstreamConnector> {
        let tls = net.tls_config()?;
        let tcp = || {
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(Duration::from_secs(30)));
            http
        };
        fn https<C>(tls: &rustls::ClientConfig, inner: C) -> HttpsConnector<C> {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_http1()
                .wrap_connector(inner)
        }
        let route = match net.proxy_matcher().intercept(&dst) {
            None => Route::Direct(https(&tls, tcp())),
            Some(intercept) => {
                let proxy_uri = intercept.uri().clone();
                if !matches!(proxy_uri.scheme_str(), Some("http" | "https")) {
                    return Err(Error::input(
                        format!("proxy {proxy_uri} (HTTPS_PROXY / HTTP_PROXY / ALL_PROXY)"),
                        "observe goes through http:// and https:// proxies only",
                    ));
                }
                let proxy = format!(
                    "{}://{}",
                    proxy_uri.scheme_str().unwrap_or("http"),
                    proxy_uri.authority().map(|a| a.as_str()).unwrap_or("")
                );
                let auth = intercept.basic_auth().cloned();
                if dst.scheme() == Some(&Scheme::HTTPS) {
                    let mut tunnel = Tunnel::new(proxy_uri, https(&tls, tcp()));
                    if let Some(a) = auth {
                        tunnel = tunnel.with_auth(a);
                    }
                    Route::Tunnel {
                        connector: https(&tls, tunnel),
                        proxy,
                    }
                } else {
                    Route::Forward {
                        connector: https(&tls, tcp()),
                        proxy_uri,
                        proxy,
                        scheme: dst.scheme().cloned().unwrap_or(Scheme::HTTP),
                        authority: dst
                            .authority()
                            .cloned()
                            .ok_or_else(|| Error::input(dst.to_string(), "has no host"))?,
                        auth,
                    }
                }
            }
        };
        Ok(UpstreamConnector { route, dst })
    }

    /// The proxy the connections go through, if any (`scheme://host:port`, without credentials).
    pub(crate) fn via(&self) -> Option<&str> {
        match &self.route {
            Route::Direct(_) => None,
            Route::Tunnel { proxy, .. } | Route::Forward { proxy, .. } => Some(proxy),
        }
    }

    /// Readies a request for this route: through a forwarding proxy it names the upstream in full and carries
    /// the proxy's credentials.
    pub(crate) fn prepare<B>(&self, req: &mut Request<B>) {
        if let Route::Forward {
            scheme,
            authority,
            auth,
            ..
        } = &self.route
        {
            let mut parts = req.uri().clone().into_parts();
            parts.scheme = Some(scheme.clone());
            parts.authority = Some(authority.clone());
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
            if let Some(a) = auth {
                req.headers_mut().insert(PROXY_AUTHORIZATION, a.clone());
            }
        }
    }

    /// Opens a connection to the upstream (or to the forwarding proxy). Errors say which proxy was used and,
    /// for a TLS failure, what it most likely means.
    pub(crate) async fn connect(&self) -> Result<Box<dyn UpstreamIo>, BoxError> {
        let (io, proxy): (Result<Box<dyn UpstreamIo>, BoxError>, _) = match &self.route {
            Route::Direct(c) => (call(c.clone(), self.dst.clone()).await, None),
            Route::Tunnel { connector, proxy } => {
                (call(connector.clone(), self.dst.clone()).await, Some(proxy))
            }
            Route::Forward {
                connector,
                proxy_uri,
                proxy,
                ..
            } => (
                call(connector.clone(), proxy_uri.clone()).await,
                Some(proxy),
            ),
        };
        io.map_err(|e| {
            let mut msg = crate::gather::client::error_chain(e.as_ref());
            if let Some(hint) = crate::gather::client::tls_error(e.as_ref())
                .and_then(crate::gather::client::tls_hint)
            {
                msg.push_str(": ");
                msg.push_str(hint);
            }
            match proxy {
                Some(p) => format!("through the proxy {p}: {msg}").into(),
                None => msg.into(),
            }
        })
    }
}

async fn call<S>(mut connector: S, dst: Uri) -> Result<Box<dyn UpstreamIo>, BoxError>
where
    S: Service<Uri>,
    S::Response: UpstreamIo + 'static,
    S::Error: Into<BoxError>,
{
    std::future::poll_fn(|cx| connector.poll_ready(cx))
        .await
        .map_err(Into::into)?;
    let io = connector.call(dst).await.map_err(Into::into)?;
    Ok(Box::new(io))
}
