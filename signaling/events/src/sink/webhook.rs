//! The webhook sink: each batch is one HTTP `POST` of a JSON array of envelopes, signed with
//! HMAC-SHA256, confirmed by any `2xx` answer; anything else (or no answer within the
//! timeout) is retried by the dispatcher with backoff.
//!
//! Headers: `Content-Type: application/json`, `X-Switchboard-Timestamp: <unix seconds>`,
//! `X-Switchboard-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//! A receiver recomputes the signature with [`sign`] (or [`verify`]) and rejects old
//! timestamps to stop replays. `http://` and `https://` (system roots) URLs are accepted.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};

use super::{DeliveryError, Sink};
use crate::journal::StoredEvent;

/// Settings of a [`WebhookSink`].
#[derive(Clone)]
pub struct WebhookConfig {
    /// Target URL (`http://` or `https://`).
    pub url: String,
    /// HMAC key shared with the receiver.
    pub secret: Vec<u8>,
    /// Connect + response timeout per request (default 10 s).
    pub timeout: Duration,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl WebhookConfig {
    /// Defaults for `url` signed with `secret`.
    pub fn new(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> Self {
        WebhookConfig {
            url: url.into(),
            secret: secret.into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key`.
fn hmac_sha256(key: &[u8], msg: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for part in msg {
        inner.update(part);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

/// The `X-Switchboard-Signature` value for `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mac = hmac_sha256(secret, &[timestamp.to_string().as_bytes(), b".", body]);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Whether `signature` is the right one (compared in constant time).
pub fn verify(secret: &[u8], timestamp: u64, body: &[u8], signature: &str) -> bool {
    let expected = sign(secret, timestamp, body);
    expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Posts signed batches to a URL; see the module docs.
pub struct WebhookSink {
    config: WebhookConfig,
    uri: Uri,
    tls: Option<(TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// Checks the URL (and loads the system roots for `https`).
    pub fn new(config: WebhookConfig) -> Result<Self, DeliveryError> {
        let uri: Uri = config
            .url
            .parse()
            .map_err(|e| DeliveryError::new(0, format!("webhook url: {e}")))?;
        let host = uri
            .host()
            .ok_or_else(|| DeliveryError::new(0, "webhook url has no host"))?;
        let tls = match uri.scheme_str() {
            Some("http") => None,
            Some("https") => {
                let name = ServerName::try_from(host.to_owned())
                    .map_err(|e| DeliveryError::new(0, format!("webhook host: {e}")))?;
                Some((tls_connector()?, name))
            }
            _ => {
                return Err(DeliveryError::new(
                    0,
                    "webhook url must be http:// or https://",
                ));
            }
        };
        Ok(WebhookSink { config, uri, tls })
    }

    async fn post(&self, body: Bytes) -> Result<u16, String> {
        let host = self.uri.host().unwrap_or_default();
        let port = self
            .uri
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        let req = Request::post(path)
            .header(
                hyper::header::HOST,
                self.uri.authority().map_or(host, |a| a.as_str()),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("x-switchboard-timestamp", now.to_string())
            .header(
                "x-switchboard-signature",
                sign(&self.config.secret, now, &body),
            )
            .body(Full::new(body))
            .map_err(|e| format!("request: {e}"))?;
        match &self.tls {
            None => send(TokioIo::new(tcp), req).await,
            Some((connector, name)) => {
                let tls = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| format!("tls: {e}"))?;
                send(TokioIo::new(tls), req).await
            }
        }
    }
}

async fn send<T>(io: TokioIo<T>, req: Request<Full<Bytes>>) -> Result<u16, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let driver = tokio::spawn(conn);
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http: {e}"));
    let status = match res {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.into_body().collect().await;
            Ok(status)
        }
        Err(e) => Err(e),
    };
    driver.abort();
    status
}

fn tls_connector() -> Result<TlsConnector, DeliveryError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| DeliveryError::new(0, format!("webhook tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

impl Sink for WebhookSink {
    async fn deliver(&mut self, events: &[Arc<StoredEvent>]) -> Result<(), DeliveryError> {
        let mut body =
            Vec::with_capacity(events.iter().map(|e| e.json.len() + 1).sum::<usize>() + 2);
        body.push(b'[');
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&e.json);
        }
        body.push(b']');
        match tokio::time::timeout(self.config.timeout, self.post(Bytes::from(body))).await {
            Ok(Ok(status)) if (200..300).contains(&status) => Ok(()),
            Ok(Ok(status)) => Err(DeliveryError::new(0, format!("webhook answered {status}"))),
            Ok(Err(e)) => Err(DeliveryError::new(0, format!("webhook {e}"))),
            Err(_) => Err(DeliveryError::new(0, "webhook timed out")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signatures_verify_and_a_changed_body_does_not() {
        let sig = sign(b"k", 1_700_000_000, b"[]");
        assert!(verify(b"k", 1_700_000_000, b"[]", &sig));
        assert!(!verify(b"k", 1_700_000_000, b"[{}]", &sig));
        assert!(!verify(b"k", 1_700_000_001, b"[]", &sig));
    }
}
