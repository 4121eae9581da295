//! `[sip] tls_listen`, `tls_cert`, `tls_key`, `tls_ca`: SIP over TLS. Paths are relative to the config
//! file. Listening needs a certificate and its key; connecting (trunks with `transport = "tls"`) needs
//! nothing but may add CA certificates to trust besides the system's (`tls_ca`), and presents
//! `tls_cert` as client certificate when given. `tls_verify_clients` requires peers' certificates.
//!
//! `[media] tls_ca`, `tls_cert`, `tls_key`: gRPC over mutual TLS to `https://` media nodes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{ConfigIssue, MediaSection, SipSection};
use crate::transport::{TlsContext, TlsSetupError};

/// The validated TLS settings: listen addresses and the contexts (`None` when nothing uses TLS).
pub(super) fn validate(
    sip: &SipSection,
    base_dir: Option<&Path>,
    trunks_use_tls: bool,
    issues: &mut Vec<ConfigIssue>,
) -> (Vec<SocketAddr>, Option<TlsContext>) {
    let mut issue = |key: &str, message: String| {
        issues.push(ConfigIssue {
            key: key.to_owned(),
            message,
        });
    };
    let mut listen = Vec::new();
    for (i, a) in sip.tls_listen.iter().enumerate() {
        match a.parse::<SocketAddr>() {
            Ok(addr) => listen.push(addr),
            Err(_) => issue(
                &format!("sip.tls_listen[{i}]"),
                format!("`{a}` is not an address like 127.0.0.1:5061 or [::1]:5061"),
            ),
        }
    }
    let path = |p: &str| match base_dir {
        Some(dir) => dir.join(p),
        None => PathBuf::from(p),
    };
    let mut read = |key: &str, value: &Option<String>| -> Option<Vec<u8>> {
        let p = path(value.as_deref()?);
        match std::fs::read(&p) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                issue(key, format!("cannot read {}: {e}", p.display()));
                None
            }
        }
    };
    let cert = read("sip.tls_cert", &sip.tls_cert);
    let key = read("sip.tls_key", &sip.tls_key);
    let ca = read("sip.tls_ca", &sip.tls_ca);
    if sip.tls_verify_clients && (sip.tls_listen.is_empty() || sip.tls_ca.is_none()) {
        issue(
            "sip.tls_verify_clients",
            "needs sip.tls_listen and sip.tls_ca (the CA clients' certificates must chain to)"
                .into(),
        );
        return (listen, None);
    }
    if sip.tls_listen.is_empty() && !trunks_use_tls {
        return (listen, None);
    }
    let identity = match (&cert, &key) {
        (Some(c), Some(k)) => Some((c.as_slice(), k.as_slice())),
        _ if sip.tls_listen.is_empty() => None,
        _ => {
            for (name, missing) in [
                ("sip.tls_cert", sip.tls_cert.is_none()),
                ("sip.tls_key", sip.tls_key.is_none()),
            ] {
                if missing {
                    issue(
                        name,
                        "required with sip.tls_listen (a PEM file, relative to this config)".into(),
                    );
                }
            }
            return (listen, None);
        }
    };
    match TlsContext::new(identity, ca.as_deref(), sip.tls_verify_clients) {
        Ok(ctx) => (listen, Some(ctx)),
        Err(e) => {
            let key = match e {
                TlsSetupError::Cert(_) => "sip.tls_cert",
                TlsSetupError::Key(_) => "sip.tls_key",
                TlsSetupError::Ca(_) => "sip.tls_ca",
            };
            issue(key, e.to_string());
            (listen, None)
        }
    }
}

/// `[media] tls_ca`, `tls_cert`, `tls_key`: all three, or none. Required when a node's URI is
/// `https://`; each file must parse (and the key match the certificate).
pub(super) fn validate_media(
    media: &MediaSection,
    base_dir: Option<&Path>,
    issues: &mut Vec<ConfigIssue>,
) -> Option<switchboard_media_pool::ClientTls> {
    let https = media
        .nodes
        .iter()
        .any(|n| n.grpc_uri.starts_with("https://"));
    let keys = [
        ("media.tls_ca", &media.tls_ca),
        ("media.tls_cert", &media.tls_cert),
        ("media.tls_key", &media.tls_key),
    ];
    if !https && keys.iter().all(|(_, v)| v.is_none()) {
        return None;
    }
    let mut issue = |key: &str, message: String| {
        issues.push(ConfigIssue {
            key: key.to_owned(),
            message,
        });
    };
    let mut pems = Vec::new();
    for (key, value) in keys {
        let Some(p) = value else {
            let why = if https {
                "required for https:// media nodes (mutual TLS: tls_ca, tls_cert and tls_key)"
            } else {
                "required with the other media.tls_* keys (tls_ca, tls_cert and tls_key)"
            };
            issue(key, why.into());
            continue;
        };
        let p = match base_dir {
            Some(dir) => dir.join(p),
            None => PathBuf::from(p),
        };
        match std::fs::read(&p) {
            Ok(bytes) => pems.push(bytes),
            Err(e) => issue(key, format!("cannot read {}: {e}", p.display())),
        }
    }
    let [ca, cert, key] = <[Vec<u8>; 3]>::try_from(pems).ok()?;
    match crate::transport::check_client_tls(&ca, &cert, &key) {
        Ok(()) => Some(switchboard_media_pool::ClientTls {
            ca_pem: ca,
            cert_pem: cert,
            key_pem: key,
        }),
        Err(e) => {
            let key = match e {
                TlsSetupError::Cert(_) => "media.tls_cert",
                TlsSetupError::Key(_) => "media.tls_key",
                TlsSetupError::Ca(_) => "media.tls_ca",
            };
            issue(key, e.to_string());
            None
        }
    }
}
