//! The injected random source for tags, Via branches and Call-IDs (so a test run is reproducible).

/// Produces fresh random tokens. Each token must be a SIP `token` (letters, digits, `-.!%*_+'~`),
/// unique in practice (at least 32 bits of randomness, RFC 3261 §19.3), and never reused.
pub trait RandomSource {
    /// A new token.
    fn token(&mut self) -> String;
}

impl<F: FnMut() -> String> RandomSource for F {
    fn token(&mut self) -> String {
        self()
    }
}

/// A deterministic source for tests and simulations: `prefix` followed by a counter.
#[derive(Debug, Clone)]
pub struct SequentialTokens {
    prefix: String,
    next: u64,
}

impl SequentialTokens {
    /// Tokens `"{prefix}1"`, `"{prefix}2"`, ...
    pub fn new(prefix: &str) -> Self {
        SequentialTokens {
            prefix: prefix.to_owned(),
            next: 1,
        }
    }
}

impl RandomSource for SequentialTokens {
    fn token(&mut self) -> String {
        let t = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        t
    }
}
