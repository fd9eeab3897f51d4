//! Prometheus metrics in the text exposition format: scans by outcome, scan
//! durations, queue depth, running scans, and objects found left behind
//! after a scan's teardown.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::api::JobStatus;

/// Upper bounds (seconds) of the duration histogram's buckets.
const BUCKETS: [f64; 10] = [1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    outcomes: Mutex<BTreeMap<&'static str, u64>>,
    durations: Mutex<Histogram>,
    leaked: AtomicU64,
    callbacks_failed: AtomicU64,
}

/// Gauges read at scrape time.
pub struct Gauges {
    /// Jobs waiting.
    pub queued: usize,
    /// Jobs running.
    pub running: usize,
}

impl Metrics {
    /// A job ended with `status` after `seconds` (None when it never ran).
    pub fn finished(&self, status: JobStatus, seconds: Option<f64>) {
        *self.outcomes.lock().unwrap_or_else(|p| p.into_inner()).entry(status.as_str()).or_default() += 1;
        if let Some(s) = seconds {
            let mut h = self.durations.lock().unwrap_or_else(|p| p.into_inner());
            for (i, le) in BUCKETS.iter().enumerate() {
                if s <= *le {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += s;
        }
    }

    /// `n` objects of a finished run were still in the cluster.
    pub fn leaked(&self, n: u64) {
        self.leaked.fetch_add(n, Ordering::Relaxed);
    }

    /// A callback was given up on.
    pub fn callback_failed(&self) {
        self.callbacks_failed.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP kscan_scans_total Scan jobs that ended, by outcome.");
        let _ = writeln!(out, "# TYPE kscan_scans_total counter");
        let outcomes = self.outcomes.lock().unwrap_or_else(|p| p.into_inner());
        for status in JobStatus::ALL.into_iter().filter(|s| s.is_final()) {
            let n = outcomes.get(status.as_str()).copied().unwrap_or(0);
            let _ = writeln!(out, "kscan_scans_total{{outcome=\"{}\"}} {n}", status.as_str());
        }
        drop(outcomes);
        let h = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP kscan_scan_duration_seconds Time from a worker taking a job to its end.");
        let _ = writeln!(out, "# TYPE kscan_scan_duration_seconds histogram");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "kscan_scan_duration_seconds_bucket{{le=\"{le}\"}} {}", h.counts[i]);
        }
        let _ = writeln!(out, "kscan_scan_duration_seconds_bucket{{le=\"+Inf\"}} {}", h.count);
        let _ = writeln!(out, "kscan_scan_duration_seconds_sum {}", h.sum);
        let _ = writeln!(out, "kscan_scan_duration_seconds_count {}", h.count);
        drop(h);
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {v}");
        };
        gauge(&mut out, "kscan_queue_depth", "Scan jobs waiting for a worker.", "gauge", gauges.queued as u64);
        gauge(&mut out, "kscan_scans_running", "Scan jobs a worker runs now.", "gauge", gauges.running as u64);
        gauge(
            &mut out,
            "kscan_leaked_objects_total",
            "Objects of finished runs found in the cluster after teardown (then removed by the sweep).",
            "counter",
            self.leaked.load(Ordering::Relaxed),
        );
        gauge(
            &mut out,
            "kscan_callbacks_failed_total",
            "Callbacks given up on after every retry.",
            "counter",
            self.callbacks_failed.load(Ordering::Relaxed),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_outcomes_listed() {
        let m = Metrics::default();
        m.finished(JobStatus::Passed, Some(3.0));
        m.finished(JobStatus::Passed, Some(45.0));
        m.finished(JobStatus::Cancelled, None);
        let text = m.render(&Gauges { queued: 2, running: 1 });
        assert!(text.contains("kscan_scans_total{outcome=\"passed\"} 2\n"), "{text}");
        assert!(text.contains("kscan_scans_total{outcome=\"cancelled\"} 1\n"), "{text}");
        assert!(text.contains("kscan_scans_total{outcome=\"error\"} 0\n"), "{text}");
        assert!(text.contains("kscan_scan_duration_seconds_bucket{le=\"5\"} 1\n"), "{text}");
        assert!(text.contains("kscan_scan_duration_seconds_bucket{le=\"60\"} 2\n"), "{text}");
        assert!(text.contains("kscan_scan_duration_seconds_count 2\n"), "{text}");
        assert!(text.contains("kscan_queue_depth 2\n"), "{text}");
    }
}
