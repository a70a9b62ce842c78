// The library's integration tests: one binary, one module per part. End-to-end tests (the binary, the real
// SDKs) are in the workspace root's tests/.
mod middleware;
mod observe_conn;
mod parsers;
mod recorder;
mod tokenizer;
