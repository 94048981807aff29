//! HdrHistogram's own formats for a case's full histogram: the compressed V2 interchange
//! encoding (V2 + DEFLATE, base64), which HdrHistogram's libraries in every language decode and
//! merge, and the `.hgrm` percentile distribution text that wrk2 prints and HdrHistogram's
//! plotter reads. The histograms hold nanoseconds; the `.hgrm` text is in µs, as the tool's
//! other outputs (the plotter shows whatever unit it is given).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

/// The `.hgrm` rows per halving of the distance to 100%, as HdrHistogram's
/// `outputPercentileDistribution` and wrk2 print them.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Nanoseconds per µs, the `.hgrm` text's unit.
const NS_PER_US: f64 = 1000.0;

/// Why a saved V2 string is no histogram.
#[derive(Debug, thiserror::Error)]
pub enum HdrDecodeError {
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    #[error("not an HdrHistogram V2 encoding: {0:?}")]
    V2(hdrhistogram::serialization::DeserializeError),
}

/// `histogram` in the compressed V2 interchange encoding, base64 (standard alphabet, padded):
/// the form HdrHistogram's `encodeIntoCompressedByteBuffer` + base64 gives, which its
/// `decodeFromCompressedByteBuffer` (and Python's `HdrHistogram.decode`) read.
pub fn encode_v2(histogram: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail, and a u64 histogram always fits the V2 encoding.
    V2DeflateSerializer::new()
        .serialize(histogram, &mut bytes)
        .expect("a histogram serializes into memory");
    STANDARD.encode(bytes)
}

/// The histogram of a V2 string that [`encode_v2`] (or another HdrHistogram library) wrote.
pub fn decode_v2(text: &str) -> Result<Histogram<u64>, HdrDecodeError> {
    let bytes = STANDARD.decode(text)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HdrDecodeError::V2)
}

/// Sub-buckets per bucket, as HdrHistogram computes it from the significant digits (2048 for
/// 3 digits): the crate keeps it private, the `.hgrm` footer shows it.
fn sub_bucket_count(significant_digits: u8) -> u64 {
    let largest_single_unit = 2.0 * 10f64.powi(i32::from(significant_digits));
    2u64.pow(largest_single_unit.log2().ceil() as u32)
}

/// The percentile distribution of `histogram` (in ns) as HdrHistogram's
/// `outputPercentileDistribution(out, 5, 1000.0)` prints it: values in µs with as many decimals
/// as the histogram has significant digits, the percentile as a fraction, the count up to that
/// value and 1/(1−p); then the footer of mean, standard deviation, maximum, count and shape
/// (the histogram's own figures, bucket-rounded, as HdrHistogram prints them).
pub fn percentile_distribution(histogram: &Histogram<u64>) -> String {
    let digits = usize::from(histogram.sigfig());
    let us = |ns: f64| ns / NS_PER_US;
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0u64;
    for step in histogram.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
        total += step.count_since_last_iteration();
        let value = us(step.value_iterated_to() as f64);
        let quantile = step.quantile_iterated_to();
        if quantile < 1.0 {
            let inverse = 1.0 / (1.0 - quantile);
            out.push_str(&format!(
                "{value:12.digits$} {quantile:2.12} {total:10} {inverse:14.2}\n"
            ));
        } else {
            out.push_str(&format!("{value:12.digits$} {quantile:2.12} {total:10}\n"));
        }
    }
    out.push_str(&format!(
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]\n",
        us(histogram.mean()),
        us(histogram.stdev())
    ));
    out.push_str(&format!(
        "#[Max     = {:12.digits$}, Total count    = {:12}]\n",
        us(histogram.max() as f64),
        histogram.len()
    ));
    out.push_str(&format!(
        "#[Buckets = {:12}, SubBuckets     = {:12}]\n",
        histogram.buckets(),
        sub_bucket_count(histogram.sigfig())
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Histogram<u64> {
        let mut histogram = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for ns in 1..=1000u64 {
            histogram.record(ns * 1000).unwrap();
        }
        histogram
    }

    #[test]
    fn the_v2_string_decodes_to_the_same_counts() {
        let histogram = known();
        let text = encode_v2(&histogram);
        assert!(text.starts_with("HISTFAA"), "the V2+DEFLATE cookie: {text}");
        let decoded = decode_v2(&text).unwrap();
        assert_eq!(decoded.len(), 1000);
        assert_eq!(decoded, histogram);
        assert!(decode_v2("not base64!").is_err());
        assert!(decode_v2(&STANDARD.encode(b"not a histogram")).is_err());
    }

    #[test]
    fn the_distribution_has_hdrhistograms_columns_rows_and_footer() {
        let text = percentile_distribution(&known());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
        );
        assert_eq!(lines[1], "");
        assert_eq!(
            lines[2],
            "       1.000 0.000000000000          1           1.00"
        );
        let last_row = lines[lines.len() - 4];
        assert_eq!(last_row, "    1000.447 1.000000000000       1000");
        assert!(lines[lines.len() - 3].starts_with("#[Mean    =      500."));
        assert!(lines[lines.len() - 2].ends_with("Total count    =         1000]"));
        assert_eq!(
            lines[lines.len() - 1],
            format!(
                "#[Buckets = {:12}, SubBuckets     = {:12}]",
                known().buckets(),
                2048
            )
        );
        // Counts only grow, and percentiles too.
        let rows: Vec<(f64, u64)> = lines[2..lines.len() - 3]
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect();
        assert!(rows
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }
}
