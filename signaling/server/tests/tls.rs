//! SIP over TLS (RFC 3261 §26.2), black-box, with certificates made by `openssl` for the test
//! (a CA, and a leaf for 127.0.0.1 it signed):
//! - `[sip] tls_listen`: an OPTIONS over a verified TLS connection is answered on it; with
//!   `tls_verify_clients` only when the peer presents a certificate from `tls_ca`.
//! - A trunk with `transport = "tls"`: a sipp caller's call reaches a TLS carrier written here
//!   (its certificate verified against `tls_ca`; it requires our client certificate), with
//!   `Via: SIP/2.0/TLS` and a Contact naming our TLS listener; the ACK and the relayed BYE come
//!   over TLS too.
//! - A certificate file that is not PEM is a config error naming `sip.tls_cert`.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use support::certs::{Certs, make_certs};
use support::{Server, TempDir, caller_sipp_args, config_with, free_port, health_until_idle, sipp};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, RootCertStore};
use tokio_rustls::{TlsAcceptor, TlsConnector};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn chain_and_key(certs: &Certs) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let chain = CertificateDer::pem_file_iter(&certs.cert)
        .expect("cert")
        .collect::<Result<Vec<_>, _>>()
        .expect("cert");
    (
        chain,
        PrivateKeyDer::from_pem_file(&certs.key).expect("key"),
    )
}

fn roots(certs: &Certs) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(&certs.ca).expect("ca") {
        roots.add(c.expect("ca")).expect("ca");
    }
    roots
}

/// A carrier's side: our CA's leaf, and (mutual TLS) a client certificate from that CA required.
fn acceptor_requiring_client_certs(certs: &Certs) -> TlsAcceptor {
    let (chain, key) = chain_and_key(certs);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots(certs)),
        provider(),
    )
    .build()
    .expect("client verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    TlsAcceptor::from(Arc::new(config))
}

/// A TLS client trusting `certs`' CA; `identity`: presenting that leaf as its certificate.
fn connector(certs: &Certs, identity: bool) -> TlsConnector {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots(certs));
    let config = if identity {
        let (chain, key) = chain_and_key(certs);
        builder
            .with_client_auth_cert(chain, key)
            .expect("client identity")
    } else {
        builder.with_no_client_auth()
    };
    TlsConnector::from(Arc::new(config))
}

/// Reads one SIP message framed by Content-Length; `None` at end of stream.
async fn read_message<S: AsyncRead + Unpin>(s: &mut S, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.trim()
                        .eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let msg: Vec<u8> = buf.drain(..end + 4 + len).collect();
                return Some(String::from_utf8_lossy(&msg).to_string());
            }
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(m: &'a str, name: &str) -> Vec<&'a str> {
    m.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

/// A response to `request` with `extra` header lines and `body` (SDP when not empty).
fn respond(request: &str, status: &str, extra: &str, body: &str) -> String {
    let mut r = format!("SIP/2.0 {status}\r\n");
    for v in header(request, "Via") {
        r.push_str(&format!("Via: {v}\r\n"));
    }
    for name in ["From", "Call-ID", "CSeq"] {
        r.push_str(&format!("{name}: {}\r\n", header(request, name)[0]));
    }
    let to = header(request, "To")[0];
    let to = if to.contains("tag=") {
        to.to_owned()
    } else {
        format!("{to};tag=carrier1")
    };
    r.push_str(&format!("To: {to}\r\n{extra}"));
    if !body.is_empty() {
        r.push_str("Content-Type: application/sdp\r\n");
    }
    r.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    r
}

/// The TLS carrier: answers one call (180, 200 with SDP), takes the ACK and answers the BYE on
/// whatever TLS connections we open; returns every request it got, in order.
async fn tls_carrier(listener: TcpListener, tls: TlsAcceptor, port: u16) -> Vec<String> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let accept = async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Ok(mut s) = tls.accept(tcp).await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(m) = read_message(&mut s, &mut buf).await {
                    let _ = tx.send(m.clone());
                    let contact =
                        format!("Contact: <sip:carrier@127.0.0.1:{port};transport=tls>\r\n");
                    let replies = if m.starts_with("INVITE ") {
                        let sdp = "v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\n\
c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";
                        vec![
                            respond(&m, "180 Ringing", &contact, ""),
                            respond(&m, "200 OK", &contact, sdp),
                        ]
                    } else if m.starts_with("ACK ") {
                        vec![]
                    } else {
                        vec![respond(&m, "200 OK", "", "")]
                    };
                    for r in replies {
                        if s.write_all(r.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    };
    let mut got = Vec::new();
    let collect = async {
        while let Some(m) = rx.recv().await {
            let bye = m.starts_with("BYE ");
            got.push(m);
            if bye {
                return;
            }
        }
    };
    tokio::select! {
        () = accept => {}
        () = collect => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {}
    }
    got
}

fn tls_config(certs: &Certs, tls_port: u16, extra: &str) -> String {
    let tls = format!(
        "[sip]\nlisten = [\"127.0.0.1:0\"]\ntls_listen = [\"127.0.0.1:{tls_port}\"]\n\
         tls_cert = \"{}\"\ntls_key = \"{}\"\ntls_ca = \"{}\"\n",
        certs.cert.display(),
        certs.key.display(),
        certs.ca.display()
    );
    let config = config_with(extra).replace("[sip]\nlisten = [\"127.0.0.1:0\"]\n", &tls);
    assert!(config.contains("tls_listen"), "{config}");
    config
}

/// An OPTIONS over a TLS connection to `tls_port` (presenting our leaf when `identity`); the
/// answer, or `None` when the connection fails or ends without one.
fn options_over_tls(certs: &Certs, tls_port: u16, identity: bool) -> Option<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().expect("addr");
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let local = tcp.local_addr().expect("local");
        let name = ServerName::IpAddress(addr.ip().into());
        let mut s = connector(certs, identity).connect(name, tcp).await.ok()?;
        let options = format!(
            "OPTIONS sip:127.0.0.1:{tls_port} SIP/2.0\r\n\
Via: SIP/2.0/TLS {local};branch=z9hG4bKtls1\r\nMax-Forwards: 70\r\n\
From: <sip:probe@127.0.0.1>;tag=t1\r\nTo: <sip:127.0.0.1:{tls_port}>\r\n\
Call-ID: tls-options-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        s.write_all(options.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), read_message(&mut s, &mut buf))
            .await
            .expect("answered or closed within 5 s")
    })
}

#[test]
fn rfc3261_s26_2_options_over_tls_is_answered_on_the_connection() {
    let certs = make_certs();
    let tls_port = free_port();
    let server = Server::start(&tls_config(&certs, tls_port, ""));
    let answer = options_over_tls(&certs, tls_port, false).expect("an answer");
    assert!(
        answer.starts_with("SIP/2.0 200"),
        "{answer}\n{}",
        server.log()
    );
    let via = header(&answer, "Via");
    assert!(via[0].starts_with("SIP/2.0/TLS "), "{answer}");
}

/// `tls_verify_clients`: a peer without a certificate from `tls_ca` gets no SIP service (its
/// handshake fails), one with such a certificate is answered.
#[test]
fn with_tls_verify_clients_a_peer_without_a_client_certificate_is_refused() {
    let certs = make_certs();
    let tls_port = free_port();
    let config = tls_config(&certs, tls_port, "").replace(
        "tls_listen = [",
        "tls_verify_clients = true\ntls_listen = [",
    );
    let server = Server::start(&config);
    let anonymous = options_over_tls(&certs, tls_port, false);
    assert_eq!(anonymous, None, "answered without a client certificate");
    let answer = options_over_tls(&certs, tls_port, true).expect("an answer");
    assert!(
        answer.starts_with("SIP/2.0 200"),
        "{answer}\n{}",
        server.log()
    );
}

#[test]
fn a_tls_trunk_gets_the_call_verified_with_a_tls_contact_and_its_bye_over_tls() {
    let certs = make_certs();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (listener, carrier_port) = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = l.local_addr().expect("addr").port();
        (l, port)
    });
    // The carrier authenticates us by certificate (mutual TLS): we present our tls_cert.
    let tls = acceptor_requiring_client_certs(&certs);
    let carrier = rt.spawn(tls_carrier(listener, tls, carrier_port));
    let dir = TempDir::new("sb-tls-plan");
    let plan = dir.path().join("dialplan.toml");
    std::fs::write(
        &plan,
        "[[rules]]\nname = \"out\"\nmatch = { called = { regex = \"^9\\\\d+$\" } }\n\
         rewrite_called = { strip = 1 }\naction = { kind = \"trunk\", trunks = [\"secure\"] }\n",
    )
    .expect("plan");
    let tls_port = free_port();
    let extra = format!(
        "[dialplan]\nfile = \"{}\"\n[[trunks]]\nname = \"secure\"\n\
         address = \"127.0.0.1:{carrier_port}\"\ntransport = \"tls\"\n",
        plan.display()
    );
    let server = Server::start(&tls_config(&certs, tls_port, &extra));
    let args = caller_sipp_args(&server, "95551234", &free_port().to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let uac = sipp("call_uac_auth.xml", server.sip, "udp", &refs);
    let got = rt.block_on(carrier).expect("carrier task");
    assert!(uac.success, "caller:\n{}\n{}", uac.output, server.log());
    let methods: Vec<&str> = got
        .iter()
        .map(|m| m.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(methods, ["INVITE", "ACK", "BYE"], "{got:#?}");
    let invite = &got[0];
    assert!(
        invite.starts_with("INVITE sip:5551234@127.0.0.1"),
        "{invite}"
    );
    // RFC 3261 §18.2.2: the sent-by is where a response goes over a new connection if this one
    // drops, so it must be the port that speaks TLS.
    assert!(
        header(invite, "Via")[0].starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{tls_port};")),
        "our Via names the TLS listener: {invite}"
    );
    let contact = header(invite, "Contact")[0];
    assert!(
        contact.contains(&format!(":{tls_port};transport=tls")),
        "our Contact names the TLS listener: {contact}"
    );
    for m in &got[1..] {
        assert!(
            header(m, "Via")[0].starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{tls_port};")),
            "{m}"
        );
    }
    health_until_idle(&server);
}

#[test]
fn a_tls_certificate_that_is_not_pem_is_a_config_error_naming_the_key() {
    let certs = make_certs();
    std::fs::write(&certs.cert, "not a certificate").expect("write");
    let dir = TempDir::new("sb-tls-bad");
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, tls_config(&certs, free_port(), "")).expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard-signaling"))
        .args(["--config", path.to_str().expect("utf-8"), "--check-config"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("sip.tls_cert"), "{stderr}");
}
