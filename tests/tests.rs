// The end-to-end tests: the binary, the real SDKs, the observe proxy, the library as a service uses it. One
// integration-test binary; one module per feature. The crates' own tests live with them (crates/*/tests).
use testkit::{fault, hostile_zips};

mod architecture;
mod cli;
mod cli_surface;
mod compat;
mod curl_samples;
mod diagnose;
mod edges;
mod email;
mod evidence;
mod knowledge_cases;
mod library;
mod matrix;
mod node_clients;
mod observe;
mod observe_sim;
mod observe_upload;
mod replay;
mod request;
mod schema;
mod screenshot;
mod scrub;
mod security;
mod security_verify;
mod tls;
mod util;
mod verdict;
