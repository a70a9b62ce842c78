//! The failures the simulator can produce on demand, by name.

use std::fmt;
use std::str::FromStr;

/// A failure the simulator produces on demand: per request with the header `x-simulate: <name>`, or for every
/// request with [`SimConfig::scenario`](super::SimConfig::scenario). Names are kebab-case (see [`Scenario::name`]).
///
/// ```
/// use cohere_bundle_simulator::{Scenario, UnknownScenario};
/// let s: Scenario = "service-unavailable".parse().unwrap();
/// assert_eq!((s, s.name(), s.status()), (Scenario::ServiceUnavailable, "service-unavailable", Some(503)));
/// assert_eq!(Scenario::Hang.status(), None);
/// assert!(Scenario::ALL.iter().all(|s| s.name().parse::<Scenario>() == Ok(*s)));
/// let err: UnknownScenario = "nope".parse::<Scenario>().unwrap_err();
/// assert!(err.to_string().starts_with("unknown scenario 'nope'"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// 400 `invalid request: …`, an invalid combination of parameters (message depends on the endpoint).
    InvalidCombination,
    /// 400 `too many tokens: total number of tokens in the prompt cannot exceed N - received M. …`
    TooManyTokens,
    /// 400 `too many tokens: max tokens must be less than or equal to N, the maximum output for this model - received M.`
    MaxTokensExceeded,
    /// 401 `no api key supplied`.
    NoApiKey,
    /// 401 `invalid api token`.
    InvalidApiKey,
    /// 401 `Your API key has expired. …`
    ExpiredApiKey,
    /// 402 `Please add or update your payment method …`
    PaymentRequired,
    /// 403 forbidden.
    Forbidden,
    /// 404 `model '…' not found, make sure the correct model ID was used …`
    ModelNotFound,
    /// 422 malformed request (unknown field).
    Unprocessable,
    /// 429 `You are using a Trial key, which is limited to N API calls / minute. …` with `Retry-After`.
    TrialRateLimit,
    /// 429 `You are past the per minute request limit, …` with `Retry-After`.
    RateLimit,
    /// 498 the request or response contains a deny-listed token.
    BlockedToken,
    /// 499 `request cancelled`.
    Cancelled,
    /// 500 internal server error.
    ServerError,
    /// 503 service unavailable.
    ServiceUnavailable,
    /// 504 gateway timeout.
    GatewayTimeout,
    /// No answer for [`SimConfig::hang_for`](super::SimConfig::hang_for) (then 504); cancelled on shutdown.
    Hang,
    /// The connection is reset (RST) after the request was read: the client sees a connection error.
    Reset,
    /// A 200 stream that ends with `message-end` whose `finish_reason` is `ERROR` and has `delta.error`
    /// (v1 chat: `stream-end` with `finish_reason: ERROR`). A non-streaming chat answers 200 with
    /// `finish_reason: ERROR`. Other endpoints answer normally.
    StreamError,
    /// A 200 stream that breaks off after a few events, without `message-end` or `[DONE]` (the body ends with
    /// a transport error). A non-streaming request is answered normally.
    StreamCut,
}

impl Scenario {
    /// Every scenario, in declaration order.
    ///
    /// Example: [`Scenario`].
    pub const ALL: [Scenario; 21] = [
        Scenario::InvalidCombination,
        Scenario::TooManyTokens,
        Scenario::MaxTokensExceeded,
        Scenario::NoApiKey,
        Scenario::InvalidApiKey,
        Scenario::ExpiredApiKey,
        Scenario::PaymentRequired,
        Scenario::Forbidden,
        Scenario::ModelNotFound,
        Scenario::Unprocessable,
        Scenario::TrialRateLimit,
        Scenario::RateLimit,
        Scenario::BlockedToken,
        Scenario::Cancelled,
        Scenario::ServerError,
        Scenario::ServiceUnavailable,
        Scenario::GatewayTimeout,
        Scenario::Hang,
        Scenario::Reset,
        Scenario::StreamError,
        Scenario::StreamCut,
    ];

    /// The kebab-case name used in `x-simulate` and on the command line.
    ///
    /// Example: [`Scenario`].
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::InvalidCombination => "invalid-combination",
            Scenario::TooManyTokens => "too-many-tokens",
            Scenario::MaxTokensExceeded => "max-tokens-exceeded",
            Scenario::NoApiKey => "no-api-key",
            Scenario::InvalidApiKey => "invalid-api-key",
            Scenario::ExpiredApiKey => "expired-api-key",
            Scenario::PaymentRequired => "payment-required",
            Scenario::Forbidden => "forbidden",
            Scenario::ModelNotFound => "model-not-found",
            Scenario::Unprocessable => "unprocessable",
            Scenario::TrialRateLimit => "trial-rate-limit",
            Scenario::RateLimit => "rate-limit",
            Scenario::BlockedToken => "blocked-token",
            Scenario::Cancelled => "cancelled",
            Scenario::ServerError => "server-error",
            Scenario::ServiceUnavailable => "service-unavailable",
            Scenario::GatewayTimeout => "gateway-timeout",
            Scenario::Hang => "hang",
            Scenario::Reset => "reset",
            Scenario::StreamError => "stream-error",
            Scenario::StreamCut => "stream-cut",
        }
    }

    /// The HTTP status the scenario answers with; `None` for hang, reset (no answer) and the stream
    /// scenarios (200).
    ///
    /// Example: [`Scenario`].
    pub fn status(&self) -> Option<u16> {
        Some(match self {
            Scenario::InvalidCombination
            | Scenario::TooManyTokens
            | Scenario::MaxTokensExceeded => 400,
            Scenario::NoApiKey | Scenario::InvalidApiKey | Scenario::ExpiredApiKey => 401,
            Scenario::PaymentRequired => 402,
            Scenario::Forbidden => 403,
            Scenario::ModelNotFound => 404,
            Scenario::Unprocessable => 422,
            Scenario::TrialRateLimit | Scenario::RateLimit => 429,
            Scenario::BlockedToken => 498,
            Scenario::Cancelled => 499,
            Scenario::ServerError => 500,
            Scenario::ServiceUnavailable => 503,
            Scenario::GatewayTimeout => 504,
            Scenario::Hang | Scenario::Reset | Scenario::StreamError | Scenario::StreamCut => {
                return None
            }
        })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown scenario name; its message lists the known names.
///
/// Example: [`Scenario`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScenario(pub String);

impl fmt::Display for UnknownScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scenario::ALL.iter().map(Scenario::name).collect();
        write!(
            f,
            "unknown scenario '{}' (known: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownScenario {}

impl FromStr for Scenario {
    type Err = UnknownScenario;

    /// Parses a kebab-case name; case and `_` versus `-` are ignored, and a bare status such as `503`
    /// names the first scenario with that status.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        if let Some(sc) = Scenario::ALL.into_iter().find(|sc| sc.name() == norm) {
            return Ok(sc);
        }
        if let Ok(code) = norm.parse::<u16>() {
            if let Some(sc) = Scenario::ALL
                .into_iter()
                .find(|sc| sc.status() == Some(code))
            {
                return Ok(sc);
            }
        }
        Err(UnknownScenario(s.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for sc in Scenario::ALL {
            assert!(seen.insert(sc.name()), "duplicate name {}", sc.name());
            assert_eq!(sc.name().parse::<Scenario>(), Ok(sc));
            assert!(sc
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
        }
        assert_eq!(
            "Server_Error".parse::<Scenario>(),
            Ok(Scenario::ServerError)
        );
        assert_eq!("503".parse::<Scenario>(), Ok(Scenario::ServiceUnavailable));
        let err = "nope".parse::<Scenario>().unwrap_err().to_string();
        assert!(
            err.contains("'nope'") && err.contains("stream-error"),
            "{err}"
        );
    }
}
