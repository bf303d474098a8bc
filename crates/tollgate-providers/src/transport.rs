//! The one pooled HTTP client every provider call goes through.
//!
//! Adapters describe requests ([`UpstreamRequest`]); only this module performs I/O. It keeps
//! connections alive, negotiates HTTP/2 by ALPN where the upstream offers it, sets TCP_NODELAY
//! (small JSON requests otherwise stall on delayed ACKs) and turns transport failures into
//! [`GatewayError`]s.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{HeaderMap, Method, StatusCode};
use tollgate_core::GatewayError;

/// An HTTP request an adapter wants sent, built without any I/O.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Connection settings for the shared client.
#[derive(Debug, Clone)]
pub struct TransportOptions {
    /// Time allowed to establish TCP (and TLS).
    pub connect_timeout: Duration,
    /// Idle keep-alive connections are closed after this long.
    pub pool_idle_timeout: Duration,
    /// Upper bound of idle connections kept per upstream host.
    pub pool_max_idle_per_host: usize,
}

impl Default for TransportOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 512,
        }
    }
}

/// The shared, pooled client. Cheap to clone.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
}

/// Response head plus a body still to be read.
#[derive(Debug)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: reqwest::Response,
}

impl HttpClient {
    /// Builds the client; fails only if TLS cannot be initialised.
    pub fn new(options: &TransportOptions) -> Result<Self, GatewayError> {
        let inner = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .pool_idle_timeout(options.pool_idle_timeout)
            .pool_max_idle_per_host(options.pool_max_idle_per_host)
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(60))
            .no_proxy()
            .build()
            .map_err(|e| GatewayError::Internal(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { inner })
    }

    /// Sends the request and waits for the response head, at most `timeout`.
    /// `provider` names the upstream in error messages.
    pub async fn send(
        &self,
        request: UpstreamRequest,
        timeout: Duration,
        provider: &str,
    ) -> Result<UpstreamResponse, GatewayError> {
        let builder = self
            .inner
            .request(request.method, &request.url)
            .headers(request.headers)
            .body(request.body);
        let response = match tokio::time::timeout(timeout, builder.send()).await {
            Err(_) => return Err(timeout_error(provider, timeout)),
            Ok(Err(e)) => return Err(transport_error(provider, &e, timeout)),
            Ok(Ok(r)) => r,
        };
        Ok(UpstreamResponse {
            status: response.status(),
            headers: response.headers().clone(),
            body: response,
        })
    }
}

impl UpstreamResponse {
    /// Reads the whole body, giving up after `timeout`.
    pub async fn bytes(self, timeout: Duration, provider: &str) -> Result<Bytes, GatewayError> {
        match tokio::time::timeout(timeout, self.body.bytes()).await {
            Err(_) => Err(timeout_error(provider, timeout)),
            Ok(Err(e)) => Err(transport_error(provider, &e, timeout)),
            Ok(Ok(b)) => Ok(b),
        }
    }

    /// The body as it arrives. Dropping the stream closes the upstream request, which is how a
    /// client disconnect cancels the provider call.
    pub fn into_stream(
        self,
        provider: &'static str,
    ) -> impl Stream<Item = Result<Bytes, GatewayError>> + Send + 'static {
        self.body.bytes_stream().map(move |r| {
            r.map_err(|e| GatewayError::Connection {
                provider: provider.to_owned(),
                message: format!("the stream broke off: {}", error_chain(&e)),
            })
        })
    }
}

fn timeout_error(provider: &str, timeout: Duration) -> GatewayError {
    GatewayError::Timeout {
        provider: provider.to_owned(),
        seconds: timeout.as_secs_f64(),
    }
}

fn transport_error(provider: &str, e: &reqwest::Error, timeout: Duration) -> GatewayError {
    if e.is_timeout() {
        return timeout_error(provider, timeout);
    }
    GatewayError::Connection {
        provider: provider.to_owned(),
        message: error_chain(e),
    }
}

/// reqwest's top-level message is vague ("error sending request"); the cause says what failed.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
