"""Decodes transport-bench's V2 histograms with HdrHistogram's Python package (hdrhistogram,
imported as hdrh). Reads a JSON report on stdin; prints one JSON line per histogram: where it
is, its total count, and its value in ns at each percentile asked for."""
import json
import sys

from hdrh.histogram import HdrHistogram

PERCENTILES = [50.0, 90.0, 99.0, 99.9]

report = json.load(sys.stdin)
for i, result in enumerate(report["results"]):
    encoded = [("case", result.get("hdr_histogram_v2"))]
    encoded += [("run %d" % r, v) for r, v in enumerate(result.get("runs_hdr_histogram_v2", []))]
    for where, text in encoded:
        if text is None:
            continue
        histogram = HdrHistogram.decode(text)
        print(json.dumps({
            "result": i,
            "where": where,
            "count": histogram.get_total_count(),
            "min_ns": histogram.get_min_value(),
            "max_ns": histogram.get_max_value(),
            "percentiles_ns": [histogram.get_value_at_percentile(p) for p in PERCENTILES],
        }))
