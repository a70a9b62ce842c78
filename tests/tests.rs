mod observe;
mod observe_sim;
mod request;
mod scrub;
mod simulator;
mod tokenizer;
mod matrix;
mod screenshot;
