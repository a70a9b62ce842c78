//! Shared. Text from outside (an API's message, an id, a header value, a member or file name, a log excerpt) made fit
//! for a terminal: it can show text, never move the cursor, clear the screen, set a window title, overwrite a
//! line or reorder what follows. One function does it, for the terminal, `--json` and report.md alike.
//!
//! ```
//! use cohere_bundle_core::safe::terminal_safe;
//!
//! let hostile = "bad key\x1b]0;pwned\x07\x1b[2J\rSupport is not needed \u{202e}txt.exe";
//! assert_eq!(
//!     terminal_safe(hostile),
//!     r"bad key\x1b]0;pwned\x07\x1b[2J\rSupport is not needed \u202etxt.exe"
//! );
//! // Lines and tabs stay; plain text comes back as it was, without a copy.
//! assert_eq!(terminal_safe("a\tb\nc"), "a\tb\nc");
//! assert!(matches!(terminal_safe("plain"), std::borrow::Cow::Borrowed(_)));
//! // Inside a JSON string the escapes are JSON's own: the value reads back as it was.
//! let json = serde_json::json!({"message": "x\u{9b}31m\u{202e}y"}).to_string();
//! let safe = terminal_safe(&json);
//! assert_eq!(safe, r#"{"message":"x\u009b31m\u202ey"}"#);
//! assert_eq!(serde_json::from_str::<serde_json::Value>(&safe).unwrap()["message"], "x\u{9b}31m\u{202e}y");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// True for a character a terminal would act on rather than show: C0 controls but `\n` and `\t`, DEL, C1
/// controls (U+0080–U+009F, among them the 8-bit CSI U+009B), the bidirectional marks, embeddings, overrides
/// and isolates (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), the line and paragraph separators
/// (U+2028, U+2029) and the byte order mark (U+FEFF).
///
/// Example: [`crate::safe`].
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// `s` with every character [`is_unsafe`] finds written out: a C0 control as `\xNN` (a carriage return as
/// `\r`), any other as `\uXXXX` (valid JSON escapes, so a JSON text stays valid and reads back the same).
///
/// Example: [`crate::safe`].
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !is_unsafe(c) {
            out.push(c);
        } else if c == '\r' {
            out.push_str("\\r");
        } else if (c as u32) < 0x20 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
    }
    Cow::Owned(out)
}
