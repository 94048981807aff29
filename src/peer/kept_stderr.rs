//! What a child (a server or a client process) said on stderr, kept within a bound: the
//! driver quotes the end of it when the child dies (its last words: a library's panic, an
//! injected fault's message), and once quoted the beginning of an error. A peer that writes
//! gigabytes of stderr would otherwise grow the driver's memory by as much: the first
//! [`KEPT_HEAD_BYTES`] and the last [`KEPT_TAIL_BYTES`] are kept, and what fell between them
//! is counted and said.

use std::collections::VecDeque;

/// How much of the beginning of a child's stderr is kept.
pub const KEPT_HEAD_BYTES: usize = 4096;
/// How much of the end of a child's stderr is kept.
pub const KEPT_TAIL_BYTES: usize = 4096;

/// A child's stderr: its beginning, its end, and how many bytes between them were dropped.
#[derive(Debug, Default)]
pub struct KeptStderr {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    dropped_bytes: u64,
}

impl KeptStderr {
    /// Adds what the child wrote next; what falls out of the kept end is counted as dropped.
    pub fn push(&mut self, bytes: &[u8]) {
        let to_head = bytes.len().min(KEPT_HEAD_BYTES - self.head.len());
        self.head.extend_from_slice(&bytes[..to_head]);
        let rest = &bytes[to_head..];
        // Only the last KEPT_TAIL_BYTES of `rest` can stay: the rest is dropped unseen.
        let skipped = rest.len().saturating_sub(KEPT_TAIL_BYTES);
        self.dropped_bytes += skipped as u64;
        self.tail.extend(&rest[skipped..]);
        let excess = self.tail.len().saturating_sub(KEPT_TAIL_BYTES);
        self.tail.drain(..excess);
        self.dropped_bytes += excess as u64;
    }

    /// The bytes dropped between the kept beginning and end.
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }

    /// What was kept, as text, with a line saying how much was dropped where it was.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.dropped_bytes > 0 {
            text.push_str(&format!(
                "\n[… {} bytes of stderr dropped …]\n",
                self.dropped_bytes
            ));
        }
        let (front, back) = self.tail.as_slices();
        text.push_str(&String::from_utf8_lossy(&[front, back].concat()));
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_stderr_is_kept_whole() {
        let mut said = KeptStderr::default();
        said.push(b"error: ");
        said.push(b"no server");
        assert_eq!(said.text(), "error: no server");
        assert_eq!(said.dropped_bytes(), 0);
    }

    #[test]
    fn long_stderr_keeps_its_beginning_and_end_and_counts_the_rest() {
        let mut said = KeptStderr::default();
        said.push(b"FIRST");
        let filler = vec![b'x'; 1000];
        for _ in 0..10_000 {
            said.push(&filler);
        }
        said.push(b"LAST");
        let dropped = 5 + 10_000_000 + 4 - (KEPT_HEAD_BYTES + KEPT_TAIL_BYTES) as u64;
        assert_eq!(said.dropped_bytes(), dropped);
        let text = said.text();
        assert!(text.starts_with("FIRST"), "{}", &text[..20]);
        assert!(text.ends_with("xLAST"));
        assert!(text.contains(&format!("[… {dropped} bytes of stderr dropped …]")));
        assert!(text.len() < KEPT_HEAD_BYTES + KEPT_TAIL_BYTES + 100);
    }
}
