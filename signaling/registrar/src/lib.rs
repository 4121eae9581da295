//! Sans-IO registrar, location service and digest authentication (RFC 3261 §10 and §22, RFC 7616,
//! RFC 8760). It does not parse SIP: the driver hands in already-extracted fields and maps the answers
//! back to SIP messages.
//!
//! Module map:
//! - [`digest`]: algorithms (MD5, SHA-256 and their `-sess` forms), stateless nonces bound to time,
//!   source and realm ([`NonceIssuer`]), response computation, `Authorization` parameter parsing
//!   ([`parse_digest_params`]), challenge formatting ([`format_challenge`]).
//! - [`auth`]: [`Authenticator`], the policy: users, replay tracking, stale handling, no enumeration.
//! - [`location`]: [`Aor`], [`Binding`], the [`LocationStore`] trait and [`MemoryLocationStore`].
//! - [`registrar`]: [`Registrar`], which applies the §10.3 steps to a [`RegisterRequest`].
//!
//! Usage contract: the driver parses the REGISTER, fills a [`RegisterRequest`] (AOR from To, contacts,
//! Expires, digest credentials for our realm), calls [`Registrar::handle`] with the current wall-clock
//! time in Unix seconds, and turns the [`RegisterResponse`] into a SIP response (`WWW-Authenticate`
//! values, `Contact: <uri>;expires=N` per binding, `Min-Expires`). It calls [`Registrar::expire`] about
//! once a second (or at [`Registrar::next_expiry`]) and publishes the [`RegistrationEvent`]s. Nothing
//! here reads a clock, a socket or the environment; the nonce secret comes from the caller's random
//! source, so tests are reproducible.
//!
//! Security choices: unknown users and wrong passwords get the same 401 with a fresh challenge (401, not
//! 403, for both: no enumeration, and the client may retry); a nonce older than its lifetime with
//! otherwise correct credentials gets `stale=true`; a nonce-count not above the last one seen for that
//! nonce is a replay and is refused; response comparison is constant-time.

pub mod auth;
pub mod digest;
pub mod location;
pub mod registrar;

pub use auth::{AuthDecision, AuthRequest, Authenticator};
pub use digest::{
    Algorithm, DigestCredentials, DigestParseError, NonceCheck, NonceIssuer, format_challenge,
    parse_auth_params, parse_digest_params,
};
pub use location::{Aor, Binding, LocationStore, MemoryLocationStore};
pub use registrar::{
    BindingView, ContactInput, ContactsSpec, RegisterRequest, RegisterResponse, Registrar,
    RegistrarConfig, RegistrationEvent, Secret, User,
};
