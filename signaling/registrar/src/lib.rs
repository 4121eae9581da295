//! Sans-IO registrar, location service and digest authentication (RFC 3261 §10 and §22, RFC 8760).
//!
//! Module map:
//! - [`digest`]: algorithms (MD5, SHA-256), stateless nonces bound to time, source and realm
//!   ([`NonceIssuer`]), response verification, `Authorization` parameter parsing, challenge formatting.
//! - [`location`]: [`Aor`], [`Binding`], the [`LocationStore`] trait and the in-memory default.
//! - [`registrar`]: [`Registrar`], which applies the §10.3 steps to a [`RegisterRequest`].
//!
//! Usage contract: the driver parses the REGISTER, fills a [`RegisterRequest`] (AOR from To, contacts,
//! Expires, digest credentials for our realm), calls [`Registrar::handle`] with the current time in
//! seconds, and turns the [`RegisterResponse`] into a SIP response (`WWW-Authenticate` values,
//! `Contact: <uri>;expires=N` per binding, `Min-Expires`). It calls [`Registrar::expire`] about once a
//! second. Nothing here reads a clock, a socket or the environment; the nonce secret comes from the caller.
//!
//! Unknown users and wrong passwords get the same 401 with a fresh challenge (no user enumeration); a
//! nonce older than its lifetime with otherwise correct credentials gets `stale=true`; a nonce-count not
//! above the last one seen for that nonce is a replay and is refused.

pub mod digest;
pub mod location;
pub mod registrar;

pub use digest::{Algorithm, DigestCredentials, NonceCheck, NonceIssuer, parse_digest_params};
pub use location::{Aor, Binding, LocationStore, MemoryLocationStore};
pub use registrar::{
    BindingView, ContactInput, ContactsSpec, RegisterRequest, RegisterResponse, Registrar,
    RegistrarConfig, RegistrationEvent, Secret, User,
};
