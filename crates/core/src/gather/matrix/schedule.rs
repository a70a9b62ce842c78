//! Gather stage. Pacing under a rate limit, the call budget, and the waits a server asks for (`Retry-After`).
//!
//! Every duration that comes from a server is checked against [`MAX_RETRY_AFTER`]: a longer one (including
//! `inf`, `1e30` and HTTP dates far ahead) is never slept; the sweep stops instead. Values that are not a
//! duration (`NaN`, negative numbers, text) are treated as absent: the sweep waits [`DEFAULT_RETRY_WAIT`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::exchange::{header, Header};

/// The longest wait a server can ask of the sweep (`Retry-After`, `retry-after-ms`, an HTTP date): a longer
/// one stops the sweep (verdict `inconclusive`, reason `retry_after_too_long`) instead of waiting.
/// Example: [`crate::gather::matrix::sweep`] (a sweep with the default `max_wait`, which is this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The wait after a 429 that gives no usable `Retry-After`.
pub(crate) const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(2);

/// What a 429's headers ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAfter {
    /// No usable value (absent, `NaN`, negative, not a number or date): wait [`DEFAULT_RETRY_WAIT`].
    Unspecified,
    /// Wait this long; never more than [`MAX_RETRY_AFTER`].
    Wait(Duration),
    /// Longer than [`MAX_RETRY_AFTER`], or infinite: do not wait.
    TooLong,
}

fn from_secs(s: f64) -> RetryAfter {
    if s.is_nan() || s < 0.0 {
        return RetryAfter::Unspecified;
    }
    if s > MAX_RETRY_AFTER.as_secs_f64() {
        return RetryAfter::TooLong;
    }
    if s == 0.0 {
        // -0 included.
        return RetryAfter::Wait(Duration::ZERO);
    }
    Duration::try_from_secs_f64(s).map_or(RetryAfter::TooLong, RetryAfter::Wait)
}

/// An HTTP date (RFC 9110: IMF-fixdate, RFC 850 or asctime).
fn http_date(v: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc2822(v) {
        return Some(t.with_timezone(&Utc));
    }
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
        .map(|n| n.and_utc())
}

/// One `Retry-After` value: delay-seconds (decimals accepted) or an HTTP date, relative to `now`.
pub(crate) fn parse_retry_after_value(v: &str, now: DateTime<Utc>) -> RetryAfter {
    let v = v.trim();
    if let Ok(s) = v.parse::<f64>() {
        return from_secs(s);
    }
    match http_date(v) {
        Some(t) => {
            let ms = t.signed_duration_since(now).num_milliseconds();
            from_secs((ms.max(0) as f64) / 1000.0)
        }
        None => RetryAfter::Unspecified,
    }
}

/// What a 429's headers ask for: `retry-after-ms` (milliseconds) when it is a number, else `Retry-After`.
pub(crate) fn parse_retry_after(headers: &[Header], now: DateTime<Utc>) -> RetryAfter {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return from_secs(ms / 1000.0);
    }
    header(headers, "retry-after")
        .map_or(RetryAfter::Unspecified, |v| parse_retry_after_value(v, now))
}

/// Paces calls under a rate limit and enforces the call budget.
#[derive(Debug)]
pub(crate) struct Scheduler {
    pub(super) limit: u32,
    window: Duration,
    sent: VecDeque<Instant>,
    calls: u32,
    max_calls: u32,
    waited: Duration,
    max_wait: Duration,
    /// Calls accepted since the last 429 (or the start), and when the first of them was sent.
    pub(super) run: (u32, Option<Instant>),
    pause_until: Option<Instant>,
    /// The limit to switch to when an answer shows a production key (no trial headers); `None` once known.
    production_limit: Option<u32>,
}

impl Scheduler {
    /// A scheduler allowing `limit` calls per `window` and `max_calls` calls in all; it waits at most `max_wait`
    /// (never more than [`MAX_RETRY_AFTER`]) at a time.
    pub(crate) fn new(
        limit: u32,
        window: Duration,
        max_calls: u32,
        max_wait: Duration,
    ) -> Scheduler {
        Scheduler {
            limit: limit.max(1),
            window,
            sent: VecDeque::new(),
            calls: 0,
            max_calls,
            waited: Duration::ZERO,
            max_wait: max_wait.min(MAX_RETRY_AFTER),
            run: (0, None),
            pause_until: None,
            production_limit: None,
        }
    }

    /// Until an answer shows otherwise, assume a trial key's limit; switch to `limit` when an answer carries no
    /// trial headers (trial keys get them on every answer but 429s).
    pub(crate) fn assume_trial_until_seen(&mut self, production_limit: u32) {
        self.production_limit = Some(production_limit);
    }

    /// Calls made so far.
    pub(crate) fn calls(&self) -> u32 {
        self.calls
    }

    /// Time spent waiting.
    pub(crate) fn waited(&self) -> Duration {
        self.waited
    }

    /// The longest single wait.
    pub(crate) fn max_wait(&self) -> Duration {
        self.max_wait
    }

    async fn sleep(&mut self, d: Duration, why: &str, pb: Option<&dyn super::SweepHost>) {
        // Pacing windows come from the server's answers too: never longer than the documented cap.
        let d = d.min(MAX_RETRY_AFTER);
        if d.is_zero() {
            return;
        }
        if let Some(pb) = pb {
            pb.message(&format!("waiting {:.1} s ({why})", d.as_secs_f64()));
        }
        tokio::time::sleep(d).await;
        self.waited += d;
    }

    /// Waits until a call is allowed; `false` when the budget is spent.
    pub(crate) async fn acquire(&mut self, pb: Option<&dyn super::SweepHost>) -> bool {
        if self.calls >= self.max_calls {
            return false;
        }
        if let Some(t) = self.pause_until.take() {
            let d = t.saturating_duration_since(Instant::now());
            self.sleep(d, "rate limit", pb).await;
        }
        while let Some(first) = self.sent.front().copied() {
            if first.elapsed() >= self.window {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        if self.sent.len() as u32 >= self.limit {
            if let Some(first) = self.sent.front().copied() {
                let d = (first + self.window).saturating_duration_since(Instant::now());
                self.sleep(d, "staying under the rate limit", pb).await;
                self.sent.pop_front();
            }
        }
        let now = Instant::now();
        self.sent.push_back(now);
        self.calls += 1;
        if self.run.1.is_none() {
            self.run.1 = Some(now);
        }
        true
    }

    /// Learns from an accepted answer's headers (trial call limit and remaining calls).
    pub(crate) fn accepted(&mut self, headers: &[Header]) {
        self.run.0 += 1;
        let num = |n: &str| header(headers, n).and_then(|v| v.trim().parse::<u32>().ok());
        match (
            num("x-trial-endpoint-call-limit"),
            self.production_limit.take(),
        ) {
            (Some(l), _) => self.limit = self.limit.min(l.max(1)),
            (None, Some(p)) => self.limit = self.limit.max(p),
            (None, None) => {}
        }
        if num("x-trial-endpoint-call-remaining") == Some(0) {
            self.pause(self.window);
        }
    }

    /// Holds the next call back for `d` (at most the longest wait).
    pub(crate) fn pause(&mut self, d: Duration) {
        self.pause_until = Some(Instant::now() + d.min(self.max_wait));
    }

    /// The wait a 429 asks for, `None` when it is longer than this scheduler waits.
    pub(crate) fn wait_for(&self, retry_after: RetryAfter) -> Option<Duration> {
        match retry_after {
            RetryAfter::Unspecified => Some(DEFAULT_RETRY_WAIT.min(self.max_wait)),
            RetryAfter::Wait(d) if d <= self.max_wait => Some(d),
            RetryAfter::Wait(_) | RetryAfter::TooLong => None,
        }
    }

    /// Learns from a 429: waits `Retry-After`, and from then on allows only as many calls per window as were
    /// accepted before it. `false` (at once, without waiting) when the wait asked for is longer than the
    /// scheduler's longest wait: the caller stops.
    pub(crate) async fn rate_limited(
        &mut self,
        retry_after: RetryAfter,
        pb: Option<&dyn super::SweepHost>,
    ) -> bool {
        let Some(wait) = self.wait_for(retry_after) else {
            return false;
        };
        if let (n, Some(start)) = self.run {
            if n > 0 {
                // n calls were accepted in a window that ends `wait` from now.
                self.limit = n;
                self.window = (start.elapsed() + wait).min(MAX_RETRY_AFTER.max(wait));
            }
        }
        self.sent.clear();
        self.sleep(wait, "429 Retry-After", pb).await;
        self.run = (0, None);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-06-01T12:00:00Z")
            .expect("date")
            .with_timezone(&Utc)
    }

    fn wait_ok(r: RetryAfter) -> bool {
        match r {
            RetryAfter::Wait(d) => d <= MAX_RETRY_AFTER,
            _ => true,
        }
    }

    #[test]
    fn retry_after_forms() {
        let p = |v: &str| parse_retry_after_value(v, now());
        assert_eq!(p("2"), RetryAfter::Wait(Duration::from_secs(2)));
        assert_eq!(p(" 1.5 "), RetryAfter::Wait(Duration::from_millis(1500)));
        assert_eq!(p("60"), RetryAfter::Wait(MAX_RETRY_AFTER));
        for v in [
            "61",
            "1e30",
            "inf",
            "+Infinity",
            "1e400",
            "18446744073709551616",
        ] {
            assert_eq!(p(v), RetryAfter::TooLong, "{v}");
        }
        for v in ["NaN", "-5", "-inf", "soon", "", "1 2", "0x10"] {
            assert_eq!(p(v), RetryAfter::Unspecified, "{v}");
        }
        assert_eq!(
            p("Sun, 01 Jun 2025 12:00:30 GMT"),
            RetryAfter::Wait(Duration::from_secs(30))
        );
        assert_eq!(
            p("Sunday, 01-Jun-25 12:00:10 GMT"),
            RetryAfter::Wait(Duration::from_secs(10))
        );
        assert_eq!(
            p("Sun Jun  1 12:00:05 2025"),
            RetryAfter::Wait(Duration::from_secs(5))
        );
        assert_eq!(
            p("Sat, 31 May 2025 12:00:00 GMT"),
            RetryAfter::Wait(Duration::ZERO),
            "past"
        );
        assert_eq!(p("Fri, 31 Dec 9999 23:59:59 GMT"), RetryAfter::TooLong);
        let h = |n: &str, v: &str| parse_retry_after(&[Header::new(n, v)], now());
        assert_eq!(
            h("retry-after-ms", "1500"),
            RetryAfter::Wait(Duration::from_millis(1500))
        );
        assert_eq!(h("Retry-After-Ms", "1e30"), RetryAfter::TooLong);
        assert_eq!(h("x-other", "5"), RetryAfter::Unspecified);
        assert_eq!(
            parse_retry_after(
                &[
                    Header::new("retry-after-ms", "x"),
                    Header::new("retry-after", "3")
                ],
                now()
            ),
            RetryAfter::Wait(Duration::from_secs(3)),
            "an unusable retry-after-ms falls back to Retry-After"
        );
    }

    proptest! {
        #[test]
        fn any_retry_after_string_is_safe(v in "\\PC{0,40}") {
            let r = parse_retry_after_value(&v, now());
            prop_assert!(wait_ok(r), "{v:?} -> {r:?}");
            let r = parse_retry_after(&[Header::new("retry-after-ms", &v)], now());
            prop_assert!(wait_ok(r), "{v:?} -> {r:?}");
        }

        #[test]
        fn numbers_wait_up_to_the_cap_and_no_longer(s in prop_oneof![
            any::<f64>(),
            Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(f64::NAN),
            0.0..120.0f64,
        ]) {
            for text in [s.to_string(), format!("{s:e}")] {
                let r = parse_retry_after_value(&text, now());
                let expected = if s.is_nan() || s < 0.0 {
                    RetryAfter::Unspecified
                } else if s > 60.0 {
                    RetryAfter::TooLong
                } else {
                    RetryAfter::Wait(Duration::from_secs_f64(s.abs()))
                };
                prop_assert_eq!(r, expected, "{}", text);
            }
        }

        #[test]
        fn http_dates_count_from_now(offset in -10_000_000_000i64..250_000_000_000i64) {
            let t = now() + chrono::TimeDelta::seconds(offset);
            let v = t.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            let r = parse_retry_after_value(&v, now());
            let expected = match offset {
                o if o <= 0 => RetryAfter::Wait(Duration::ZERO),
                o if o <= 60 => RetryAfter::Wait(Duration::from_secs(o as u64)),
                _ => RetryAfter::TooLong,
            };
            prop_assert_eq!(r, expected, "{}", v);
        }
    }

    #[tokio::test]
    async fn a_wait_beyond_the_cap_is_refused_at_once() {
        let mut s = Scheduler::new(5, Duration::from_secs(60), 10, Duration::from_secs(600));
        assert_eq!(s.max_wait(), MAX_RETRY_AFTER, "the option is capped too");
        let t0 = Instant::now();
        assert!(!s.rate_limited(RetryAfter::TooLong, None).await);
        let w = parse_retry_after_value("1e30", now());
        assert!(!s.rate_limited(w, None).await);
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(s.waited(), Duration::ZERO);
        let mut s = Scheduler::new(5, Duration::from_secs(60), 10, Duration::from_millis(50));
        assert!(
            !s.rate_limited(RetryAfter::Wait(Duration::from_secs(1)), None)
                .await,
            "over max_wait"
        );
        assert!(
            s.rate_limited(RetryAfter::Unspecified, None).await,
            "the default wait, capped"
        );
        assert_eq!(s.waited(), Duration::from_millis(50));
    }
}
