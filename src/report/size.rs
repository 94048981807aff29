//! Message sizes: parsing what users type (`small`, `4096`, `64KiB`, `1MB`) and printing sizes
//! exactly (a size is never rounded when shown).

/// The seed benchmark's four named sizes.
pub const NAMED_SIZES: [(&str, usize); 4] = [
    ("small", 100),
    ("medium", 10_000),
    ("large", 500_000),
    ("big", 2_000_000),
];

/// A message payload size, remembering the name it was given by, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageSize {
    pub bytes: usize,
    pub name: Option<&'static str>,
}

impl MessageSize {
    pub fn named_defaults() -> Vec<MessageSize> {
        NAMED_SIZES
            .iter()
            .map(|&(name, bytes)| MessageSize {
                bytes,
                name: Some(name),
            })
            .collect()
    }

    /// `SMALL` for a named size, the exact size (`64 KiB`) otherwise: the section title's word.
    pub fn title(&self) -> String {
        match self.name {
            Some(name) => name.to_uppercase(),
            None => format_bytes(self.bytes),
        }
    }
}

/// Why text is not a size; the messages are shown as they are in usage errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error("empty size")]
    Empty,
    #[error("'{text}' is not a size: expected a number of bytes such as 4096, 64KiB or 1MB, or one of small, medium, large, big")]
    NotANumber { text: String },
    #[error("unknown unit '{unit}' in '{text}': use B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)")]
    UnknownUnit { unit: String, text: String },
    #[error("'{text}' is too large")]
    TooLarge { text: String },
}

/// Parses one size: a name from [`NAMED_SIZES`] or a byte count.
pub fn parse_message_size(text: &str) -> Result<MessageSize, SizeError> {
    let trimmed = text.trim();
    if let Some(&(name, bytes)) = NAMED_SIZES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(trimmed))
    {
        return Ok(MessageSize {
            bytes,
            name: Some(name),
        });
    }
    Ok(MessageSize {
        bytes: parse_byte_count(trimmed)?,
        name: None,
    })
}

/// Parses a byte count with an optional unit: `B`, decimal `KB`/`MB`/`GB` (powers of 1000) or
/// binary `KiB`/`MiB`/`GiB` (powers of 1024). Units are case-insensitive; a space is allowed.
pub fn parse_byte_count(text: &str) -> Result<usize, SizeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    if number.is_empty() {
        return Err(SizeError::NotANumber { text: text.into() });
    }
    let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        other => {
            return Err(SizeError::UnknownUnit {
                unit: other.into(),
                text: text.into(),
            })
        }
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| SizeError::TooLarge { text: text.into() })
}

/// Formats a byte count exactly: the largest unit that divides it, binary or decimal.
pub fn format_bytes(bytes: usize) -> String {
    const UNITS: [(usize, &str); 6] = [
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "KB"),
    ];
    if bytes > 0 {
        for (unit, name) in UNITS {
            if bytes.is_multiple_of(unit) {
                return format!("{} {name}", bytes / unit);
            }
        }
    }
    format!("{bytes} B")
}

/// Formats a byte count for people, to one decimal in the largest binary unit it reaches:
/// `64.0 GiB`, `800.0 KiB`, `512 B`.
pub fn format_bytes_rounded(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = None;
    for name in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = Some(name);
    }
    match unit {
        Some(name) => format!("{value:.1} {name}"),
        None => format!("{bytes} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_units() {
        assert_eq!(parse_message_size("small").unwrap().bytes, 100);
        assert_eq!(parse_message_size("BIG").unwrap().bytes, 2_000_000);
        assert_eq!(parse_byte_count("4096").unwrap(), 4096);
        assert_eq!(parse_byte_count("64KiB").unwrap(), 65_536);
        assert_eq!(parse_byte_count("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_byte_count("2 mib").unwrap(), 2 * 1024 * 1024);
        assert_eq!(parse_byte_count("7b").unwrap(), 7);
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "-5", "abc", "12XB", "1.5MB", "99999999999999999999999"] {
            assert!(parse_byte_count(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn says_why_text_is_not_a_size() {
        let message = |text| parse_byte_count(text).unwrap_err().to_string();
        assert_eq!(message(" "), "empty size");
        assert_eq!(
            message("abc"),
            "'abc' is not a size: expected a number of bytes such as 4096, 64KiB or 1MB, or one of small, medium, large, big"
        );
        assert_eq!(
            message("12XB"),
            "unknown unit 'xb' in '12XB': use B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024)"
        );
        assert_eq!(message("99999999999GiB"), "'99999999999GiB' is too large");
    }

    #[test]
    fn formats_exactly() {
        assert_eq!(format_bytes(0), "0 B");
        assert_eq!(format_bytes(100), "100 B");
        assert_eq!(format_bytes(10_000), "10 KB");
        assert_eq!(format_bytes(65_536), "64 KiB");
        assert_eq!(format_bytes(2_000_000), "2 MB");
        assert_eq!(format_bytes(1_048_576), "1 MiB");
        assert_eq!(format_bytes_rounded(64 << 30), "64.0 GiB");
        assert_eq!(format_bytes_rounded(819_200), "800.0 KiB");
        assert_eq!(format_bytes_rounded(1023), "1023 B");
        assert_eq!(format_bytes_rounded(u64::MAX), "16384.0 PiB");
        assert_eq!(format_bytes(1_234), "1234 B");
    }
}
