// One integration-test binary; one module per feature.
mod cli;
mod diagnose;
mod matrix;
mod observe;
mod observe_sim;
mod replay;
mod request;
mod screenshot;
mod scrub;
mod simulator;
mod tokenizer;
mod util;
