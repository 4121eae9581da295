//! Calls an operator originates (REST `POST /api/v1/calls`, the NATS `originate` command): both
//! parties are routed by the dialplan up front, so an unroutable one is refused at once naming its
//! field, then a worker starts the call (see `switchboard_b2bua::Call::originate`).

use switchboard_b2bua::Parties;

use super::Core;
use super::handler::rand_u64;
use super::inspect::{CallActionError, check_number};
use super::media::{MediaResult, OriginateRequest};

/// What to originate.
#[derive(Debug, Clone)]
pub struct OriginateInput {
    /// The first party (rung first): a registered user or a number the dialplan routes.
    pub from: String,
    /// The second party, rung once the first answered.
    pub to: String,
    /// The SIP domain both are in; `None`: the first registrar domain, else our SIP address.
    pub domain: Option<String>,
}

impl Core {
    /// Originates a call: rings `from`, and once it answers connects it to `to`. The dialplan
    /// routes `from` as if `to` dialled it and `to` as if `from` dialled it. Returns the call's
    /// UUID once the first party's INVITE is on its way (the call's progress then comes as
    /// events and in the calls list).
    pub async fn originate(&self, input: OriginateInput) -> Result<String, CallActionError> {
        check_number("from", &input.from)?;
        check_number("to", &input.to)?;
        let domain = match input.domain {
            Some(d) => d,
            None => self.home_domain(),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "-.[]:".contains(c);
        if domain.is_empty() || domain.len() > 253 || !domain.chars().all(valid) {
            return Err(CallActionError::Invalid(
                "domain",
                "a host name or IP address".into(),
            ));
        }
        let plan = |called: &str, calling: &str, field: &'static str| {
            self.dialing
                .originate_plan(called, calling, &domain, &self.registrar)
                .map_err(|(status, reason)| CallActionError::Unroutable(field, status, reason))
        };
        let first = plan(&input.from, &input.to, "from")?;
        let second = plan(&input.to, &input.from, "to")?;
        let parties = Parties {
            first: input.from,
            second: input.to,
            domain,
        };
        let n = self.worker_inputs.len().max(1);
        let worker = usize::try_from(rand_u64() % n as u64).unwrap_or(0);
        let gone = || CallActionError::Refused("the server is shutting down".into());
        let worker = self.worker_inputs.get(worker).ok_or_else(gone)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = Box::new(OriginateRequest {
            parties,
            first,
            second,
        });
        worker
            .send(MediaResult::Originate { request, reply })
            .map_err(|_| gone())?;
        match answer.await {
            Ok(Ok(uuid)) => Ok(uuid),
            Ok(Err("max_calls")) => Err(CallActionError::AtCapacity),
            Ok(Err(part)) => {
                let field = match part {
                    "first" => "from",
                    "second" => "to",
                    _ => "domain",
                };
                Err(CallActionError::Invalid(
                    field,
                    "does not make a SIP URI".into(),
                ))
            }
            Err(_) => Err(gone()),
        }
    }

    /// Where originated calls' parties are: the first registrar domain, else our SIP address.
    fn home_domain(&self) -> String {
        let configured = self.registrar.lock().ok().and_then(|r| r.home_domain());
        configured.unwrap_or_else(|| {
            self.transports
                .local_addrs()
                .first()
                .map(|a| match a.ip() {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                })
                .unwrap_or_else(|| "127.0.0.1".to_owned())
        })
    }
}
