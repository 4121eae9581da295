//! The printer: canonical form (full header names, one `Name: value` per line, CRLF line ends).

use std::fmt;

use crate::message::{Message, StartLine};

impl Message<'_> {
    /// Bytes needed by [`Message::encode`].
    pub fn encoded_len(&self) -> usize {
        let start = match &self.start {
            StartLine::Request { method, uri } => method.as_str().len() + uri.len() + 11,
            StartLine::Response { reason, .. } => reason.len() + 14,
        };
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.name.as_str().len() + h.value.len() + 4)
            .sum();
        start + headers + 2 + self.body.len()
    }

    /// Serialises the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Appends the serialised message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match &self.start {
            StartLine::Request { method, uri } => {
                out.extend_from_slice(method.as_str().as_bytes());
                out.push(b' ');
                out.extend_from_slice(uri.as_bytes());
                out.extend_from_slice(b" SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                out.extend_from_slice(b"SIP/2.0 ");
                let c = *code;
                out.extend_from_slice(&[
                    b'0' + (c / 100 % 10) as u8,
                    b'0' + (c / 10 % 10) as u8,
                    b'0' + (c % 10) as u8,
                    b' ',
                ]);
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
        for h in &self.headers {
            out.extend_from_slice(h.name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(h.value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
    }
}

impl fmt::Display for Message<'_> {
    /// The serialised message; a non-UTF-8 body is shown lossily.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.encode()))
    }
}
