//! Resource limits applied while parsing, and how the message was framed.

/// Limits the parser enforces on anything a peer sends. Every limit is checked before memory is spent on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Largest message accepted, start line to end of body. Default 16 KiB: RFC 3261 §18.1.1 keeps UDP
    /// messages under the path MTU, and 16 KiB leaves room for large SDP and multipart bodies.
    /// Raise it for streams if big bodies are expected.
    pub max_message_size: usize,
    /// Most header lines (after unfolding) a message may carry. Default 128.
    pub max_headers: usize,
    /// Longest single line (start line or one header field including its folded continuations).
    /// Default 8 KiB.
    pub max_line_length: usize,
}

impl ParseLimits {
    /// The documented defaults: 16 KiB message, 128 headers, 8 KiB lines.
    pub const DEFAULT: ParseLimits = ParseLimits {
        max_message_size: 16 * 1024,
        max_headers: 128,
        max_line_length: 8 * 1024,
    };
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// How the bytes arrived, which decides how Content-Length is applied (RFC 3261 §18.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// One datagram is one message: Content-Length may be absent (the body runs to the end); a value larger
    /// than the bytes present is an error; bytes beyond it are discarded.
    #[default]
    Datagram,
    /// The bytes came from a stream (TCP, TLS) and were cut by [`crate::framing::next_message`]:
    /// Content-Length is mandatory.
    Stream,
}
