//! Gather stage. What the proxy keeps: full records of failures (of everything with `record_all`), counts and shapes of
//! successes, retry groups, and the scanner that finds an error inside a 200 stream.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::exchange::Exchange;
pub use crate::summary::{ObserveStats, Shape, ShapeStats};

/// Distinct keys kept in each count table and distinct shapes kept; the rest are counted under `(other)`.
const MAX_KEYS: usize = 1000;

/// What the proxy recorded: the kept exchanges and the counts of everything.
///
/// Example: [`crate::gather::observe::Proxy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    /// Full records, in the order the requests arrived, numbered from 1: every failure (every exchange with
    /// `record_all`), plus the other attempts of a retried call. `purpose` is `observed`.
    pub exchanges: Vec<Exchange>,
    /// Counts over every exchange, recorded in full or not.
    pub stats: ObserveStats,
}

/// One finished exchange, as handed to the [`Store`].
pub(crate) struct Finished {
    /// Arrival order, from 0.
    pub seq: u64,
    /// The endpoint name.
    pub endpoint: &'static str,
    /// The request's shape.
    pub shape: Shape,
    /// The status, or `None` when no response arrived.
    pub status: Option<u16>,
    /// The failure class, if any.
    pub failure_class: Option<crate::exchange::FailureClass>,
    /// Request body bytes.
    pub request_bytes: u64,
    /// Response body bytes.
    pub response_bytes: u64,
    /// The response carried trial-key headers.
    pub trial_headers: bool,
    /// The full record, when it is kept.
    pub record: Option<Exchange>,
}

/// The recorder's state, behind one mutex.
pub(crate) struct Store {
    records: VecDeque<(u64, Exchange)>,
    stats: ObserveStats,
    shapes: HashMap<Shape, (u64, u64)>,
    other_shapes: (u64, u64),
}

impl Store {
    pub(crate) fn new(body_cap: usize, max_records: usize) -> Store {
        Store {
            records: VecDeque::new(),
            stats: ObserveStats {
                body_cap,
                max_records,
                ..ObserveStats::default()
            },
            shapes: HashMap::new(),
            other_shapes: (0, 0),
        }
    }

    pub(crate) fn finish(&mut self, f: Finished) {
        let s = &mut self.stats;
        s.requests += 1;
        let failed = f.failure_class.is_some();
        if failed {
            s.failures += 1;
        } else {
            s.successes += 1;
            s.successes_with_trial_headers += f.trial_headers as u64;
        }
        bump(&mut s.by_endpoint, f.endpoint);
        bump(
            &mut s.by_model,
            f.shape.model.as_deref().unwrap_or("(none)"),
        );
        match f.status {
            Some(st) => {
                let mut buf = [0u8; 5];
                bump(&mut s.by_status, status_str(st, &mut buf));
            }
            None => bump(&mut s.by_status, "network"),
        }
        if let Some(c) = f.failure_class {
            bump(&mut s.by_failure_class, c.as_str());
        }
        s.request_bytes += f.request_bytes;
        s.response_bytes += f.response_bytes;
        let counts = if self.shapes.len() < MAX_KEYS {
            self.shapes.entry(f.shape).or_default()
        } else {
            self.shapes
                .get_mut(&f.shape)
                .unwrap_or(&mut self.other_shapes)
        };
        if failed {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
        if let Some(rec) = f.record {
            let truncated = rec.request.body.truncated as u64
                + rec.response.as_ref().map_or(0, |r| r.body.truncated as u64);
            self.stats.truncated_bodies += truncated;
            if self.stats.max_records == 0 {
                self.drop_one(rec.failure.is_none());
                return;
            }
            while self.records.len() >= self.stats.max_records {
                match self.records.iter().position(|(_, e)| e.failure.is_none()) {
                    Some(i) => {
                        self.records.remove(i);
                        self.stats.dropped_successes += 1;
                    }
                    None => {
                        self.records.pop_front();
                        self.stats.dropped_failures += 1;
                    }
                }
            }
            self.records.push_back((f.seq, rec));
        }
    }

    fn drop_one(&mut self, success: bool) {
        if success {
            self.stats.dropped_successes += 1;
        } else {
            self.stats.dropped_failures += 1;
        }
    }

    /// The recording so far: records sorted by arrival and numbered, retry groups of one attempt cleared.
    pub(crate) fn snapshot(&self) -> Recording {
        let mut recs: Vec<&(u64, Exchange)> = self.records.iter().collect();
        recs.sort_by_key(|(seq, _)| *seq);
        let mut group_sizes: HashMap<u32, u32> = HashMap::new();
        for (_, e) in &recs {
            if let Some(g) = e.retry_group {
                *group_sizes.entry(g).or_default() += 1;
            }
        }
        // Renumber the groups that hold a retry 1, 2, … in order of first appearance.
        let mut renumber: HashMap<u32, u32> = HashMap::new();
        let mut exchanges = Vec::with_capacity(recs.len());
        for (i, (_, e)) in recs.into_iter().enumerate() {
            let mut e = e.clone();
            e.index = i as u32 + 1;
            e.retry_group = match e.retry_group {
                Some(g) if group_sizes.get(&g).copied().unwrap_or(0) > 1 => {
                    let next = renumber.len() as u32 + 1;
                    Some(*renumber.entry(g).or_insert(next))
                }
                _ => None,
            };
            exchanges.push(e);
        }
        let mut stats = self.stats.clone();
        stats.retried_calls = renumber.len() as u64;
        let mut shapes: Vec<ShapeStats> = self
            .shapes
            .iter()
            .map(|(shape, &(successes, failures))| ShapeStats {
                shape: shape.clone(),
                successes,
                failures,
            })
            .collect();
        shapes.sort_by(|a, b| a.shape.cmp(&b.shape));
        if self.other_shapes != (0, 0) {
            shapes.push(ShapeStats {
                shape: Shape {
                    endpoint: "(other)".into(),
                    model: None,
                    stream: false,
                    input_chars_up_to: 0,
                    input_chars_unknown: false,
                    max_tokens: None,
                },
                successes: self.other_shapes.0,
                failures: self.other_shapes.1,
            });
        }
        stats.shapes = shapes;
        Recording { exchanges, stats }
    }
}

/// A status code as text, without allocating.
fn status_str(status: u16, buf: &mut [u8; 5]) -> &str {
    let mut n = status;
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[i..]).unwrap_or("?")
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n += 1;
    } else if map.len() < MAX_KEYS {
        map.insert(key.to_string(), 1);
    } else {
        *map.entry("(other)".to_string()).or_default() += 1;
    }
}

/// True for the statuses the SDKs retry: 408, 409, 429 and every 5xx.
pub(crate) fn is_retryable(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => s == 408 || s == 409 || s == 429 || s >= 500,
    }
}

/// Groups the attempts of one SDK call: a request with the same method, path and body as one that got a
/// retryable failure within `window` joins that failure's group.
pub(crate) struct RetryTable {
    window: Duration,
    pending: HashMap<u64, (u32, Instant)>,
    next_group: u32,
}

impl RetryTable {
    pub(crate) fn new(window: Duration) -> RetryTable {
        RetryTable {
            window,
            pending: HashMap::new(),
            next_group: 1,
        }
    }

    /// The group a new request with this key joins, if it retries a recent retryable failure.
    pub(crate) fn lookup(&self, key: u64, now: Instant) -> Option<u32> {
        self.pending
            .get(&key)
            .filter(|(_, at)| now.saturating_duration_since(*at) <= self.window)
            .map(|(g, _)| *g)
    }

    /// Notes the outcome of an attempt (before the client sees it, so a quick retry cannot race it) and
    /// returns the attempt's group.
    pub(crate) fn outcome(
        &mut self,
        key: u64,
        group: Option<u32>,
        retryable: bool,
        now: Instant,
    ) -> Option<u32> {
        if retryable {
            let g = group.unwrap_or_else(|| {
                let g = self.next_group;
                self.next_group += 1;
                g
            });
            if self.pending.len() >= 4096 {
                let window = self.window;
                self.pending
                    .retain(|_, (_, at)| now.saturating_duration_since(*at) <= window);
                if self.pending.len() >= 4096 {
                    self.pending.clear();
                }
            }
            self.pending.insert(key, (g, now));
            Some(g)
        } else {
            if group.is_some() {
                self.pending.remove(&key);
            }
            group
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::{Failure, FailureClass};

    fn exchange(failed: bool) -> Exchange {
        Exchange {
            index: 0,
            purpose: crate::exchange::Purpose::Observed,
            request: Default::default(),
            response: None,
            timings: Default::default(),
            failure: failed.then(|| Failure::new(FailureClass::Http, "x")),
            retry_group: None,
        }
    }

    fn finished(seq: u64, failed: bool, keep: bool) -> Finished {
        Finished {
            seq,
            endpoint: "v2/chat",
            shape: Shape {
                endpoint: "v2/chat".into(),
                model: Some("m".into()),
                stream: false,
                input_chars_up_to: 8,
                input_chars_unknown: false,
                max_tokens: None,
            },
            status: Some(if failed { 400 } else { 200 }),
            failure_class: failed.then_some(FailureClass::Http),
            trial_headers: false,
            request_bytes: 10,
            response_bytes: 20,
            record: keep.then(|| exchange(failed)),
        }
    }

    #[test]
    fn store_drops_oldest_successes_first_and_counts_everything() {
        let mut store = Store::new(100, 3);
        store.finish(finished(0, true, true));
        store.finish(finished(1, false, true));
        store.finish(finished(2, false, true));
        store.finish(finished(3, true, true));
        store.finish(finished(4, false, false));
        let r = store.snapshot();
        assert_eq!(r.exchanges.len(), 3);
        assert_eq!(r.stats.dropped_successes, 1);
        assert_eq!(r.stats.requests, 5);
        assert_eq!(r.stats.failures, 2);
        assert_eq!(r.stats.by_status["200"], 3);
        assert_eq!(r.stats.shapes.len(), 1);
        assert_eq!(
            (r.stats.shapes[0].successes, r.stats.shapes[0].failures),
            (3, 2)
        );
        let idx: Vec<u32> = r.exchanges.iter().map(|e| e.index).collect();
        assert_eq!(idx, [1, 2, 3]);
        assert!(r.exchanges[0].failure.is_some() && r.exchanges[2].failure.is_some());
        // Only failures left: the oldest failure goes.
        store.finish(finished(5, true, true));
        store.finish(finished(6, true, true));
        let r = store.snapshot();
        assert_eq!(r.stats.dropped_successes, 2);
        assert_eq!(r.stats.dropped_failures, 1);
        assert_eq!(r.exchanges.len(), 3);
    }

    #[test]
    fn status_codes_are_written_without_allocating() {
        let mut buf = [0u8; 5];
        for (n, text) in [
            (0u16, "0"),
            (7, "7"),
            (200, "200"),
            (429, "429"),
            (65535, "65535"),
        ] {
            assert_eq!(status_str(n, &mut buf), text);
        }
    }

    #[test]
    fn retry_table_groups_within_window_only() {
        let mut t = RetryTable::new(Duration::from_secs(5));
        let now = Instant::now();
        assert_eq!(t.lookup(1, now), None);
        let g = t.outcome(1, None, true, now);
        assert_eq!(g, Some(1));
        assert_eq!(t.lookup(1, now + Duration::from_secs(2)), Some(1));
        assert_eq!(t.lookup(2, now), None);
        assert_eq!(t.lookup(1, now + Duration::from_secs(6)), None);
        // A success closes the group.
        assert_eq!(t.outcome(1, Some(1), false, now), Some(1));
        assert_eq!(t.lookup(1, now), None);
        assert_eq!(t.outcome(3, None, false, now), None);
    }
}
