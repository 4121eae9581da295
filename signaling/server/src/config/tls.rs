//! `[sip] tls_listen`, `tls_cert`, `tls_key`, `tls_ca`: SIP over TLS. Paths are relative to the config
//! file. Listening needs a certificate and its key; connecting (trunks with `transport = "tls"`) needs
//! nothing but may add CA certificates to trust besides the system's (`tls_ca`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::{ConfigIssue, SipSection};
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
    match TlsContext::new(identity, ca.as_deref()) {
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
