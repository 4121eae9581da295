//! SIP over TLS (RFC 3261 §26.2, §18): the contexts. A TLS connection carries SIP exactly like a TCP
//! one (Content-Length framing, idle and partial-message timeouts, reuse by peer, see `tcp`); this
//! module only builds what terminates and originates TLS. Inbound: `[sip] tls_listen` with
//! `tls_cert`/`tls_key` (PEM chain and key). Outbound (trunks with `transport = "tls"`): the peer's
//! certificate is verified against the system's roots plus `tls_ca` (PEM), for the name the address
//! was configured with (a trunk's host), else its IP address, and our `tls_cert` is presented as
//! client certificate. `tls_verify_clients`: peers connecting to us must present a certificate
//! chaining to `tls_ca` (mutual TLS).

use std::net::SocketAddr;
use std::sync::Arc;

use dashmap::DashMap;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, RootCertStore};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Which part of the TLS setup is unusable, and why.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The certificate chain does not parse or is empty.
    #[error("no PEM certificate could be read: {0}")]
    Cert(String),
    /// The private key does not parse or does not match the certificate.
    #[error("{0}")]
    Key(String),
    /// The extra CA certificates do not parse.
    #[error("no PEM CA certificate could be read: {0}")]
    Ca(String),
}

/// The TLS side of the transports: an acceptor when we listen for TLS, always a connector.
#[derive(Clone)]
pub struct TlsContext {
    acceptor: Option<TlsAcceptor>,
    connector: TlsConnector,
    /// Names to verify peers' certificates for, by address (a trunk configured by host name).
    names: Arc<DashMap<SocketAddr, String>>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext")
            .field("listens", &self.acceptor.is_some())
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsContext {
    /// Builds the contexts from PEM: `identity` (certificate chain, private key) to accept TLS and
    /// to present as our client certificate when connecting (carriers that authenticate their
    /// customers' SBCs by certificate ask for one); `extra_ca` to trust besides the system roots
    /// when connecting. `verify_clients`: a peer connecting to us must present a certificate that
    /// chains to `extra_ca` (mutual TLS), else its handshake fails.
    pub fn new(
        identity: Option<(&[u8], &[u8])>,
        extra_ca: Option<&[u8]>,
        verify_clients: bool,
    ) -> Result<Self, TlsSetupError> {
        let mut extra = RootCertStore::empty();
        if let Some(pem) = extra_ca {
            for c in certs(pem).map_err(TlsSetupError::Ca)? {
                extra.add(c).map_err(|e| TlsSetupError::Ca(e.to_string()))?;
            }
        }
        let client_roots = match (verify_clients, extra.is_empty()) {
            (false, _) => None,
            (true, false) => Some(extra.clone()),
            (true, true) => {
                return Err(TlsSetupError::Ca(
                    "verifying clients needs the CA their certificates chain to".into(),
                ));
            }
        };
        let acceptor = match identity {
            Some((cert, key)) => Some(acceptor(cert, key, client_roots)?),
            None => None,
        };
        let mut roots = extra;
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsSetupError::Ca(e.to_string()))?
            .with_root_certificates(roots);
        let config = match identity {
            Some((cert, key)) => {
                let (chain, key) = identity_of(cert, key)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    TlsSetupError::Key(format!("does not match the certificate: {e}"))
                })?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Self {
            acceptor,
            connector: TlsConnector::from(Arc::new(config)),
            names: Arc::new(DashMap::new()),
        })
    }

    /// Verify the peer at `addr` as `name` (its configured host) when connecting to it.
    pub fn name_peer(&self, addr: SocketAddr, name: &str) {
        self.names.insert(addr, name.to_owned());
    }

    pub(super) fn acceptor(&self) -> Option<&TlsAcceptor> {
        self.acceptor.as_ref()
    }

    pub(super) fn connector(&self) -> &TlsConnector {
        &self.connector
    }

    /// The name `dest`'s certificate must carry.
    pub(super) fn server_name(&self, dest: SocketAddr) -> ServerName<'static> {
        self.names
            .get(&dest)
            .and_then(|n| ServerName::try_from(n.clone()).ok())
            .unwrap_or_else(|| ServerName::IpAddress(dest.ip().into()))
    }
}

fn certs(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no CERTIFICATE block".into());
    }
    Ok(certs)
}

/// Checks a client identity and the CA it trusts parse, and the key matches the certificate
/// (for the gRPC client to media nodes, which loads them itself).
pub fn check_client_tls(ca: &[u8], cert: &[u8], key: &[u8]) -> Result<(), TlsSetupError> {
    certs(ca).map_err(TlsSetupError::Ca)?;
    acceptor(cert, key, None).map(drop)
}

/// A certificate chain and its private key from PEM.
fn identity_of(
    cert: &[u8],
    key: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    let chain = certs(cert).map_err(TlsSetupError::Cert)?;
    let key = PrivateKeyDer::from_pem_slice(key)
        .map_err(|e| TlsSetupError::Key(format!("no PEM private key could be read: {e}")))?;
    Ok((chain, key))
}

/// The server side; `client_roots`: require a client certificate chaining to them.
fn acceptor(
    cert: &[u8],
    key: &[u8],
    client_roots: Option<RootCertStore>,
) -> Result<TlsAcceptor, TlsSetupError> {
    let (chain, key) = identity_of(cert, key)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Key(e.to_string()))?;
    let builder = match client_roots {
        Some(roots) => {
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .map_err(|e| TlsSetupError::Ca(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| TlsSetupError::Key(format!("does not match the certificate: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
