//! The version of the JSON report's schema (`schema_version`, docs/json-schema.md), and what a
//! reader makes of the version a saved report declares.
//!
//! A report says which version of the schema it was written in, so that a reader can tell a
//! report it understands from one written by a newer transport-bench, instead of misreading the
//! newer one's fields or failing on some field it has never heard of. Every version this tool
//! ever wrote stays readable: reports from before the field have none, and are version 1.

/// The version this build writes. Raise it, and document the change in docs/json-schema.md,
/// whenever a field is removed, renamed, given another type or meaning, or added such that a
/// reader must know it; the readers of `plot` and `compare` must then still read every earlier
/// version. A field readers may ignore is added without raising it (an older build would
/// refuse the newer reports for nothing), and listed in docs/json-schema.md.
///
/// - 1: every report written before the field existed (the fields added over time before it,
///   such as `pattern` or `cpu`, are absent from the oldest; the readers give them defaults).
/// - 2: adds `schema_version`; the fields are otherwise those of the last version 1. Later
///   builds of version 2 add optional fields that no reader needs (`hdr_histogram_v2`,
///   `runs_hdr_histogram_v2`, `hdr_histogram_v2_note`, and `machine`'s idle and CPU facts):
///   compatible, since the readers ignore fields they do not read, so not a new version.
/// - 3: `config.iterations` is null for a time-bounded run, beside the new `config.duration_s`;
///   adds `config.runs_auto` and each result's `confidence` (`--runs auto`). Later builds add
///   `provenance`, which no reader needs: not a new version.
pub const SCHEMA_VERSION: u32 = 3;

/// The version of a report that has no `schema_version` field.
pub const UNVERSIONED: u32 = 1;

/// Why a saved report's `schema_version` is not one this build reads.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaVersionError {
    #[error(
        "its schema_version is {found}, newer than this transport-bench reads \
         ({UNVERSIONED} to {SCHEMA_VERSION}): read it with the version that wrote it, or a newer one"
    )]
    Newer { found: u64 },
    #[error("its schema_version is {found}: a version is a whole number from {UNVERSIONED}")]
    NotAVersion { found: String },
}

/// The schema version `document` declares (the top-level `schema_version`, or
/// [`UNVERSIONED`] when it has none), if this build reads it.
pub fn declared_version(document: &serde_json::Value) -> Result<u32, SchemaVersionError> {
    let Some(field) = document.get("schema_version") else {
        return Ok(UNVERSIONED);
    };
    match field.as_u64() {
        Some(found) if found > u64::from(SCHEMA_VERSION) => {
            Err(SchemaVersionError::Newer { found })
        }
        // Fits: at most SCHEMA_VERSION.
        Some(found) if found >= u64::from(UNVERSIONED) => Ok(found as u32),
        _ => Err(SchemaVersionError::NotAVersion {
            found: field.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_report_without_the_field_is_version_1_and_every_known_version_reads() {
        assert_eq!(declared_version(&json!({"tool": "transport-bench"})), Ok(1));
        for version in UNVERSIONED..=SCHEMA_VERSION {
            assert_eq!(
                declared_version(&json!({"schema_version": version})),
                Ok(version)
            );
        }
    }

    #[test]
    fn a_newer_version_is_refused_naming_it_and_what_this_build_reads() {
        let newer = declared_version(&json!({"schema_version": SCHEMA_VERSION + 1}));
        assert_eq!(
            newer.unwrap_err().to_string(),
            format!(
                "its schema_version is {}, newer than this transport-bench reads (1 to {SCHEMA_VERSION}): read it with the version that wrote it, or a newer one",
                SCHEMA_VERSION + 1
            )
        );
        let huge = declared_version(&json!({"schema_version": u64::MAX}));
        assert_eq!(huge, Err(SchemaVersionError::Newer { found: u64::MAX }));
    }

    #[test]
    fn a_version_that_is_no_version_is_refused_as_written() {
        for (value, shown) in [
            (json!(0), "0"),
            (json!(-1), "-1"),
            (json!(1.5), "1.5"),
            (json!("2"), "\"2\""),
            (json!(null), "null"),
        ] {
            let error = declared_version(&json!({ "schema_version": value })).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("its schema_version is {shown}: a version is a whole number from 1")
            );
        }
    }
}
