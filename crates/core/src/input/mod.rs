//! Input stage (1 of 5): what the user hands over, read and bounded before any network call.
//!
//! - [`request`]: a request body, an envelope, a HAR file or a curl command becomes a
//!   [`CapturedRequest`](crate::CapturedRequest);
//! - [`logs`]: log files (plain, gzip, zstd, UTF-16), read with caps, with the error lines found;
//! - [`sdklog`]: the failures that Python and TypeScript SDK tracebacks name (status, message, request id).
//!
//! ```
//! use cohere_bundle_core::input::request::{parse_request, ParseOptions};
//! let req = parse_request("body.json", br#"{"model":"command-r","messages":[]}"#, &ParseOptions::default())?;
//! assert_eq!(req.endpoint.name(), "v2/chat");
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

pub mod logs;
pub mod request;
pub mod sdklog;
