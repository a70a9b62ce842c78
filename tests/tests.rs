// One integration-test binary; one module per feature.
mod cli;
mod curl_samples;
mod diagnose;
mod email;
mod library;
mod matrix;
mod observe;
mod observe_conn;
mod observe_sim;
mod recorder;
mod replay;
mod request;
mod screenshot;
mod scrub;
mod simulator;
mod tokenizer;
mod util;
