//! `bare_proxy UPSTREAM_BASE_URL [--host 127.0.0.1] [--port 0]`: the floor.
//!
//! A minimal HTTP/1.1 reverse proxy that forwards every request, bytes untouched and bodies
//! streamed, to `UPSTREAM_BASE_URL` (e.g. `http://127.0.0.1:8080`; a path there is prepended)
//! over a pooled keep-alive hyper client, with TCP_NODELAY on both sides. Whatever the gateway
//! costs beyond this is the price of being a gateway. Prints `listening on http://HOST:PORT`
//! once it accepts connections.

use std::io::Write;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tollgate_bench::{BoxError, Flags};

/// What the proxy answers with: the upstream's streamed body, or its own error text.
type ProxyBody = Either<Incoming, Full<Bytes>>;

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1); never forwarded.
const HOP_BY_HOP: [header::HeaderName; 5] = [
    header::CONNECTION,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

/// Where requests go and the client that takes them there.
struct Upstream {
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    /// The base URL's path without its trailing `/`; empty in the common case.
    prefix: String,
    client: Client<HttpConnector, Incoming>,
}

impl Upstream {
    fn new(base: &str) -> Result<Upstream, BoxError> {
        let uri: Uri = base.parse()?;
        let scheme = uri.scheme().cloned().ok_or("upstream URL needs a scheme")?;
        if scheme != Scheme::HTTP {
            return Err("only http:// upstreams are supported".into());
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or("upstream URL needs a host")?;
        let host = HeaderValue::from_str(authority.as_str())?;
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let mut connector = HttpConnector::new();
        // Small JSON bodies would otherwise wait for delayed ACKs (Nagle).
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Upstream {
            scheme,
            authority,
            host,
            prefix,
            client,
        })
    }

    fn target(&self, original: &Uri) -> Result<Uri, BoxError> {
        let original = original.path_and_query();
        let path_and_query: PathAndQuery = if self.prefix.is_empty() {
            // The common case reuses the parsed path: no formatting, no reparse.
            original
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/"))
        } else {
            let path = original.map_or("/", PathAndQuery::as_str);
            format!("{}{path}", self.prefix).parse()?
        };
        Ok(Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()?)
    }

    async fn forward(&self, mut req: Request<Incoming>) -> Response<ProxyBody> {
        match self.target(req.uri()) {
            Ok(uri) => *req.uri_mut() = uri,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
        }
        strip_hop_by_hop(req.headers_mut());
        req.headers_mut().insert(header::HOST, self.host.clone());
        match self.client.request(req).await {
            Ok(resp) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, Either::Left(body))
            }
            Err(e) => error(StatusCode::BAD_GATEWAY, &format!("upstream: {e}")),
        }
    }
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

fn error(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(message.to_owned()))));
    *resp.status_mut() = status;
    resp
}

fn main() -> Result<(), BoxError> {
    let flags = Flags::parse(std::env::args().skip(1), &[]);
    let [base] = flags.positional() else {
        return Err("usage: bare_proxy UPSTREAM_BASE_URL [--host 127.0.0.1] [--port 0]".into());
    };
    let upstream = Upstream::new(base)?;
    let host: IpAddr = flags.parsed("host", IpAddr::from([127, 0, 0, 1]))?;
    let port: u16 = flags.parsed("port", 0)?;
    // One worker per core the process may run on, like the gateway (tokio's default).
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(upstream, host, port))
}

async fn serve(upstream: Upstream, host: IpAddr, port: u16) -> Result<(), BoxError> {
    let listener = TcpListener::bind((host, port)).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{}", listener.local_addr()?)?;
    stdout.flush()?;
    let upstream = Arc::new(upstream);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(conn) => conn,
            // Out of file descriptors and the like: keep serving the connections we have.
            Err(e) => {
                eprintln!("bare_proxy: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let upstream = Arc::clone(&upstream);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let upstream = Arc::clone(&upstream);
                async move { Ok::<_, std::convert::Infallible>(upstream.forward(req).await) }
            });
            // A client hanging up mid-response is routine under load; nothing to report.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .await;
        });
    }
}
