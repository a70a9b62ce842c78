//! Input stage. Multipart forms (curl's `-F`/`--form`): the form as a JSON object in [`CapturedRequest::body`], and the
//! `multipart/form-data` body a replay sends.
//!
//! A form request is one whose `Content-Type` header is `multipart/form-data` and whose body is an object: each
//! part by name (a name given twice gives a list), a text part as its string, a file part as
//! `{"@file": path, "filename": …, "type": …}` (`filename` and `type` only when given). The file itself is not
//! copied into the request: it is read when the request is sent, from the path as given (relative to the
//! working directory, as curl reads it).
//!
//! ```
//! use cohere_bundle_core::input::request::{form, parse_request, ParseOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let data = dir.path().join("data.jsonl");
//! std::fs::write(&data, "{\"text\": \"hello\"}\n")?;
//! let cmd = format!(
//!     "curl -X POST 'https://api.cohere.com/v1/datasets?name=d&type=embed-input' -F name=d -F 'data=@{}'",
//!     data.display()
//! );
//! let r = parse_request("cmd.sh", cmd.as_bytes(), &ParseOptions::default())?;
//! assert!(form::is_form(&r));
//! assert_eq!(r.body["name"], "d");
//! assert_eq!(r.body["data"][form::FILE_KEY], data.display().to_string());
//!
//! // What a replay sends: the file is read now.
//! let (content_type, body) = form::multipart(&r).unwrap();
//! assert!(content_type.starts_with("multipart/form-data; boundary="));
//! assert!(String::from_utf8_lossy(&body).contains("{\"text\": \"hello\"}"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::{Map, Value};

use super::curl::FormSpec;
use super::CapturedRequest;
use crate::error::{Error, Result};

/// The key of a file part's path.
///
/// Example: [`crate::input::request::form`].
pub const FILE_KEY: &str = "@file";

/// The key of a file part's content, base64, when the form was read from a recorded body (an observed exchange,
/// a HAR entry) rather than named on a command line: there is no file to read, the bytes are in the request.
///
/// Example: [`from_multipart`].
pub const DATA_KEY: &str = "@data";

/// The form (see the module docs) of a recorded `multipart/form-data` body, with the `Content-Type` it was sent
/// with (its `boundary`): a text part as its string, a file part (one with a `filename`) as
/// `{"@data": base64, "filename", "type"}`. `None` when the content type has no boundary or the body holds no
/// part.
///
/// ```
/// use cohere_bundle_core::input::request::form::{from_multipart, DATA_KEY};
/// let body = b"--xyz\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ncohere-transcribe-03-2026\r\n\
///     --xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\r\n--xyz--\r\n";
/// let form = from_multipart("multipart/form-data; boundary=xyz", body).unwrap();
/// assert_eq!(form["model"], "cohere-transcribe-03-2026");
/// assert_eq!((form["file"][DATA_KEY].as_str(), form["file"]["filename"].as_str()), (Some("UklGRg=="), Some("a.wav")));
/// ```
pub fn from_multipart(content_type: &str, body: &[u8]) -> Option<Value> {
    use base64::Engine;
    let boundary = content_type.split(';').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    })?;
    let delimiter = format!("--{boundary}");
    let mut form = Map::new();
    for chunk in split_bytes(body, delimiter.as_bytes()).into_iter().skip(1) {
        if chunk.starts_with(b"--") {
            break;
        }
        let chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        let chunk = chunk.strip_suffix(b"\r\n").unwrap_or(chunk);
        let Some(at) = memchr::memmem::find(chunk, b"\r\n\r\n") else {
            continue;
        };
        let (head, content) = (String::from_utf8_lossy(&chunk[..at]), &chunk[at + 4..]);
        let param = |name: &str| -> Option<String> {
            let line = head
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
            line.split(';').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_string())
            })
        };
        let Some(name) = param("name") else { continue };
        let value = match param("filename") {
            Some(filename) => {
                let mut part = Map::new();
                let data = base64::engine::general_purpose::STANDARD.encode(content);
                part.insert(DATA_KEY.into(), Value::String(data));
                part.insert("filename".into(), Value::String(filename));
                let ty = head.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.trim()
                        .eq_ignore_ascii_case("content-type")
                        .then(|| v.trim().to_string())
                });
                if let Some(ty) = ty {
                    part.insert("type".into(), Value::String(ty));
                }
                Value::Object(part)
            }
            None => Value::String(String::from_utf8_lossy(content).into_owned()),
        };
        add_part(&mut form, &name, value);
    }
    (!form.is_empty()).then_some(Value::Object(form))
}

/// `hay` split at every occurrence of `sep`.
fn split_bytes<'a>(hay: &'a [u8], sep: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in memchr::memmem::find_iter(hay, sep) {
        out.push(&hay[start..i]);
        start = i + sep.len();
    }
    out.push(&hay[start..]);
    out
}

/// Adds a part to a form: a name given twice gives a list.
fn add_part(form: &mut Map<String, Value>, field: &str, value: Value) {
    match form.get_mut(field) {
        None => {
            form.insert(field.to_string(), value);
        }
        Some(Value::Array(items)) => items.push(value),
        Some(first) => {
            let first = first.take();
            form.insert(field.to_string(), Value::Array(vec![first, value]));
        }
    }
}

/// The form of curl `-F` arguments as a body (see the module docs). A file part's file must exist; `<file`
/// content is read now, as curl reads it.
pub(super) fn form_body(name: &str, specs: &[FormSpec]) -> Result<Value> {
    let mut form = Map::new();
    for spec in specs {
        let Some((field, content)) = spec.spec.split_once('=') else {
            return Err(Error::input(
                name,
                format!(
                    "curl -F {:?}: a multipart form part is written name=content",
                    spec.spec
                ),
            ));
        };
        let value = if spec.literal {
            Value::String(content.to_string())
        } else if let Some(file) = content.strip_prefix('@') {
            let mut modifiers = file.split(';');
            let path = modifiers.next().unwrap_or("");
            check_file(name, field, '@', path)?;
            let mut part = Map::new();
            part.insert(FILE_KEY.into(), Value::String(path.to_string()));
            for m in modifiers {
                if let Some((k @ ("type" | "filename"), v)) = m.split_once('=') {
                    part.insert(k.into(), Value::String(v.trim_matches('"').to_string()));
                }
            }
            Value::Object(part)
        } else if let Some(path) = content.strip_prefix('<') {
            check_file(name, field, '<', path)?;
            let text = std::fs::read(path)
                .map_err(|e| file_error(name, field, '<', path, &super::io_reason(&e)))?;
            Value::String(String::from_utf8_lossy(&text).into_owned())
        } else {
            Value::String(content.to_string())
        };
        add_part(&mut form, field, value);
    }
    Ok(Value::Object(form))
}

fn file_error(name: &str, field: &str, sigil: char, path: &str, why: &str) -> Error {
    Error::input(
        name,
        format!("the multipart form's file {path} (-F {field}={sigil}{path}): {why}"),
    )
}

fn check_file(name: &str, field: &str, sigil: char, path: &str) -> Result<()> {
    if path == "-" || path.is_empty() {
        return Err(file_error(
            name,
            field,
            sigil,
            path,
            "read from stdin; save it to a file and name that",
        ));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| file_error(name, field, sigil, path, &super::io_reason(&e)))?;
    if meta.is_dir() {
        return Err(file_error(name, field, sigil, path, "is a directory"));
    }
    if meta.len() > super::MAX_REQUEST_BYTES {
        return Err(file_error(
            name,
            field,
            sigil,
            path,
            &format!("too large ({} bytes)", meta.len()),
        ));
    }
    Ok(())
}

/// True for a form request (see the module docs).
///
/// Example: [`crate::input::request::form`].
pub fn is_form(request: &CapturedRequest) -> bool {
    request.body.is_object()
        && crate::exchange::header(&request.headers, "content-type").is_some_and(|v| {
            v.trim()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// The `multipart/form-data` body of a form request and its `Content-Type` (with the boundary); `None` for any
/// other request. File parts are read now; a file that cannot be read any more is sent empty. A part read from a
/// recorded body ([`from_multipart`]) is sent with its bytes.
///
/// Example: [`crate::input::request::form`].
pub fn multipart(request: &CapturedRequest) -> Option<(String, Vec<u8>)> {
    if !is_form(request) {
        return None;
    }
    let form = request.body.as_object()?;
    let boundary = format!(
        "------------------------{}",
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    let mut out: Vec<u8> = Vec::new();
    for (name, value) in form {
        let parts = match value {
            Value::Array(items) => items.iter().collect::<Vec<_>>(),
            v => vec![v],
        };
        for part in parts {
            out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let name = quote(name);
            match file_part(part) {
                Some((filename, ty, bytes)) => {
                    out.extend_from_slice(
                        format!(
                            "Content-Disposition: form-data; name=\"{name}\"; filename=\"{}\"\r\nContent-Type: {ty}\r\n\r\n",
                            quote(&filename)
                        )
                        .as_bytes(),
                    );
                    out.extend_from_slice(&bytes);
                }
                None => {
                    let text = match part {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.extend_from_slice(
                        format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n{text}")
                            .as_bytes(),
                    );
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Some((format!("multipart/form-data; boundary={boundary}"), out))
}

/// A file part's file name, content type and bytes: read from its file now (`@file`), or decoded from the
/// recorded body (`@data`). `None` for a text part.
fn file_part(part: &Value) -> Option<(String, String, Vec<u8>)> {
    use base64::Engine;
    let given = |k: &str| part.get(k).and_then(Value::as_str).map(str::to_string);
    // The name the content type is guessed from: the path, as curl does, else the recorded file name.
    let (name_from, bytes) = if let Some(path) = part.get(FILE_KEY).and_then(Value::as_str) {
        (path.to_string(), std::fs::read(path).unwrap_or_default())
    } else {
        let data = part.get(DATA_KEY).and_then(Value::as_str)?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(data);
        (
            given("filename").unwrap_or_else(|| "file".into()),
            bytes.unwrap_or_default(),
        )
    };
    let filename = given("filename").unwrap_or_else(|| {
        std::path::Path::new(&name_from)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| name_from.clone())
    });
    let ty = given("type").unwrap_or_else(|| content_type_of(&name_from).to_string());
    Some((filename, ty, bytes))
}

/// A name for a quoted header parameter, as browsers write it.
fn quote(s: &str) -> String {
    s.replace('"', "%22").replace(['\r', '\n'], " ")
}

/// The content type curl gives a file part, from its extension.
fn content_type_of(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" => "text/plain",
        "json" => "application/json",
        "html" | "htm" => "text/html",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "wav" => "audio/wav",
        "mp3" => "audio/mpeg",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> FormSpec {
        FormSpec {
            spec: s.into(),
            literal: false,
        }
    }

    #[test]
    fn form_parts_become_an_object() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.wav");
        std::fs::write(&f, b"RIFF").unwrap();
        let p = f.display().to_string();
        let body = form_body(
            "x",
            &[
                spec("model=m"),
                spec(&format!("file=@{p};type=audio/x-wav")),
                FormSpec {
                    spec: "note=@not-a-file".into(),
                    literal: true,
                },
                spec("tag=a"),
                spec("tag=b"),
            ],
        )
        .unwrap();
        assert_eq!(body["model"], "m");
        assert_eq!(body["file"][FILE_KEY], p.as_str());
        assert_eq!(body["file"]["type"], "audio/x-wav");
        assert_eq!(body["note"], "@not-a-file");
        assert_eq!(body["tag"], serde_json::json!(["a", "b"]));

        let mut r = CapturedRequest::from_body(crate::cohere::Endpoint::AudioTranscriptions, body);
        assert!(multipart(&r).is_none(), "no multipart content type");
        r.headers.push(crate::exchange::Header::new(
            "Content-Type",
            "multipart/form-data",
        ));
        let (ct, bytes) = multipart(&r).unwrap();
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        assert!(text.contains(
            "name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/x-wav\r\n\r\nRIFF\r\n"
        ));
        assert!(text.contains("name=\"model\"\r\n\r\nm\r\n"));
        assert_eq!(text.matches("name=\"tag\"").count(), 2);
    }

    #[test]
    fn missing_form_files_are_one_line_errors() {
        let e = form_body("req.sh", &[spec("file=@./no/such.wav")])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("multipart form's file ./no/such.wav") && e.contains("no such file"),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let e = form_body("req.sh", &[spec("novalue")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("name=content"), "{e}");
    }
}
