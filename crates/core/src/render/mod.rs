//! Render stage (4 of 5): the summary and the evidence become `report.md` and `report.html` ([`report`]), from the
//! templates in `templates/`. Pure: typed data in, text out.
//!
//! ```
//! use cohere_bundle_core::gather::environment::Environment;
//! use cohere_bundle_core::render::report::{render_markdown, ReportInput};
//! # let summary: cohere_bundle_core::Summary =
//! #     serde_json::from_str(include_str!("../../tests/fixtures/summary-v1.json")).unwrap();
//! let environment = Environment::fixed();
//! let input = ReportInput { summary: &summary, exchanges: &[], logs: &[], log_errors: &[],
//!                           environment: &environment, redact_content: false };
//! assert!(render_markdown(&input)?.contains("command-r-08-2024"));
//! # Ok::<(), cohere_bundle_core::Error>(())
//! ```

pub mod report;
